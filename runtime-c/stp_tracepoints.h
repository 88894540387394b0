/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Tracepoint and syscall probes (stp_tracepoints.c), armed by the session. */
#ifndef STP_TRACEPOINTS_H
#define STP_TRACEPOINTS_H

/* Arms every tracepoint and syscall probe of the script; on failure
 * disarms what it armed, reports with stp_start_error() and returns a
 * negative errno. */
int stp_tracepoints_start(void);
/* Disarms them and returns once no callback runs. Idempotent. */
void stp_tracepoints_stop(void);

#endif /* STP_TRACEPOINTS_H */

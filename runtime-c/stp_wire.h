/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The byte format of /proc/stap_pack_<module>/ctl: what a read returns.
 *
 * A read returns whole messages, back to back, each a header followed by
 * `length` payload bytes (no padding). Fields are in the host's byte order:
 * the module and the runner always share a machine. The runner mirrors
 * these definitions in stap-verify-run/src/wire.rs; docs/transport.md
 * describes the protocol. Change both together and bump STP_WIRE_VERSION.
 */
#ifndef STP_WIRE_H
#define STP_WIRE_H

#include <linux/types.h>

#define STP_WIRE_VERSION 1
/* "STPM" in memory on a little-endian host. */
#define STP_WIRE_MAGIC 0x4d505453u
/* Largest payload of any message; a read needs room for one whole message. */
#define STP_WIRE_MAX_PAYLOAD 65536u
#define STP_WIRE_MIN_READ (sizeof(struct stp_wire_header) + STP_WIRE_MAX_PAYLOAD)

struct stp_wire_header {
	__u32 magic;
	__u16 type;      /* enum stp_wire_type */
	__u16 flags;     /* 0 */
	__u32 length;    /* payload bytes */
	__u32 cpu;       /* CPU that produced the message */
	__u64 sequence;  /* global, increasing: the order messages were produced in */
};

enum stp_wire_type {
	STP_MSG_OUTPUT = 1,       /* probe output: the bytes one handler printed */
	STP_MSG_WARNING = 2,      /* text "WARNING: ...", no newline */
	STP_MSG_ERROR = 3,        /* text "ERROR: ... near FILE:LINE:COL", no newline */
	STP_MSG_EXIT_REQUEST = 4, /* struct stp_wire_exit_request: send `stop` */
	STP_MSG_STARTED = 5,      /* struct stp_wire_started: begin probes ran */
	STP_MSG_STOPPED = 6,      /* struct stp_wire_stopped: always the last message */
};

/* Why the session ended (or is asking to end). */
enum stp_end_reason {
	STP_END_STOP = 0,  /* the runner sent `stop`, or closed the control file */
	STP_END_EXIT = 1,  /* the script called exit() */
	STP_END_ERROR = 2, /* more errors than MAXERRORS */
};

struct stp_wire_started {
	__u32 version;     /* STP_WIRE_VERSION */
	__u32 probe_count; /* probes the script declares */
};

struct stp_wire_exit_request {
	__u32 reason; /* enum stp_end_reason */
};

struct stp_wire_stopped {
	__u64 messages_lost;  /* dropped because a CPU's buffer was full */
	__u64 probes_skipped; /* hits not run because a handler was already running on that CPU */
	__u64 errors;         /* errors raised by handlers */
	__u32 reason;         /* enum stp_end_reason */
	__u32 reserved;       /* 0 */
};

#endif /* STP_WIRE_H */

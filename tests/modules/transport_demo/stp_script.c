// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * demo.stp, translated by hand exactly as the C back end is to do it: the
 * probes as a const table the runtime walks, handlers that print through
 * their context and bail out after an error, globals as module parameters.
 * Locking of globals and MAXACTION accounting are the language runtime's
 * job (later): here only the timer and the begin/end probes touch the
 * globals, never at the same time, and the burst loop runs as if built
 * with a large -DMAXACTION.
 */
#include <linux/module.h>

#include "stp_runtime.h"

static long stp_global_count = 5;
STP_PARAM_LONG(count, stp_global_count);
static long stp_global_fail;
STP_PARAM_LONG(fail, stp_global_fail);
static long stp_global_burst;
STP_PARAM_LONG(burst, stp_global_burst);
static long stp_global_hits;

static void stp_probe_begin(struct stp_context *ctx)
{
	long i;

	stp_print(ctx, "begin: transport demo\n");
	stp_printf(ctx, "count=%ld fail=%ld\n", stp_global_count, stp_global_fail);
	for (i = 0; i < stp_global_burst; i++)
		stp_printf(ctx, "burst line %ld of the begin probe, padded to overflow\n", i);
}

static void stp_probe_timer(struct stp_context *ctx)
{
	long divisor;

	stp_global_hits++;
	stp_printf(ctx, "tick %ld\n", stp_global_hits);
	if (stp_global_fail && stp_global_hits == 3) {
		divisor = stp_global_fail - stp_global_fail;
		if (divisor == 0) {
			stp_error(ctx, "demo.stp:19:22", "division by 0");
			return;
		}
		stp_printf(ctx, "%ld\n", stp_global_hits / divisor);
	}
	if (stp_global_hits >= stp_global_count)
		stp_request_exit();
}

static void stp_probe_end(struct stp_context *ctx)
{
	stp_printf(ctx, "end: %ld ticks\n", stp_global_hits);
}

static void stp_probe_error(struct stp_context *ctx)
{
	stp_printf(ctx, "error probe: %ld ticks\n", stp_global_hits);
}

static const struct stp_probe stp_probes[] = {
	{ .point = "begin", .location = "demo.stp:8:1", .kind = STP_PROBE_BEGIN,
	  .handler = stp_probe_begin },
	{ .point = "timer.ms(10)", .location = "demo.stp:15:1", .kind = STP_PROBE_TIMER,
	  .handler = stp_probe_timer, .unit = STP_TIMER_MS, .interval = 10 },
	{ .point = "end", .location = "demo.stp:24:1", .kind = STP_PROBE_END,
	  .handler = stp_probe_end },
	{ .point = "error", .location = "demo.stp:28:1", .kind = STP_PROBE_ERROR,
	  .handler = stp_probe_error },
};

const struct stp_script stp_script = {
	.name = "demo.stp",
	.probes = stp_probes,
	.probe_count = ARRAY_SIZE(stp_probes),
	.max_errors = 0,
	.max_skipped = 100,
};

MODULE_DESCRIPTION("stap-pack transport demo (demo.stp)");

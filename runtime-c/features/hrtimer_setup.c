// SPDX-License-Identifier: GPL-2.0-or-later
/* hrtimer_setup(): 6.13 added it; hrtimer_init() went away later. */
#include <linux/hrtimer.h>

static enum hrtimer_restart stp_feature_fire(struct hrtimer *timer)
{
	return HRTIMER_NORESTART;
}

static void __maybe_unused stp_feature_test(struct hrtimer *timer)
{
	hrtimer_setup(timer, stp_feature_fire, CLOCK_MONOTONIC, HRTIMER_MODE_REL);
}

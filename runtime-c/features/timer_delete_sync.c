// SPDX-License-Identifier: GPL-2.0-or-later
/* timer_delete_sync(): 6.2 renamed del_timer_sync(); distributions backport it. */
#include <linux/timer.h>

static int __maybe_unused stp_feature_test(struct timer_list *timer)
{
	return timer_delete_sync(timer);
}

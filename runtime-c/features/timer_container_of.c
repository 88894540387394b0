// SPDX-License-Identifier: GPL-2.0-or-later
/* timer_container_of(): 6.16 renamed from_timer(). */
#include <linux/timer.h>

struct stp_feature_holder {
	struct timer_list timer;
};

static struct stp_feature_holder *__maybe_unused stp_feature_test(struct timer_list *timer)
{
	struct stp_feature_holder *holder = timer_container_of(holder, timer, timer);

	return holder;
}

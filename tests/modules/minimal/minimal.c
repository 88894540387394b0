// SPDX-License-Identifier: GPL-2.0
/*
 * The smallest useful out-of-tree module: it says hello on load and goodbye on
 * unload. Used as the stand-in payload while bundles are assembled from
 * prebuilt modules, and as the reference for build-time benchmarks.
 */
#include <linux/init.h>
#include <linux/module.h>

static int __init minimal_init(void)
{
	pr_info("stap_pack_minimal: loaded\n");
	return 0;
}

static void __exit minimal_exit(void)
{
	pr_info("stap_pack_minimal: unloaded\n");
}

module_init(minimal_init);
module_exit(minimal_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("stap-pack minimal test module");

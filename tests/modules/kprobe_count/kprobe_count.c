// SPDX-License-Identifier: GPL-2.0
/*
 * The hand-written reference for the probe overhead benchmark: a kprobe
 * that counts the hits of one kernel function in a per-CPU counter, about
 * the least a module can do per hit. The total goes to the kernel log at
 * unload: "stap_pack_kprobe_count: <function> <hits>".
 */
#include <linux/init.h>
#include <linux/kprobes.h>
#include <linux/module.h>
#include <linux/percpu.h>

static char symbol[KSYM_NAME_LEN] = "vfs_read";
module_param_string(symbol, symbol, sizeof(symbol), 0444);
MODULE_PARM_DESC(symbol, "the kernel function to count (default vfs_read)");

static DEFINE_PER_CPU(u64, hits);

static int kprobe_count_pre(struct kprobe *probe, struct pt_regs *regs)
{
	this_cpu_inc(hits);
	return 0;
}

static struct kprobe kprobe_count_probe = {
	.pre_handler = kprobe_count_pre,
};

static int __init kprobe_count_init(void)
{
	kprobe_count_probe.symbol_name = symbol;
	return register_kprobe(&kprobe_count_probe);
}

static void __exit kprobe_count_exit(void)
{
	u64 total = 0;
	int cpu;

	unregister_kprobe(&kprobe_count_probe);
	for_each_possible_cpu(cpu)
		total += per_cpu(hits, cpu);
	pr_info("stap_pack_kprobe_count: %s %llu\n", symbol, total);
}

module_init(kprobe_count_init);
module_exit(kprobe_count_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("stap-pack benchmark reference: count a kernel function's hits");

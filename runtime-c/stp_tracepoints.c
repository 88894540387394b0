// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Tracepoint probes (kernel.trace("subsystem:event")) and syscall probes.
 *
 * Tracepoints are found by name among the kernel's own (vmlinux) ones with
 * for_each_kernel_tracepoint(), so a module reaches every built-in
 * tracepoint, exported to modules or not, through the kernel's GPL API;
 * tracepoints of loadable modules are not searched (docs/probes.md).
 *
 * A tracepoint calls its probes as void (*)(void *data, <event args>).
 * Without debuginfo the event's arguments are unknown, so the callback
 * takes only `data`: on x86-64 the arguments are passed in registers (and
 * any stack arguments are removed by the caller), so a callee that ignores
 * trailing ones is correct. Only a kernel that checks indirect call types
 * (CONFIG_CFI_CLANG) would refuse it; there such probes fail to arm.
 *
 * Syscall probes share one registration on raw_syscalls:sys_enter and one
 * on sys_exit (exact prototypes), dispatching by syscall number to the
 * script's probes through a table built at start.
 */
#include <linux/compat.h>
#include <linux/errno.h>
#include <linux/kernel.h>
#include <linux/ptrace.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/tracepoint.h>
#include <linux/utsname.h>
#include <asm/syscall.h>

#include "stp_runtime.h"
#include "stp_tracepoints.h"

/* One registration: a probe function and its data on one tracepoint. */
struct stp_tracepoint_reg {
	const char *event;
	void *func;
	void *data;
	struct tracepoint *tp;
};

/* The script's syscall probes of one direction, by number: those of
 * number n are probes[start[n]] to probes[start[n + 1] - 1]. */
struct stp_syscall_table {
	unsigned int nr_count;
	unsigned int *start;
	const struct stp_probe **probes;
};

static struct stp_tracepoint_reg *stp_regs;
static unsigned int stp_reg_count;    /* entries of stp_regs in use */
static unsigned int stp_reg_armed;    /* of which registered */
static struct stp_syscall_table stp_syscall_enter, stp_syscall_exit;

static void stp_tracepoint_fire(void *data)
{
	const struct stp_probe *probe = data;
	struct stp_context *ctx = stp_probe_enter(probe, NULL);

	if (ctx) {
		probe->handler(ctx);
		stp_probe_leave(ctx);
	}
}

static void stp_syscall_fire(const struct stp_syscall_table *table, struct pt_regs *regs,
			     long nr)
{
	unsigned int i;

	/* Numbers are the native ones: 32-bit (and x32) calls are not ours. */
	if (nr < 0 || nr >= table->nr_count || in_compat_syscall())
		return;
	for (i = table->start[nr]; i < table->start[nr + 1]; i++) {
		const struct stp_probe *probe = table->probes[i];
		struct stp_context *ctx = stp_probe_enter(probe, regs);

		if (ctx) {
			probe->handler(ctx);
			stp_probe_leave(ctx);
		}
	}
}

static void stp_sys_enter(void *data, struct pt_regs *regs, long nr)
{
	stp_syscall_fire(&stp_syscall_enter, regs, nr);
}

static void stp_sys_exit(void *data, struct pt_regs *regs, long ret)
{
	stp_syscall_fire(&stp_syscall_exit, regs, syscall_get_nr(current, regs));
}

static void stp_syscall_table_free(struct stp_syscall_table *table)
{
	kfree(table->start);
	kfree(table->probes);
	memset(table, 0, sizeof(*table));
}

/* Builds the table of the probes of `kind`; returns how many there are,
 * or a negative errno. */
static int stp_syscall_table_build(struct stp_syscall_table *table, enum stp_probe_kind kind)
{
	unsigned int i, n = 0, max_nr = 0;

	for (i = 0; i < stp_script.probe_count; i++) {
		if (stp_script.probes[i].kind == kind) {
			n++;
			max_nr = max(max_nr, stp_script.probes[i].syscall);
		}
	}
	if (!n)
		return 0;
	table->nr_count = max_nr + 1;
	table->start = kcalloc(max_nr + 2, sizeof(*table->start), GFP_KERNEL);
	table->probes = kcalloc(n, sizeof(*table->probes), GFP_KERNEL);
	if (!table->start || !table->probes) {
		stp_syscall_table_free(table);
		return -ENOMEM;
	}
	/* A counting sort: count per number, then fill each number's slots. */
	for (i = 0; i < stp_script.probe_count; i++)
		if (stp_script.probes[i].kind == kind)
			table->start[stp_script.probes[i].syscall + 1]++;
	for (i = 1; i <= table->nr_count; i++)
		table->start[i] += table->start[i - 1];
	for (i = 0; i < stp_script.probe_count; i++) {
		const struct stp_probe *probe = &stp_script.probes[i];

		if (probe->kind == kind)
			table->probes[table->start[probe->syscall]++] = probe;
	}
	/* Filling moved each start to the next number's: shift back. */
	for (i = table->nr_count; i > 0; i--)
		table->start[i] = table->start[i - 1];
	table->start[0] = 0;
	return n;
}

static void stp_tracepoint_find(struct tracepoint *tp, void *unused)
{
	unsigned int i;

	for (i = 0; i < stp_reg_count; i++)
		if (!stp_regs[i].tp && !strcmp(tp->name, stp_regs[i].event))
			stp_regs[i].tp = tp;
}

static void stp_reg_add(const char *event, void *func, void *data)
{
	stp_regs[stp_reg_count++] = (struct stp_tracepoint_reg){
		.event = event, .func = func, .data = data,
	};
}

/* The probe a registration is reported under. */
static const struct stp_probe *stp_reg_probe(const struct stp_tracepoint_reg *reg)
{
	unsigned int i, kind;

	if (reg->func == stp_tracepoint_fire)
		return reg->data;
	kind = reg->func == stp_sys_enter ? STP_PROBE_SYSCALL : STP_PROBE_SYSCALL_RETURN;
	for (i = 0; i < stp_script.probe_count; i++)
		if (stp_script.probes[i].kind == kind)
			return &stp_script.probes[i];
	return &stp_script.probes[0];
}

int stp_tracepoints_start(void)
{
	unsigned int i, n = 0;
	int n_enter, n_exit, err;

	for (i = 0; i < stp_script.probe_count; i++)
		n += stp_script.probes[i].kind == STP_PROBE_TRACEPOINT;
	n_enter = stp_syscall_table_build(&stp_syscall_enter, STP_PROBE_SYSCALL);
	n_exit = stp_syscall_table_build(&stp_syscall_exit, STP_PROBE_SYSCALL_RETURN);
	if (n_enter < 0 || n_exit < 0) {
		err = -ENOMEM;
		goto fail_alloc;
	}
	n += !!n_enter + !!n_exit;
	if (!n)
		return 0;
	stp_regs = kcalloc(n, sizeof(*stp_regs), GFP_KERNEL);
	if (!stp_regs) {
		err = -ENOMEM;
		goto fail_alloc;
	}
	for (i = 0; i < stp_script.probe_count; i++) {
		const struct stp_probe *probe = &stp_script.probes[i];

		if (probe->kind != STP_PROBE_TRACEPOINT)
			continue;
		if (IS_ENABLED(CONFIG_CFI_CLANG)) {
			stp_start_error(probe, "cannot arm %s: kernel %s checks indirect call types (CONFIG_CFI_CLANG), and a tracepoint's prototype is unknown without debuginfo",
					probe->point, init_utsname()->release);
			err = -EOPNOTSUPP;
			goto fail;
		}
		stp_reg_add(probe->event, stp_tracepoint_fire, (void *)probe);
	}
	if (n_enter)
		stp_reg_add("sys_enter", stp_sys_enter, NULL);
	if (n_exit)
		stp_reg_add("sys_exit", stp_sys_exit, NULL);
	for_each_kernel_tracepoint(stp_tracepoint_find, NULL);
	for (stp_reg_armed = 0; stp_reg_armed < stp_reg_count; stp_reg_armed++) {
		struct stp_tracepoint_reg *reg = &stp_regs[stp_reg_armed];
		const struct stp_probe *probe = stp_reg_probe(reg);

		if (!reg->tp) {
			stp_start_error(probe, "cannot arm %s: kernel %s has no tracepoint `%s` (tracepoints of loadable modules are not supported)",
					probe->point, init_utsname()->release, reg->event);
			err = -ENOENT;
			goto fail;
		}
		err = tracepoint_probe_register(reg->tp, reg->func, reg->data);
		if (err) {
			stp_start_error(probe, "cannot arm %s: registering tracepoint `%s` of kernel %s failed (error %d)",
					probe->point, reg->event, init_utsname()->release, err);
			goto fail;
		}
	}
	return 0;

fail:
	stp_tracepoints_stop();
	return err;
fail_alloc:
	stp_syscall_table_free(&stp_syscall_enter);
	stp_syscall_table_free(&stp_syscall_exit);
	stp_start_error(&stp_script.probes[0], "cannot arm the tracepoint probes: out of memory");
	return err;
}

void stp_tracepoints_stop(void)
{
	while (stp_reg_armed) {
		struct stp_tracepoint_reg *reg = &stp_regs[--stp_reg_armed];

		tracepoint_probe_unregister(reg->tp, reg->func, reg->data);
	}
	/* No callback runs past this, so the tables can go. */
	if (stp_reg_count)
		tracepoint_synchronize_unregister();
	kfree(stp_regs);
	stp_regs = NULL;
	stp_reg_count = 0;
	stp_syscall_table_free(&stp_syscall_enter);
	stp_syscall_table_free(&stp_syscall_exit);
}

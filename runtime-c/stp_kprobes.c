// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Kprobe and kretprobe probes, and the helpers of the kernel context
 * functions (registers, arguments, memory, symbols, backtraces). See
 * stp_kprobes.h.
 *
 * Registration happens at session start, before the begin probes; a hit
 * before the session is RUNNING is refused by stp_probe_enter(), so
 * handlers never see a session that is still starting.
 */
#include <linux/errno.h>
#include <linux/kallsyms.h>
#include <linux/kprobes.h>
#include <linux/percpu.h>
#include <linux/ptrace.h>
#include <linux/sched.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/uaccess.h>
#include <linux/utsname.h>
#include <asm/unwind.h>

#include "stp_kprobes.h"

struct stp_kprobe {
	union {
		struct kprobe kp;     /* STP_PROBE_KPROBE */
		struct kretprobe krp; /* STP_PROBE_KRETPROBE */
	};
	const struct stp_probe *probe;
	char symbol[KSYM_NAME_LEN]; /* "module:function" for module probes */
};

static struct stp_kprobe *stp_kprobes;
static unsigned int stp_kprobe_count; /* registered, in stp_kprobes[] order */

/* One handler runs per CPU at a time (stp_probe_enter), so one buffer each. */
static DEFINE_PER_CPU(char[KSYM_SYMBOL_LEN], stp_symbol_buffer);

static bool stp_is_kprobe(const struct stp_probe *probe)
{
	return probe->kind == STP_PROBE_KPROBE || probe->kind == STP_PROBE_KRETPROBE;
}

static void stp_run_handler(const struct stp_probe *probe, struct pt_regs *regs)
{
	struct stp_context *ctx = stp_probe_enter(probe, regs);

	if (ctx) {
		probe->handler(ctx);
		stp_probe_leave(ctx);
	}
}

static int stp_kprobe_hit(struct kprobe *kp, struct pt_regs *regs)
{
	stp_run_handler(container_of(kp, struct stp_kprobe, kp)->probe, regs);
	return 0;
}

static int stp_kretprobe_hit(struct kretprobe_instance *instance, struct pt_regs *regs)
{
	struct kretprobe *krp = get_kretprobe(instance);

	/* NULL only while the kretprobe is being unregistered. */
	if (krp)
		stp_run_handler(container_of(krp, struct stp_kprobe, krp)->probe, regs);
	return 0;
}

static int stp_kprobe_register_one(struct stp_kprobe *skp, const struct stp_probe *probe)
{
	struct kprobe *kp = probe->kind == STP_PROBE_KRETPROBE ? &skp->krp.kp : &skp->kp;

	skp->probe = probe;
	if (probe->symbol) {
		/* kallsyms looks "module:function" up in that module only. */
		if (probe->module)
			snprintf(skp->symbol, sizeof(skp->symbol), "%s:%s", probe->module, probe->symbol);
		else
			strscpy(skp->symbol, probe->symbol, sizeof(skp->symbol));
		kp->symbol_name = skp->symbol;
	} else {
		kp->addr = (kprobe_opcode_t *)probe->address;
	}
	if (probe->kind == STP_PROBE_KPROBE) {
		kp->pre_handler = stp_kprobe_hit;
		return register_kprobe(kp);
	}
	skp->krp.handler = stp_kretprobe_hit;
	skp->krp.maxactive = probe->maxactive;
	return register_kretprobe(&skp->krp);
}

static void stp_kprobe_explain(char *why, size_t why_len, const struct stp_probe *probe, int err)
{
	const char *release = init_utsname()->release;

	if (err == -ENOENT && probe->module)
		snprintf(why, why_len,
			 "%s: no function %s in module %s (is the module loaded?) in kernel %s",
			 probe->point, probe->symbol, probe->module, release);
	else if (err == -ENOENT)
		snprintf(why, why_len, "%s: no such function in kernel %s", probe->point, release);
	else if (err == -EINVAL)
		snprintf(why, why_len,
			 "%s: cannot be probed in kernel %s (blacklisted for kprobes, or not an instruction boundary)",
			 probe->point, release);
	else
		snprintf(why, why_len, "%s: registration failed with error %d in kernel %s",
			 probe->point, err, release);
}

static void stp_kprobe_unregister_one(struct stp_kprobe *skp)
{
	if (skp->probe->kind == STP_PROBE_KRETPROBE)
		unregister_kretprobe(&skp->krp);
	else
		unregister_kprobe(&skp->kp);
}

static void stp_kprobes_release(void (*report)(const struct stp_probe *probe, unsigned long missed))
{
	unsigned int i;

	for (i = 0; i < stp_kprobe_count; i++) {
		struct stp_kprobe *skp = &stp_kprobes[i];
		unsigned long missed;

		stp_kprobe_unregister_one(skp);
		/* A kretprobe misses a return when all `maxactive` instances are
		 * in use (krp.nmissed), and an entry like a kprobe (kp.nmissed). */
		missed = skp->probe->kind == STP_PROBE_KRETPROBE ?
			skp->krp.nmissed + skp->krp.kp.nmissed : skp->kp.nmissed;
		if (missed && report)
			report(skp->probe, missed);
	}
	kfree(stp_kprobes);
	stp_kprobes = NULL;
	stp_kprobe_count = 0;
}

int stp_kprobes_register(char *why, size_t why_len, const struct stp_probe **failed)
{
	unsigned int i, n = 0;

	for (i = 0; i < stp_script.probe_count; i++)
		n += stp_is_kprobe(&stp_script.probes[i]);
	if (!n)
		return 0;
	stp_kprobes = kcalloc(n, sizeof(*stp_kprobes), GFP_KERNEL);
	if (!stp_kprobes) {
		snprintf(why, why_len, "out of memory for %u kprobes", n);
		return -ENOMEM;
	}
	for (i = 0; i < stp_script.probe_count; i++) {
		const struct stp_probe *probe = &stp_script.probes[i];
		int err;

		if (!stp_is_kprobe(probe))
			continue;
		err = stp_kprobe_register_one(&stp_kprobes[stp_kprobe_count], probe);
		if (err) {
			stp_kprobe_explain(why, why_len, probe, err);
			*failed = probe;
			stp_kprobes_release(NULL);
			return err;
		}
		stp_kprobe_count++;
	}
	return 0;
}

void stp_kprobes_unregister(void (*report)(const struct stp_probe *probe, unsigned long missed))
{
	if (stp_kprobes)
		stp_kprobes_release(report);
}

/* ---- Helpers of the kernel context functions ---- */

struct pt_regs *stp_need_regs(struct stp_context *ctx, const char *location, const char *what)
{
	if (!ctx->regs)
		stp_error(ctx, location, "cannot access %s in this context", what);
	return ctx->regs;
}

unsigned int stp_backtrace(struct pt_regs *regs, unsigned long *addresses, unsigned int max)
{
	struct unwind_state state;
	unsigned int n = 0;

	if (user_mode(regs))
		return 0;
	for (unwind_start(&state, current, regs, NULL); !unwind_done(&state) && n < max;
	     unwind_next_frame(&state)) {
		unsigned long address = unwind_get_return_address(&state);

		if (!address)
			break;
		addresses[n++] = address;
	}
	return n;
}

const char *stp_symbol(unsigned long address, bool full)
{
	char *buffer = *this_cpu_ptr(&stp_symbol_buffer);
	size_t len;

	if (!full) {
		sprint_symbol_no_offset(buffer, address);
		return buffer;
	}
	len = sprint_symbol(buffer, address);
	/* The kernel names modules only; SystemTap's format names the kernel too. */
	if (len && buffer[len - 1] != ']' && buffer[0] != '0')
		strlcat(buffer, " [kernel]", KSYM_SYMBOL_LEN);
	return buffer;
}

bool stp_read_kernel(void *to, unsigned long address, size_t size)
{
	return copy_from_kernel_nofault(to, (const void *)address, size) == 0;
}

struct stp_register_name {
	const char *name;
	unsigned short offset; /* in struct pt_regs */
	unsigned char bytes;   /* width, sign-extended from */
	unsigned char shift;   /* 8 for ah, bh, ch, dh */
};

#define STP_REG(name, field, bytes, shift) { name, offsetof(struct pt_regs, field), bytes, shift }

static const struct stp_register_name stp_register_names[] = {
	STP_REG("rax", ax, 8, 0), STP_REG("rbx", bx, 8, 0), STP_REG("rcx", cx, 8, 0),
	STP_REG("rdx", dx, 8, 0), STP_REG("rsi", si, 8, 0), STP_REG("rdi", di, 8, 0),
	STP_REG("rbp", bp, 8, 0), STP_REG("rsp", sp, 8, 0), STP_REG("rip", ip, 8, 0),
	STP_REG("r8", r8, 8, 0), STP_REG("r9", r9, 8, 0), STP_REG("r10", r10, 8, 0),
	STP_REG("r11", r11, 8, 0), STP_REG("r12", r12, 8, 0), STP_REG("r13", r13, 8, 0),
	STP_REG("r14", r14, 8, 0), STP_REG("r15", r15, 8, 0),
	STP_REG("orig_rax", orig_ax, 8, 0), STP_REG("eflags", flags, 8, 0),
	STP_REG("xcs", cs, 8, 0), STP_REG("xss", ss, 8, 0),
	STP_REG("eax", ax, 4, 0), STP_REG("ebx", bx, 4, 0), STP_REG("ecx", cx, 4, 0),
	STP_REG("edx", dx, 4, 0), STP_REG("esi", si, 4, 0), STP_REG("edi", di, 4, 0),
	STP_REG("ebp", bp, 4, 0), STP_REG("esp", sp, 4, 0), STP_REG("eip", ip, 4, 0),
	STP_REG("orig_eax", orig_ax, 4, 0),
	STP_REG("ax", ax, 2, 0), STP_REG("bx", bx, 2, 0), STP_REG("cx", cx, 2, 0),
	STP_REG("dx", dx, 2, 0), STP_REG("si", si, 2, 0), STP_REG("di", di, 2, 0),
	STP_REG("bp", bp, 2, 0), STP_REG("sp", sp, 2, 0), STP_REG("ip", ip, 2, 0),
	STP_REG("cs", cs, 2, 0), STP_REG("ss", ss, 2, 0), STP_REG("flags", flags, 2, 0),
	STP_REG("orig_ax", orig_ax, 2, 0),
	STP_REG("al", ax, 1, 0), STP_REG("bl", bx, 1, 0), STP_REG("cl", cx, 1, 0),
	STP_REG("dl", dx, 1, 0), STP_REG("ah", ax, 1, 8), STP_REG("bh", bx, 1, 8),
	STP_REG("ch", cx, 1, 8), STP_REG("dh", dx, 1, 8),
};

bool stp_register(const struct pt_regs *regs, const char *name, s64 *value)
{
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(stp_register_names); i++) {
		const struct stp_register_name *r = &stp_register_names[i];
		unsigned long raw;
		unsigned int bits = 8 * r->bytes;

		if (strcmp(r->name, name))
			continue;
		raw = *(const unsigned long *)((const char *)regs + r->offset) >> r->shift;
		*value = bits == 64 ? (s64)raw : sign_extend64(raw, bits - 1);
		return true;
	}
	return false;
}

bool stp_function_arg(const struct pt_regs *regs, s64 n, unsigned long *value,
		      unsigned long *fault)
{
	/* The first six in registers; the rest on the stack above the return
	 * address, which is at regs->sp when the probe is at the function's
	 * first instruction. */
	static const unsigned short in_registers[] = {
		offsetof(struct pt_regs, di), offsetof(struct pt_regs, si),
		offsetof(struct pt_regs, dx), offsetof(struct pt_regs, cx),
		offsetof(struct pt_regs, r8), offsetof(struct pt_regs, r9),
	};
	unsigned long slot;

	*fault = 0;
	if (n < 1 || n > 64)
		return false;
	if (n <= ARRAY_SIZE(in_registers)) {
		*value = *(const unsigned long *)((const char *)regs + in_registers[n - 1]);
		return true;
	}
	slot = regs->sp + (n - ARRAY_SIZE(in_registers)) * sizeof(long);
	if (stp_read_kernel(value, slot, sizeof(*value)))
		return true;
	*fault = slot;
	return false;
}

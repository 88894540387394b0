/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Kprobe and kretprobe probes (stp_kprobes.c): registration for the session
 * (stp_runtime.c), and the helpers the kernel context functions of the
 * tapset use (registers, arguments, memory, symbols, backtraces).
 */
#ifndef STP_KPROBES_H
#define STP_KPROBES_H

#include <linux/types.h>

#include "stp_runtime.h"

struct pt_regs;

/* Session start, process context: registers every kprobe and kretprobe of
 * the script. On failure nothing stays registered, and `why` says which
 * probe failed and why, with the running kernel's release. */
int stp_kprobes_register(char *why, size_t why_len, const struct stp_probe **failed);

/* Session stop, process context: unregisters everything registered (waits
 * for running handlers), and returns the hits the kernel missed (kprobe and
 * kretprobe nmissed) through `report`, once per probe that missed any. */
void stp_kprobes_unregister(void (*report)(const struct stp_probe *probe, unsigned long missed));

/* The probe's registers; without any (begin, end, timers), raises the
 * script error "cannot access <what> in this context" and returns NULL. */
struct pt_regs *stp_need_regs(struct stp_context *ctx, const char *location, const char *what);

/* The largest number of addresses stp_backtrace() returns. */
#define STP_BACKTRACE_DEPTH 64

/* The kernel stack at `regs`, innermost first (the probed address first);
 * returns how many addresses were stored. */
unsigned int stp_backtrace(struct pt_regs *regs, unsigned long *addresses, unsigned int max);

/* "name+0x1/0x20 [module]" (or [kernel]), or "name" alone without
 * `full`, for a kernel text address; the hex address if it has no symbol.
 * Returns this CPU's scratch buffer, valid until the handler's next call. */
const char *stp_symbol(unsigned long address, bool full);

/* Copies `size` bytes of kernel memory at `address` without faulting:
 * false if some byte is not readable. */
bool stp_read_kernel(void *to, unsigned long address, size_t size);

/* The value of x86-64 register `name` ("rax", "eax", "ax", "al", ...) in
 * `regs`, sign-extended from its width; false for an unknown name. */
bool stp_register(const struct pt_regs *regs, const char *name, s64 *value);

/* Function argument `n` (1-based) at a function's entry, by the x86-64
 * calling convention: false if it cannot be read (`fault` then names the
 * stack address that faulted, or is 0 for a bad `n`). */
bool stp_function_arg(const struct pt_regs *regs, s64 n, unsigned long *value,
		      unsigned long *fault);

#endif /* STP_KPROBES_H */

/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The stap-pack runtime API for generated probe modules.
 *
 * A module is the generated `stp_script.c` (which defines `stp_script`, the
 * probe handlers and the globals) linked with `stp_runtime.c` (which defines
 * module_init/module_exit, the control file, the per-CPU output buffers and
 * the timers). The runtime calls the handlers; handlers call the functions
 * below. docs/transport.md describes the lifecycle and the protocol.
 *
 * Handler rules: a handler runs with preemption disabled, on one CPU, and
 * may run in interrupt context: it must not sleep or allocate. Everything
 * it prints is buffered in its context and sent as one OUTPUT message when
 * it returns. After anything that may fail, generated code checks
 * stp_failed(ctx) and returns at once if it is set.
 */
#ifndef STP_RUNTIME_H
#define STP_RUNTIME_H

#include <linux/atomic.h>
#include <linux/compiler.h>
#include <linux/moduleparam.h>
#include <linux/types.h>

/* Build-time tunables: override for the whole module with -D in ccflags. */
#ifndef STP_PRINT_BUFFER_BYTES
#define STP_PRINT_BUFFER_BYTES 8192 /* output of one handler before an early flush */
#endif
#ifndef STP_RING_BYTES
#define STP_RING_BYTES (256 * 1024) /* per-CPU message buffer; a power of two */
#endif
#define STP_MESSAGE_BYTES 512 /* one warning or error text (SystemTap's MAXSTRINGLEN) */

/* SystemTap's guards around every handler, also -D overridable. A hit
 * with less than MINSTACKSPACE bytes of kernel stack left is skipped. A
 * CPU whose handlers used more than STP_OVERLOAD_THRESHOLD cycles in an
 * interval of STP_OVERLOAD_INTERVAL cycles raises an error (which ends
 * the session unless MAXERRORS allows more); -D STP_NO_OVERLOAD turns that
 * check off. */
#ifndef MINSTACKSPACE
#define MINSTACKSPACE 1024
#endif
#ifndef STP_OVERLOAD_INTERVAL
#define STP_OVERLOAD_INTERVAL 1000000000ULL
#endif
#ifndef STP_OVERLOAD_THRESHOLD
#define STP_OVERLOAD_THRESHOLD 500000000ULL
#endif

enum stp_probe_kind {
	STP_PROBE_BEGIN, /* once, at `start`, in the runner's process context */
	STP_PROBE_END,   /* once, at `stop`, unless the session ended by an error */
	STP_PROBE_ERROR, /* once, at `stop`, only if the session ended by an error */
	STP_PROBE_NEVER, /* never runs (type-checked only) */
	STP_PROBE_TIMER, /* timer.ns/us/ms/s/jiffies/hz(N), optionally .randomize(M) */
	STP_PROBE_KPROBE,    /* kprobe[.module(M)].function(F), kprobe.statement(A).absolute */
	STP_PROBE_KRETPROBE, /* kprobe[.module(M)].function(F).return */
	STP_PROBE_TRACEPOINT,     /* kernel.trace("subsystem:event"): stp_tracepoints.c */
	STP_PROBE_SYSCALL,        /* native syscall `syscall` entered (raw_syscalls:sys_enter) */
	STP_PROBE_SYSCALL_RETURN, /* ... and returning (raw_syscalls:sys_exit) */
};

enum stp_timer_unit {
	STP_TIMER_NS,
	STP_TIMER_US,
	STP_TIMER_MS,
	STP_TIMER_S,
	STP_TIMER_JIFFIES,
	STP_TIMER_HZ, /* `interval` is a frequency; no randomize */
};

struct pt_regs;
struct stp_context;
typedef void (*stp_handler_fn)(struct stp_context *ctx);

/* One probe of the script. Generated code fills a const array of these. */
struct stp_probe {
	const char *point;    /* as written, for messages: "timer.ms(10)" */
	const char *location; /* "demo.stp:7:1" */
	enum stp_probe_kind kind;
	stp_handler_fn handler;
	/* STP_PROBE_TIMER only: fires every `interval` units, plus or minus a
	 * uniformly random amount up to `randomize` units (randomize < interval). */
	enum stp_timer_unit unit;
	u64 interval;
	u64 randomize;
	/* STP_PROBE_KPROBE, STP_PROBE_KRETPROBE only (stp_kprobes.c): the
	 * function `symbol` of `module` (NULL: the kernel proper), or with no
	 * symbol the absolute `address`; `maxactive` 0 is the kernel's default. */
	const char *symbol;
	const char *module;
	unsigned long address;
	unsigned int maxactive;
	/* STP_PROBE_TRACEPOINT only: the event's name ("sched_switch"). */
	const char *event;
	/* STP_PROBE_SYSCALL(_RETURN) only: the x86-64 syscall number. */
	unsigned int syscall;
};

/* The script: generated code defines exactly one, named stp_script. */
struct stp_script {
	const char *name; /* script file name, for messages */
	const struct stp_probe *probes;
	unsigned int probe_count;
	unsigned int max_errors; /* MAXERRORS: errors tolerated before the session ends */
	unsigned int max_skipped; /* MAXSKIPPED: skipped probe hits tolerated, ditto */
	/* Optional: set up globals at load (after module parameters are set;
	 * may sleep and allocate; a negative errno fails the load). */
	int (*init)(void);
	/* Optional: release what init set up; runs at unload after every probe
	 * is disarmed. */
	void (*exit)(void);
};

extern const struct stp_script stp_script;

/* Per-CPU state of the running handler. Generated code uses the functions
 * below; the fields are the runtime's. */
struct stp_context {
	const struct stp_probe *probe;
	/* The registers the probe fired with: the probed kernel code's for
	 * kprobes, the task's user registers for syscall probes; NULL where
	 * a probe has none (begin, end, error, timers). */
	struct pt_regs *regs;
	atomic_t busy;            /* nonzero while a handler runs on this CPU */
	u64 cycles_start;         /* overload check: when this handler started, */
	u64 cycles_base;          /* ... when this CPU's interval started, */
	u64 cycles_sum;           /* ... and the handlers' cycles in it */
	bool failed;              /* stp_error() was called in this handler */
	unsigned int print_len;
	char print_buffer[STP_PRINT_BUFFER_BYTES];
	char error[STP_MESSAGE_BYTES];   /* the pending error's message ... */
	const char *error_location;      /* ... and where it was raised (or NULL) */
	char message[STP_MESSAGE_BYTES]; /* a warning or error being sent */
};

/* Appends to the handler's output (sent when the handler returns; a full
 * buffer is sent early, so long output becomes several OUTPUT messages). */
void stp_print(struct stp_context *ctx, const char *text);
void stp_print_bytes(struct stp_context *ctx, const char *bytes, size_t len);
/* Kernel vsnprintf formats (printk's, not SystemTap's): the back end
 * formats script values itself and uses this for its own fixed formats. */
__printf(2, 3) void stp_printf(struct stp_context *ctx, const char *fmt, ...);

/* Raises a script error: "ERROR: <message> near <location>" (location may
 * be NULL). The first error of a handler wins; the handler must return.
 * More than stp_script.max_errors errors end the session like exit(), and
 * the runner exits with its "script ended with an error" status. */
__printf(3, 4) void stp_error(struct stp_context *ctx, const char *location,
			      const char *fmt, ...);

static inline bool stp_failed(const struct stp_context *ctx)
{
	return ctx->failed;
}

/* try/catch: the pending error's message (without "ERROR: " and the
 * location), and withdrawing it so the handler goes on. */
static inline const char *stp_error_message(const struct stp_context *ctx)
{
	return ctx->error;
}

static inline void stp_error_clear(struct stp_context *ctx)
{
	ctx->failed = false;
}

/* Sends "WARNING: <message> near <location>" at once (after the output
 * printed so far). The handler goes on. */
__printf(3, 4) void stp_warn(struct stp_context *ctx, const char *location,
			     const char *fmt, ...);

/* target(): the process the runner was given with -x, or its -c command's
 * pid; 0 when none. */
long stp_target(void);

/* exit(): no probe starts after this (the running handler finishes), and
 * the runner is asked to stop the session, which runs the end probes. */
void stp_request_exit(void);

/* Counts a probe hit that did not run its handler (the language runtime
 * could not take the globals' locks). More than stp_script.max_skipped
 * skipped hits, these and the runtime's own (busy CPU, low stack), end
 * the session with an error when the next handler returns (or the next
 * hit skipped for lack of stack). */
void stp_probe_skipped(void);

/* For the runtime's own probe kinds (kprobes, tracepoints, ...): a probe
 * callback brackets the handler with these, passing the registers it got
 * (or NULL). enter returns NULL (and the callback returns at once) if the
 * session is not running, or a handler is already running on this CPU or
 * less than MINSTACKSPACE bytes of stack are left (both counted as
 * skipped). leave runs the overload check. */
struct stp_context *stp_probe_enter(const struct stp_probe *probe, struct pt_regs *regs);
void stp_probe_leave(struct stp_context *ctx);

/* For the runtime's own probe kinds: a probe could not be armed at `start`
 * (process context). Sends "ERROR: <message> near <its location>" and ends the session with
 * an error before any begin probe runs. */
__printf(2, 3) void stp_start_error(const struct stp_probe *probe, const char *fmt, ...);

/*
 * Module parameters: a scalar global that the runner may set from NAME=VALUE.
 * The kernel sets them before init; mode 0 keeps them out of sysfs, since
 * probes change the globals while they run.
 *
 *   static long stp_global_count = 5;
 *   STP_PARAM_LONG(count, stp_global_count);
 *   static char stp_global_label[STP_MESSAGE_BYTES] = "default";
 *   STP_PARAM_STRING(label, stp_global_label);
 */
#define STP_PARAM_LONG(name, variable) module_param_named(name, variable, long, 0)
#define STP_PARAM_STRING(name, buffer) module_param_string(name, buffer, sizeof(buffer), 0)

#endif /* STP_RUNTIME_H */

// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The stap-pack runtime: session lifecycle, the control file, per-CPU
 * message buffers and timer probes. See stp_runtime.h for the API generated
 * code uses and docs/transport.md for the protocol.
 *
 * Locking, in short:
 * - stp_ctl_lock (mutex) serialises the session transitions made from the
 *   runner's process context: start, stop, close, unload.
 * - A handler owns its CPU's context and ring while ctx->busy is held; a
 *   hit that finds busy set is skipped and counted, so each ring has one
 *   producer at a time (nested interrupts and NMIs included).
 * - stp_read_lock (mutex) makes the reader the one consumer of every ring.
 */
#include <linux/capability.h>
#include <linux/fs.h>
#include <linux/hrtimer.h>
#include <linux/init.h>
#include <linux/jiffies.h>
#include <linux/kernel.h>
#include <linux/ktime.h>
#include <linux/module.h>
#include <linux/mutex.h>
#include <linux/overflow.h>
#include <linux/percpu.h>
#include <linux/poll.h>
#include <linux/proc_fs.h>
#include <linux/random.h>
#include <linux/slab.h>
#include <linux/sched/task_stack.h>
#include <linux/string.h>
#include <linux/timer.h>
#include <linux/timex.h>
#include <linux/uaccess.h>
#include <linux/vmalloc.h>
#include <linux/wait.h>
#ifdef CONFIG_X86_64
#include <asm/unwind.h>
#endif

#include "stp_features.h"
#include "stp_kprobes.h"
#include "stp_runtime.h"
#include "stp_tracepoints.h"
#include "stp_wire.h"

#if STP_HAVE_TIMER_DELETE_SYNC
#define stp_timer_delete_sync timer_delete_sync
#else
#define stp_timer_delete_sync del_timer_sync
#endif
#if STP_HAVE_TIMER_CONTAINER_OF
#define stp_timer_container_of timer_container_of
#else
#define stp_timer_container_of from_timer
#endif

/* How often the wake timer looks for messages to hand to a blocked reader. */
#define STP_WAKE_INTERVAL_MS 10

/* Ring records are 8-byte aligned; a record that would not fit before the
 * end of the ring is preceded by a pad marker (or, with less than a header
 * left, by nothing) and starts again at offset 0. */
#define STP_RING_ALIGN 8
#define STP_RING_PAD_MAGIC 0x44415053u /* "SPAD" */

static_assert((STP_RING_BYTES & (STP_RING_BYTES - 1)) == 0, "STP_RING_BYTES must be a power of two");
static_assert(STP_PRINT_BUFFER_BYTES <= STP_WIRE_MAX_PAYLOAD, "print buffer larger than a message");
static_assert(STP_RING_BYTES >= 4 * (sizeof(struct stp_wire_header) + STP_PRINT_BUFFER_BYTES),
	      "STP_RING_BYTES too small for the print buffer");

enum stp_session_state {
	STP_LOADED,   /* module loaded, nothing armed */
	STP_STARTING, /* begin probes running */
	STP_RUNNING,  /* probes armed */
	STP_ENDING,   /* exit() or too many errors: no probe starts; waiting for `stop` */
	STP_STOPPING, /* disarmed; end (or error) probes running */
	STP_STOPPED,  /* finished; the reader sends STOPPED once the rings are empty */
};

struct stp_ring {
	u64 head; /* bytes ever produced: written by the CPU's handler */
	u64 tail; /* bytes ever consumed: written by the reader */
	char *data;
};

struct stp_timer {
	struct hrtimer hrtimer;
	const struct stp_probe *probe;
	u64 interval_ns;
	u64 randomize_ns;
};

static struct stp_session {
	atomic_t state;       /* enum stp_session_state */
	atomic_t end_reason;  /* enum stp_end_reason; first exit()/error sets it */
	atomic64_t sequence;  /* last message sequence number handed out */
	atomic64_t exit_sequence; /* nonzero once EXIT_REQUEST is pending */
	u64 started_sequence; /* nonzero once STARTED is pending (set under stp_ctl_lock) */
	atomic64_t messages_lost;
	atomic64_t probes_skipped;
	atomic64_t errors;
	atomic_t skipped_reported; /* "Skipped too many probes" was sent */
	/* What the reader has sent (under stp_read_lock; read locklessly by the wake timer). */
	bool started_sent, exit_sent, stopped_sent;
	atomic_t opened;      /* the control file may be opened once per load */
	struct timer_list wake_timer; /* wakes the reader while the control file is open */
	bool wake_timer_on;
	bool unloading;
} stp_session;

static DEFINE_MUTEX(stp_ctl_lock);
static DEFINE_MUTEX(stp_read_lock);
static DECLARE_WAIT_QUEUE_HEAD(stp_reader_wait);
static struct proc_dir_entry *stp_proc_dir;
static struct stp_timer *stp_timers;
static unsigned int stp_timer_count;
static DEFINE_PER_CPU(struct stp_context *, stp_cpu_context);
static DEFINE_PER_CPU(struct stp_ring, stp_cpu_ring);

/* ---- Per-CPU rings: one producer (the CPU's handler), one consumer (the reader). ---- */

static u32 stp_record_bytes(u32 payload_len)
{
	return ALIGN(sizeof(struct stp_wire_header) + payload_len, STP_RING_ALIGN);
}

/* Appends one message to this CPU's ring, or counts it lost. The caller
 * holds this CPU's context (busy), so it is the ring's only producer. */
static void stp_ring_put(u16 type, const void *payload, u32 len)
{
	struct stp_ring *ring = this_cpu_ptr(&stp_cpu_ring);
	u32 record = stp_record_bytes(len);
	u64 head = ring->head;
	u64 tail = smp_load_acquire(&ring->tail);
	u32 offset = head & (STP_RING_BYTES - 1);
	u32 to_end = STP_RING_BYTES - offset;
	u32 skip = to_end < record ? to_end : 0;
	struct stp_wire_header *header;

	if (head + skip + record - tail > STP_RING_BYTES) {
		atomic64_inc(&stp_session.messages_lost);
		return;
	}
	if (skip) {
		if (skip >= sizeof(*header))
			((struct stp_wire_header *)(ring->data + offset))->magic = STP_RING_PAD_MAGIC;
		head += skip;
		offset = 0;
	}
	header = (struct stp_wire_header *)(ring->data + offset);
	header->magic = STP_WIRE_MAGIC;
	header->type = type;
	header->flags = 0;
	header->length = len;
	header->cpu = smp_processor_id();
	memcpy(header + 1, payload, len);
	/* Numbered when complete, so the order across CPUs is the publish order. */
	header->sequence = atomic64_inc_return(&stp_session.sequence);
	smp_store_release(&ring->head, head + record);
}

/* The oldest unread message of a ring, skipping pad space; NULL if empty. */
static const struct stp_wire_header *stp_ring_peek(struct stp_ring *ring)
{
	for (;;) {
		u64 head = smp_load_acquire(&ring->head);
		u32 offset = ring->tail & (STP_RING_BYTES - 1);
		u32 to_end = STP_RING_BYTES - offset;
		const struct stp_wire_header *header;

		if (ring->tail == head)
			return NULL;
		header = (const struct stp_wire_header *)(ring->data + offset);
		if (to_end >= sizeof(*header) && header->magic != STP_RING_PAD_MAGIC)
			return header;
		smp_store_release(&ring->tail, ring->tail + to_end);
	}
}

static void stp_ring_consume(struct stp_ring *ring, const struct stp_wire_header *header)
{
	smp_store_release(&ring->tail, ring->tail + stp_record_bytes(header->length));
}

static bool stp_rings_empty(void)
{
	int cpu;

	for_each_possible_cpu(cpu) {
		struct stp_ring *ring = per_cpu_ptr(&stp_cpu_ring, cpu);

		if (READ_ONCE(ring->tail) != smp_load_acquire(&ring->head))
			return false;
	}
	return true;
}

/* Whether a read would return something (or end of file). Lockless: used by
 * poll and the wake timer; the reader re-checks under stp_read_lock. */
static bool stp_reader_has_work(void)
{
	int state = atomic_read(&stp_session.state);

	if (READ_ONCE(stp_session.unloading))
		return true;
	if (!stp_rings_empty())
		return true;
	if (READ_ONCE(stp_session.started_sequence) && !READ_ONCE(stp_session.started_sent))
		return true;
	if (atomic64_read(&stp_session.exit_sequence) && !READ_ONCE(stp_session.exit_sent))
		return true;
	return state == STP_STOPPED;
}

/* ---- Handler contexts ---- */

#ifdef CONFIG_X86_64
/* Each CPU's hard IRQ stack, where timer probes run: fixed at boot, so
 * found once (begin is set last; both are written with the same values if
 * nested hits race). */
struct stp_irq_stack {
	unsigned long begin, end;
};
static DEFINE_PER_CPU(struct stp_irq_stack, stp_irq_stack);
#endif

/* Bytes of kernel stack left below the caller's frame, or ULONG_MAX on a
 * stack whose bounds are unknown (that hit is not checked). Called with
 * preemption disabled. */
static noinline unsigned long stp_stack_left(void)
{
	unsigned long here = (unsigned long)&here;
	unsigned long task_base = (unsigned long)task_stack_page(current);

	/* Most hits: the task stack (THREAD_SIZE bytes from task_base). */
	if (here - task_base < THREAD_SIZE)
		return here - task_base;
#ifdef CONFIG_X86_64
	{
		struct stp_irq_stack *irq = this_cpu_ptr(&stp_irq_stack);
		unsigned long begin = smp_load_acquire(&irq->begin);
		struct unwind_state state;

		if (begin && here - begin < READ_ONCE(irq->end) - begin)
			return here - begin;
		/* IRQ, softirq and exception stacks are per-CPU areas that are
		 * not aligned to their size, and the kernel does not export
		 * get_stack_info(); the unwinder started at this frame finds
		 * the stack it is on, unwinding a frame or two. */
		__unwind_start(&state, current, NULL, (unsigned long *)here);
		if (!on_stack(&state.stack_info, (void *)here, sizeof(here)))
			return ULONG_MAX;
		begin = (unsigned long)state.stack_info.begin;
		if (state.stack_info.type == STACK_TYPE_IRQ) {
			WRITE_ONCE(irq->end, (unsigned long)state.stack_info.end);
			smp_store_release(&irq->begin, begin);
		}
		return here - begin;
	}
#endif
	return ULONG_MAX;
}

static void stp_print_flush(struct stp_context *ctx)
{
	if (ctx->print_len) {
		stp_ring_put(STP_MSG_OUTPUT, ctx->print_buffer, ctx->print_len);
		ctx->print_len = 0;
	}
}

/* Ends the session early (exit() or errors): the first reason is kept. */
static void stp_end_session(enum stp_end_reason reason)
{
	if (atomic_cmpxchg(&stp_session.end_reason, STP_END_STOP, reason) != STP_END_STOP)
		return;
	atomic_cmpxchg(&stp_session.state, STP_RUNNING, STP_ENDING);
	/* Handed to the reader by the wake timer: a probe may fire where
	 * waking a task is not safe (inside the scheduler, in NMI). */
	atomic64_set(&stp_session.exit_sequence, atomic64_inc_return(&stp_session.sequence));
}

static void stp_send_error(struct stp_context *ctx, const char *text, const char *location)
{
	size_t len = scnprintf(ctx->message, sizeof(ctx->message), "ERROR: %s", text);

	if (location)
		len += scnprintf(ctx->message + len, sizeof(ctx->message) - len, " near %s", location);
	stp_ring_put(STP_MSG_ERROR, ctx->message, len);
}

/* Too many skipped hits end the session, reported once. The caller holds
 * ctx (busy). */
static void stp_check_skipped(struct stp_context *ctx)
{
	if (atomic64_read(&stp_session.probes_skipped) > stp_script.max_skipped &&
	    !atomic_xchg(&stp_session.skipped_reported, 1)) {
		stp_send_error(ctx, "Skipped too many probes, check MAXSKIPPED", NULL);
		atomic64_inc(&stp_session.errors);
		stp_end_session(STP_END_ERROR);
	}
}

/* Takes this CPU's context for a probe if the session is in `state`.
 * Returns with preemption disabled on success. */
static struct stp_context *stp_context_take(const struct stp_probe *probe, int state,
					    struct pt_regs *regs)
{
	struct stp_context *ctx;
	bool low_stack;

	preempt_disable();
	if (atomic_read(&stp_session.state) != state)
		goto refuse;
	/* After exit() or a fatal error, only the end and error probes run. */
	if (state != STP_STOPPING && atomic_read(&stp_session.end_reason) != STP_END_STOP)
		goto refuse;
	low_stack = stp_stack_left() < MINSTACKSPACE;
	ctx = *this_cpu_ptr(&stp_cpu_context);
	if (atomic_inc_return(&ctx->busy) != 1) {
		atomic_dec(&ctx->busy);
		atomic64_inc(&stp_session.probes_skipped);
		goto refuse;
	}
	if (low_stack) {
		/* No handler will return to report the limit if every hit
		 * lacks stack: check it here (the context is free). */
		atomic64_inc(&stp_session.probes_skipped);
		stp_check_skipped(ctx);
		atomic_dec(&ctx->busy);
		goto refuse;
	}
	ctx->probe = probe;
	ctx->regs = regs;
	ctx->failed = false;
	ctx->print_len = 0;
	ctx->cycles_start = get_cycles();
	return ctx;
refuse:
	preempt_enable();
	return NULL;
}

#ifndef STP_NO_OVERLOAD
/* SystemTap's overload check: adds this handler's cycles to its CPU's
 * interval; at the end of an interval (measured at handler returns), too
 * many cycles in it are an error. The first handler on a CPU closes an
 * interval at once, so one long handler is caught. */
static void stp_check_overload(struct stp_context *ctx)
{
	u64 now = get_cycles();
	u64 sum = ctx->cycles_sum + (now - ctx->cycles_start);

	if (now > ctx->cycles_base && now - ctx->cycles_base <= STP_OVERLOAD_INTERVAL) {
		ctx->cycles_sum = sum;
		return;
	}
	ctx->cycles_base = now;
	ctx->cycles_sum = 0;
	if (sum <= STP_OVERLOAD_THRESHOLD)
		return;
	/* After the handler's own error, if it raised one. */
	if (ctx->failed) {
		stp_send_error(ctx, ctx->error, ctx->error_location);
		atomic64_inc(&stp_session.errors);
	}
	ctx->failed = true;
	ctx->error_location = NULL;
	scnprintf(ctx->error, sizeof(ctx->error),
		  "probe overhead (%llu cycles) exceeded threshold (%llu cycles) in last %llu cycles",
		  sum, (u64)STP_OVERLOAD_THRESHOLD, (u64)STP_OVERLOAD_INTERVAL);
}
#endif

static void stp_context_release(struct stp_context *ctx)
{
	stp_print_flush(ctx);
#ifndef STP_NO_OVERLOAD
	stp_check_overload(ctx);
#endif
	if (ctx->failed) {
		stp_send_error(ctx, ctx->error, ctx->error_location);
		if (atomic64_inc_return(&stp_session.errors) > stp_script.max_errors)
			stp_end_session(STP_END_ERROR);
	}
	stp_check_skipped(ctx);
	atomic_dec(&ctx->busy);
	preempt_enable();
}

void stp_probe_skipped(void)
{
	atomic64_inc(&stp_session.probes_skipped);
}

static void stp_run_probe(const struct stp_probe *probe, int state)
{
	struct stp_context *ctx = stp_context_take(probe, state, NULL);

	if (ctx) {
		probe->handler(ctx);
		stp_context_release(ctx);
	}
}

struct stp_context *stp_probe_enter(const struct stp_probe *probe, struct pt_regs *regs)
{
	return stp_context_take(probe, STP_RUNNING, regs);
}

void stp_probe_leave(struct stp_context *ctx)
{
	stp_context_release(ctx);
}

void stp_start_error(const struct stp_probe *probe, const char *fmt, ...)
{
	struct stp_context *ctx = stp_context_take(probe, STP_STARTING, NULL);
	va_list args;

	if (ctx) {
		va_start(args, fmt);
		vscnprintf(ctx->error, sizeof(ctx->error), fmt, args);
		va_end(args);
		ctx->error_location = probe ? probe->location : NULL;
		ctx->failed = true;
		stp_context_release(ctx);
	}
	/* Whatever MAXERRORS allows: a probe that cannot be armed ends the session. */
	stp_end_session(STP_END_ERROR);
}

void stp_print_bytes(struct stp_context *ctx, const char *bytes, size_t len)
{
	while (len) {
		size_t room = STP_PRINT_BUFFER_BYTES - ctx->print_len;
		size_t chunk = min(len, room);

		memcpy(ctx->print_buffer + ctx->print_len, bytes, chunk);
		ctx->print_len += chunk;
		bytes += chunk;
		len -= chunk;
		if (ctx->print_len == STP_PRINT_BUFFER_BYTES)
			stp_print_flush(ctx);
	}
}

void stp_print(struct stp_context *ctx, const char *text)
{
	stp_print_bytes(ctx, text, strlen(text));
}

void stp_printf(struct stp_context *ctx, const char *fmt, ...)
{
	va_list args;
	int needed;

	va_start(args, fmt);
	needed = vsnprintf(ctx->print_buffer + ctx->print_len,
			   STP_PRINT_BUFFER_BYTES - ctx->print_len, fmt, args);
	va_end(args);
	if (ctx->print_len + needed < STP_PRINT_BUFFER_BYTES) {
		ctx->print_len += needed;
		return;
	}
	/* Did not fit: send what was there and format again into the empty
	 * buffer (truncated if a single result exceeds the whole buffer). */
	stp_print_flush(ctx);
	va_start(args, fmt);
	ctx->print_len = vscnprintf(ctx->print_buffer, STP_PRINT_BUFFER_BYTES, fmt, args);
	va_end(args);
}

static void stp_format_message(struct stp_context *ctx, const char *prefix, const char *location,
			       const char *fmt, va_list args)
{
	size_t len = strscpy(ctx->message, prefix, sizeof(ctx->message));

	len += vscnprintf(ctx->message + len, sizeof(ctx->message) - len, fmt, args);
	if (location)
		scnprintf(ctx->message + len, sizeof(ctx->message) - len, " near %s", location);
}

void stp_error(struct stp_context *ctx, const char *location, const char *fmt, ...)
{
	va_list args;

	if (ctx->failed)
		return;
	/* Kept apart from the prefix and location: try/catch hands the
	 * message alone to the script. */
	va_start(args, fmt);
	vscnprintf(ctx->error, sizeof(ctx->error), fmt, args);
	va_end(args);
	ctx->error_location = location;
	ctx->failed = true;
}

void stp_warn(struct stp_context *ctx, const char *location, const char *fmt, ...)
{
	va_list args;

	/* The message buffer holds a pending error until the handler returns. */
	if (ctx->failed)
		return;
	stp_print_flush(ctx);
	va_start(args, fmt);
	stp_format_message(ctx, "WARNING: ", location, fmt, args);
	va_end(args);
	stp_ring_put(STP_MSG_WARNING, ctx->message, strlen(ctx->message));
}

void stp_request_exit(void)
{
	stp_end_session(STP_END_EXIT);
}

/* ---- Timer probes ---- */

static u64 stp_timer_next_ns(const struct stp_timer *timer)
{
	u64 spread;

	if (!timer->randomize_ns)
		return timer->interval_ns;
	spread = get_random_u64() % (2 * timer->randomize_ns + 1);
	return timer->interval_ns - timer->randomize_ns + spread;
}

static enum hrtimer_restart stp_timer_fire(struct hrtimer *hrtimer)
{
	struct stp_timer *timer = container_of(hrtimer, struct stp_timer, hrtimer);
	struct stp_context *ctx = stp_probe_enter(timer->probe, NULL);

	if (ctx) {
		timer->probe->handler(ctx);
		stp_probe_leave(ctx);
	}
	if (atomic_read(&stp_session.state) != STP_RUNNING)
		return HRTIMER_NORESTART;
	hrtimer_forward_now(hrtimer, ns_to_ktime(stp_timer_next_ns(timer)));
	return HRTIMER_RESTART;
}

/* A timer probe's period in ns, or 0 if out of range. */
static u64 stp_timer_unit_ns(const struct stp_probe *probe, u64 count)
{
	static const u64 ns_per_unit[] = {
		[STP_TIMER_NS] = 1,
		[STP_TIMER_US] = NSEC_PER_USEC,
		[STP_TIMER_MS] = NSEC_PER_MSEC,
		[STP_TIMER_S] = NSEC_PER_SEC,
		[STP_TIMER_JIFFIES] = TICK_NSEC,
	};
	u64 ns;

	if (probe->unit == STP_TIMER_HZ)
		return count && count <= NSEC_PER_SEC ? NSEC_PER_SEC / count : 0;
	if (probe->unit >= ARRAY_SIZE(ns_per_unit) || check_mul_overflow(count, ns_per_unit[probe->unit], &ns))
		return 0;
	/* Keep ktime (signed ns) and interval + randomize in range. */
	return ns <= KTIME_MAX / 4 ? ns : 0;
}

static int stp_timers_prepare(void)
{
	unsigned int i, n = 0;

	for (i = 0; i < stp_script.probe_count; i++)
		n += stp_script.probes[i].kind == STP_PROBE_TIMER;
	if (!n)
		return 0;
	stp_timers = kcalloc(n, sizeof(*stp_timers), GFP_KERNEL);
	if (!stp_timers)
		return -ENOMEM;
	for (i = 0; i < stp_script.probe_count; i++) {
		const struct stp_probe *probe = &stp_script.probes[i];
		struct stp_timer *timer = &stp_timers[stp_timer_count];

		if (probe->kind != STP_PROBE_TIMER)
			continue;
		timer->probe = probe;
		timer->interval_ns = stp_timer_unit_ns(probe, probe->interval);
		timer->randomize_ns = probe->randomize ? stp_timer_unit_ns(probe, probe->randomize) : 0;
		if (!timer->interval_ns || (probe->randomize && probe->unit == STP_TIMER_HZ) ||
		    (probe->randomize && (!timer->randomize_ns || timer->randomize_ns >= timer->interval_ns))) {
			pr_err("%s: %s at %s: interval or randomize out of range\n",
			       KBUILD_MODNAME, probe->point, probe->location);
			kfree(stp_timers);
			stp_timers = NULL;
			return -EINVAL;
		}
#if STP_HAVE_HRTIMER_SETUP
		hrtimer_setup(&timer->hrtimer, stp_timer_fire, CLOCK_MONOTONIC, HRTIMER_MODE_REL);
#else
		hrtimer_init(&timer->hrtimer, CLOCK_MONOTONIC, HRTIMER_MODE_REL);
		timer->hrtimer.function = stp_timer_fire;
#endif
		stp_timer_count++;
	}
	return 0;
}

static void stp_timers_arm(void)
{
	unsigned int i;

	for (i = 0; i < stp_timer_count; i++)
		hrtimer_start(&stp_timers[i].hrtimer, ns_to_ktime(stp_timer_next_ns(&stp_timers[i])),
			      HRTIMER_MODE_REL);
}

/* Returns once no timer handler runs or will run. */
static void stp_timers_disarm(void)
{
	unsigned int i;

	for (i = 0; i < stp_timer_count; i++)
		hrtimer_cancel(&stp_timers[i].hrtimer);
}

/* ---- Session transitions (process context, under stp_ctl_lock) ---- */

static void stp_run_probes_of_kind(enum stp_probe_kind kind, int state)
{
	unsigned int i;

	for (i = 0; i < stp_script.probe_count; i++)
		if (stp_script.probes[i].kind == kind)
			stp_run_probe(&stp_script.probes[i], state);
}

/* Probes could not be armed: reported as an error of the probe that failed
 * (if one did), and the session ends with an error before any begin probe
 * runs. */
/* Hits the kernel did not deliver count as skipped, as in SystemTap. */
static void stp_report_missed(const struct stp_probe *probe, unsigned long missed)
{
	struct stp_context *ctx = stp_context_take(probe, STP_STOPPING, NULL);

	if (ctx) {
		stp_warn(ctx, NULL, "Skipped due to missed %s on '%s': %lu",
			 probe->kind == STP_PROBE_KRETPROBE ? "kretprobe" : "kprobe",
			 probe->point, missed);
		stp_context_release(ctx);
	}
	atomic64_add(missed, &stp_session.probes_skipped);
}

static int stp_session_start(void)
{
	static char why[STP_MESSAGE_BYTES]; /* under stp_ctl_lock */
	const struct stp_probe *failed = NULL;

	if (atomic_read(&stp_session.state) != STP_LOADED)
		return -EINVAL;
	atomic_set(&stp_session.state, STP_STARTING);
	/* Armed first, so that a probe that cannot be armed fails the start
	 * before any begin probe runs; they fire only once RUNNING is set. */
	if (stp_kprobes_register(why, sizeof(why), &failed))
		stp_start_error(failed, "%s", why);
	else if (!stp_tracepoints_start())
		stp_run_probes_of_kind(STP_PROBE_BEGIN, STP_STARTING);
	if (atomic_read(&stp_session.end_reason) == STP_END_STOP) {
		/* From here on, exit() in a timer moves the state to ENDING. */
		atomic_set(&stp_session.state, STP_RUNNING);
		stp_timers_arm();
	} else {
		atomic_set(&stp_session.state, STP_ENDING);
	}
	WRITE_ONCE(stp_session.started_sequence, atomic64_inc_return(&stp_session.sequence));
	return 0;
}

/* Stops every probe; with run_end_probes, then runs the end probes (or the
 * error probes if the session ended by an error). Idempotent. */
static void stp_session_stop(bool run_end_probes)
{
	int state = atomic_read(&stp_session.state);

	if (state == STP_STOPPED)
		return;
	atomic_set(&stp_session.state, STP_STOPPING);
	stp_timers_disarm();
	stp_kprobes_unregister(stp_report_missed);
	stp_tracepoints_stop();
	if (run_end_probes && state != STP_LOADED)
		stp_run_probes_of_kind(atomic_read(&stp_session.end_reason) == STP_END_ERROR ?
				       STP_PROBE_ERROR : STP_PROBE_END, STP_STOPPING);
	/* Release: a reader that sees STOPPED sees every message before it. */
	atomic_set_release(&stp_session.state, STP_STOPPED);
}

/* ---- The control file ---- */

static void stp_wake_timer_fire(struct timer_list *timer)
{
	struct stp_session *session = stp_timer_container_of(session, timer, wake_timer);

	if (stp_reader_has_work())
		wake_up_interruptible(&stp_reader_wait);
	if (READ_ONCE(session->wake_timer_on))
		mod_timer(&session->wake_timer, jiffies + msecs_to_jiffies(STP_WAKE_INTERVAL_MS));
}

static int stp_ctl_open(struct inode *inode, struct file *file)
{
	if (!capable(CAP_SYS_MODULE))
		return -EPERM;
	if (atomic_cmpxchg(&stp_session.opened, 0, 1) != 0)
		return -EBUSY;
	WRITE_ONCE(stp_session.wake_timer_on, true);
	mod_timer(&stp_session.wake_timer, jiffies + msecs_to_jiffies(STP_WAKE_INTERVAL_MS));
	return stream_open(inode, file);
}

/* Closed without `stop` (the runner died): disarm at once, no end probes. */
static int stp_ctl_release(struct inode *inode, struct file *file)
{
	mutex_lock(&stp_ctl_lock);
	stp_session_stop(false);
	mutex_unlock(&stp_ctl_lock);
	WRITE_ONCE(stp_session.wake_timer_on, false);
	stp_timer_delete_sync(&stp_session.wake_timer);
	return 0;
}

static ssize_t stp_ctl_write(struct file *file, const char __user *buf, size_t count, loff_t *pos)
{
	char command[8] = {};
	int err;

	/* One command per write: "start" or "stop", a final newline allowed. */
	if (!count || count >= sizeof(command))
		return -EINVAL;
	if (copy_from_user(command, buf, count))
		return -EFAULT;
	if (command[count - 1] == '\n')
		command[count - 1] = '\0';
	if (mutex_lock_interruptible(&stp_ctl_lock))
		return -ERESTARTSYS;
	if (!strcmp(command, "start")) {
		err = stp_session_start();
	} else if (!strcmp(command, "stop")) {
		stp_session_stop(true);
		err = 0;
	} else {
		err = -EINVAL;
	}
	mutex_unlock(&stp_ctl_lock);
	/* Process context: safe to wake the reader for STARTED/STOPPED. */
	wake_up_interruptible(&stp_reader_wait);
	return err ? err : count;
}

/* The next message to send: the lowest sequence among the rings' oldest
 * messages and the pending STARTED and EXIT_REQUEST; STOPPED comes last. */
static ssize_t stp_ctl_copy_next(char __user *buf, size_t room)
{
	const struct stp_wire_header *best = NULL;
	struct stp_ring *best_ring = NULL;
	u64 started = READ_ONCE(stp_session.started_sequence);
	u64 exit_seq = atomic64_read(&stp_session.exit_sequence);
	union {
		struct stp_wire_started started;
		struct stp_wire_exit_request exit_request;
		struct stp_wire_stopped stopped;
	} body = {};
	struct stp_wire_header header = { .magic = STP_WIRE_MAGIC, .cpu = raw_smp_processor_id() };
	/* Before the rings: once STOPPED is seen, every message is in them. */
	bool stopped = atomic_read_acquire(&stp_session.state) == STP_STOPPED;
	size_t size;
	int cpu;

	for_each_possible_cpu(cpu) {
		struct stp_ring *ring = per_cpu_ptr(&stp_cpu_ring, cpu);
		const struct stp_wire_header *candidate = stp_ring_peek(ring);

		if (candidate && (!best || candidate->sequence < best->sequence)) {
			best = candidate;
			best_ring = ring;
		}
	}
	if (started && !stp_session.started_sent && (!best || started < best->sequence)) {
		header.type = STP_MSG_STARTED;
		header.sequence = started;
		header.length = sizeof(body.started);
		body.started.version = STP_WIRE_VERSION;
		body.started.probe_count = stp_script.probe_count;
	} else if (exit_seq && !stp_session.exit_sent && (!best || exit_seq < best->sequence)) {
		header.type = STP_MSG_EXIT_REQUEST;
		header.sequence = exit_seq;
		header.length = sizeof(body.exit_request);
		body.exit_request.reason = atomic_read(&stp_session.end_reason);
	} else if (best) {
		size = sizeof(*best) + best->length;
		if (size > room)
			return 0;
		if (copy_to_user(buf, best, size))
			return -EFAULT;
		stp_ring_consume(best_ring, best);
		return size;
	} else if (stopped && !stp_session.stopped_sent &&
		   (!started || stp_session.started_sent)) {
		header.type = STP_MSG_STOPPED;
		header.sequence = atomic64_inc_return(&stp_session.sequence);
		header.length = sizeof(body.stopped);
		body.stopped.messages_lost = atomic64_read(&stp_session.messages_lost);
		body.stopped.probes_skipped = atomic64_read(&stp_session.probes_skipped);
		body.stopped.errors = atomic64_read(&stp_session.errors);
		body.stopped.reason = atomic_read(&stp_session.end_reason);
	} else {
		return 0;
	}
	size = sizeof(header) + header.length;
	if (size > room)
		return 0;
	if (copy_to_user(buf, &header, sizeof(header)) ||
	    copy_to_user(buf + sizeof(header), &body, header.length))
		return -EFAULT;
	switch (header.type) {
	case STP_MSG_STARTED:
		WRITE_ONCE(stp_session.started_sent, true);
		break;
	case STP_MSG_EXIT_REQUEST:
		WRITE_ONCE(stp_session.exit_sent, true);
		break;
	default:
		WRITE_ONCE(stp_session.stopped_sent, true);
	}
	return size;
}

static ssize_t stp_ctl_read(struct file *file, char __user *buf, size_t count, loff_t *pos)
{
	ssize_t copied = 0;

	if (count < STP_WIRE_MIN_READ)
		return -EINVAL;
	for (;;) {
		if (mutex_lock_interruptible(&stp_read_lock))
			return -ERESTARTSYS;
		for (;;) {
			ssize_t n = stp_ctl_copy_next(buf + copied, count - copied);

			if (n < 0) {
				mutex_unlock(&stp_read_lock);
				return copied ? copied : n;
			}
			if (!n)
				break;
			copied += n;
		}
		mutex_unlock(&stp_read_lock);
		if (copied || stp_session.stopped_sent || READ_ONCE(stp_session.unloading))
			return copied;
		if (file->f_flags & O_NONBLOCK)
			return -EAGAIN;
		if (wait_event_interruptible(stp_reader_wait, stp_reader_has_work()))
			return -ERESTARTSYS;
	}
}

static __poll_t stp_ctl_poll(struct file *file, struct poll_table_struct *table)
{
	poll_wait(file, &stp_reader_wait, table);
	return (stp_reader_has_work() ? EPOLLIN | EPOLLRDNORM : 0) | EPOLLOUT | EPOLLWRNORM;
}

static const struct proc_ops stp_ctl_ops = {
	.proc_open = stp_ctl_open,
	.proc_release = stp_ctl_release,
	.proc_read = stp_ctl_read,
	.proc_write = stp_ctl_write,
	.proc_poll = stp_ctl_poll,
};

/* ---- Load and unload ---- */

static void stp_buffers_free(void)
{
	int cpu;

	for_each_possible_cpu(cpu) {
		kvfree(per_cpu(stp_cpu_context, cpu));
		per_cpu(stp_cpu_context, cpu) = NULL;
		kvfree(per_cpu(stp_cpu_ring, cpu).data);
		per_cpu(stp_cpu_ring, cpu).data = NULL;
	}
}

/* Everything a handler touches is allocated here, never in probe context. */
static int stp_buffers_alloc(void)
{
	int cpu;

	for_each_possible_cpu(cpu) {
		struct stp_context *ctx = kvzalloc_node(sizeof(*ctx), GFP_KERNEL, cpu_to_node(cpu));
		char *data = kvzalloc_node(STP_RING_BYTES, GFP_KERNEL, cpu_to_node(cpu));

		per_cpu(stp_cpu_context, cpu) = ctx;
		per_cpu(stp_cpu_ring, cpu).data = data;
		if (!ctx || !data) {
			stp_buffers_free();
			return -ENOMEM;
		}
	}
	return 0;
}

static int __init stp_module_init(void)
{
	struct proc_dir_entry *ctl;
	int err;

	err = stp_timers_prepare();
	if (err)
		return err;
	err = stp_buffers_alloc();
	if (err)
		goto free_timers;
	if (stp_script.init) {
		err = stp_script.init();
		if (err)
			goto free_buffers;
	}
	timer_setup(&stp_session.wake_timer, stp_wake_timer_fire, 0);
	/* One directory per module: a shared parent would need an owner, and
	 * the kernel offers no warning-free "create unless it exists". */
	stp_proc_dir = proc_mkdir("stap_pack_" KBUILD_MODNAME, NULL);
	ctl = stp_proc_dir ? proc_create("ctl", 0600, stp_proc_dir, &stp_ctl_ops) : NULL;
	if (!ctl) {
		proc_remove(stp_proc_dir);
		err = -ENOMEM;
		goto exit_script;
	}
	return 0;

exit_script:
	if (stp_script.exit)
		stp_script.exit();
free_buffers:
	stp_buffers_free();
free_timers:
	kfree(stp_timers);
	return err;
}

static void __exit stp_module_exit(void)
{
	/* A reader blocked in read() would hold up the proc removal below. */
	WRITE_ONCE(stp_session.unloading, true);
	wake_up_all(&stp_reader_wait);
	/* Waits for running file operations and releases an open control file. */
	proc_remove(stp_proc_dir);
	stp_session_stop(false);
	if (stp_script.exit)
		stp_script.exit();
	stp_buffers_free();
	kfree(stp_timers);
}

module_init(stp_module_init);
module_exit(stp_module_exit);
/* target(): set by the runner at load from -x PID or the pid of the -c
 * command; 0 when neither was given. A leading underscore keeps it apart
 * from script globals, which are parameters too. */
static long stp_target_pid;
module_param_named(_stp_target, stp_target_pid, long, 0);

long stp_target(void)
{
	return stp_target_pid;
}

MODULE_LICENSE("GPL");

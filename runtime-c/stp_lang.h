/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The language runtime of stap-pack modules: what generated code needs
 * beyond the transport (stp_runtime.h) to run SystemTap's language with
 * its semantics and limits: per-CPU handler state, the action and nesting
 * budgets, catchable errors, 64-bit arithmetic without traps, bounded
 * strings, associative arrays and the locks protecting globals.
 *
 * Everything here runs in probe context (preemption disabled, maybe in an
 * interrupt): nothing sleeps or allocates except stp_lang_alloc() and
 * stp_map_init(), which the script's init hook calls at load.
 */
#ifndef STP_LANG_H
#define STP_LANG_H

#include <linux/percpu.h>
#include <linux/string.h>
#include <linux/types.h>

#include "stp_runtime.h"

/* SystemTap's limits; each may be overridden with -D NAME=VALUE (module-wide
 * ccflags). MAXNESTING depends on the script's call graph: the generated
 * code defines it before including this header. */
#ifndef MAXACTION
#define MAXACTION 1000 /* statements per probe hit */
#endif
#ifndef MAXACTION_INTERRUPTIBLE
#define MAXACTION_INTERRUPTIBLE (MAXACTION * 10) /* ... in begin, end and error probes */
#endif
#ifndef MAXSTRINGLEN
#define MAXSTRINGLEN 512 /* string buffer size, terminator included */
#endif
#ifndef MAXMAPENTRIES
#define MAXMAPENTRIES 2048 /* entries of an array without an explicit size */
#endif
#ifndef MAXERRORS
#define MAXERRORS 0 /* errors tolerated before the session ends */
#endif
#ifndef MAXSKIPPED
#define MAXSKIPPED 100 /* skipped probe hits tolerated before the session ends */
#endif
#ifndef MAXTRYLOCK
#define MAXTRYLOCK 100 /* attempts to take a global's lock ... */
#endif
#ifndef TRYLOCKDELAY
#define TRYLOCKDELAY 10 /* ... with this many microseconds between them */
#endif
#ifndef MAXNESTING
#define MAXNESTING 10 /* for the runtime's own objects: scripts define it */
#endif

static_assert(MAXSTRINGLEN >= 2, "MAXSTRINGLEN too small");
static_assert(MAXMAPENTRIES >= 1, "MAXMAPENTRIES too small");

/* The start of each CPU's language area; the generated code's per-CPU
 * struct (locals of probes, frames of functions, temporaries) embeds it
 * first. A handler owns its CPU's area while it runs. */
struct stp_lang {
	u64 actions;          /* statements run in this probe hit ... */
	u64 max_actions;      /* ... and how many it may run */
	unsigned int nesting; /* script function calls in progress */
	bool uncatchable;     /* the pending error (MAXACTION) bypasses try/catch */
};

/* Allocates a zeroed area of `bytes` for every possible CPU (at load; may
 * sleep). */
int stp_lang_alloc(size_t bytes);
void stp_lang_free(void);

DECLARE_PER_CPU(void *, stp_lang_area);

/* This CPU's area, reset for a new probe hit. As in SystemTap, begin, end
 * and error probes get the larger MAXACTION_INTERRUPTIBLE budget. */
static inline void *stp_lang_enter(const struct stp_context *ctx)
{
	struct stp_lang *lang = this_cpu_read(stp_lang_area);
	enum stp_probe_kind kind = ctx->probe->kind;

	lang->actions = 0;
	lang->max_actions = kind == STP_PROBE_BEGIN || kind == STP_PROBE_END || kind == STP_PROBE_ERROR ?
				    MAXACTION_INTERRUPTIBLE : MAXACTION;
	lang->nesting = 0;
	lang->uncatchable = false;
	return lang;
}

/* Counts `count` statements; false (with the error raised) past MAXACTION. */
static inline bool stp_actions(struct stp_context *ctx, struct stp_lang *lang, unsigned int count,
			       const char *location)
{
	lang->actions += count;
	if (likely(lang->actions <= lang->max_actions))
		return true;
	stp_error(ctx, location, "MAXACTION exceeded");
	lang->uncatchable = true;
	return false;
}

/* Enters a script function; false (with the error raised) past MAXNESTING.
 * Unlike MAXACTION, try/catch can catch this, as in SystemTap. */
static inline bool stp_nest(struct stp_context *ctx, struct stp_lang *lang, const char *location)
{
	if (likely(lang->nesting + 1 < MAXNESTING)) {
		lang->nesting++;
		return true;
	}
	stp_error(ctx, location, "MAXNESTING exceeded");
	return false;
}

/* try/catch: whether the pending error may be caught; if so it is cleared
 * and its message (without location) copied to `message` (may be NULL). */
bool stp_catch(struct stp_context *ctx, struct stp_lang *lang, char *message);

/* ---- Arithmetic: division by zero is a script error, never a trap ---- */

bool stp_divide(struct stp_context *ctx, const char *location, s64 dividend, s64 divisor,
		s64 *quotient);
bool stp_modulo(struct stp_context *ctx, const char *location, s64 dividend, s64 divisor,
		s64 *remainder);

/* Shift counts are taken modulo 64, so no count is undefined behaviour. */
static inline s64 stp_shl(s64 value, s64 count)
{
	return (s64)((u64)value << (count & 63));
}

static inline s64 stp_shr(s64 value, s64 count)
{
	return value >> (count & 63);
}

static inline s64 stp_ushr(s64 value, s64 count)
{
	return (s64)((u64)value >> (count & 63));
}

/* ---- Strings: MAXSTRINGLEN buffers, silently truncated ---- */

static inline void stp_string_copy(char *dst, const char *src)
{
	if (dst != src)
		strscpy(dst, src, MAXSTRINGLEN);
}

/* dst = a . b; dst may be a but not b. */
void stp_string_concat(char *dst, const char *a, const char *b);

/* Appends up to `len` bytes of `src` to the `used` bytes of the string in
 * `dst` (a MAXSTRINGLEN buffer), as far as they fit; returns the new length. */
size_t stp_string_append(char *dst, size_t used, const char *src, size_t len);

/* sprintf(): formats into `dst` (a MAXSTRINGLEN buffer), truncating. Out
 * of line on purpose: inlined, snprintf with a destination and an
 * argument both in the per-CPU area trips GCC's -Wrestrict, which cannot
 * tell that they are different slots. */
__printf(2, 3) void stp_sprintf(char *dst, const char *fmt, ...);

/* A `*` width or precision from the script, clamped to what vsnprintf
 * accepts without a warning. */
static inline int stp_format_count(s64 count)
{
	return count < -MAXSTRINGLEN ? -MAXSTRINGLEN : count > MAXSTRINGLEN ? MAXSTRINGLEN : (int)count;
}

/* ---- Statistics (`<<<`, @count ... @variance, @hist_linear, @hist_log) ----
 *
 * `<<<` adds to the current CPU's slot, so concurrent adds share nothing
 * and need only the global's read lock; reading an aggregate merges every
 * CPU's slot (under the write lock). All storage is allocated at load. */

enum stp_hist_type {
	STP_HIST_NONE,
	STP_HIST_LOG,
	STP_HIST_LINEAR,
};

#define STP_HIST_LOG_BUCKETS 128 /* bucket 64 holds 0, lower ones negative values */
#define STP_HIST_MAX_BUCKETS 128 /* of a linear histogram, the under/overflow ones included */

/* How one statistics global collects: fixed by the script's uses. */
struct stp_stat_kind {
	enum stp_hist_type hist;
	u32 buckets;        /* histogram buckets, 0 without a histogram */
	s64 start, interval; /* of a linear histogram */
	unsigned int shift; /* @variance(s, shift): fixed-point bits of the mean */
	bool variance;      /* @variance is used: only then is it tracked */
};

struct stp_stat {
	s64 count, sum, min, max;
	/* Filled by merging: what @avg, @variance and sorting read. */
	s64 avg, variance;
	/* Welford's running mean and sum of squared deviations, scaled by
	 * 2^shift, as SystemTap computes them (the per-add delta is 32-bit). */
	s64 avg_s, m2, variance_s;
	s64 hist[]; /* kind->buckets counts */
};

static inline size_t stp_stat_bytes(const struct stp_stat_kind *kind)
{
	return sizeof(struct stp_stat) + kind->buckets * sizeof(s64);
}

void stp_stat_add(const struct stp_stat_kind *kind, struct stp_stat *stat, s64 value);

enum stp_stat_op {
	STP_STAT_COUNT,
	STP_STAT_SUM,
	STP_STAT_MIN,
	STP_STAT_MAX,
	STP_STAT_AVG,
	STP_STAT_VARIANCE,
};

/* One aggregate of a merged `stat` (NULL: an array element never added
 * to); false with "empty aggregate" raised for all but @count and @sum of
 * nothing. */
bool stp_stat_get(struct stp_context *ctx, const char *location, const struct stp_stat *stat,
		  enum stp_stat_op op, s64 *result);

/* `@hist_*(s)[bucket]`: "empty aggregate" or "histogram index out of range". */
bool stp_stat_bucket(struct stp_context *ctx, const char *location, const struct stp_stat_kind *kind,
		     const struct stp_stat *stat, s64 bucket, s64 *result);

/* Prints the histogram of a merged `stat` as SystemTap lays it out: to the
 * handler's output, or into `buffer` (MAXSTRINGLEN, truncated) if not NULL.
 * False with "empty aggregate" raised for a stat without values. */
bool stp_stat_print_hist(struct stp_context *ctx, const char *location,
			 const struct stp_stat_kind *kind, const struct stp_stat *stat, char *buffer);

/* A scalar statistics global: a slot per CPU and the merged aggregate. */
struct stp_stat_var {
	void __percpu *cpus;
	struct stp_stat *merged;
};

int stp_stat_var_init(struct stp_stat_var *var, const struct stp_stat_kind *kind);
void stp_stat_var_free(struct stp_stat_var *var);
void stp_stat_var_clear(const struct stp_stat_kind *kind, struct stp_stat_var *var);

static inline struct stp_stat *stp_stat_var_slot(struct stp_stat_var *var)
{
	return this_cpu_ptr(var->cpus);
}

/* Merges every CPU's slot; the result stays valid until the next merge. */
const struct stp_stat *stp_stat_var_read(const struct stp_stat_kind *kind,
					 struct stp_stat_var *var);

/* ---- Locks of globals ---- */

/* A reader-writer try-lock that never sleeps: the state is the number of
 * readers, or -1 while a writer holds it. */
struct stp_lock {
	atomic_t state;
};

struct stp_lock_use {
	struct stp_lock *lock;
	bool write;
};

/* Takes every lock a handler needs, in the order given (the generated code
 * sorts them by global, so every handler locks in one global order). Each
 * lock is tried MAXTRYLOCK times, TRYLOCKDELAY us apart; on failure the
 * locks taken are released, the hit is counted as skipped, and false is
 * returned: the handler does not run. */
bool stp_locks_take(struct stp_context *ctx, const struct stp_lock_use *uses, unsigned int count);
void stp_locks_release(const struct stp_lock_use *uses, unsigned int count);

/* ---- Associative arrays ---- */

#define STP_MAP_END U32_MAX

/* A hash table of preallocated entries, also kept in insertion order
 * (which unsorted foreach follows). Keys and values are plain bytes: the
 * generated code zeroes a key struct, fills it, and looks it up, so keys
 * compare with memcmp. */
struct stp_map {
	u32 capacity;
	u32 key_bytes, value_bytes, entry_bytes;
	bool wrap; /* `%`: when full, the oldest entry makes room */
	u32 count;
	u32 oldest, newest, free;
	u32 bucket_mask;
	u32 *buckets;
	char *entries;
};

int stp_map_init(struct stp_map *map, u32 capacity, u32 key_bytes, u32 value_bytes, bool wrap);
void stp_map_free(struct stp_map *map);

/* The value stored under `key`, or NULL. */
void *stp_map_get(struct stp_map *map, const void *key);
/* The value under `key`, created zeroed if absent; NULL if the array is
 * full (and does not wrap). */
void *stp_map_set(struct stp_map *map, const void *key);
void stp_map_delete(struct stp_map *map, const void *key);
void stp_map_delete_entry(struct stp_map *map, u32 entry);
void stp_map_clear(struct stp_map *map);

/* Raises "Array overflow, ..." for a full array. */
void stp_map_overflow(struct stp_context *ctx, const char *location, const struct stp_map *map);

/* Iteration in insertion order by entry index, STP_MAP_END at the end. */
u32 stp_map_first(const struct stp_map *map);
u32 stp_map_next(const struct stp_map *map, u32 entry);
void *stp_map_key(const struct stp_map *map, u32 entry);
void *stp_map_value(const struct stp_map *map, u32 entry);

/* What sorted foreach sorts by: the value, or a key field, at `offset`
 * in the key (by_value false) or from the value (by_value true). */
struct stp_map_sort {
	bool by_value;
	bool string;
	bool descending;
	u32 offset;
};

/* Fills `order` with the array's entries sorted stably (ties keep
 * insertion order, as SystemTap's merge sort does); `scratch` has room for
 * as many. Returns the number of entries. */
u32 stp_map_sorted(const struct stp_map *map, const struct stp_map_sort *sort, u32 *order,
		   u32 *scratch);

/* A statistics array: one map per CPU (`<<<` inserts into its CPU's map
 * only) and a merged map, with every key of every CPU, for foreach. */
struct stp_stat_map {
	struct stp_map *cpus; /* indexed by CPU number, possible CPUs set up */
	struct stp_map merged;
	struct stp_stat *one; /* the merged stat of one key */
};

int stp_stat_map_init(struct stp_stat_map *map, const struct stp_stat_kind *kind, u32 capacity,
		      u32 key_bytes, bool wrap);
void stp_stat_map_free(struct stp_stat_map *map);

static inline struct stp_map *stp_stat_map_cpu(struct stp_stat_map *map, int cpu)
{
	return &map->cpus[cpu];
}

/* The merged stat under `key`, or NULL when no CPU has it. */
const struct stp_stat *stp_stat_map_get(const struct stp_stat_kind *kind, struct stp_stat_map *map,
					const void *key);
/* Rebuilds map->merged: keys in CPU order, each CPU's in insertion order.
 * False if the keys of all CPUs together do not fit. */
bool stp_stat_map_merge(const struct stp_stat_kind *kind, struct stp_stat_map *map);
void stp_stat_map_delete(struct stp_stat_map *map, const void *key);
void stp_stat_map_clear(struct stp_stat_map *map);

#endif /* STP_LANG_H */

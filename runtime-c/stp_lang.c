// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The stap-pack language runtime: per-CPU handler areas, errors and
 * try/catch, arithmetic, strings, locks of globals and associative arrays.
 * See stp_lang.h.
 */
#include <linux/delay.h>
#include <linux/kernel.h>
#include <linux/limits.h>
#include <linux/math64.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/topology.h>
#include <linux/vmalloc.h>

#include "stp_lang.h"

DEFINE_PER_CPU(void *, stp_lang_area);

/* ---- Per-CPU areas ---- */

void stp_sprintf(char *dst, const char *fmt, ...)
{
	va_list args;

	va_start(args, fmt);
	vsnprintf(dst, MAXSTRINGLEN, fmt, args);
	va_end(args);
}

void stp_lang_free(void)
{
	int cpu;

	for_each_possible_cpu(cpu) {
		kvfree(per_cpu(stp_lang_area, cpu));
		per_cpu(stp_lang_area, cpu) = NULL;
	}
}

int stp_lang_alloc(size_t bytes)
{
	int cpu;

	for_each_possible_cpu(cpu) {
		void *area = kvzalloc_node(bytes, GFP_KERNEL, cpu_to_node(cpu));

		if (!area) {
			stp_lang_free();
			return -ENOMEM;
		}
		per_cpu(stp_lang_area, cpu) = area;
	}
	return 0;
}

bool stp_catch(struct stp_context *ctx, struct stp_lang *lang, char *message)
{
	if (lang->uncatchable)
		return false;
	if (message)
		stp_string_copy(message, stp_error_message(ctx));
	stp_error_clear(ctx);
	return true;
}

/* ---- Arithmetic ---- */

bool stp_divide(struct stp_context *ctx, const char *location, s64 dividend, s64 divisor,
		s64 *quotient)
{
	if (unlikely(divisor == 0)) {
		stp_error(ctx, location, "division by 0");
		return false;
	}
	/* S64_MIN / -1 overflows, and traps on x86: negate (wrapping) instead. */
	*quotient = divisor == -1 ? (s64)(0 - (u64)dividend) : dividend / divisor;
	return true;
}

bool stp_modulo(struct stp_context *ctx, const char *location, s64 dividend, s64 divisor,
		s64 *remainder)
{
	if (unlikely(divisor == 0)) {
		stp_error(ctx, location, "division by 0");
		return false;
	}
	*remainder = divisor == -1 ? 0 : dividend % divisor;
	return true;
}

/* ---- Strings ---- */

void stp_string_concat(char *dst, const char *a, const char *b)
{
	stp_string_copy(dst, a);
	stp_string_append(dst, strnlen(dst, MAXSTRINGLEN - 1), b, strlen(b));
}

size_t stp_string_append(char *dst, size_t used, const char *src, size_t len)
{
	len = min(len, MAXSTRINGLEN - 1 - used);
	memcpy(dst + used, src, len);
	dst[used + len] = '\0';
	return used + len;
}

/* ---- Statistics ---- */

/* Shifts without undefined behaviour for negative values. */
static s64 stp_scale(s64 value, unsigned int shift)
{
	return (s64)((u64)value << shift);
}

/* SystemTap's division of the statistics code: x / 0 is 0. */
static s64 stp_stat_div(s64 x, s64 y)
{
	if (!y)
		return 0;
	return y == -1 ? (s64)(0 - (u64)x) : div64_s64(x, y);
}

/* Log histogram bucket of a value: 64 for 0, 64 + (bit length of v) above,
 * mirrored below for negative values. */
static u32 stp_log_bucket(s64 value)
{
	u64 magnitude = value < 0 ? 0 - (u64)value : (u64)value;
	u32 bucket;

	if (!value)
		return STP_HIST_LOG_BUCKETS / 2;
	bucket = STP_HIST_LOG_BUCKETS / 2 + fls64(magnitude);
	if (value < 0)
		bucket = STP_HIST_LOG_BUCKETS - bucket;
	return min_t(u32, bucket, STP_HIST_LOG_BUCKETS - 1);
}

/* The smallest value of a log histogram bucket. */
static s64 stp_log_bucket_value(u32 bucket)
{
	if (bucket == STP_HIST_LOG_BUCKETS / 2)
		return 0;
	if (bucket < STP_HIST_LOG_BUCKETS / 2)
		return S64_MIN >> bucket;
	return (s64)(1ULL << (bucket - STP_HIST_LOG_BUCKETS / 2 - 1));
}

static u32 stp_linear_bucket(const struct stp_stat_kind *kind, s64 value)
{
	u64 bucket;

	value -= kind->start;
	if (value < 0)
		return 0; /* underflow */
	bucket = div64_u64((u64)value, (u64)kind->interval) + 1;
	return bucket >= kind->buckets - 1 ? kind->buckets - 1 : (u32)bucket;
}

void stp_stat_add(const struct stp_stat_kind *kind, struct stp_stat *stat, s64 value)
{
	s64 scaled = stp_scale(value, kind->shift);

	if (!stat->count) {
		stat->count = 1;
		stat->sum = stat->min = stat->max = value;
		stat->avg_s = scaled;
		stat->m2 = 0;
	} else {
		stat->count++;
		stat->sum += value;
		stat->min = min(stat->min, value);
		stat->max = max(stat->max, value);
		if (kind->variance) {
			/* 32 bits, as SystemTap keeps the delta in an int. */
			s32 delta = (s32)(scaled - stat->avg_s);

			stat->avg_s += stp_stat_div(delta, stat->count);
			stat->m2 += (s64)delta * (scaled - stat->avg_s);
			stat->variance_s = stp_stat_div(stat->m2, stat->count - 1);
		}
	}
	if (kind->hist == STP_HIST_LOG)
		stat->hist[stp_log_bucket(value)]++;
	else if (kind->hist == STP_HIST_LINEAR)
		stat->hist[stp_linear_bucket(kind, value)]++;
}

static void stp_stat_clear(const struct stp_stat_kind *kind, struct stp_stat *stat)
{
	memset(stat, 0, stp_stat_bytes(kind));
}

/* A scalar statistic merges in two passes, as SystemTap's do: sums first,
 * then the variance from each part's mean and variance (the total variance
 * formula). */
static void stp_stat_merge_sums(const struct stp_stat_kind *kind, struct stp_stat *merged,
				const struct stp_stat *part)
{
	u32 i;

	if (!part->count)
		return;
	if (!merged->count) {
		merged->min = part->min;
		merged->max = part->max;
	}
	merged->count += part->count;
	merged->sum += part->sum;
	merged->min = min(merged->min, part->min);
	merged->max = max(merged->max, part->max);
	for (i = 0; i < kind->buckets; i++)
		merged->hist[i] += part->hist[i];
}

static void stp_stat_merge_means(const struct stp_stat_kind *kind, struct stp_stat *merged)
{
	merged->avg = stp_stat_div(merged->sum, merged->count);
	merged->avg_s = stp_stat_div(stp_scale(merged->sum, kind->shift), merged->count);
}

/* Accumulates the part's share of the variance in merged->m2. */
static void stp_stat_merge_spread(struct stp_stat *merged, const struct stp_stat *part)
{
	s64 offset = part->avg_s - merged->avg_s;

	if (part->count)
		merged->m2 += part->count * offset * offset + (part->count - 1) * part->variance_s;
}

static void stp_stat_merge_end(const struct stp_stat_kind *kind, struct stp_stat *merged)
{
	merged->variance_s = stp_stat_div(merged->m2, merged->count - 1);
	merged->variance = merged->variance_s >> (2 * kind->shift);
}

/* Statistics arrays merge CPU by CPU, as SystemTap's do, each step
 * combining the variance of two parts; SystemTap tracks no @variance for
 * arrays with a histogram, they report 0. */
static void stp_stat_merge_pair(const struct stp_stat_kind *kind, struct stp_stat *merged,
				const struct stp_stat *part)
{
	bool variance = kind->variance && kind->hist == STP_HIST_NONE;
	s64 count = merged->count, avg_s = merged->avg_s;
	u32 i;

	if (!count) {
		merged->count = part->count;
		merged->sum = part->sum;
		merged->min = part->min;
		merged->max = part->max;
		if (variance) {
			merged->avg_s = part->avg_s;
			merged->variance_s = part->variance_s;
		}
	} else {
		merged->count += part->count;
		merged->sum += part->sum;
		merged->min = min(merged->min, part->min);
		merged->max = max(merged->max, part->max);
		if (variance) {
			s64 offset, part_offset;

			merged->avg_s = stp_stat_div(stp_scale(merged->sum, kind->shift), merged->count);
			offset = avg_s - merged->avg_s;
			part_offset = part->avg_s - merged->avg_s;
			merged->variance_s = stp_stat_div(count * offset * offset +
							  (count - 1) * merged->variance_s +
							  part->count * part_offset * part_offset +
							  (part->count - 1) * part->variance_s,
							  merged->count - 1);
		}
	}
	if (variance)
		merged->variance = merged->variance_s >> (2 * kind->shift);
	merged->avg = stp_stat_div(merged->sum, merged->count);
	for (i = 0; i < kind->buckets; i++)
		merged->hist[i] += part->hist[i];
}

bool stp_stat_get(struct stp_context *ctx, const char *location, const struct stp_stat *stat,
		  enum stp_stat_op op, s64 *result)
{
	s64 count = stat ? stat->count : 0;

	if (op == STP_STAT_COUNT || op == STP_STAT_SUM) {
		*result = !count ? 0 : op == STP_STAT_COUNT ? count : stat->sum;
		return true;
	}
	if (!count) {
		stp_error(ctx, location, "empty aggregate");
		return false;
	}
	switch (op) {
	case STP_STAT_MIN:
		*result = stat->min;
		break;
	case STP_STAT_MAX:
		*result = stat->max;
		break;
	case STP_STAT_AVG:
		*result = stat->avg;
		break;
	default:
		*result = stat->variance;
		break;
	}
	return true;
}

bool stp_stat_bucket(struct stp_context *ctx, const char *location, const struct stp_stat_kind *kind,
		     const struct stp_stat *stat, s64 bucket, s64 *result)
{
	if (!stat || !stat->count) {
		stp_error(ctx, location, "empty aggregate");
		return false;
	}
	if (bucket < 0 || bucket >= kind->buckets) {
		stp_error(ctx, location, "histogram index out of range");
		return false;
	}
	*result = stat->hist[bucket];
	return true;
}

/* ---- Histogram layout ---- */

#define STP_HIST_WIDTH 50 /* columns of the longest bar */
#define STP_HIST_ELISION 2 /* empty rows kept next to non-empty ones */

/* Where a histogram goes: the handler's output or a string buffer. */
struct stp_hist_out {
	struct stp_context *ctx;
	char *buffer;
	size_t used;
};

static __printf(2, 3) void stp_hist_printf(struct stp_hist_out *out, const char *fmt, ...)
{
	char line[96];
	va_list args;
	int len;

	va_start(args, fmt);
	len = vscnprintf(line, sizeof(line), fmt, args);
	va_end(args);
	if (out->buffer)
		out->used = stp_string_append(out->buffer, out->used, line, len);
	else
		stp_print_bytes(out->ctx, line, len);
}

static void stp_hist_repeat(struct stp_hist_out *out, char c, u64 count)
{
	char run[STP_HIST_WIDTH];

	count = min_t(u64, count, sizeof(run));
	memset(run, c, count);
	if (out->buffer)
		out->used = stp_string_append(out->buffer, out->used, run, count);
	else
		stp_print_bytes(out->ctx, run, count);
}

/* Characters of a value in decimal, its sign included. */
static int stp_digits(s64 value)
{
	u64 magnitude = value < 0 ? 0 - (u64)value : (u64)value;
	int digits = value < 0 ? 1 : 0;

	do {
		digits++;
		magnitude = div_u64(magnitude, 10);
	} while (magnitude);
	return digits;
}

static s64 stp_bucket_value(const struct stp_stat_kind *kind, u32 bucket)
{
	if (kind->hist == STP_HIST_LOG)
		return stp_log_bucket_value(bucket);
	if (bucket == 0)
		return kind->start;
	if (bucket == kind->buckets - 1)
		return kind->start + (s64)(bucket - 2) * kind->interval;
	return kind->start + (s64)(bucket - 1) * kind->interval;
}

bool stp_stat_print_hist(struct stp_context *ctx, const char *location,
			 const struct stp_stat_kind *kind, const struct stp_stat *stat, char *buffer)
{
	struct stp_hist_out out = { .ctx = ctx, .buffer = buffer };
	s64 low = -1, high = 0, i, top = kind->buckets - 1;
	s64 largest = 0, scale;
	int value_width, count_width, margin;
	bool linear = kind->hist == STP_HIST_LINEAR, eliding = false;

	if (!stat || !stat->count) {
		stp_error(ctx, location, "empty aggregate");
		return false;
	}
	if (buffer)
		buffer[0] = '\0';
	for (i = 0; i <= top; i++) {
		if (stat->hist[i] > 0) {
			if (low == -1)
				low = i;
			high = i;
		}
		largest = max(largest, stat->hist[i]);
	}
	/* Up to two empty rows on each side of the data; a log histogram
	 * only goes below zero for negative values. */
	for (margin = 0; margin < 2; margin++) {
		if (low > 0 && (linear || low != STP_HIST_LOG_BUCKETS / 2))
			low--;
		if (high < top)
			high++;
	}
	if (linear) {
		/* Empty underflow and overflow rows are not shown. */
		if (low == 0 && !stat->hist[0])
			low++;
		if (high == top && !stat->hist[top])
			high--;
	}
	scale = largest <= STP_HIST_WIDTH ? 1 : DIV_ROUND_UP_ULL(largest, STP_HIST_WIDTH);
	count_width = stp_digits(largest);
	if (linear)
		value_width = max(stp_digits(kind->start) + (low == 0),
				  stp_digits(kind->start + kind->interval * high) + (high == top));
	else
		value_width = max(stp_digits(stp_log_bucket_value(high)),
				  stp_digits(stp_log_bucket_value(low)));
	value_width = max(value_width, 5);

	stp_hist_printf(&out, "%*s |", value_width, "value");
	stp_hist_repeat(&out, '-', STP_HIST_WIDTH);
	stp_hist_printf(&out, " count\n");
	for (i = low; i <= high; i++) {
		s64 from = max(low, i - STP_HIST_ELISION), to = min(high, i + STP_HIST_ELISION), k;
		const char *prefix = "";
		s64 value;
		u64 bar;
		bool empty = true;

		/* A row is left out when it and its neighbours are all empty;
		 * a `~` marks where rows were left out. */
		for (k = from; k <= to; k++)
			empty &= !stat->hist[k];
		if (empty) {
			eliding = true;
			continue;
		}
		if (eliding) {
			stp_hist_printf(&out, "%*s ~\n", value_width, "");
			eliding = false;
		}
		value = stp_bucket_value(kind, i);
		if (linear && i == 0)
			prefix = "<";
		else if (linear && i == top)
			prefix = ">";
		stp_hist_printf(&out, "%*s%lld |", value_width - stp_digits(value), prefix,
				(long long)value);
		bar = div64_u64(stat->hist[i], scale);
		stp_hist_repeat(&out, '@', bar);
		stp_hist_printf(&out, "%*lld\n", (int)(STP_HIST_WIDTH - bar + 1 + count_width),
				(long long)stat->hist[i]);
	}
	stp_hist_printf(&out, "\n");
	return true;
}

/* ---- Statistics globals ---- */

int stp_stat_var_init(struct stp_stat_var *var, const struct stp_stat_kind *kind)
{
	var->cpus = __alloc_percpu(stp_stat_bytes(kind), __alignof__(struct stp_stat));
	var->merged = kzalloc(stp_stat_bytes(kind), GFP_KERNEL);
	if (!var->cpus || !var->merged) {
		stp_stat_var_free(var);
		return -ENOMEM;
	}
	return 0;
}

void stp_stat_var_free(struct stp_stat_var *var)
{
	free_percpu(var->cpus);
	kfree(var->merged);
	var->cpus = NULL;
	var->merged = NULL;
}

void stp_stat_var_clear(const struct stp_stat_kind *kind, struct stp_stat_var *var)
{
	int cpu;

	for_each_possible_cpu(cpu)
		stp_stat_clear(kind, per_cpu_ptr(var->cpus, cpu));
}

const struct stp_stat *stp_stat_var_read(const struct stp_stat_kind *kind, struct stp_stat_var *var)
{
	int cpu;

	stp_stat_clear(kind, var->merged);
	for_each_possible_cpu(cpu)
		stp_stat_merge_sums(kind, var->merged, per_cpu_ptr(var->cpus, cpu));
	stp_stat_merge_means(kind, var->merged);
	for_each_possible_cpu(cpu)
		stp_stat_merge_spread(var->merged, per_cpu_ptr(var->cpus, cpu));
	stp_stat_merge_end(kind, var->merged);
	return var->merged;
}

/* ---- Locks ---- */

static bool stp_lock_try(struct stp_lock *lock, bool write)
{
	int state = atomic_read(&lock->state);

	if (write)
		return state == 0 && atomic_cmpxchg_acquire(&lock->state, 0, -1) == 0;
	return state >= 0 && atomic_cmpxchg_acquire(&lock->state, state, state + 1) == state;
}

static void stp_lock_release(struct stp_lock *lock, bool write)
{
	if (write)
		atomic_set_release(&lock->state, 0);
	else
		atomic_dec_return_release(&lock->state);
}

bool stp_locks_take(struct stp_context *ctx, const struct stp_lock_use *uses, unsigned int count)
{
	unsigned int taken, attempt;

	for (taken = 0; taken < count; taken++) {
		for (attempt = 0; !stp_lock_try(uses[taken].lock, uses[taken].write); attempt++) {
			if (attempt + 1 >= MAXTRYLOCK) {
				stp_locks_release(uses, taken);
				stp_probe_skipped();
				return false;
			}
			udelay(TRYLOCKDELAY);
		}
	}
	return true;
}

void stp_locks_release(const struct stp_lock_use *uses, unsigned int count)
{
	while (count--)
		stp_lock_release(uses[count].lock, uses[count].write);
}

/* ---- Associative arrays ---- */

struct stp_map_entry {
	u32 hash_next; /* next entry in the bucket, or the next free entry */
	u32 older, newer;
	u32 hash;
	/* key_bytes of key, then value_bytes of value, 8-byte aligned */
};

static struct stp_map_entry *stp_map_entry(const struct stp_map *map, u32 index)
{
	return (struct stp_map_entry *)(map->entries + (size_t)index * map->entry_bytes);
}

void *stp_map_key(const struct stp_map *map, u32 entry)
{
	return stp_map_entry(map, entry) + 1;
}

void *stp_map_value(const struct stp_map *map, u32 entry)
{
	return (char *)stp_map_key(map, entry) + map->key_bytes;
}

int stp_map_init(struct stp_map *map, u32 capacity, u32 key_bytes, u32 value_bytes, bool wrap)
{
	u32 buckets = roundup_pow_of_two(capacity * 2);

	map->capacity = capacity;
	map->key_bytes = ALIGN(key_bytes, 8);
	map->value_bytes = ALIGN(value_bytes, 8);
	map->entry_bytes = sizeof(struct stp_map_entry) + map->key_bytes + map->value_bytes;
	map->wrap = wrap;
	map->bucket_mask = buckets - 1;
	map->buckets = kvmalloc_array(buckets, sizeof(u32), GFP_KERNEL);
	map->entries = kvmalloc_array(capacity, map->entry_bytes, GFP_KERNEL);
	if (!map->buckets || !map->entries) {
		stp_map_free(map);
		return -ENOMEM;
	}
	stp_map_clear(map);
	return 0;
}

void stp_map_free(struct stp_map *map)
{
	kvfree(map->buckets);
	kvfree(map->entries);
	map->buckets = NULL;
	map->entries = NULL;
}

/* Keys are whole 8-byte words (key_bytes is aligned, strings zero-padded):
 * hashing and comparing a word at a time costs an eighth of a byte loop,
 * which matters for string keys of MAXSTRINGLEN bytes on every hit. */
static u64 stp_key_word(const void *key, u32 word)
{
	u64 value;

	memcpy(&value, (const u8 *)key + (size_t)word * 8, sizeof(value));
	return value;
}

/* FNV-1a over the key's 64-bit words, folded to 32 bits. */
static u32 stp_map_hash(const struct stp_map *map, const void *key)
{
	u64 hash = 14695981039346656037ull;
	u32 word;

	for (word = 0; word < map->key_bytes / 8; word++)
		hash = (hash ^ stp_key_word(key, word)) * 1099511628211ull;
	return (u32)(hash ^ (hash >> 32));
}

static bool stp_map_key_equal(const struct stp_map *map, const void *a, const void *b)
{
	u32 word;

	for (word = 0; word < map->key_bytes / 8; word++)
		if (stp_key_word(a, word) != stp_key_word(b, word))
			return false;
	return true;
}

static u32 stp_map_find(const struct stp_map *map, const void *key, u32 hash)
{
	u32 index = map->buckets[hash & map->bucket_mask];

	while (index != STP_MAP_END) {
		struct stp_map_entry *entry = stp_map_entry(map, index);

		if (entry->hash == hash && stp_map_key_equal(map, entry + 1, key))
			return index;
		index = entry->hash_next;
	}
	return STP_MAP_END;
}

void *stp_map_get(struct stp_map *map, const void *key)
{
	u32 index = stp_map_find(map, key, stp_map_hash(map, key));

	return index == STP_MAP_END ? NULL : stp_map_value(map, index);
}

void *stp_map_set(struct stp_map *map, const void *key)
{
	u32 hash = stp_map_hash(map, key);
	u32 index = stp_map_find(map, key, hash);
	u32 *bucket;
	struct stp_map_entry *entry;

	if (index != STP_MAP_END)
		return stp_map_value(map, index);
	if (map->free == STP_MAP_END) {
		if (!map->wrap)
			return NULL;
		stp_map_delete_entry(map, map->oldest);
	}
	index = map->free;
	entry = stp_map_entry(map, index);
	map->free = entry->hash_next;
	bucket = &map->buckets[hash & map->bucket_mask];
	entry->hash = hash;
	entry->hash_next = *bucket;
	*bucket = index;
	entry->newer = STP_MAP_END;
	entry->older = map->newest;
	if (map->newest != STP_MAP_END)
		stp_map_entry(map, map->newest)->newer = index;
	else
		map->oldest = index;
	map->newest = index;
	map->count++;
	memcpy(entry + 1, key, map->key_bytes);
	memset(stp_map_value(map, index), 0, map->value_bytes);
	return stp_map_value(map, index);
}

void stp_map_delete_entry(struct stp_map *map, u32 index)
{
	struct stp_map_entry *entry = stp_map_entry(map, index);
	u32 *link = &map->buckets[entry->hash & map->bucket_mask];

	while (*link != index)
		link = &stp_map_entry(map, *link)->hash_next;
	*link = entry->hash_next;
	if (entry->older != STP_MAP_END)
		stp_map_entry(map, entry->older)->newer = entry->newer;
	else
		map->oldest = entry->newer;
	if (entry->newer != STP_MAP_END)
		stp_map_entry(map, entry->newer)->older = entry->older;
	else
		map->newest = entry->older;
	entry->hash_next = map->free;
	map->free = index;
	map->count--;
}

void stp_map_delete(struct stp_map *map, const void *key)
{
	u32 index = stp_map_find(map, key, stp_map_hash(map, key));

	if (index != STP_MAP_END)
		stp_map_delete_entry(map, index);
}

/* Back to the state after init, free entries in index order: refilling
 * with the same keys gives each the same entry again, which foreach over a
 * statistics array relies on when its body merges the array again. */
void stp_map_clear(struct stp_map *map)
{
	u32 i;

	for (i = 0; i <= map->bucket_mask; i++)
		map->buckets[i] = STP_MAP_END;
	map->count = 0;
	map->oldest = map->newest = STP_MAP_END;
	map->free = 0;
	for (i = 0; i < map->capacity; i++)
		stp_map_entry(map, i)->hash_next = i + 1 < map->capacity ? i + 1 : STP_MAP_END;
}

void stp_map_overflow(struct stp_context *ctx, const char *location, const struct stp_map *map)
{
	if (map->capacity == MAXMAPENTRIES)
		stp_error(ctx, location, "Array overflow, check MAXMAPENTRIES");
	else
		stp_error(ctx, location, "Array overflow, check size limit (%u)", map->capacity);
}

u32 stp_map_first(const struct stp_map *map)
{
	return map->oldest;
}

u32 stp_map_next(const struct stp_map *map, u32 entry)
{
	return stp_map_entry(map, entry)->newer;
}

static int stp_map_compare(const struct stp_map *map, const struct stp_map_sort *sort, u32 a, u32 b)
{
	const char *base_a = sort->by_value ? stp_map_value(map, a) : stp_map_key(map, a);
	const char *base_b = sort->by_value ? stp_map_value(map, b) : stp_map_key(map, b);
	int order;

	if (sort->string) {
		order = strcmp(base_a + sort->offset, base_b + sort->offset);
	} else {
		s64 value_a = *(const s64 *)(base_a + sort->offset);
		s64 value_b = *(const s64 *)(base_b + sort->offset);

		order = value_a < value_b ? -1 : value_a > value_b;
	}
	return sort->descending ? -order : order;
}

u32 stp_map_sorted(const struct stp_map *map, const struct stp_map_sort *sort, u32 *order,
		   u32 *scratch)
{
	u32 count = 0, width, start, index;
	u32 *from = order, *to = scratch;

	for (index = map->oldest; index != STP_MAP_END; index = stp_map_next(map, index))
		order[count++] = index;
	/* Bottom-up merge sort: stable, no recursion, no allocation. */
	for (width = 1; width < count; width *= 2) {
		for (start = 0; start < count; start += 2 * width) {
			u32 middle = min(start + width, count);
			u32 end = min(start + 2 * width, count);
			u32 left = start, right = middle, out = start;

			while (left < middle && right < end)
				to[out++] = stp_map_compare(map, sort, from[right], from[left]) < 0 ?
						    from[right++] : from[left++];
			while (left < middle)
				to[out++] = from[left++];
			while (right < end)
				to[out++] = from[right++];
		}
		swap(from, to);
	}
	if (from != order)
		memcpy(order, from, count * sizeof(*order));
	return count;
}

/* ---- Statistics arrays ---- */

int stp_stat_map_init(struct stp_stat_map *map, const struct stp_stat_kind *kind, u32 capacity,
		      u32 key_bytes, bool wrap)
{
	int cpu, err;

	map->cpus = kcalloc(nr_cpu_ids, sizeof(*map->cpus), GFP_KERNEL);
	map->one = kzalloc(stp_stat_bytes(kind), GFP_KERNEL);
	err = map->cpus && map->one ? 0 : -ENOMEM;
	err = err ?: stp_map_init(&map->merged, capacity, key_bytes, stp_stat_bytes(kind), false);
	for_each_possible_cpu(cpu)
		err = err ?: stp_map_init(&map->cpus[cpu], capacity, key_bytes, stp_stat_bytes(kind), wrap);
	if (err)
		stp_stat_map_free(map);
	return err;
}

void stp_stat_map_free(struct stp_stat_map *map)
{
	int cpu;

	if (map->cpus) {
		for_each_possible_cpu(cpu)
			stp_map_free(&map->cpus[cpu]);
	}
	stp_map_free(&map->merged);
	kfree(map->cpus);
	kfree(map->one);
	map->cpus = NULL;
	map->one = NULL;
}

const struct stp_stat *stp_stat_map_get(const struct stp_stat_kind *kind, struct stp_stat_map *map,
					const void *key)
{
	bool found = false;
	int cpu;

	stp_stat_clear(kind, map->one);
	for_each_possible_cpu(cpu) {
		const struct stp_stat *part = stp_map_get(&map->cpus[cpu], key);

		if (part) {
			found = true;
			stp_stat_merge_pair(kind, map->one, part);
		}
	}
	return found ? map->one : NULL;
}

bool stp_stat_map_merge(const struct stp_stat_kind *kind, struct stp_stat_map *map)
{
	u32 entry;
	int cpu;

	stp_map_clear(&map->merged);
	for_each_possible_cpu(cpu) {
		struct stp_map *part = &map->cpus[cpu];

		for (entry = stp_map_first(part); entry != STP_MAP_END; entry = stp_map_next(part, entry)) {
			const void *key = stp_map_key(part, entry);
			struct stp_stat *merged;

			if (stp_map_get(&map->merged, key))
				continue;
			merged = stp_map_set(&map->merged, key);
			if (!merged)
				return false;
			memcpy(merged, stp_stat_map_get(kind, map, key), stp_stat_bytes(kind));
		}
	}
	return true;
}

void stp_stat_map_delete(struct stp_stat_map *map, const void *key)
{
	int cpu;

	for_each_possible_cpu(cpu)
		stp_map_delete(&map->cpus[cpu], key);
}

void stp_stat_map_clear(struct stp_stat_map *map)
{
	int cpu;

	for_each_possible_cpu(cpu)
		stp_map_clear(&map->cpus[cpu]);
}

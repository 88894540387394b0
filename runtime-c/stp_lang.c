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
	*result = op == STP_STAT_MIN ? stat->min : op == STP_STAT_MAX ? stat->max : div64_s64(stat->sum, count);
	return true;
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
	u32 i;

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
	for (i = 0; i < buckets; i++)
		map->buckets[i] = STP_MAP_END;
	map->count = 0;
	map->oldest = map->newest = STP_MAP_END;
	map->free = 0;
	for (i = 0; i < capacity; i++)
		stp_map_entry(map, i)->hash_next = i + 1 < capacity ? i + 1 : STP_MAP_END;
	return 0;
}

void stp_map_free(struct stp_map *map)
{
	kvfree(map->buckets);
	kvfree(map->entries);
	map->buckets = NULL;
	map->entries = NULL;
}

/* FNV-1a over the key bytes. */
static u32 stp_map_hash(const struct stp_map *map, const void *key)
{
	const u8 *bytes = key;
	u32 hash = 2166136261u;
	u32 i;

	for (i = 0; i < map->key_bytes; i++)
		hash = (hash ^ bytes[i]) * 16777619u;
	return hash;
}

static u32 stp_map_find(const struct stp_map *map, const void *key, u32 hash)
{
	u32 index = map->buckets[hash & map->bucket_mask];

	while (index != STP_MAP_END) {
		struct stp_map_entry *entry = stp_map_entry(map, index);

		if (entry->hash == hash && !memcmp(entry + 1, key, map->key_bytes))
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

void stp_map_clear(struct stp_map *map)
{
	while (map->oldest != STP_MAP_END)
		stp_map_delete_entry(map, map->oldest);
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

// SPDX-License-Identifier: GPL-2.0
/*
 * Log-linear latency histogram (see bench.h). Bucket i < HIST_SUB holds the
 * value i exactly; above that, group g = i / HIST_SUB covers
 * [2^(g + HIST_SUB_BITS - 1), 2^(g + HIST_SUB_BITS)) in HIST_SUB equal steps.
 */
#define _GNU_SOURCE
#include "bench.h"

static unsigned int hist_index(uint64_t ns)
{
	unsigned int top, group;

	if (ns < HIST_SUB)
		return ns;
	if (ns >> HIST_MAX_SHIFT)
		ns = (1ULL << HIST_MAX_SHIFT) - 1;
	top = 63 - __builtin_clzll(ns);		/* >= HIST_SUB_BITS */
	group = top - HIST_SUB_BITS + 1;
	/* ns >> (top - HIST_SUB_BITS) is in [HIST_SUB, 2 * HIST_SUB). */
	return group * HIST_SUB + (unsigned int)(ns >> (top - HIST_SUB_BITS)) - HIST_SUB;
}

/* The middle of bucket i: the value a quantile that falls in it reports. */
static uint64_t hist_bucket_mid(unsigned int i)
{
	unsigned int group = i / HIST_SUB, step = i % HIST_SUB;
	uint64_t low, width;

	if (!group)
		return i;
	low = (uint64_t)(HIST_SUB + step) << (group - 1);
	width = 1ULL << (group - 1);
	return low + width / 2;
}

void hist_add(struct hist *h, uint64_t ns)
{
	h->bucket[hist_index(ns)]++;
	h->count++;
	h->sum_ns += ns;
	if (ns > h->max_ns)
		h->max_ns = ns;
}

void hist_merge(struct hist *into, const struct hist *from)
{
	unsigned int i;

	for (i = 0; i < HIST_BUCKETS; i++)
		into->bucket[i] += from->bucket[i];
	into->count += from->count;
	into->sum_ns += from->sum_ns;
	if (from->max_ns > into->max_ns)
		into->max_ns = from->max_ns;
}

uint64_t hist_quantile(const struct hist *h, double q)
{
	uint64_t rank, seen = 0;
	unsigned int i;

	if (!h->count)
		return 0;
	/* The smallest value with at least q of the samples at or below it. */
	rank = (uint64_t)(q * h->count);
	if (rank < q * h->count)
		rank++;
	if (rank < 1)
		rank = 1;
	for (i = 0; i < HIST_BUCKETS; i++) {
		seen += h->bucket[i];
		if (seen >= rank) {
			uint64_t mid = hist_bucket_mid(i);

			return mid < h->max_ns ? mid : h->max_ns;
		}
	}
	return h->max_ns;
}

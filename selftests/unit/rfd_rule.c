// SPDX-License-Identifier: GPL-2.0
/*
 * Unit tests of the Receive Flow Deliver rule (include/fastsocket/rfd.h):
 * the edges the issue names, then an exhaustive cross-check of owner() and
 * block() against each other over many ranges and slot counts.
 */
#include <stdio.h>
#include <stdlib.h>

#include <fastsocket/rfd.h>

#include "tap.h"

/* Every port has at most one owner, inside that owner's block; blocks tile. */
static int rule_consistent(__u32 low, __u32 high, __u32 nslots, char *why,
			   size_t whylen)
{
	__u32 slot, port, blow, bhigh, owned = 0, prev_high = low - 1;
	__u32 lo_scan = low > 2 ? low - 2 : 0;
	__u32 hi_scan = high < 65533 ? high + 2 : 65535;

	for (slot = 0; slot < nslots; slot++) {
		if (!fsk_rfd_block(low, high, nslots, slot, &blow, &bhigh))
			continue;
		if (blow != prev_high + 1 || bhigh < blow || bhigh > high) {
			snprintf(why, whylen, "slot %u block [%u,%u] after %u",
				 slot, blow, bhigh, prev_high);
			return 0;
		}
		prev_high = bhigh;
		owned += bhigh - blow + 1;
	}
	for (port = lo_scan; port <= hi_scan; port++) {
		__u32 owner = fsk_rfd_owner(low, high, nslots, port);

		if (owner == FSK_RFD_NO_SLOT) {
			if (port >= low && port <= prev_high && nslots) {
				snprintf(why, whylen, "port %u in a block but unowned",
					 port);
				return 0;
			}
			continue;
		}
		if (!fsk_rfd_block(low, high, nslots, owner, &blow, &bhigh) ||
		    port < blow || port > bhigh) {
			snprintf(why, whylen, "port %u owner %u outside its block",
				 port, owner);
			return 0;
		}
		owned--;
	}
	if (owned) {
		snprintf(why, whylen, "%u block ports without owner", owned);
		return 0;
	}
	return 1;
}

static void test_edges(void)
{
	__u32 lo, hi;

	/* Debian's default range, 28232 ports. */
	check(fsk_rfd_span(32768, 60999, 1) == 28232, "1 CPU: one block, the whole range");
	check(fsk_rfd_owner(32768, 60999, 1, 60999) == 0 &&
	      fsk_rfd_owner(32768, 60999, 1, 32768) == 0, "1 CPU owns both ends");
	check(fsk_rfd_span(32768, 60999, 3) == 9410, "3 CPUs: span 28232/3 = 9410");
	check(fsk_rfd_owner(32768, 60999, 3, 32768 + 9410 - 1) == 0 &&
	      fsk_rfd_owner(32768, 60999, 3, 32768 + 9410) == 1,
	      "block edge between slot 0 and 1");
	check(fsk_rfd_owner(32768, 60999, 3, 60998) == FSK_RFD_NO_SLOT &&
	      fsk_rfd_owner(32768, 60999, 3, 60997) == 2,
	      "remainder ports (2 of them) have no owner");
	check(fsk_rfd_owner(32768, 60999, 3, 32767) == FSK_RFD_NO_SLOT &&
	      fsk_rfd_owner(32768, 60999, 3, 61000) == FSK_RFD_NO_SLOT &&
	      fsk_rfd_owner(32768, 60999, 3, 80) == FSK_RFD_NO_SLOT,
	      "ports outside the range have no owner");

	/* More CPUs than ports. */
	check(fsk_rfd_span(100, 103, 8) == 1, "8 CPUs, 4 ports: span 1");
	check(fsk_rfd_owner(100, 103, 8, 103) == 3, "port 103 -> slot 3");
	check(!fsk_rfd_block(100, 103, 8, 4, &lo, &hi) &&
	      !fsk_rfd_block(100, 103, 8, 7, &lo, &hi), "slots 4..7 own nothing");
	check(fsk_rfd_block(100, 100, 2, 0, &lo, &hi) && lo == 100 && hi == 100 &&
	      !fsk_rfd_block(100, 100, 2, 1, &lo, &hi), "one port, two CPUs");

	/* Degenerate input. */
	check(fsk_rfd_span(200, 100, 4) == 0 &&
	      fsk_rfd_owner(200, 100, 4, 150) == FSK_RFD_NO_SLOT, "inverted range: no rule");
	check(fsk_rfd_span(1, 65535, 0) == 0 &&
	      !fsk_rfd_block(1, 65535, 0, 0, &lo, &hi), "zero slots: no rule");
	check(fsk_rfd_block(1, 65535, 1024, 1023, &lo, &hi) && hi == 1024 * 63 &&
	      fsk_rfd_owner(1, 65535, 1024, 65535) == FSK_RFD_NO_SLOT,
	      "full port space, 1024 CPUs: last block ends at 64512");

	/* Range changed at runtime: the rule follows the new range only. */
	check(fsk_rfd_owner(32768, 60999, 2, 40000) == 0 &&
	      fsk_rfd_owner(10000, 40000, 2, 40000) == FSK_RFD_NO_SLOT &&
	      fsk_rfd_owner(10000, 40001, 2, 40000) == 1,
	      "new range, new owners");
}

static void test_narrow(void)
{
	__u32 lo, hi;

	lo = 32768; hi = 60999;
	check(fsk_rfd_narrow(32768, 60999, 2, 1, &lo, &hi) && lo == 46884 && hi == 60999,
	      "narrow to slot 1's block");
	/* Socket IP_LOCAL_PORT_RANGE inside the block. */
	lo = 50000; hi = 50100;
	check(fsk_rfd_narrow(32768, 60999, 2, 1, &lo, &hi) && lo == 50000 && hi == 50100,
	      "socket range inside the block stays");
	/* Overlapping: intersection. */
	lo = 40000; hi = 50000;
	check(fsk_rfd_narrow(32768, 60999, 2, 1, &lo, &hi) && lo == 46884 && hi == 50000,
	      "socket range overlapping the block: intersection");
	/* Disjoint: untouched. */
	lo = 33000; hi = 34000;
	check(!fsk_rfd_narrow(32768, 60999, 2, 1, &lo, &hi) && lo == 33000 && hi == 34000,
	      "socket range outside the block: left to the kernel");
	lo = 100; hi = 103;
	check(!fsk_rfd_narrow(100, 103, 8, 6, &lo, &hi) && lo == 100 && hi == 103,
	      "CPU without a block: left to the kernel");
}

static void test_slots(void)
{
	/* Possible CPUs 0, 2, 5, 63, 64, 100: ids with holes. */
	__u64 mask[2] = { (1ULL << 0) | (1ULL << 2) | (1ULL << 5) | (1ULL << 63),
			  (1ULL << 0) | (1ULL << 36) };

	check(fsk_rfd_slot_of_cpu(mask, 2, 0) == 0 &&
	      fsk_rfd_slot_of_cpu(mask, 2, 2) == 1 &&
	      fsk_rfd_slot_of_cpu(mask, 2, 5) == 2 &&
	      fsk_rfd_slot_of_cpu(mask, 2, 63) == 3 &&
	      fsk_rfd_slot_of_cpu(mask, 2, 64) == 4 &&
	      fsk_rfd_slot_of_cpu(mask, 2, 100) == 5,
	      "non-contiguous CPU ids get consecutive slots");
	check(fsk_rfd_slot_of_cpu(mask, 2, 1) == FSK_RFD_NO_SLOT &&
	      fsk_rfd_slot_of_cpu(mask, 2, 128) == FSK_RFD_NO_SLOT &&
	      fsk_rfd_slot_of_cpu(mask, 2, 4000) == FSK_RFD_NO_SLOT,
	      "CPUs not in the mask have no slot");
}

static void test_exhaustive(void)
{
	static const __u32 ranges[][2] = {
		{ 32768, 60999 }, { 1024, 65535 }, { 1, 65535 }, { 60000, 60000 },
		{ 40000, 40006 }, { 0, 0 }, { 65535, 65535 }, { 9, 10 },
	};
	char why[128] = "";
	unsigned int r, bad = 0;
	__u32 nslots;

	for (r = 0; r < sizeof(ranges) / sizeof(ranges[0]); r++) {
		for (nslots = 1; nslots <= 130 && !bad; nslots++)
			if (!rule_consistent(ranges[r][0], ranges[r][1], nslots,
					     why, sizeof(why)))
				bad = nslots;
		if (bad)
			break;
	}
	check(!bad, "owner and block agree for 8 ranges x 1..130 slots%s%s",
	      bad ? ": " : "", why);

	srandom(1);
	for (r = 0; r < 2000 && !bad; r++) {
		__u32 a = random() % 65536, b = random() % 65536;
		__u32 low = a < b ? a : b, high = a < b ? b : a;

		nslots = 1 + random() % 4096;
		if (!rule_consistent(low, high, nslots, why, sizeof(why)))
			bad = 1;
	}
	check(!bad, "owner and block agree for 2000 random ranges and slot counts%s%s",
	      bad ? ": " : "", why);
}

int main(void)
{
	printf("TAP version 13\n");
	test_edges();
	test_narrow();
	test_slots();
	test_exhaustive();
	return tap_done();
}

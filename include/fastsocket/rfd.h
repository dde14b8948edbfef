/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The Receive Flow Deliver rule: which CPU owns a local port. One definition,
 * used by the module (connect() picks a port in the caller's block), the XDP
 * program (packets to a port go to its owner) and the tools (ethtool rules).
 *
 * The namespace's ip_local_port_range [low, high] is cut into nslots
 * contiguous blocks of `span` ports, in order; slot s owns
 * [low + s * span, low + (s + 1) * span - 1]. Slots are the ranks of the
 * possible CPUs (the i-th possible CPU has slot i), so CPU ids with holes
 * waste no ports. When there are more slots than ports each port is a block
 * of its own and the extra slots own nothing; ports past the last block
 * (the remainder of the division) are owned by no one. Packets to ports
 * nobody owns, and connects from CPUs that own nothing, are left to the
 * kernel's usual choice.
 *
 * Pure integer code with no dependency beyond <linux/types.h>: it builds in
 * the kernel, in BPF programs and in userspace.
 */
#ifndef _FASTSOCKET_RFD_H
#define _FASTSOCKET_RFD_H

#include <linux/types.h>

#define FSK_RFD_NO_SLOT		0xffffffffU

/* Ports per block, or 0 when the range is empty or there is no slot. */
static inline __u32 fsk_rfd_span(__u32 low, __u32 high, __u32 nslots)
{
	__u32 ports;

	if (!nslots || high < low)
		return 0;
	ports = high - low + 1;
	return ports >= nslots ? ports / nslots : 1;
}

/* The slot that owns @port, or FSK_RFD_NO_SLOT. */
static inline __u32 fsk_rfd_owner(__u32 low, __u32 high, __u32 nslots,
				  __u32 port)
{
	__u32 span = fsk_rfd_span(low, high, nslots);
	__u32 slot;

	if (!span || port < low || port > high)
		return FSK_RFD_NO_SLOT;
	slot = (port - low) / span;
	return slot < nslots ? slot : FSK_RFD_NO_SLOT;
}

/*
 * The block of @slot in [*block_low, *block_high]; 0 when the slot owns no
 * port.
 */
static inline int fsk_rfd_block(__u32 low, __u32 high, __u32 nslots,
				 __u32 slot, __u32 *block_low,
				 __u32 *block_high)
{
	__u32 span = fsk_rfd_span(low, high, nslots);
	__u32 first;

	if (!span || slot >= nslots)
		return 0;
	if ((__u64)slot * span > high - low)
		return 0;
	first = low + slot * span;
	*block_low = first;
	*block_high = first + span - 1;
	return 1;
}

/*
 * connect(): narrow the range the kernel will search, [*low, *high] (the
 * namespace's range already intersected with the socket's own
 * IP_LOCAL_PORT_RANGE), to @slot's block of the namespace's range
 * [ns_low, ns_high]. Returns 1 when narrowed; 0 leaves the range as it was,
 * when the slot owns nothing or its block and the socket's range do not meet.
 */
static inline int fsk_rfd_narrow(__u32 ns_low, __u32 ns_high, __u32 nslots,
				 __u32 slot, __u32 *low, __u32 *high)
{
	__u32 block_low, block_high;

	if (!fsk_rfd_block(ns_low, ns_high, nslots, slot, &block_low,
			   &block_high))
		return 0;
	if (block_low < *low)
		block_low = *low;
	if (block_high > *high)
		block_high = *high;
	if (block_low > block_high)
		return 0;
	*low = block_low;
	*high = block_high;
	return 1;
}

/* Bits set in @x; our own, as the kernel, BPF and libc spell it differently. */
static inline __u32 fsk_rfd_popcount64(__u64 x)
{
	x = x - ((x >> 1) & 0x5555555555555555ULL);
	x = (x & 0x3333333333333333ULL) + ((x >> 2) & 0x3333333333333333ULL);
	x = (x + (x >> 4)) & 0x0f0f0f0f0f0f0f0fULL;
	return (__u32)((x * 0x0101010101010101ULL) >> 56);
}

/*
 * The slot of @cpu: its rank among the CPUs set in @mask (@nwords 64-bit
 * words, bit c of word c / 64 for CPU c), or FSK_RFD_NO_SLOT if unset.
 */
static inline __u32 fsk_rfd_slot_of_cpu(const __u64 *mask, __u32 nwords,
					__u32 cpu)
{
	__u32 word, slot = 0;
	__u64 bits;

	if (cpu / 64 >= nwords || !(mask[cpu / 64] & (1ULL << (cpu % 64))))
		return FSK_RFD_NO_SLOT;
	for (word = 0; word < cpu / 64; word++)
		slot += fsk_rfd_popcount64(mask[word]);
	bits = mask[cpu / 64] & ((1ULL << (cpu % 64)) - 1);
	return slot + fsk_rfd_popcount64(bits);
}

#endif /* _FASTSOCKET_RFD_H */

/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Receive Flow Deliver, receive side: the names and layouts of the XDP
 * program's maps (bpf/fsk_rfd.bpf.c), shared with fastsocketctl, which fills
 * and reads them, and with the selftests. The rule itself is
 * include/fastsocket/rfd.h; this header only says where its inputs live.
 *
 * Every map is named fsk_* and carries BTF, so that
 * `bpftool map dump name fsk_rfd_stats` prints rows with field names.
 *
 *   fsk_rfd_config  ARRAY[1]           struct fsk_rfd_config: the netns's port
 *                                      range and slot count, as last read by
 *                                      fastsocketctl attach
 *   fsk_rfd_slots   ARRAY[nslots]      struct fsk_rfd_slot: slot -> CPU id
 *                                      (slot i is the i-th possible CPU)
 *   fsk_rfd_cpumap  CPUMAP[nr_cpu_ids] struct bpf_cpumap_val: one queue per
 *                                      online CPU
 *   fsk_rfd_stats   PERCPU_ARRAY[1]    struct fsk_rfd_stats: what the program
 *                                      did on each CPU
 *   fsk_rfd_steer   PERCPU_ARRAY[n]    struct fsk_rfd_steer, key = target slot:
 *                                      frames each CPU redirected to that slot
 *                                      (n = min(nslots, FSK_RFD_STEER_SLOTS))
 *
 * Sizes are set by the loader before the program is loaded.
 */
#ifndef _FASTSOCKET_RFD_MAPS_H
#define _FASTSOCKET_RFD_MAPS_H

#include <linux/types.h>

/* The kernel keeps 15 characters of a BPF object's name. */
#define FSK_RFD_PROG_NAME	"fsk_rfd_xdp"
#define FSK_RFD_MAP_CONFIG	"fsk_rfd_config"
#define FSK_RFD_MAP_SLOTS	"fsk_rfd_slots"
#define FSK_RFD_MAP_CPUMAP	"fsk_rfd_cpumap"
#define FSK_RFD_MAP_STATS	"fsk_rfd_stats"
#define FSK_RFD_MAP_STEER	"fsk_rfd_steer"

/* Bumped when a layout below changes: tools leave other versions alone. */
#define FSK_RFD_MAPS_VERSION	1

/*
 * Per-target counters cost nslots * possible CPUs * 8 bytes; past this many
 * slots the remaining targets are not counted (redirects still happen).
 */
#define FSK_RFD_STEER_SLOTS	1024

/* cpumap queue length per CPU, in frames. */
#define FSK_RFD_CPUMAP_QSIZE	2048

struct fsk_rfd_config {
	__u32 version;		/* FSK_RFD_MAPS_VERSION */
	__u32 low;		/* ip_local_port_range of the device's netns */
	__u32 high;
	__u32 nslots;		/* possible CPUs, as the module counts slots */
};

struct fsk_rfd_slot {
	__u32 cpu;		/* the CPU id whose cpumap queue serves the slot */
};

/*
 * X(name, description): the per-CPU counters, in the order fastsocketctl
 * prints them. packets is the sum of all the others.
 */
#define FSK_RFD_STATS(X)						\
	X(packets, "frames the program saw on this CPU")		\
	X(redirected, "TCP to a port another CPU owns: queued to that CPU") \
	X(local, "TCP to a port this CPU owns: passed")			\
	X(unowned, "TCP to a port no CPU owns (outside the blocks): passed") \
	X(no_cpu, "the owner CPU has no cpumap queue (offline): passed") \
	X(not_tcp, "not TCP over IPv4/IPv6, a fragment, or headers not walked: passed") \
	X(malformed, "truncated or invalid Ethernet/VLAN/IP/TCP headers: passed")

struct fsk_rfd_stats {
#define FSK_RFD_STAT_FIELD(name, desc) __u64 name;
	FSK_RFD_STATS(FSK_RFD_STAT_FIELD)
#undef FSK_RFD_STAT_FIELD
};

struct fsk_rfd_steer {
	__u64 redirected;	/* frames this CPU queued to the key's slot */
};

/*
 * What the program parses, and how the selftests classify frames (both
 * follow these words; a frame that fails a check passes untouched):
 *  - Ethernet, then up to FSK_RFD_MAX_VLANS 802.1Q/802.1ad tags (one more:
 *    not_tcp). A frame shorter than a header it needs is malformed.
 *  - IPv4: version 4, IHL >= 5, options present, total length >= IHL * 4
 *    and not past the frame; fragments (MF or offset) are not_tcp.
 *  - IPv6: version 6, payload length not past the frame, 0 (jumbogram) is
 *    not_tcp; up to FSK_RFD_MAX_EXTHDRS hop-by-hop, routing, destination
 *    options and AH headers are walked, each inside the payload; fragment
 *    headers, other next headers, or one header too many are not_tcp.
 *  - TCP: data offset >= 5 and the whole header inside the IP payload.
 * A header chain reaching past byte 4096 of the frame counts as malformed
 * (a bound the verifier needs; no real frame comes near it).
 */
#define FSK_RFD_MAX_VLANS	2
#define FSK_RFD_MAX_EXTHDRS	8

#endif /* _FASTSOCKET_RFD_MAPS_H */

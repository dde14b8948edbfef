// SPDX-License-Identifier: GPL-2.0
/*
 * Receive Flow Deliver, receive side: an XDP program that sends each TCP
 * packet to the CPU owning its destination port, through a CPUMAP.
 *
 * connect() on CPU c picks its source port in c's block of the netns's
 * ephemeral range (the module, src/rfd.c); the replies carry that port as
 * their destination, so steering them to c keeps the whole connection on
 * the CPU of the task that made it. The rule is fsk_rfd_owner() from
 * include/fastsocket/rfd.h; fastsocketctl fills the maps
 * (include/fastsocket/rfd_maps.h) before it attaches the program.
 *
 * Whatever the program cannot place (not TCP, a fragment, a truncated or
 * invalid header, a port no CPU owns, an offline owner) passes untouched,
 * as do packets already on their owner CPU: the program never drops.
 */
#include "fsk_parse.h"

#include <fastsocket/rfd.h>
#include <fastsocket/rfd_maps.h>

/* Read a config field once: fastsocketctl may rewrite it under us. */
#define READ_ONCE_U32(x)	(*(const volatile __u32 *)&(x))

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct fsk_rfd_config);
} fsk_rfd_config SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);		/* nslots, set by the loader */
	__type(key, __u32);
	__type(value, struct fsk_rfd_slot);
} fsk_rfd_slots SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_CPUMAP);
	__uint(max_entries, 1);		/* highest possible CPU + 1, set by the loader */
	__type(key, __u32);
	__type(value, struct bpf_cpumap_val);
} fsk_rfd_cpumap SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct fsk_rfd_stats);
} fsk_rfd_stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);		/* min(nslots, FSK_RFD_STEER_SLOTS) */
	__type(key, __u32);
	__type(value, struct fsk_rfd_steer);
} fsk_rfd_steer SEC(".maps");

SEC("xdp")
int fsk_rfd_xdp(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	const struct fsk_rfd_config *cfg;
	struct fsk_rfd_stats *st;
	struct fsk_rfd_steer *steer;
	struct fsk_rfd_slot *slot;
	__u32 key = 0, owner, cpu;
	struct fsk_flow flow;
	long act;

	st = bpf_map_lookup_elem(&fsk_rfd_stats, &key);
	cfg = bpf_map_lookup_elem(&fsk_rfd_config, &key);
	if (!st || !cfg)
		return XDP_PASS;
	st->packets++;

	/* The program is not frags-aware: the frame is all in [data, end). */
	switch (fsk_parse_flow(data, end, bpf_xdp_get_buff_len(ctx), false, &flow)) {
	case FSK_PARSE_TCP:
		break;
	case FSK_PARSE_NOT_TCP:
		st->not_tcp++;
		return XDP_PASS;
	default:
		st->malformed++;
		return XDP_PASS;
	}

	/* One read of each field: fastsocketctl may rewrite the config. */
	owner = fsk_rfd_owner(READ_ONCE_U32(cfg->low), READ_ONCE_U32(cfg->high),
			      READ_ONCE_U32(cfg->nslots), flow.dport);
	if (owner == FSK_RFD_NO_SLOT) {
		st->unowned++;
		return XDP_PASS;
	}
	slot = bpf_map_lookup_elem(&fsk_rfd_slots, &owner);
	if (!slot) {
		st->no_cpu++;
		return XDP_PASS;
	}
	cpu = slot->cpu;
	if (cpu == bpf_get_smp_processor_id()) {
		st->local++;
		return XDP_PASS;
	}
	/* No queue for that CPU (offline): the flags make it XDP_PASS. */
	act = bpf_redirect_map(&fsk_rfd_cpumap, cpu, XDP_PASS);
	if (act != XDP_REDIRECT) {
		st->no_cpu++;
		return XDP_PASS;
	}
	st->redirected++;
	steer = bpf_map_lookup_elem(&fsk_rfd_steer, &owner);
	if (steer)
		steer->redirected++;
	return XDP_REDIRECT;
}

char LICENSE[] SEC("license") = "GPL";

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
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include <fastsocket/rfd.h>
#include <fastsocket/rfd_maps.h>

/* Byte offsets in the headers, as on the wire; no struct needs the C ABI. */
#define VLAN_HLEN		4
#define IPV4_HLEN		20
#define IPV6_HLEN		40
#define TCP_HLEN		20
#define IPV6_HOPOPTS		0
#define IPV6_ROUTING		43
#define IPV6_FRAGMENT		44
#define IPV6_AH			51
#define IPV6_DSTOPTS		60

/*
 * Offsets are capped so that the verifier sees bounded packet pointers; a
 * header chain reaching past this is treated as truncated.
 */
#define MAX_HDR_OFF		4096

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

enum verdict {
	V_TCP,		/* *dport is set */
	V_NOT_TCP,
	V_MALFORMED,
};

static __always_inline int load_u8(void *data, void *end, __u32 off, __u8 *v)
{
	__u8 *p;

	if (off > MAX_HDR_OFF)
		return -1;
	p = data + off;
	if ((void *)(p + 1) > end)
		return -1;
	*v = *p;
	return 0;
}

static __always_inline int load_be16(void *data, void *end, __u32 off, __u16 *v)
{
	__u8 *p;

	if (off > MAX_HDR_OFF)
		return -1;
	p = data + off;
	if ((void *)(p + 2) > end)
		return -1;
	*v = (__u16)p[0] << 8 | p[1];
	return 0;
}

/* The TCP header at @off, inside an IP payload of @room bytes. */
static __always_inline enum verdict parse_tcp(void *data, void *end, __u32 off,
					      __u32 room, __u16 *dport)
{
	__u8 doff;

	if (room < TCP_HLEN || load_u8(data, end, off + 12, &doff))
		return V_MALFORMED;
	doff >>= 4;
	if (doff < 5 || doff * 4U > room)
		return V_MALFORMED;
	if (load_be16(data, end, off + 2, dport))
		return V_MALFORMED;
	return V_TCP;
}

/* @len: the frame's length; @off <= @len holds for every caller. */
static __always_inline enum verdict parse_ipv4(void *data, void *end, __u32 len,
					       __u32 off, __u16 *dport)
{
	__u32 avail = len - off;
	__u16 tot_len, frag;
	__u8 vihl, proto;
	__u32 ihl;

	if (avail < IPV4_HLEN || load_u8(data, end, off, &vihl))
		return V_MALFORMED;
	ihl = (vihl & 0xf) * 4U;
	if (vihl >> 4 != 4 || ihl < IPV4_HLEN || ihl > avail)
		return V_MALFORMED;
	if (load_be16(data, end, off + 2, &tot_len) ||
	    load_be16(data, end, off + 6, &frag) ||
	    load_u8(data, end, off + 9, &proto))
		return V_MALFORMED;
	if (tot_len < ihl || tot_len > avail)
		return V_MALFORMED;
	/* MF or a fragment offset: only reassembly knows the ports. */
	if (proto != IPPROTO_TCP || (frag & 0x3fff))
		return V_NOT_TCP;
	return parse_tcp(data, end, off + ihl, tot_len - ihl, dport);
}

static __always_inline enum verdict parse_ipv6(void *data, void *end, __u32 len,
					       __u32 off, __u16 *dport)
{
	__u32 avail = len - off;
	__u16 payload;
	__u8 ver, next;
	__u32 used = 0;
	int i;

	if (avail < IPV6_HLEN || load_u8(data, end, off, &ver) ||
	    load_be16(data, end, off + 4, &payload) ||
	    load_u8(data, end, off + 6, &next))
		return V_MALFORMED;
	if (ver >> 4 != 6 || payload > avail - IPV6_HLEN)
		return V_MALFORMED;
	if (!payload)
		return V_NOT_TCP;
	off += IPV6_HLEN;

#pragma unroll
	for (i = 0; i < FSK_RFD_MAX_EXTHDRS; i++) {
		__u8 nh, hlen;
		__u32 len;

		if (next == IPPROTO_TCP)
			return parse_tcp(data, end, off, payload - used, dport);
		if (next != IPV6_HOPOPTS && next != IPV6_ROUTING &&
		    next != IPV6_DSTOPTS && next != IPV6_AH)
			return V_NOT_TCP;	/* fragment, ESP, none, others */
		if (payload - used < 8 || load_u8(data, end, off, &nh) ||
		    load_u8(data, end, off + 1, &hlen))
			return V_MALFORMED;
		len = next == IPV6_AH ? (hlen + 2U) * 4 : (hlen + 1U) * 8;
		if (len > payload - used)
			return V_MALFORMED;
		used += len;
		off += len;
		next = nh;
	}
	if (next == IPPROTO_TCP)
		return parse_tcp(data, end, off, payload - used, dport);
	return V_NOT_TCP;
}

static __always_inline enum verdict parse(void *data, void *end, __u32 len,
					  __u16 *dport)
{
	__u32 off = ETH_HLEN;
	__u16 proto;
	int i;

	if (load_be16(data, end, 12, &proto))
		return V_MALFORMED;
#pragma unroll
	for (i = 0; i < FSK_RFD_MAX_VLANS; i++) {
		if (proto != ETH_P_8021Q && proto != ETH_P_8021AD)
			break;
		if (load_be16(data, end, off + 2, &proto))
			return V_MALFORMED;
		off += VLAN_HLEN;
	}
	if (proto == ETH_P_IP)
		return parse_ipv4(data, end, len, off, dport);
	if (proto == ETH_P_IPV6)
		return parse_ipv6(data, end, len, off, dport);
	return V_NOT_TCP;	/* ARP, a third VLAN tag, ... */
}

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
	__u16 dport = 0;
	long act;

	st = bpf_map_lookup_elem(&fsk_rfd_stats, &key);
	cfg = bpf_map_lookup_elem(&fsk_rfd_config, &key);
	if (!st || !cfg)
		return XDP_PASS;
	st->packets++;

	/* The program is not frags-aware: the frame is all in [data, end). */
	switch (parse(data, end, bpf_xdp_get_buff_len(ctx), &dport)) {
	case V_TCP:
		break;
	case V_NOT_TCP:
		st->not_tcp++;
		return XDP_PASS;
	default:
		st->malformed++;
		return XDP_PASS;
	}

	/* One read of each field: fastsocketctl may rewrite the config. */
	owner = fsk_rfd_owner(READ_ONCE_U32(cfg->low), READ_ONCE_U32(cfg->high),
			      READ_ONCE_U32(cfg->nslots), dport);
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

// SPDX-License-Identifier: GPL-2.0
/*
 * Software RSS for the benchmark's NIC-like path: an XDP program that spreads
 * the TCP packets arriving on a device over a set of CPUs by a hash of their
 * 4-tuple, through a CPUMAP, the way a multi-queue NIC spreads its receive
 * queues' interrupts. Over veth (and loopback) the kernel otherwise processes
 * a packet on the CPU that sent it, so a server's SYNs and handshakes would
 * run on its clients' CPUs.
 *
 * Not part of fastsocket itself: tools/bench/guest-bench.sh loads it with
 * bpftool and fills the maps.
 *
 *   fsk_rss_config  ARRAY[1]                 struct fsk_rss_config: ncpus
 *   fsk_rss_cpus    ARRAY[FSK_RSS_MAX_CPUS]  struct fsk_rss_cpu: slot -> CPU id
 *                                            (slots 0..ncpus-1 are used)
 *   fsk_rss_cpumap  CPUMAP[FSK_RSS_MAX_CPUS] struct bpf_cpumap_val, key = CPU
 *                                            id: a queue for each CPU listed
 *   fsk_rss_stats   PERCPU_ARRAY[1]          struct fsk_rss_stats
 *
 * Whatever the program cannot hash (not IPv4/IPv6 TCP, a fragment, a
 * truncated or invalid header), and packets already on their CPU, pass
 * untouched: the program never drops.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <bpf/bpf_helpers.h>

#define FSK_RSS_MAX_CPUS	1024

/* Header offsets and lengths as on the wire. */
#define VLAN_HLEN		4
#define IPV4_HLEN		20
#define IPV6_HLEN		40
#define TCP_HLEN		20
#define IPV6_HOPOPTS		0
#define IPV6_ROUTING		43
#define IPV6_FRAGMENT		44
#define IPV6_AH			51
#define IPV6_DSTOPTS		60
#define IPV6_MAX_EXTHDRS	4
/* Bounded offsets keep the verifier's packet pointers bounded. */
#define MAX_HDR_OFF		1024

struct fsk_rss_config {
	__u32 ncpus;		/* slots used in fsk_rss_cpus; 0: pass all */
};

struct fsk_rss_cpu {
	__u32 cpu;
};

struct fsk_rss_stats {
	__u64 redirected;	/* sent to another CPU's cpumap queue */
	__u64 local;		/* hashed to the CPU it arrived on: passed */
	__u64 not_tcp;		/* not IPv4/IPv6 TCP, or a fragment: passed */
	__u64 malformed;	/* truncated or invalid header: passed */
	__u64 no_cpu;		/* no slot configured, or no queue for the CPU */
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct fsk_rss_config);
} fsk_rss_config SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, FSK_RSS_MAX_CPUS);
	__type(key, __u32);
	__type(value, struct fsk_rss_cpu);
} fsk_rss_cpus SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_CPUMAP);
	__uint(max_entries, FSK_RSS_MAX_CPUS);
	__type(key, __u32);
	__type(value, struct bpf_cpumap_val);
} fsk_rss_cpumap SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct fsk_rss_stats);
} fsk_rss_stats SEC(".maps");

enum verdict {
	V_HASHED,
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

/* A 32-bit word as it lies in the packet (byte order does not matter to a hash). */
static __always_inline int load_w32(void *data, void *end, __u32 off, __u32 *v)
{
	__u8 *p;

	if (off > MAX_HDR_OFF)
		return -1;
	p = data + off;
	if ((void *)(p + 4) > end)
		return -1;
	*v = (__u32)p[0] << 24 | (__u32)p[1] << 16 | (__u32)p[2] << 8 | p[3];
	return 0;
}

/* murmur3's 32-bit mixing steps. */
static __always_inline __u32 mix(__u32 h, __u32 k)
{
	k *= 0xcc9e2d51;
	k = k << 15 | k >> 17;
	k *= 0x1b873593;
	h ^= k;
	h = h << 13 | h >> 19;
	return h * 5 + 0xe6546b64;
}

static __always_inline __u32 finish(__u32 h)
{
	h ^= h >> 16;
	h *= 0x85ebca6b;
	h ^= h >> 13;
	h *= 0xc2b2ae35;
	h ^= h >> 16;
	return h;
}

/* The ports of the TCP header at @off, inside an IP payload of @room bytes. */
static __always_inline enum verdict hash_tcp(void *data, void *end, __u32 off,
					     __u32 room, __u32 *h)
{
	__u16 sport, dport;
	__u8 doff;

	if (room < TCP_HLEN || load_u8(data, end, off + 12, &doff))
		return V_MALFORMED;
	doff >>= 4;
	if (doff < 5 || doff * 4U > room)
		return V_MALFORMED;
	if (load_be16(data, end, off, &sport) || load_be16(data, end, off + 2, &dport))
		return V_MALFORMED;
	*h = mix(*h, (__u32)sport << 16 | dport);
	return V_HASHED;
}

static __always_inline enum verdict hash_ipv4(void *data, void *end, __u32 len,
					      __u32 off, __u32 *h)
{
	__u32 avail = len - off, saddr, daddr, ihl;
	__u16 tot_len, frag;
	__u8 vihl, proto;

	if (avail < IPV4_HLEN || load_u8(data, end, off, &vihl))
		return V_MALFORMED;
	ihl = (vihl & 0xf) * 4U;
	if (vihl >> 4 != 4 || ihl < IPV4_HLEN || ihl > avail)
		return V_MALFORMED;
	if (load_be16(data, end, off + 2, &tot_len) ||
	    load_be16(data, end, off + 6, &frag) ||
	    load_u8(data, end, off + 9, &proto) ||
	    load_w32(data, end, off + 12, &saddr) ||
	    load_w32(data, end, off + 16, &daddr))
		return V_MALFORMED;
	if (tot_len < ihl || tot_len > avail)
		return V_MALFORMED;
	/* MF or a fragment offset: only reassembly knows the ports. */
	if (proto != IPPROTO_TCP || (frag & 0x3fff))
		return V_NOT_TCP;
	*h = mix(mix(*h, saddr), daddr);
	return hash_tcp(data, end, off + ihl, tot_len - ihl, h);
}

static __always_inline enum verdict hash_ipv6(void *data, void *end, __u32 len,
					      __u32 off, __u32 *h)
{
	__u32 avail = len - off, room, w, i;
	__u16 payload_len;
	__u8 vtc, next, hdrlen;

	if (avail < IPV6_HLEN || load_u8(data, end, off, &vtc) || vtc >> 4 != 6)
		return V_MALFORMED;
	if (load_be16(data, end, off + 4, &payload_len) || load_u8(data, end, off + 6, &next))
		return V_MALFORMED;
	if (payload_len > avail - IPV6_HLEN)
		return V_MALFORMED;
	for (i = 0; i < 8; i++) {	/* source and destination addresses */
		if (load_w32(data, end, off + 8 + i * 4, &w))
			return V_MALFORMED;
		*h = mix(*h, w);
	}
	off += IPV6_HLEN;
	room = payload_len;
	for (i = 0; i < IPV6_MAX_EXTHDRS; i++) {
		__u32 ext;

		if (next == IPPROTO_TCP)
			break;
		if (next == IPV6_FRAGMENT)
			return V_NOT_TCP;
		if (next != IPV6_HOPOPTS && next != IPV6_ROUTING &&
		    next != IPV6_DSTOPTS && next != IPV6_AH)
			return V_NOT_TCP;
		if (room < 8 || load_u8(data, end, off, &next) ||
		    load_u8(data, end, off + 1, &hdrlen))
			return V_MALFORMED;
		ext = next == IPV6_AH ? (hdrlen + 2U) * 4 : (hdrlen + 1U) * 8;
		if (ext > room)
			return V_MALFORMED;
		off += ext;
		room -= ext;
	}
	if (next != IPPROTO_TCP)
		return V_NOT_TCP;
	return hash_tcp(data, end, off, room, h);
}

static __always_inline void count(__u64 *field)
{
	__sync_fetch_and_add(field, 1);
}

SEC("xdp")
int fsk_rss_xdp(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	__u32 len = end - data, off = ETH_HLEN, h = 0x5f4b5353, key = 0, slot;
	struct fsk_rss_config *cfg;
	struct fsk_rss_stats *st;
	struct fsk_rss_cpu *cpu;
	enum verdict v = V_NOT_TCP;
	__u16 proto;
	int i;

	st = bpf_map_lookup_elem(&fsk_rss_stats, &key);
	cfg = bpf_map_lookup_elem(&fsk_rss_config, &key);
	if (!st || !cfg)
		return XDP_PASS;

	if (len < ETH_HLEN || load_be16(data, end, 12, &proto)) {
		count(&st->malformed);
		return XDP_PASS;
	}
	for (i = 0; i < 2; i++) {	/* 802.1Q / 802.1ad tags */
		if (proto != ETH_P_8021Q && proto != ETH_P_8021AD)
			break;
		if (len < off + VLAN_HLEN || load_be16(data, end, off + 2, &proto)) {
			count(&st->malformed);
			return XDP_PASS;
		}
		off += VLAN_HLEN;
	}
	if (proto == ETH_P_IP)
		v = hash_ipv4(data, end, len, off, &h);
	else if (proto == ETH_P_IPV6)
		v = hash_ipv6(data, end, len, off, &h);
	if (v != V_HASHED) {
		count(v == V_MALFORMED ? &st->malformed : &st->not_tcp);
		return XDP_PASS;
	}

	{
		__u32 ncpus = *(volatile __u32 *)&cfg->ncpus;

		if (!ncpus || ncpus > FSK_RSS_MAX_CPUS) {
			count(&st->no_cpu);
			return XDP_PASS;
		}
		slot = (__u32)(((__u64)finish(h) * ncpus) >> 32);
	}
	cpu = bpf_map_lookup_elem(&fsk_rss_cpus, &slot);
	if (!cpu) {
		count(&st->no_cpu);
		return XDP_PASS;
	}
	if (cpu->cpu == bpf_get_smp_processor_id()) {
		count(&st->local);
		return XDP_PASS;
	}
	if (bpf_redirect_map(&fsk_rss_cpumap, cpu->cpu, XDP_PASS) != XDP_REDIRECT) {
		count(&st->no_cpu);
		return XDP_PASS;
	}
	count(&st->redirected);
	return XDP_REDIRECT;
}

char LICENSE[] SEC("license") = "GPL";

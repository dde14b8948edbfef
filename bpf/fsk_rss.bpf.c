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
 * truncated or invalid header: the RFD program's rules, bpf/fsk_parse.h),
 * and packets already on their CPU, pass untouched: the program never drops.
 */
#include "fsk_parse.h"

#define FSK_RSS_MAX_CPUS	1024

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

/* The 4-tuple's hash: addresses, then both ports in one word. */
static __always_inline __u32 hash_flow(const struct fsk_flow *f)
{
	__u32 h = 0x5f4b5353, i;

#pragma unroll
	for (i = 0; i < 8; i++)
		if (i < f->nr_addr_words)
			h = mix(h, f->addr_words[i]);
	return finish(mix(h, (__u32)f->sport << 16 | f->dport));
}

/* Per-CPU counters: no atomics needed. */
static __always_inline void count(__u64 *field)
{
	(*field)++;
}

SEC("xdp")
int fsk_rss_xdp(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	__u32 key = 0, slot, ncpus;
	struct fsk_rss_config *cfg;
	struct fsk_rss_stats *st;
	struct fsk_rss_cpu *cpu;
	enum fsk_parse_verdict v;
	struct fsk_flow flow;

	st = bpf_map_lookup_elem(&fsk_rss_stats, &key);
	cfg = bpf_map_lookup_elem(&fsk_rss_config, &key);
	if (!st || !cfg)
		return XDP_PASS;

	/* Not frags-aware: the frame is all in [data, end). */
	v = fsk_parse_flow(data, end, end - data, true, &flow);
	if (v != FSK_PARSE_TCP) {
		count(v == FSK_PARSE_MALFORMED ? &st->malformed : &st->not_tcp);
		return XDP_PASS;
	}
	ncpus = *(volatile __u32 *)&cfg->ncpus;
	if (!ncpus || ncpus > FSK_RSS_MAX_CPUS) {
		count(&st->no_cpu);
		return XDP_PASS;
	}
	slot = (__u32)(((__u64)hash_flow(&flow) * ncpus) >> 32);
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

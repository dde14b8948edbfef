// SPDX-License-Identifier: GPL-2.0
/*
 * rfd_frames: runs the RFD XDP program (bpf/fsk_rfd.bpf.c) through
 * BPF_PROG_TEST_RUN on crafted edge cases and on random, mutated and
 * truncated frames, on every CPU it may use, and checks each verdict:
 *
 *  - the action is XDP_PASS, or XDP_REDIRECT exactly when the frame is TCP
 *    to a port whose owner (fsk_rfd_owner() of include/fastsocket/rfd.h) is
 *    another CPU with a cpumap queue;
 *  - a redirect went to the right CPU: the target slot's count in
 *    fsk_rfd_steer grew by one (test runs do not really redirect);
 *  - the frame comes back byte for byte;
 *  - in the end, fsk_rfd_stats per CPU equal the expected class counts.
 *
 * The expected class of a frame comes from this file's own parser, written
 * from the rules in include/fastsocket/rfd_maps.h, and for the crafted
 * cases also from the case itself. Frames shorter than an Ethernet header
 * are refused by the kernel (EINVAL) and checked to be.
 *
 * usage: rfd_frames [--frames N] [--seed S] [-v]
 * Prints "# ..." diagnostics and one summary line; exits 0 when all held.
 *
 * rfd_frames --send IFNAME [--frames N] [--seed S] sends the same random,
 * mutated and truncated frames out of IFNAME instead (a packet socket), at
 * a live program on the other end of a veth, and prints how many it sent.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <sched.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <linux/bpf.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <sys/socket.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <fastsocket/rfd.h>
#include <fastsocket/rfd_maps.h>

#include "fsk_rfd.skel.h"

#define MAX_CPUS	1024
#define FRAME_MAX	1600

enum cls { C_REDIRECT, C_LOCAL, C_UNOWNED, C_NO_CPU, C_NOT_TCP, C_MALFORMED, C_NR };

static const char *const cls_name[C_NR] = {
	"redirected", "local", "unowned", "no_cpu", "not_tcp", "malformed",
};

static struct fsk_rfd *skel;
static int prog_fd, steer_fd, stats_fd, cpumap_fd, config_fd;
static unsigned int nslots, nr_ids, ncpus_possible;
static int slot_cpu[MAX_CPUS];			/* slot -> cpu */
static bool has_queue[MAX_CPUS];		/* cpu -> cpumap entry */
static struct fsk_rfd_config cfg;
static bool verbose;

/* Expected per running CPU and class; expected steer per slot. */
static unsigned long long want[MAX_CPUS][C_NR];
static unsigned long long want_steer[MAX_CPUS];
static unsigned long long frames_run, failures, refused_short;
static unsigned long long seen[C_NR];

__attribute__((format(printf, 1, 2)))
static void fail(const char *fmt, ...)
{
	va_list ap;

	failures++;
	if (failures > 20)
		return;
	printf("# FAIL: ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
}

__attribute__((noreturn, format(printf, 1, 2)))
static void die(const char *fmt, ...)
{
	va_list ap;

	printf("# FATAL: ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	exit(2);
}

/* ------------------------------------------------------------ reference */

static unsigned int be16(const __u8 *p)
{
	return p[0] << 8 | p[1];
}

static enum cls ref_tcp(const __u8 *t, unsigned int room, unsigned int *dport)
{
	unsigned int doff;

	if (room < 20)
		return C_MALFORMED;
	doff = t[12] >> 4;
	if (doff < 5 || doff * 4 > room)
		return C_MALFORMED;
	*dport = be16(t + 2);
	return C_REDIRECT;	/* "TCP": the caller decides where it goes */
}

/* The class of a frame by the rules of rfd_maps.h; C_REDIRECT means TCP. */
static enum cls ref_parse(const __u8 *f, unsigned int len, unsigned int *dport)
{
	unsigned int off = 14, tags, et, avail, ihl, tot, plen, used, n, hl;
	const __u8 *ip;
	__u8 next;

	if (len < 14)
		return C_MALFORMED;
	et = be16(f + 12);
	for (tags = 0; tags < FSK_RFD_MAX_VLANS && (et == 0x8100 || et == 0x88a8); tags++) {
		if (len < off + 4)
			return C_MALFORMED;
		et = be16(f + off + 2);
		off += 4;
	}
	avail = len - off;
	ip = f + off;
	if (et == 0x0800) {
		if (avail < 20 || ip[0] >> 4 != 4)
			return C_MALFORMED;
		ihl = (ip[0] & 15) * 4;
		tot = be16(ip + 2);
		if (ihl < 20 || ihl > avail || tot < ihl || tot > avail)
			return C_MALFORMED;
		if (ip[9] != 6 || (be16(ip + 6) & 0x3fff))
			return C_NOT_TCP;
		return ref_tcp(ip + ihl, tot - ihl, dport);
	}
	if (et != 0x86dd)
		return C_NOT_TCP;
	if (avail < 40 || ip[0] >> 4 != 6)
		return C_MALFORMED;
	plen = be16(ip + 4);
	if (plen > avail - 40)
		return C_MALFORMED;
	if (!plen)
		return C_NOT_TCP;
	next = ip[6];
	used = 0;
	for (n = 0; ; n++) {
		if (next == 6)
			return ref_tcp(ip + 40 + used, plen - used, dport);
		if (n == FSK_RFD_MAX_EXTHDRS)
			return C_NOT_TCP;
		if (next != 0 && next != 43 && next != 60 && next != 51)
			return C_NOT_TCP;
		if (plen - used < 8)
			return C_MALFORMED;
		hl = next == 51 ? (ip[40 + used + 1] + 2) * 4 : (ip[40 + used + 1] + 1) * 8;
		if (hl > plen - used)
			return C_MALFORMED;
		next = ip[40 + used];
		used += hl;
	}
}

/* Where a frame should end up when run on @cpu; *slot for redirects. */
static enum cls expect(const __u8 *f, unsigned int len, int cpu, unsigned int *slot)
{
	unsigned int dport = 0;
	enum cls c = ref_parse(f, len, &dport);
	__u32 owner;

	if (c != C_REDIRECT)
		return c;
	owner = fsk_rfd_owner(cfg.low, cfg.high, cfg.nslots, dport);
	if (owner == FSK_RFD_NO_SLOT)
		return C_UNOWNED;
	*slot = owner;
	if (slot_cpu[owner] == cpu)
		return C_LOCAL;
	return has_queue[slot_cpu[owner]] ? C_REDIRECT : C_NO_CPU;
}

/* ---------------------------------------------------------------- running */

static unsigned long long steer_total(unsigned int slot)
{
	struct fsk_rfd_steer v[MAX_CPUS];
	unsigned long long sum = 0;
	unsigned int i;

	if (bpf_map_lookup_elem(steer_fd, &slot, v))
		die("lookup fsk_rfd_steer[%u]: %s", slot, strerror(errno));
	for (i = 0; i < ncpus_possible; i++)
		sum += v[i].redirected;
	return sum;
}

/* Run one frame on the current CPU (@cpu); @expected: -1 = use the reference. */
static void run_frame(const __u8 *f, unsigned int len, int cpu, int expected, const char *what)
{
	__u8 out[FRAME_MAX + 64];
	LIBBPF_OPTS(bpf_test_run_opts, o,
		.data_in = f,
		.data_size_in = len,
		.data_out = out,
		.data_size_out = sizeof(out),
		.repeat = 1,
	);
	unsigned int slot = 0;
	enum cls c = expect(f, len, cpu, &slot);
	int err;

	if (expected >= 0 && (int)c != expected)
		fail("%s: the reference parser says %s, the case says %s", what, cls_name[c],
		     cls_name[expected]);
	err = bpf_prog_test_run_opts(prog_fd, &o);
	if (len < 14) {
		if (!err || errno != EINVAL)
			fail(
				"%s: a %u-byte frame was not refused with EINVAL (%d)", what, len, errno);
		refused_short++;
		return;
	}
	if (err)
		die("%s: BPF_PROG_TEST_RUN: %s", what, strerror(errno));
	if (sched_getcpu() != cpu)
		die("ran on cpu%d, pinned to cpu%d", sched_getcpu(), cpu);
	frames_run++;
	want[cpu][c]++;
	seen[c]++;
	if (o.retval != XDP_PASS && o.retval != XDP_REDIRECT)
		fail("%s: action %u, only PASS or REDIRECT are allowed", what, o.retval);
	if ((o.retval == XDP_REDIRECT) != (c == C_REDIRECT))
		fail("%s (%u bytes, cpu%d): action %s, expected %s", what, len, cpu,
		     o.retval == XDP_REDIRECT ? "REDIRECT" : "PASS", cls_name[c]);
	if (o.data_size_out != len || memcmp(out, f, len))
		fail("%s: the frame came back changed", what);
	if (c == C_REDIRECT) {
		want_steer[slot]++;
		if (slot < FSK_RFD_STEER_SLOTS && steer_total(slot) != want_steer[slot])
			fail(
				"%s (cpu%d): redirect not counted for slot %u (cpu%d): %llu, want %llu",
				what, cpu, slot, slot_cpu[slot], steer_total(slot),
				want_steer[slot]);
	}
	if (verbose)
		printf("# %s len %u cpu%d -> %s\n", what, len, cpu, cls_name[c]);
}

/* ------------------------------------------------------------ frame build */

static unsigned long long rng_state;

static unsigned int rnd(void)
{
	/* xorshift64*: reproducible from --seed across machines. */
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return (rng_state * 2685821657736338717ULL) >> 32;
}

static unsigned int rnd_below(unsigned int n)
{
	return n ? rnd() % n : 0;
}

static void put16(__u8 *p, unsigned int v)
{
	p[0] = v >> 8;
	p[1] = v;
}

struct spec {
	unsigned int vlans;		/* tags before the L3 ethertype */
	unsigned int ethertype;		/* 0x0800, 0x86dd or anything */
	unsigned int ihl;		/* IPv4 words, 5..15 */
	unsigned int frag;		/* IPv4 flags + offset field */
	unsigned int l4;		/* IPv4 protocol / IPv6 last next header */
	unsigned int nexts;		/* IPv6 extension headers */
	__u8 next[12];			/* their types */
	__u8 hlen[12];			/* their length fields */
	unsigned int doff;		/* TCP words */
	unsigned int dport;
	unsigned int payload;		/* bytes after the L4 header */
	int len_delta;			/* added to tot_len / payload_len */
	int version;			/* 0: right one */
};

/* Serialize @s into @f; returns the length. */
static unsigned int build(const struct spec *s, __u8 *f)
{
	unsigned int off = 12, i, ip, l4len, hl, total;

	memset(f, 0, FRAME_MAX);
	for (i = 0; i < 12; i++)
		f[i] = 0x02 + i;
	for (i = 0; i < s->vlans; i++) {
		put16(f + off, i % 2 ? 0x8100 : 0x88a8);
		put16(f + off + 2, 100 + i);	/* TCI */
		off += 4;
	}
	put16(f + off, s->ethertype);
	ip = off + 2;
	if (s->ethertype == 0x0800) {
		l4len = s->l4 == 6 ? s->doff * 4 : 8;
		f[ip] = (s->version ? s->version : 4) << 4 | (s->ihl & 15);
		for (i = 20; i < s->ihl * 4; i++)
			f[ip + i] = 1;		/* NOP options */
		total = s->ihl * 4 + l4len + s->payload;
		put16(f + ip + 2, (total + s->len_delta) & 0xffff);
		put16(f + ip + 6, s->frag);
		f[ip + 8] = 64;
		f[ip + 9] = s->l4;
		f[ip + 12] = 10;
		f[ip + 16] = 10;
		off = ip + s->ihl * 4;
	} else if (s->ethertype == 0x86dd) {
		l4len = s->l4 == 6 ? s->doff * 4 : 8;
		f[ip] = (s->version ? s->version : 6) << 4;
		f[ip + 6] = s->nexts ? s->next[0] : s->l4;
		f[ip + 7] = 64;
		f[ip + 8] = 0xfd;
		f[ip + 24] = 0xfd;
		off = ip + 40;
		for (i = 0; i < s->nexts; i++) {
			hl = s->next[i] == 51 ? (s->hlen[i] + 2) * 4 : (s->hlen[i] + 1) * 8;
			if (off + hl + 60 > FRAME_MAX)
				break;
			f[off] = i + 1 < s->nexts ? s->next[i + 1] : s->l4;
			f[off + 1] = s->hlen[i];
			off += hl;
		}
		total = off - (ip + 40) + l4len + s->payload;
		put16(f + ip + 4, (total + s->len_delta) & 0xffff);
	} else {
		return ip + 28 + s->payload;	/* ARP-sized, or anything */
	}
	if (s->l4 == 6) {
		put16(f + off, 40000);		/* sport */
		put16(f + off + 2, s->dport);
		f[off + 12] = (s->doff & 15) << 4;
		f[off + 13] = 0x12;		/* SYN+ACK */
		for (i = 20; i < s->doff * 4; i++)
			f[off + i] = 1;
	}
	off += l4len + s->payload;
	return off > FRAME_MAX ? FRAME_MAX : off;
}

static void spec_tcp(struct spec *s, unsigned int ethertype, unsigned int dport)
{
	memset(s, 0, sizeof(*s));
	s->ethertype = ethertype;
	s->ihl = 5;
	s->l4 = 6;
	s->doff = 5;
	s->dport = dport;
}

/* A port near something interesting: block edges, range edges, anywhere. */
static unsigned int pick_port(void)
{
	__u32 bl, bh, slot = rnd_below(nslots + 1);
	unsigned int r = rnd_below(10);

	if (r < 2)
		return rnd_below(65536);
	if (r < 4)
		return cfg.low + rnd_below(cfg.high - cfg.low + 1);
	if (r == 4)
		return (cfg.low - 1 + rnd_below(3)) & 0xffff;
	if (r == 5)
		return (cfg.high - 1 + rnd_below(3)) & 0xffff;
	if (!fsk_rfd_block(cfg.low, cfg.high, cfg.nslots, slot, &bl, &bh))
		return cfg.high;
	return (rnd_below(2) ? bl : bh) + rnd_below(3) - 1;
}

static void random_spec(struct spec *s)
{
	static const __u8 ext[] = { 0, 43, 60, 51, 44, 50, 59, 0, 60, 43 };
	unsigned int r = rnd_below(100), i;

	spec_tcp(s, r < 45 ? 0x0800 : r < 90 ? 0x86dd : (r < 95 ? 0x0806 : rnd_below(65536)), 0);
	s->vlans = rnd_below(10) < 7 ? 0 : rnd_below(4);
	s->ihl = rnd_below(4) ? 5 : rnd_below(16);
	s->frag = rnd_below(10) ? 0x4000 : rnd_below(65536);	/* DF, or anything */
	s->l4 = rnd_below(10) ? 6 : (rnd_below(2) ? 17 : rnd_below(256));
	s->nexts = rnd_below(3) ? rnd_below(3) : rnd_below(11);
	for (i = 0; i < s->nexts; i++) {
		s->next[i] = rnd_below(8) ? ext[rnd_below(4)] : ext[rnd_below(sizeof(ext))];
		s->hlen[i] = rnd_below(5) ? rnd_below(3) : rnd_below(256);
	}
	s->doff = rnd_below(5) ? 5 + rnd_below(11) : rnd_below(16);
	s->dport = pick_port();
	s->payload = rnd_below(3) ? rnd_below(64) : rnd_below(1200);
	s->len_delta = rnd_below(10) ? 0 : (int)rnd_below(41) - 20;
	s->version = rnd_below(30) ? 0 : rnd_below(16);
}

static void random_frame(__u8 *f, unsigned int *len)
{
	struct spec s;
	unsigned int i, r = rnd_below(100);

	if (r < 10) {			/* noise */
		*len = 14 + rnd_below(200);
		for (i = 0; i < *len; i++)
			f[i] = rnd();
		if (rnd_below(2))
			put16(f + 12, rnd_below(2) ? 0x0800 : 0x86dd);
		return;
	}
	random_spec(&s);
	*len = build(&s, f);
	if (rnd_below(100) < 30 && *len > 14)		/* truncated */
		*len = 14 + rnd_below(*len - 14);
	if (rnd_below(100) < 5)				/* a flipped byte */
		f[rnd_below(*len)] ^= 1 << rnd_below(8);
}

/* ----------------------------------------------------------- crafted cases */

/* Each case states its own expected class: a second opinion on the parser. */
static void crafted(int cpu)
{
	__u8 f[FRAME_MAX];
	struct spec s;
	unsigned int len, slot, i, n, full;
	__u32 bl, bh;
	char what[96];
	int owner_cls;

	/* Block edges and neighbours, in every encapsulation we parse. */
	for (slot = 0; slot <= nslots; slot++) {
		unsigned int ports[6], np = 0, k, v;

		if (fsk_rfd_block(cfg.low, cfg.high, cfg.nslots, slot, &bl, &bh)) {
			ports[np++] = bl;
			ports[np++] = bh;
			ports[np++] = bl + (bh - bl) / 2;
		}
		ports[np++] = cfg.low - 1;
		ports[np++] = cfg.high;
		ports[np++] = cfg.high + 1;
		for (k = 0; k < np; k++) {
			for (v = 0; v < 8; v++) {
				__u32 owner;

				spec_tcp(&s, v < 4 ? 0x0800 : 0x86dd, ports[k] & 0xffff);
				switch (v % 4) {
				case 1:
					s.vlans = 1;
					break;
				case 2:
					s.vlans = 2;
					break;
				case 3:
					if (v < 4)
						s.ihl = 15;		/* 40 bytes of options */
					s.doff = 15;
					break;
				}
				if (v == 7) {	/* hop, dst, routing, AH */
					s.nexts = 4;
					s.next[0] = 0;
					s.next[1] = 60;
					s.next[2] = 43;
					s.next[3] = 51;
					s.hlen[1] = 1;
					s.hlen[3] = 4;
				}
				owner = fsk_rfd_owner(cfg.low, cfg.high, cfg.nslots, s.dport);
				if (owner == FSK_RFD_NO_SLOT)
					owner_cls = C_UNOWNED;
				else if (slot_cpu[owner] == cpu)
					owner_cls = C_LOCAL;
				else if (has_queue[slot_cpu[owner]])
					owner_cls = C_REDIRECT;
				else
					owner_cls = C_NO_CPU;
				len = build(&s, f);
				snprintf(what, sizeof(what), "edge port %u variant %u", s.dport, v);
				run_frame(f, len, cpu, owner_cls, what);
			}
		}
	}

	/* Not ours to steer. */
	spec_tcp(&s, 0x0800, cfg.low);
	s.vlans = 3;
	len = build(&s, f);
	run_frame(f, len, cpu, C_NOT_TCP, "three VLAN tags");
	spec_tcp(&s, 0x0800, cfg.low);
	s.frag = 0x2000;
	run_frame(f, build(&s, f), cpu, C_NOT_TCP, "IPv4 first fragment (MF)");
	s.frag = 0x0010;
	run_frame(f, build(&s, f), cpu, C_NOT_TCP, "IPv4 later fragment");
	spec_tcp(&s, 0x0800, cfg.low);
	s.l4 = 17;
	run_frame(f, build(&s, f), cpu, C_NOT_TCP, "UDP");
	spec_tcp(&s, 0x86dd, cfg.low);
	s.nexts = 1;
	s.next[0] = 44;
	run_frame(f, build(&s, f), cpu, C_NOT_TCP, "IPv6 fragment header");
	spec_tcp(&s, 0x86dd, cfg.low);
	s.nexts = FSK_RFD_MAX_EXTHDRS + 1;
	run_frame(f, build(&s, f), cpu, C_NOT_TCP, "IPv6 one extension header too many");
	spec_tcp(&s, 0x0806, 0);
	run_frame(f, build(&s, f), cpu, C_NOT_TCP, "ARP");
	spec_tcp(&s, 0x86dd, cfg.low);
	s.l4 = 59;
	run_frame(f, build(&s, f), cpu, C_NOT_TCP, "IPv6 no next header");

	/* Ours at the limits of what we walk: eight extension headers. */
	spec_tcp(&s, 0x86dd, cfg.high);
	s.nexts = FSK_RFD_MAX_EXTHDRS;
	for (i = 0; i < s.nexts; i++)
		s.next[i] = i ? 60 : 0;
	len = build(&s, f);
	run_frame(f, len, cpu, -1, "IPv6 eight extension headers");
	if (f[len - 20 + 13] != 0x12 || ref_parse(f, len, &n) == C_NOT_TCP)
		fail("eight extension headers: built wrong, or not parsed as TCP");

	/* Malformed. */
	spec_tcp(&s, 0x0800, cfg.low);
	s.ihl = 4;
	run_frame(f, build(&s, f), cpu, C_MALFORMED, "IPv4 IHL 4");
	spec_tcp(&s, 0x0800, cfg.low);
	s.version = 6;
	run_frame(f, build(&s, f), cpu, C_MALFORMED, "IPv4 ethertype, version 6");
	spec_tcp(&s, 0x0800, cfg.low);
	s.len_delta = 1;
	run_frame(f, build(&s, f), cpu, C_MALFORMED, "IPv4 total length past the frame");
	spec_tcp(&s, 0x0800, cfg.low);
	s.doff = 4;
	run_frame(f, build(&s, f), cpu, C_MALFORMED, "TCP data offset 4");
	spec_tcp(&s, 0x0800, cfg.low);
	s.doff = 6;
	s.len_delta = -4;	/* options outside the IP datagram */
	run_frame(f, build(&s, f), cpu, C_MALFORMED, "TCP options past the IPv4 total length");
	spec_tcp(&s, 0x86dd, cfg.low);
	s.len_delta = 1;
	run_frame(f, build(&s, f), cpu, C_MALFORMED, "IPv6 payload length past the frame");
	spec_tcp(&s, 0x86dd, cfg.low);
	s.nexts = 1;
	s.hlen[0] = 10;		/* 88 bytes, but the payload length says 28 */
	s.len_delta = -80;
	run_frame(f, build(&s, f), cpu, C_MALFORMED, "IPv6 extension header past the payload");

	/* Every truncation of the deepest frames we parse, and of a padded one. */
	for (n = 0; n < 3; n++) {
		spec_tcp(&s, n == 1 ? 0x0800 : 0x86dd, cfg.low);
		s.vlans = 2;
		s.doff = 15;
		if (n == 0) {
			s.nexts = 4;
			s.next[0] = 0;
			s.next[1] = 43;
			s.next[2] = 51;
			s.next[3] = 60;
		} else {
			s.ihl = 15;
		}
		if (n == 2)
			s.payload = 30;
		full = build(&s, f);
		/* The IP length covers the whole frame: any cut is malformed. */
		for (len = 0; len <= full; len++) {
			snprintf(what, sizeof(what), "frame %u truncated to %u of %u",
				 n, len, full);
			run_frame(f, len, cpu, len == full ? -1 : C_MALFORMED, what);
		}
	}
	/* Ethernet padding after a short IPv4 datagram is fine. */
	spec_tcp(&s, 0x0800, cfg.low);
	len = build(&s, f);
	run_frame(f, len + 6, cpu, -1, "IPv4 with Ethernet padding");
}

/* ------------------------------------------------------------------- setup */

static void set_config(unsigned int low, unsigned int high, unsigned int slots)
{
	__u32 key = 0;

	cfg.version = FSK_RFD_MAPS_VERSION;
	cfg.low = low;
	cfg.high = high;
	cfg.nslots = slots;
	if (bpf_map_update_elem(config_fd, &key, &cfg, BPF_ANY))
		die("update fsk_rfd_config: %s", strerror(errno));
}

static void set_queue(int cpu, bool on)
{
	struct bpf_cpumap_val v = { .qsize = FSK_RFD_CPUMAP_QSIZE };
	__u32 key = cpu;

	if (on && bpf_map_update_elem(cpumap_fd, &key, &v, BPF_ANY))
		die("cpumap queue for cpu%d: %s", cpu, strerror(errno));
	if (!on && bpf_map_delete_elem(cpumap_fd, &key))
		die("removing the cpumap queue of cpu%d: %s", cpu, strerror(errno));
	has_queue[cpu] = on;
}

/* "0-3,5" into a bitmap; returns the number of CPUs. */
static unsigned int read_cpus(const char *path, __u64 *mask, unsigned int words)
{
	char buf[4096], *p, *end;
	unsigned long a, b, c;
	unsigned int n = 0;
	FILE *fp = fopen(path, "r");

	if (!fp || !fgets(buf, sizeof(buf), fp))
		die("reading %s", path);
	fclose(fp);
	memset(mask, 0, words * 8);
	for (p = buf; *p && *p != '\n'; p = end) {
		if (*p == ',') {
			end = p + 1;
			continue;
		}
		a = b = strtoul(p, &end, 10);
		if (*end == '-')
			b = strtoul(end + 1, &end, 10);
		for (c = a; c <= b && c < words * 64; c++) {
			mask[c / 64] |= 1ULL << (c % 64);
			n++;
		}
	}
	return n;
}

static void pin(int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	if (sched_setaffinity(0, sizeof(set), &set))
		die("pin to cpu%d: %s", cpu, strerror(errno));
}

/* The random frames, out of @ifname: what a live program must survive. */
static int send_frames(const char *ifname, unsigned long long total)
{
	struct sockaddr_ll to = { .sll_family = AF_PACKET };
	unsigned long long sent = 0, refused = 0, i;
	__u8 f[FRAME_MAX];
	unsigned int len;
	int fd;

	to.sll_ifindex = if_nametoindex(ifname);
	if (!to.sll_ifindex)
		die("no device %s", ifname);
	to.sll_halen = 6;
	fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);
	if (fd < 0)
		die("packet socket: %s", strerror(errno));
	for (i = 0; i < total; i++) {
		random_frame(f, &len);
		memcpy(to.sll_addr, f, 6);
		/* veth refuses frames shorter than an Ethernet header, as it should. */
		if (sendto(fd, f, len, 0, (struct sockaddr *)&to, sizeof(to)) == (ssize_t)len)
			sent++;
		else if (errno == EINVAL || errno == EMSGSIZE)
			refused++;
		else
			die("send on %s: %s", ifname, strerror(errno));
	}
	close(fd);
	printf("sent %llu frames on %s (%llu refused by the device)\n", sent, ifname, refused);
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "frames", required_argument, NULL, 'n' },
		{ "seed", required_argument, NULL, 's' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "send", required_argument, NULL, 'i' },
		{ }
	};
	const char *send_if = NULL;
	__u64 possible[MAX_CPUS / 64], online[MAX_CPUS / 64];
	struct fsk_rfd_stats st[MAX_CPUS];
	unsigned long long total = 100000, done = 0, per, got[C_NR];
	unsigned long long seed = 1;
	unsigned int scen, i, k, nrun = 0, run_cpus[MAX_CPUS];
	__u8 f[FRAME_MAX];
	cpu_set_t allowed;
	unsigned int len;
	__u32 key = 0;
	int c, cpu;

	while ((c = getopt_long(argc, argv, "n:s:v", opts, NULL)) != -1) {
		switch (c) {
		case 'n':
			total = strtoull(optarg, NULL, 0);
			break;
		case 's':
			seed = strtoull(optarg, NULL, 0);
			break;
		case 'v':
			verbose = true;
			break;
		case 'i':
			send_if = optarg;
			break;
		default:
			fprintf(stderr,
				"usage: rfd_frames [--frames N] [--seed S] [-v] [--send IFNAME]\n");
			return 2;
		}
	}
	rng_state = seed * 0x9e3779b97f4a7c15ULL + 1;
	if (send_if)
		return send_frames(send_if, total);

	nslots = read_cpus("/sys/devices/system/cpu/possible", possible, MAX_CPUS / 64);
	read_cpus("/sys/devices/system/cpu/online", online, MAX_CPUS / 64);
	ncpus_possible = libbpf_num_possible_cpus();
	for (cpu = 0; cpu < MAX_CPUS; cpu++) {
		__u32 s = fsk_rfd_slot_of_cpu(possible, MAX_CPUS / 64, cpu);

		if (s != FSK_RFD_NO_SLOT) {
			slot_cpu[s] = cpu;
			nr_ids = cpu + 1;
		}
	}
	if (nslots != ncpus_possible)
		die("%u possible CPUs but libbpf counts %u", nslots, ncpus_possible);

	skel = fsk_rfd__open();
	if (!skel)
		die("open the skeleton: %s", strerror(errno));
	bpf_map__set_max_entries(skel->maps.fsk_rfd_slots, nslots);
	bpf_map__set_max_entries(skel->maps.fsk_rfd_cpumap, nr_ids);
	bpf_map__set_max_entries(skel->maps.fsk_rfd_steer,
				 nslots < FSK_RFD_STEER_SLOTS ? nslots : FSK_RFD_STEER_SLOTS);
	if (fsk_rfd__load(skel))
		die("load the program: %s", strerror(errno));
	prog_fd = bpf_program__fd(skel->progs.fsk_rfd_xdp);
	config_fd = bpf_map__fd(skel->maps.fsk_rfd_config);
	steer_fd = bpf_map__fd(skel->maps.fsk_rfd_steer);
	stats_fd = bpf_map__fd(skel->maps.fsk_rfd_stats);
	cpumap_fd = bpf_map__fd(skel->maps.fsk_rfd_cpumap);
	for (i = 0; i < nslots; i++) {
		struct fsk_rfd_slot v = { .cpu = slot_cpu[i] };

		if (bpf_map_update_elem(bpf_map__fd(skel->maps.fsk_rfd_slots), &i, &v, BPF_ANY))
			die("update fsk_rfd_slots: %s", strerror(errno));
		if (online[slot_cpu[i] / 64] >> (slot_cpu[i] % 64) & 1)
			set_queue(slot_cpu[i], true);
	}

	if (sched_getaffinity(0, sizeof(allowed), &allowed))
		die("sched_getaffinity: %s", strerror(errno));
	for (cpu = 0; cpu < CPU_SETSIZE && cpu < MAX_CPUS; cpu++)
		if (CPU_ISSET(cpu, &allowed) && has_queue[cpu])
			run_cpus[nrun++] = cpu;
	if (!nrun)
		die("no CPU to run on");

	/*
	 * Scenarios: Debian's default range; the widest one; a remainder of
	 * unowned ports; fewer ports than slots; no config at all; an owner
	 * with no queue. Random frames are spread over them.
	 */
	for (scen = 0; scen < 6; scen++) {
		unsigned int missing = nslots > 1 ? (unsigned int)slot_cpu[nslots - 1] : ~0U;

		switch (scen) {
		case 0:
			set_config(32768, 60999, nslots);
			break;
		case 1:
			set_config(1024, 65535, nslots);
			break;
		case 2:
			set_config(40000, 40000 + nslots * 7 + 2, nslots);
			break;
		case 3:
			set_config(50000, 50000 + (nslots > 1 ? nslots - 2 : 0), nslots);
			break;
		case 4:
			set_config(0, 0, 0);
			break;
		case 5:
			set_config(20000, 29999, nslots);
			if (missing != ~0U)
				set_queue(missing, false);
			break;
		}
		per = (total - done) / (6 - scen);
		for (k = 0; k < nrun; k++) {
			unsigned long long j, share = per / nrun + (k < per % nrun);

			pin(run_cpus[k]);
			crafted(run_cpus[k]);
			for (j = 0; j < share; j++) {
				random_frame(f, &len);
				run_frame(f, len, run_cpus[k], -1, "random frame");
			}
			done += share;
		}
		if (scen == 5 && missing != ~0U)
			set_queue(missing, true);
	}

	/* The counters, per CPU, against what each frame should have done. */
	if (bpf_map_lookup_elem(stats_fd, &key, st))
		die("lookup fsk_rfd_stats: %s", strerror(errno));
	memset(got, 0, sizeof(got));
	for (i = 0; i < nslots; i++) {
		unsigned long long sum;

		cpu = slot_cpu[i];
		sum = want[cpu][C_REDIRECT] + want[cpu][C_LOCAL] + want[cpu][C_UNOWNED] +
		      want[cpu][C_NO_CPU] + want[cpu][C_NOT_TCP] + want[cpu][C_MALFORMED];
		if (st[i].packets != sum || st[i].redirected != want[cpu][C_REDIRECT] ||
		    st[i].local != want[cpu][C_LOCAL] || st[i].unowned != want[cpu][C_UNOWNED] ||
		    st[i].no_cpu != want[cpu][C_NO_CPU] || st[i].not_tcp != want[cpu][C_NOT_TCP] ||
		    st[i].malformed != want[cpu][C_MALFORMED])
			fail(
				"cpu%d counters packets %llu redirected %llu local %llu unowned %llu no_cpu %llu not_tcp %llu malformed %llu; want %llu %llu %llu %llu %llu %llu %llu",
				cpu, st[i].packets, st[i].redirected, st[i].local, st[i].unowned,
				st[i].no_cpu, st[i].not_tcp, st[i].malformed, sum,
				want[cpu][C_REDIRECT], want[cpu][C_LOCAL], want[cpu][C_UNOWNED],
				want[cpu][C_NO_CPU], want[cpu][C_NOT_TCP], want[cpu][C_MALFORMED]);
	}
	for (i = 0; i < nslots && i < FSK_RFD_STEER_SLOTS; i++)
		if (steer_total(i) != want_steer[i])
			fail("slot %u: %llu redirects counted, want %llu", i, steer_total(i),
			     want_steer[i]);

	printf("# frames run %llu (%llu random), refused under 14 bytes %llu, on %u CPUs\n",
	       frames_run, done, refused_short, nrun);
	printf("# classes:");
	for (i = 0; i < C_NR; i++)
		printf(" %s %llu", cls_name[i], seen[i]);
	printf("\n");
	for (i = 0; i < C_NR; i++)
		if (!seen[i])
			fail("no frame of class %s: the generator misses a case", cls_name[i]);
	printf("frames %llu failures %llu\n", frames_run, failures);
	fsk_rfd__destroy(skel);
	return failures ? 1 : 0;
}

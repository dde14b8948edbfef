/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The header walk both XDP programs share: Ethernet, VLAN tags, IPv4 or IPv6
 * with its extension headers, TCP. The rules (what is TCP, what is malformed)
 * are written down once, beside their limits, in include/fastsocket/rfd_maps.h,
 * and the RFD selftests check them frame by frame.
 */
#ifndef _FSK_PARSE_H
#define _FSK_PARSE_H

#include <stdbool.h>
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <bpf/bpf_helpers.h>

#include <fastsocket/rfd_maps.h>

/* Byte offsets in the headers, as on the wire; no struct needs the C ABI. */
#define FSK_VLAN_HLEN		4
#define FSK_IPV4_HLEN		20
#define FSK_IPV6_HLEN		40
#define FSK_TCP_HLEN		20
#define FSK_IPV6_HOPOPTS	0
#define FSK_IPV6_ROUTING	43
#define FSK_IPV6_AH		51
#define FSK_IPV6_DSTOPTS	60

/*
 * Offsets are capped so that the verifier sees bounded packet pointers; a
 * header chain reaching past this is treated as truncated.
 */
#define FSK_MAX_HDR_OFF		4096

enum fsk_parse_verdict {
	FSK_PARSE_TCP,		/* the flow is filled in */
	FSK_PARSE_NOT_TCP,
	FSK_PARSE_MALFORMED,
};

/* A TCP packet's 4-tuple; the addresses only when asked for. */
struct fsk_flow {
	__u32 addr_words[8];	/* source then destination, as in the packet */
	__u32 nr_addr_words;	/* 2 (IPv4) or 8 (IPv6) */
	__u16 sport;
	__u16 dport;
};

static __always_inline int fsk_load_u8(void *data, void *end, __u32 off, __u8 *v)
{
	__u8 *p;

	if (off > FSK_MAX_HDR_OFF)
		return -1;
	p = data + off;
	if ((void *)(p + 1) > end)
		return -1;
	*v = *p;
	return 0;
}

static __always_inline int fsk_load_be16(void *data, void *end, __u32 off, __u16 *v)
{
	__u8 *p;

	if (off > FSK_MAX_HDR_OFF)
		return -1;
	p = data + off;
	if ((void *)(p + 2) > end)
		return -1;
	*v = (__u16)p[0] << 8 | p[1];
	return 0;
}

static __always_inline int fsk_load_be32(void *data, void *end, __u32 off, __u32 *v)
{
	__u8 *p;

	if (off > FSK_MAX_HDR_OFF)
		return -1;
	p = data + off;
	if ((void *)(p + 4) > end)
		return -1;
	*v = (__u32)p[0] << 24 | (__u32)p[1] << 16 | (__u32)p[2] << 8 | p[3];
	return 0;
}

/* @n 32-bit words of addresses from @off into the flow. */
static __always_inline int fsk_load_addrs(void *data, void *end, __u32 off,
					  __u32 n, struct fsk_flow *f)
{
	__u32 i;

#pragma unroll
	for (i = 0; i < 8; i++)
		if (i < n && fsk_load_be32(data, end, off + i * 4, &f->addr_words[i]))
			return -1;
	f->nr_addr_words = n;
	return 0;
}

/* The TCP header at @off, inside an IP payload of @room bytes. */
static __always_inline enum fsk_parse_verdict
fsk_parse_tcp(void *data, void *end, __u32 off, __u32 room, struct fsk_flow *f)
{
	__u8 doff;

	if (room < FSK_TCP_HLEN || fsk_load_u8(data, end, off + 12, &doff))
		return FSK_PARSE_MALFORMED;
	doff >>= 4;
	if (doff < 5 || doff * 4U > room)
		return FSK_PARSE_MALFORMED;
	if (fsk_load_be16(data, end, off, &f->sport) ||
	    fsk_load_be16(data, end, off + 2, &f->dport))
		return FSK_PARSE_MALFORMED;
	return FSK_PARSE_TCP;
}

/* @len: the frame's length; @off <= @len holds for every caller. */
static __always_inline enum fsk_parse_verdict
fsk_parse_ipv4(void *data, void *end, __u32 len, __u32 off, bool want_addrs,
	       struct fsk_flow *f)
{
	__u32 avail = len - off;
	__u16 tot_len, frag;
	__u8 vihl, proto;
	__u32 ihl;

	if (avail < FSK_IPV4_HLEN || fsk_load_u8(data, end, off, &vihl))
		return FSK_PARSE_MALFORMED;
	ihl = (vihl & 0xf) * 4U;
	if (vihl >> 4 != 4 || ihl < FSK_IPV4_HLEN || ihl > avail)
		return FSK_PARSE_MALFORMED;
	if (fsk_load_be16(data, end, off + 2, &tot_len) ||
	    fsk_load_be16(data, end, off + 6, &frag) ||
	    fsk_load_u8(data, end, off + 9, &proto))
		return FSK_PARSE_MALFORMED;
	if (tot_len < ihl || tot_len > avail)
		return FSK_PARSE_MALFORMED;
	/* MF or a fragment offset: only reassembly knows the ports. */
	if (proto != IPPROTO_TCP || (frag & 0x3fff))
		return FSK_PARSE_NOT_TCP;
	if (want_addrs && fsk_load_addrs(data, end, off + 12, 2, f))
		return FSK_PARSE_MALFORMED;
	return fsk_parse_tcp(data, end, off + ihl, tot_len - ihl, f);
}

static __always_inline enum fsk_parse_verdict
fsk_parse_ipv6(void *data, void *end, __u32 len, __u32 off, bool want_addrs,
	       struct fsk_flow *f)
{
	__u32 avail = len - off;
	__u16 payload;
	__u8 ver, next;
	__u32 used = 0;
	int i;

	if (avail < FSK_IPV6_HLEN || fsk_load_u8(data, end, off, &ver) ||
	    fsk_load_be16(data, end, off + 4, &payload) ||
	    fsk_load_u8(data, end, off + 6, &next))
		return FSK_PARSE_MALFORMED;
	if (ver >> 4 != 6 || payload > avail - FSK_IPV6_HLEN)
		return FSK_PARSE_MALFORMED;
	if (!payload)
		return FSK_PARSE_NOT_TCP;	/* a jumbogram */
	if (want_addrs && fsk_load_addrs(data, end, off + 8, 8, f))
		return FSK_PARSE_MALFORMED;
	off += FSK_IPV6_HLEN;

#pragma unroll
	for (i = 0; i < FSK_RFD_MAX_EXTHDRS; i++) {
		__u8 nh, hlen;
		__u32 ext;

		if (next == IPPROTO_TCP)
			return fsk_parse_tcp(data, end, off, payload - used, f);
		if (next != FSK_IPV6_HOPOPTS && next != FSK_IPV6_ROUTING &&
		    next != FSK_IPV6_DSTOPTS && next != FSK_IPV6_AH)
			return FSK_PARSE_NOT_TCP;	/* fragment, ESP, none, ... */
		if (payload - used < 8 || fsk_load_u8(data, end, off, &nh) ||
		    fsk_load_u8(data, end, off + 1, &hlen))
			return FSK_PARSE_MALFORMED;
		ext = next == FSK_IPV6_AH ? (hlen + 2U) * 4 : (hlen + 1U) * 8;
		if (ext > payload - used)
			return FSK_PARSE_MALFORMED;
		used += ext;
		off += ext;
		next = nh;
	}
	if (next == IPPROTO_TCP)
		return fsk_parse_tcp(data, end, off, payload - used, f);
	return FSK_PARSE_NOT_TCP;
}

/*
 * The TCP flow of the frame [@data, @end) of @len bytes. @want_addrs is a
 * constant at each call site: without it no address is read.
 */
static __always_inline enum fsk_parse_verdict
fsk_parse_flow(void *data, void *end, __u32 len, bool want_addrs, struct fsk_flow *f)
{
	__u32 off = ETH_HLEN;
	__u16 proto;
	int i;

	if (fsk_load_be16(data, end, 12, &proto))
		return FSK_PARSE_MALFORMED;
#pragma unroll
	for (i = 0; i < FSK_RFD_MAX_VLANS; i++) {
		if (proto != ETH_P_8021Q && proto != ETH_P_8021AD)
			break;
		if (fsk_load_be16(data, end, off + 2, &proto))
			return FSK_PARSE_MALFORMED;
		off += FSK_VLAN_HLEN;
	}
	if (proto == ETH_P_IP)
		return fsk_parse_ipv4(data, end, len, off, want_addrs, f);
	if (proto == ETH_P_IPV6)
		return fsk_parse_ipv6(data, end, len, off, want_addrs, f);
	return FSK_PARSE_NOT_TCP;	/* ARP, a third VLAN tag, ... */
}

#endif /* _FSK_PARSE_H */

/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The backlog share: how a managed listener's clones keep listen(fd, B) a
 * bound on the listener as a whole (src/lookup.c applies it on every SYN).
 * Each clone has its own queues, and the kernel checks a SYN against the
 * clone's own limit (its sk_max_ack_backlog): qlen > limit gets a cookie,
 * acked > limit is dropped. The decisions here set that limit.
 *
 * A clone below its share (B / online CPUs) takes its SYNs without reading
 * any other clone, while no clone is past its share (fsk_backlog_over()):
 * then every clone holds at most its share, and the listener at most B.
 * Past it, or while any clone is, a SYN adds up every clone's queues first.
 * The listener's backlog state says which: a counter, odd while some clone
 * may be past its share (pressure). Every change of it is one step up, so a
 * clone that read it, then the other clones, can tell that nothing changed
 * meanwhile: it clears the pressure (odd to even) only by a compare-and-
 * exchange from the value it read before reading the others, having found
 * none past its share and itself below it. A clone that is about to take a
 * request past its share first steps the state (to odd, or on by two), so
 * that a clear based on what it read before fails. With n CPUs each holding
 * one SYN between its reading of the others and the kernel's check, the
 * listener holds at most B + n requests: B + 1 seen, one more for each
 * other CPU; plus the requests counted as slack (fsk_backlog_takes()).
 * selftests/unit/backlog_share.c checks that bound against every
 * interleaving it tries of the steps src/lookup.c takes, with empty accept
 * queues.
 *
 * Pure integer code with no dependency beyond <linux/types.h>: it builds in
 * the kernel and in userspace.
 */
#ifndef _FASTSOCKET_BACKLOG_H
#define _FASTSOCKET_BACKLOG_H

#include <linux/types.h>

static inline __u32 fsk_backlog_share_of(__u32 backlog, __u32 ncpus)
{
	return ncpus ? backlog / ncpus : backlog;
}

/* A clone whose queues, together, are below its share. */
static inline int fsk_backlog_below(__u32 share, __u32 qlen, __u32 acked)
{
	return qlen + acked < share;
}

/*
 * A clone past its share: while one is, no clone clears the pressure. A
 * clone at its share counts, else with every clone at its share but one
 * below it, that one could clear the pressure and the others take requests
 * past their share without reading the rest.
 */
static inline int fsk_backlog_over(__u32 share, __u32 qlen, __u32 acked)
{
	return !fsk_backlog_below(share, qlen, acked);
}

static inline int fsk_backlog_pressure(__u32 state)
{
	return state & 1;
}

/* The state once pressure is cleared: only from @state, with pressure. */
static inline __u32 fsk_backlog_state_cleared(__u32 state)
{
	return state + 1;
}

/* The state once a clone may be past its share: pressure, and a new value. */
static inline __u32 fsk_backlog_state_stepped(__u32 state)
{
	return (state | 1) + 2;
}

/* What @backlog leaves to a clone when the others hold @others. */
static inline __u32 fsk_backlog_room(__u32 backlog, __u32 others)
{
	return others < backlog ? backlog - others : 0;
}

/*
 * The kernel's checks of a SYN against a clone's @limit: it takes the
 * request unless qlen > limit (a cookie) or acked > limit (a drop). With
 * the listener's SYN queue full, no limit gives a cookie without a drop on
 * a clone whose accept queue is as long as its SYN queue: the kernel takes
 * the request there, past B, and the module counts it
 * (listen_backlog_slack); such a clone holds at most one request more than
 * connections wait in its accept queue. An empty clone always takes one:
 * that is in the B + n above.
 */
static inline int fsk_backlog_takes(__u32 qlen, __u32 acked, __u32 limit)
{
	return qlen <= limit && acked <= limit;
}

/*
 * Under pressure: the limit for a SYN on a clone holding @qlen requests and
 * @acked connections, the listener and the other clones together holding
 * @other_qlen and @other_acked. One limit serves the kernel's checks of the
 * SYN, qlen > limit (a cookie) and acked > limit (a drop), and of the last
 * ACKs of the handshakes this clone has in flight, acked > limit, which come
 * in without a lookup. The listener's accept queue is full: the SYN is
 * dropped (qlen stays under the limit where it can, so the drop is counted
 * as an overflow only). Its SYN queue is full: the SYN gets a cookie, and
 * the handshakes in flight as much of the accept queue's room as the SYN
 * queue's check leaves; unless this clone's accept queue is as long as its
 * SYN queue: then it takes the request, past B by at most that. Else the
 * limit is the accept queue's room; a SYN that finds less room there than
 * requests in flight gets a cookie, and its ACK the room.
 */
static inline __u32 fsk_backlog_limit(__u32 backlog, __u32 qlen, __u32 acked,
				      __u32 other_qlen, __u32 other_acked)
{
	__u32 room_q = fsk_backlog_room(backlog, other_qlen);
	__u32 room_a = fsk_backlog_room(backlog, other_acked);
	__u32 hi;

	if (acked > room_a)
		return qlen < acked ? (room_a > qlen ? room_a : qlen) : room_a;
	if (qlen > room_q) {
		if (acked >= qlen)
			return acked;
		/* clamp(room_a, acked, qlen - 1) */
		hi = qlen - 1;
		return room_a < acked ? acked : room_a > hi ? hi : room_a;
	}
	return room_a;
}

#endif

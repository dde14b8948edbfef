// SPDX-License-Identifier: GPL-2.0
/*
 * Local Listen Table: the SYN path. Clones are never in the kernel's listener
 * hash. The kernel's own lookup still picks the listener (sk_lookup programs,
 * device binding and scoring unchanged); we then hand the SYN to the current
 * CPU's clone, so the handshake and the queueing of the connection stay on
 * that CPU.
 */
#include <net/inet_hashtables.h>
#include <net/inet6_hashtables.h>
#include <net/tcp.h>

#include <fastsocket/backlog.h>

#include "fastsocket.h"
#include "hook.h"
#include "llt.h"

/*
 * A SYN-cookie ACK must reach the listener that sent the cookie: the one
 * whose queue overflowed. The local clone's, if it did; else any other's.
 */
static struct sock *fsk_cookie_listener(struct fsk_listener *l, struct sock *local)
{
	int cpu;

	if (!tcp_synq_no_recent_overflow(local))
		return local;
	if (!tcp_synq_no_recent_overflow(l->parent))
		return l->parent;
	for_each_possible_cpu(cpu) {
		struct sock *clone = READ_ONCE(l->clones[cpu]);

		if (clone && !tcp_synq_no_recent_overflow(clone))
			return clone;
	}
	return local;
}

/*
 * listen(fd, B) bounds the listener as a whole, as on stock Linux: the
 * kernel drops a SYN (ListenOverflows) when more than B connections wait in
 * the accept queue, answers it with a cookie once B requests are in the SYN
 * queue, and drops a handshake's last ACK when the accept queue is full,
 * whichever CPUs they came in on. Each clone's queues are its own, so the
 * limit the kernel checks them against (the clone's sk_max_ack_backlog) is
 * set here from the listener's B, by the rules of
 * include/fastsocket/backlog.h: a clone below its share of B, while no clone
 * is past its share, checks against that share and reads nothing but its own
 * queues; else a SYN adds up every clone's queues, and the clone may take
 * what the others leave of B: SYNs that all come in on one CPU fill the
 * whole backlog there. selftests/unit/backlog_share.c models the steps of
 * fsk_backlog_syn() one shared access at a time: change both together.
 */
static u32 fsk_backlog_share(const struct fsk_listener *l, u32 *backlog)
{
	*backlog = READ_ONCE(l->parent->sk_max_ack_backlog);
	return fsk_backlog_share_of(*backlog, num_online_cpus());
}

/*
 * What the listener and every clone but @local hold, in their SYN queues
 * (*qlen) and accept queues (*acked); whether any clone is past its share.
 */
static bool fsk_backlog_others(const struct fsk_listener *l, const struct sock *local,
			       u32 share, u32 *qlen, u32 *acked)
{
	bool over = false;
	int cpu;

	*qlen = inet_csk_reqsk_queue_len(l->parent);
	*acked = READ_ONCE(l->parent->sk_ack_backlog);
	for_each_possible_cpu(cpu) {
		struct sock *clone = READ_ONCE(l->clones[cpu]);
		u32 clone_qlen, clone_acked;

		if (!clone || clone == local)
			continue;
		clone_qlen = inet_csk_reqsk_queue_len(clone);
		clone_acked = READ_ONCE(clone->sk_ack_backlog);
		over |= fsk_backlog_over(share, clone_qlen, clone_acked);
		*qlen += clone_qlen;
		*acked += clone_acked;
	}
	return over;
}

static void fsk_backlog_set(struct sock *clone, u32 limit)
{
	if (READ_ONCE(clone->sk_max_ack_backlog) != limit)
		WRITE_ONCE(clone->sk_max_ack_backlog, limit);
}

/*
 * A clone is about to take a request or connection past its share
 * (@past_share), or found a clone past its share: a clear of the pressure
 * based on what was read before this fails, and pressure holds until a
 * clone finds none past its share. No write while pressure holds and
 * nothing goes past a share: a flood against a full listener stays reads.
 */
static void fsk_backlog_step(struct fsk_listener *l, bool past_share)
{
	int state = atomic_read(&l->backlog_state);

	do {
		if (!past_share && fsk_backlog_pressure(state))
			return;
	} while (!atomic_try_cmpxchg(&l->backlog_state, &state,
				     fsk_backlog_state_stepped(state)));
}

/*
 * A SYN for @local. True if the kernel will take it as a request although
 * the listener's SYN queue is full, on a clone that holds requests
 * (fsk_backlog_takes()).
 */
static bool fsk_backlog_syn(struct fsk_listener *l, struct sock *local)
{
	/*
	 * Before any queue, this clone's too (other CPUs complete handshakes
	 * into its accept queue): a clear below fails if the state changed
	 * since. Pairs with the full barrier of a clone's step before it
	 * takes a request past its share (fsk_backlog_step()).
	 */
	int state = atomic_read_acquire(&l->backlog_state);
	u32 backlog, share = fsk_backlog_share(l, &backlog);
	u32 qlen = inet_csk_reqsk_queue_len(local);
	u32 acked = READ_ONCE(local->sk_ack_backlog);
	u32 other_qlen, other_acked, limit;
	bool over, takes;

	/* The requests in flight will be in the accept queue: count both. */
	if (!fsk_backlog_pressure(state) && fsk_backlog_below(share, qlen, acked)) {
		fsk_backlog_set(local, share);
		return false;
	}
	over = fsk_backlog_others(l, local, share, &other_qlen, &other_acked);
	if (!over && fsk_backlog_below(share, qlen, acked) &&
	    atomic_try_cmpxchg(&l->backlog_state, &state,
			       fsk_backlog_state_cleared(state))) {
		fsk_backlog_set(local, share);
		return false;
	}
	limit = fsk_backlog_limit(backlog, qlen, acked, other_qlen, other_acked);
	takes = fsk_backlog_takes(qlen, acked, limit);
	fsk_backlog_step(l, takes && fsk_backlog_over(share, qlen, acked));
	fsk_backlog_set(local, limit);
	return takes && qlen && qlen + other_qlen > backlog;
}

/*
 * A cookie ACK completes a handshake on @clone: the accept queue's check is
 * the only one left, and the SYN may have set the limit for the SYN queue.
 * Another CPU's clone gets no more than this ACK needs: its CPU owns its
 * limit, and may be between setting it for a SYN and the kernel's check.
 */
static void fsk_backlog_cookie_ack(struct fsk_listener *l, struct sock *clone,
				   bool local)
{
	u32 backlog, share = fsk_backlog_share(l, &backlog);
	u32 qlen = inet_csk_reqsk_queue_len(clone);
	u32 acked = READ_ONCE(clone->sk_ack_backlog);
	u32 other_qlen, other_acked, limit;

	/*
	 * The state is only read here, never cleared from what was read: a
	 * plain read after the queues will do (the SYN path, which may clear
	 * it, reads it first, with acquire).
	 */
	if (local && fsk_backlog_below(share, qlen, acked) &&
	    !fsk_backlog_pressure(atomic_read(&l->backlog_state))) {
		fsk_backlog_set(clone, share);
		return;
	}
	fsk_backlog_others(l, clone, share, &other_qlen, &other_acked);
	limit = fsk_backlog_room(backlog, other_acked);
	if (!local) {
		u32 cur = READ_ONCE(clone->sk_max_ack_backlog);

		/* The listener's accept queue is full: drop it, as stock. */
		if (acked > limit) {
			if (cur > limit)
				fsk_backlog_set(clone, limit);
			return;
		}
		/* Else the least that takes this ACK. */
		if (cur >= acked)
			return;
		limit = acked;
	}
	fsk_backlog_step(l, fsk_backlog_over(share, qlen, acked) && acked <= limit);
	fsk_backlog_set(clone, limit);
}

/*
 * The kernel checks a SYN against the listener its lookup returns: MD5 and AO
 * keys, GTSM (IP_MINTTL, IPV6_MINHOPCOUNT), socket filters, IPsec policy, a
 * listener's own TFO key; and the connection inherits its mark, device,
 * congestion control and protocol ops (sockmap). A clone holds its
 * listener's state as of listen(). A listener that gained or changed any of
 * it since takes its packets itself, from the moment the option is set, and
 * for good once it got an option the clones cannot copy (sockopt.c).
 */
static bool fsk_clone_current(const struct fsk_listener *l, const struct sock *clone)
{
	const struct sock *parent = l->parent;
	const struct inet_connection_sock *picsk = inet_csk(parent);

	if (READ_ONCE(l->options_unfollowed))
		return false;

	if (rcu_access_pointer(parent->sk_filter) != rcu_access_pointer(clone->sk_filter))
		return false;
	if (READ_ONCE(inet_sk(parent)->min_ttl) != READ_ONCE(inet_sk(clone)->min_ttl))
		return false;
#if IS_ENABLED(CONFIG_IPV6)
	if (parent->sk_family == AF_INET6 &&
	    READ_ONCE(inet6_sk(parent)->min_hopcount) !=
	    READ_ONCE(inet6_sk(clone)->min_hopcount))
		return false;
#endif
#ifdef CONFIG_TCP_MD5SIG
	if (rcu_access_pointer(tcp_sk(parent)->md5sig_info))
		return false;
#endif
	if (fsk_tcp_has_ao(parent))
		return false;
	if (rcu_access_pointer(picsk->icsk_accept_queue.fastopenq.ctx))
		return false;
#ifdef CONFIG_XFRM
	if (rcu_access_pointer(parent->sk_policy[0]) ||
	    rcu_access_pointer(parent->sk_policy[1]))
		return false;
#endif
	if (READ_ONCE(parent->sk_mark) != READ_ONCE(clone->sk_mark) ||
	    READ_ONCE(parent->sk_bound_dev_if) !=
	    READ_ONCE(clone->sk_bound_dev_if))
		return false;
	if (READ_ONCE(picsk->icsk_ca_ops) != inet_csk(clone)->icsk_ca_ops ||
	    READ_ONCE(parent->sk_prot) != clone->sk_prot ||
	    READ_ONCE(picsk->icsk_ulp_ops) ||
	    rcu_access_pointer(parent->sk_user_data))
		return false;
	return true;
}

/* The kernel's choice of listener for @skb, redirected to this CPU's clone. */
static struct sock *fsk_local_listener(const struct net *net, struct sock *sk,
				       const struct sk_buff *skb)
{
	const struct tcphdr *th;
	struct fsk_listener *l;
	struct sock *clone;

	/* Lookups without a packet (diag, BPF helpers) see the parent. */
	if (IS_ERR_OR_NULL(sk) || !skb)
		return sk;
	l = fsk_listener_find(sk);
	if (!l)
		return sk;
	/* Process-context callers (tproxy) may migrate: any clone will do. */
	clone = READ_ONCE(l->clones[raw_smp_processor_id()]);
	if (!clone || inet_sk_state_load(clone) != TCP_LISTEN)
		return sk;
	if (!fsk_clone_current(l, clone)) {
		/*
		 * The listener takes the SYNs now; the handshakes in flight
		 * here complete against its backlog, not a limit left by a
		 * SYN (lookup.c's backlog).
		 */
		fsk_backlog_set(clone, READ_ONCE(sk->sk_max_ack_backlog));
		return sk;
	}
	if (skb_transport_header_was_set(skb) &&
	    skb_transport_offset(skb) + (int)sizeof(*th) <= (int)skb_headlen(skb)) {
		th = tcp_hdr(skb);
		if (!th->syn && th->ack && !th->rst) {
			struct sock *local = clone;

			clone = fsk_cookie_listener(l, local);
			if (clone != sk)
				fsk_backlog_cookie_ack(l, clone, clone == local);
			return clone;
		}
		/* rmmod: no new handshake on a clone (fsk_listen_dismantle). */
		if (th->syn && READ_ONCE(fsk_listen_stopping)) {
			fsk_backlog_set(clone, READ_ONCE(sk->sk_max_ack_backlog));
			return sk;
		}
		if (th->syn && !th->ack) {
			if (fsk_backlog_syn(l, clone))
				fsk_count(fsk_net(net), listen_backlog_slack);
			fsk_count(fsk_net(net), listen_syn_local);
		}
	}
	return clone;
}

static bool notrace fsk_lookup_listener_wanted(struct ftrace_regs *fregs)
{
	const struct net *net = (const void *)fsk_fregs_arg(fregs, 0);
	const struct fsk_net *fn;
	bool wanted;

	rcu_read_lock();
	fn = fsk_net(net);
	wanted = READ_ONCE(fn->enabled) && READ_ONCE(fn->listen) &&
		 atomic_read(&fn->managed_listeners);
	rcu_read_unlock();
	return wanted;
}

static struct sock *fsk___inet_lookup_listener(FSK_LOOKUP_NET_CONST struct net *net,
					       struct inet_hashinfo *hashinfo,
					       struct sk_buff *skb, int doff,
					       const __be32 saddr, const __be16 sport,
					       const __be32 daddr,
					       const unsigned short hnum,
					       const int dif, const int sdif)
{
	int idx = fsk_enter();
	struct sock *sk;

	sk = __inet_lookup_listener(net, hashinfo, skb, doff, saddr, sport,
				    daddr, hnum, dif, sdif);
	sk = fsk_local_listener(net, sk, skb);
	fsk_exit(idx);
	return sk;
}

#if IS_ENABLED(CONFIG_IPV6)
static struct sock *fsk_inet6_lookup_listener(FSK_LOOKUP_NET_CONST struct net *net,
					      struct inet_hashinfo *hashinfo,
					      struct sk_buff *skb, int doff,
					      const struct in6_addr *saddr,
					      const __be16 sport,
					      const struct in6_addr *daddr,
					      const unsigned short hnum,
					      const int dif, const int sdif)
{
	int idx = fsk_enter();
	struct sock *sk;

	sk = inet6_lookup_listener(net, hashinfo, skb, doff, saddr, sport,
				   daddr, hnum, dif, sdif);
	sk = fsk_local_listener(net, sk, skb);
	fsk_exit(idx);
	return sk;
}
#endif

static struct fsk_hook fsk_lookup_hooks[] = {
	FSK_HOOK(__inet_lookup_listener, fsk___inet_lookup_listener,
		 fsk_lookup_listener_wanted),
#if IS_ENABLED(CONFIG_IPV6)
	FSK_HOOK(inet6_lookup_listener, fsk_inet6_lookup_listener,
		 fsk_lookup_listener_wanted),
#endif
};

int fsk_lookup_hooks_add(void)
{
	return fsk_hooks_add(fsk_lookup_hooks, ARRAY_SIZE(fsk_lookup_hooks));
}

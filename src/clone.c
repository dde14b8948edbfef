// SPDX-License-Identifier: GPL-2.0
/*
 * Local Listen Table: making and unmaking a clone. A clone is made with
 * sk_clone_lock() and fixed up to be a listener of its own. Clones share the
 * parent's bind buckets without being owners, so that their children inherit
 * the port, and point their wait queue at the parent socket's, so that
 * wakeups and poll reach the application. Both links are cut, under the
 * bucket lock, before the parent can release its port.
 */
#include <linux/module.h>
#include <net/inet_connection_sock.h>
#include <net/inet_hashtables.h>
#include <net/ipv6.h>
#include <net/request_sock.h>
#include <net/tcp.h>

#include "fastsocket.h"
#include "llt.h"

/*
 * The options a listener passes on to its connections, parent to clone; the
 * clone's lock held. Not its backlog, which lookup.c's share sets per SYN.
 */
void fsk_clone_sync_options(struct sock *clone, const struct sock *parent)
{
	const struct inet_connection_sock *picsk = inet_csk(parent);
	struct inet_connection_sock *icsk = inet_csk(clone);
	const struct tcp_sock *ptp = tcp_sk(parent);
	struct tcp_sock *tp = tcp_sk(clone);

	WRITE_ONCE(clone->sk_rcvbuf, READ_ONCE(parent->sk_rcvbuf));
	WRITE_ONCE(clone->sk_sndbuf, READ_ONCE(parent->sk_sndbuf));
	clone->sk_userlocks = parent->sk_userlocks & ~SOCK_BINDPORT_LOCK;
	/* The bind conflict check reads each child's: as its listener's. */
	clone->sk_reuse = parent->sk_reuse;
	WRITE_ONCE(clone->sk_priority, READ_ONCE(parent->sk_priority));
	WRITE_ONCE(clone->sk_mark, READ_ONCE(parent->sk_mark));
	WRITE_ONCE(clone->sk_bound_dev_if, READ_ONCE(parent->sk_bound_dev_if));
	WRITE_ONCE(clone->sk_rcvlowat, READ_ONCE(parent->sk_rcvlowat));
	WRITE_ONCE(clone->sk_rcvtimeo, READ_ONCE(parent->sk_rcvtimeo));
	WRITE_ONCE(clone->sk_sndtimeo, READ_ONCE(parent->sk_sndtimeo));
	WRITE_ONCE(clone->sk_lingertime, READ_ONCE(parent->sk_lingertime));
	/* Not all of sk_flags: timestamp flags are counted when set. */
	sock_valbool_flag(clone, SOCK_KEEPOPEN, sock_flag(parent, SOCK_KEEPOPEN));
	sock_valbool_flag(clone, SOCK_LINGER, sock_flag(parent, SOCK_LINGER));
	sock_valbool_flag(clone, SOCK_URGINLINE, sock_flag(parent, SOCK_URGINLINE));
	/* SO_LOCK_FILTER: children may not change their filter either. */
	sock_valbool_flag(clone, SOCK_FILTER_LOCKED, sock_flag(parent, SOCK_FILTER_LOCKED));
	WRITE_ONCE(icsk->icsk_accept_queue.rskq_defer_accept,
		   READ_ONCE(picsk->icsk_accept_queue.rskq_defer_accept));
	WRITE_ONCE(icsk->icsk_accept_queue.fastopenq.max_qlen,
		   READ_ONCE(picsk->icsk_accept_queue.fastopenq.max_qlen));
	WRITE_ONCE(icsk->icsk_user_timeout, READ_ONCE(picsk->icsk_user_timeout));
	WRITE_ONCE(icsk->icsk_syn_retries, READ_ONCE(picsk->icsk_syn_retries));
	WRITE_ONCE(tp->rx_opt.user_mss, READ_ONCE(ptp->rx_opt.user_mss));
	WRITE_ONCE(tp->window_clamp, READ_ONCE(ptp->window_clamp));
	WRITE_ONCE(tp->keepalive_time, READ_ONCE(ptp->keepalive_time));
	WRITE_ONCE(tp->keepalive_intvl, READ_ONCE(ptp->keepalive_intvl));
	WRITE_ONCE(tp->keepalive_probes, READ_ONCE(ptp->keepalive_probes));
	WRITE_ONCE(tp->linger2, READ_ONCE(ptp->linger2));
	WRITE_ONCE(tp->notsent_lowat, READ_ONCE(ptp->notsent_lowat));
	tp->nonagle = ptp->nonagle;
	/* TCP_QUICKACK 0 on a listener: its connections start in pingpong mode. */
	WRITE_ONCE(icsk->icsk_ack.pingpong, READ_ONCE(picsk->icsk_ack.pingpong));
	/*
	 * TCP_CONGESTION naming the algorithm the clone has (a different one
	 * is compared per SYN): its children keep it through sysctl changes.
	 */
	icsk->icsk_ca_setsockopt = picsk->icsk_ca_setsockopt;
	WRITE_ONCE(inet_sk(clone)->tos, READ_ONCE(inet_sk(parent)->tos));
	WRITE_ONCE(inet_sk(clone)->uc_ttl, READ_ONCE(inet_sk(parent)->uc_ttl));
	/* GTSM: compared per SYN too, so a SYN never sees the old value alone. */
	WRITE_ONCE(inet_sk(clone)->min_ttl, READ_ONCE(inet_sk(parent)->min_ttl));
#if IS_ENABLED(CONFIG_IPV6)
	if (parent->sk_family == AF_INET6) {
		fsk_ipv6_hop_limit_copy(inet6_sk(clone), inet6_sk(parent));
		WRITE_ONCE(inet6_sk(clone)->tclass, READ_ONCE(inet6_sk(parent)->tclass));
		WRITE_ONCE(inet6_sk(clone)->min_hopcount,
			   READ_ONCE(inet6_sk(parent)->min_hopcount));
	}
#endif
}

static void fsk_clone_fixup_ipv6(struct sock *clone, const struct sock *parent)
{
#if IS_ENABLED(CONFIG_IPV6)
	struct ipv6_txoptions *opt;
	struct ipv6_pinfo *np;

	if (clone->sk_family != AF_INET6)
		return;
	/* The copied pinet6 points into the parent: use our own. */
	np = fsk_tcp_inet6_sk(clone);
	inet_sk(clone)->pinet6 = np;
	np->ipv6_mc_list = NULL;
	np->ipv6_ac_list = NULL;
	RCU_INIT_POINTER(fsk_ipv6_fl_list(clone, np), NULL);
	np->pktoptions = NULL;
	np->rxpmtu = NULL;
	/* Share the listener's IPv6 tx options, counted as setsockopt does. */
	opt = rcu_dereference_protected(np->opt, lockdep_sock_is_held(parent));
	if (opt) {
		refcount_inc(&opt->refcnt);
		atomic_add(opt->tot_len, &clone->sk_omem_alloc);
	}
#endif
}

/*
 * sk_clone_lock() copies a socket the way the kernel copies a listener into
 * a new connection; a listener copied into a listener needs these fixups
 * (see shared notes, llt-mechanics.md): nothing the clone frees or unlinks on
 * close may be the parent's.
 */
static struct sock *fsk_clone_listener(struct sock *parent, int cpu,
					struct fsk_clone_wq *cw)
{
	const struct inet_connection_sock *picsk = inet_csk(parent);
	struct inet_connection_sock *icsk;
	struct request_sock_queue *queue;
	struct module *ca_owner = NULL;
	struct sock *clone;

	if (picsk->icsk_ca_ops) {
		ca_owner = picsk->icsk_ca_ops->owner;
		if (!try_module_get(ca_owner))
			return NULL;
	}
	/*
	 * The clone's spinlock is every TCP socket's, which softirqs take:
	 * hold it with bottom halves off, as the kernel's own clones are made.
	 */
	local_bh_disable();
	clone = sk_clone_lock(parent, GFP_NOWAIT | __GFP_NOWARN);
	if (!clone) {
		local_bh_enable();
		module_put(ca_owner);
		return NULL;
	}
	icsk = inet_csk(clone);
	queue = &icsk->icsk_accept_queue;

	/* An empty accept queue of its own, as inet_csk_listen_start() makes. */
	spin_lock_init(&queue->rskq_lock);
	spin_lock_init(&queue->fastopenq.lock);
	queue->rskq_accept_head = NULL;
	queue->rskq_accept_tail = NULL;
	queue->synflood_warned = 0;
	atomic_set(&queue->qlen, 0);
	atomic_set(&queue->young, 0);
	queue->fastopenq.rskq_rst_head = NULL;
	queue->fastopenq.rskq_rst_tail = NULL;
	queue->fastopenq.qlen = 0;
	/* Per-listener TFO key: the clone uses the netns's. */
	RCU_INIT_POINTER(queue->fastopenq.ctx, NULL);
	clone->sk_ack_backlog = 0;

	/* Bind buckets are shared, but the clone is not on their lists. */
	sk_node_init(&clone->sk_bind_node);
	fsk_sk_bind2_node_init(clone);

	inet_sk(clone)->inet_opt = NULL;
	inet_sk(clone)->mc_list = NULL;
	fsk_clone_fixup_ipv6(clone, parent);

	inet_csk_init_xmit_timers(clone, picsk->icsk_retransmit_timer.function,
				  picsk->icsk_delack_timer.function,
				  fsk_keepalive_timer(parent)->function);
	INIT_LIST_HEAD(&tcp_sk(clone)->tsq_node);
	INIT_LIST_HEAD(&tcp_sk(clone)->tsorted_sent_queue);

	fsk_clone_sync_options(clone, parent);
	clone->sk_incoming_cpu = cpu;

	/* Wakeups of the clone: this CPU's accept() callers, or the socket's. */
	rcu_assign_pointer(clone->sk_wq, &cw->wq);

	bh_unlock_sock(clone);
	local_bh_enable();
	/* sk_clone_lock() gave two references; the hash one is not needed. */
	sock_put(clone);
	return clone;
}

/* Cut the clone's links into the parent. Any context; may race with SYNs. */
void fsk_clone_unlink(struct sock *clone, struct fsk_clone_wq *cw)
{
	struct inet_hashinfo *hinfo = tcp_or_dccp_get_hashinfo(clone);
	struct inet_bind_hashbucket *head;

	WRITE_ONCE(cw->parent_wq, NULL);
	/*
	 * __inet_inherit_port() reads the listener's buckets under this lock
	 * and gives up (the new connection is dropped) when they are gone.
	 */
	head = &hinfo->bhash[inet_bhashfn(sock_net(clone),
					  inet_sk(clone)->inet_num,
					  hinfo->bhash_size)];
	spin_lock_bh(&head->lock);
	inet_csk(clone)->icsk_bind_hash = NULL;
	inet_csk(clone)->icsk_bind2_hash = NULL;
	spin_unlock_bh(&head->lock);
}

/*
 * The kernel's own teardown of a listener's accept queue: each connection
 * is handed to another listener if reuseport_migrate_sock() names one (ours
 * does during rmmod: the application's listener), else reset.
 */
void fsk_clone_stop(struct sock *clone)
{
	lock_sock(clone);
	inet_csk_listen_stop(clone);
	release_sock(clone);
}

void fsk_clone_close(struct sock *clone)
{
	/* With no bucket, no port: closing must not release the parent's. */
	WRITE_ONCE(inet_sk(clone)->inet_num, 0);
	tcp_close(clone, 0);
}

/* A clone and its wait queue for @cpu, or false. Parent locked. */
bool fsk_clone_make(struct sock *parent, int cpu, struct sock **clone,
		    struct fsk_clone_wq **cw)
{
	*cw = fsk_clone_wq_alloc(&parent->sk_socket->wq);
	if (!*cw)
		return false;
	*clone = fsk_clone_listener(parent, cpu, *cw);
	if (!*clone) {
		fsk_clone_wq_put(*cw);
		/* The caller's slot may be the listener's own. */
		*cw = NULL;
		return false;
	}
	return true;
}

/* Undo fsk_clone_make() for a clone that was never published. */
void fsk_clone_discard(struct sock *clone, struct fsk_clone_wq *cw)
{
	fsk_clone_unlink(clone, cw);
	fsk_clone_close(clone);
	/* The clone was never visible: no reader can hold its queue. */
	fsk_clone_wq_put(cw);
}

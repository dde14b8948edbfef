// SPDX-License-Identifier: GPL-2.0
/*
 * Local Listen Table: per-CPU clones of a listening TCP socket.
 *
 * When a socket starts listening in a namespace with net.fastsocket.enabled
 * and .listen set, every online CPU gets a clone of it: same address, port,
 * options and backlog, made with sk_clone_lock() and fixed up to be a
 * listener of its own. Clones are never in the kernel's listener hash. The
 * kernel's own lookup still picks the listener (sk_lookup programs, device
 * binding and scoring unchanged); we then hand the SYN to the current CPU's
 * clone, so the handshake and the queueing of the connection stay on that
 * CPU. accept() on the application's socket takes the local clone's queue
 * first, then the parent's, then the other clones' (accept.c).
 *
 * Clones share the parent's bind buckets without being owners, so that their
 * children inherit the port, and point their wait queue at the parent
 * socket's, so that wakeups and poll reach the application. Both links are
 * cut, under the bucket lock, before the parent can release its port.
 */
#include <linux/cpu.h>
#include <linux/cpuhotplug.h>
#include <linux/delay.h>
#include <linux/hashtable.h>
#include <linux/module.h>
#include <linux/net.h>
#include <linux/poll.h>
#include <linux/slab.h>
#include <linux/workqueue.h>
#include <net/inet_common.h>
#include <net/inet_connection_sock.h>
#include <net/inet_hashtables.h>
#include <net/inet6_hashtables.h>
#include <net/ipv6.h>
#include <net/request_sock.h>
#include <net/sock_reuseport.h>
#include <net/tcp.h>
#include <net/transp_v6.h>

#include "fastsocket.h"
#include "hook.h"
#include "listen.h"

/*
 * A clone's wait queue. A connection queued on the clone wakes the accept()
 * callers sleeping on this CPU, or an epoll (io_uring, aio) waiter that
 * registered the socket on this CPU, so that the connection is accepted where
 * its handshake ran; else the wakeup is forwarded to the application's
 * socket, where every other waiter is. The forward entry is exclusive and
 * always last: an exclusive wakeup reaches it only when no local waiter took
 * it, so a connection wakes one task, as on stock Linux.
 */
struct fsk_clone_wq {
	struct socket_wq wq;
	struct wait_queue_entry forward;
	/* The application's socket's queue; NULL once the clone is cut off. */
	struct socket_wq *parent_wq;
	atomic_t local_waiters;
	/* jiffies of the last accept() from this clone on its own CPU. */
	unsigned long last_local_accept;
	refcount_t ref;
	struct rcu_head rcu;
};

/*
 * A managed listener. Found under RCU through the hash; outside RCU only
 * with a reference: the hash holds one from publication until the release
 * work has closed the clones, and the hotplug work one per listener it
 * works on.
 */
struct fsk_listener {
	struct hlist_node hash_node;
	/* On fsk_migrating while rmmod moves its clones' connections. */
	struct list_head migrating_node;
	struct sock *parent;		/* referenced */
	refcount_t ref;
	/* After an RCU grace period: readers have their clone references. */
	struct rcu_work release_work;
	struct fsk_clone_wq **clone_wqs;
	/* Indexed by CPU id; NULL where the CPU has no clone (yet). */
	struct sock *clones[];
};

/*
 * Each netns has its own table, lock and mutex (struct fsk_llt_net), so that
 * one namespace's listen() and close() never wait for another's. What works
 * on every netns (CPU hotplug, unload) holds fsk_nets_mutex, which guards
 * the list of them, then each netns's mutex in turn. Lock order:
 * fsk_nets_mutex, a netns's mutex, a listener's socket lock, its clones'.
 */
static DEFINE_MUTEX(fsk_nets_mutex);
static LIST_HEAD(fsk_nets);
/* Set by unload, under every netns's mutex: no new clone from then on. */
static bool fsk_listen_stopping;
/* Closes clones in process context; drained before the module goes. */
static struct workqueue_struct *fsk_listen_wq;
static enum cpuhp_state fsk_cpuhp_state;
/*
 * CPU hotplug: the callbacks run under the CPU hotplug lock, which
 * setsockopt() takes inside the socket lock (static keys), so they only
 * record the change and queue fsk_hotplug_work, which gives new CPUs their
 * clones and retires those of CPUs gone. A CPU is
 * in fsk_cpus_leaving from its teardown until it is back: treated as gone.
 */
static struct cpumask fsk_cpus_leaving;
static void fsk_hotplug_reconcile(struct work_struct *work);
static DECLARE_WORK(fsk_hotplug_work, fsk_hotplug_reconcile);
/*
 * Listeners being given back to the kernel at rmmod, whose clones hand their
 * requests and connections to the listener (RCU list, writers under
 * fsk_nets_mutex).
 */
static LIST_HEAD(fsk_migrating);
/* Listeners on fsk_migrating plus clones on fsk_retired: the hook's switch. */
static atomic_t fsk_migrating_count = ATOMIC_INIT(0);

/*
 * A clone of a CPU gone offline. While its CPU is away it takes no new SYN
 * (the lookup hands SYNs to the clone of the CPU it runs on), and first
 * lets its handshakes in flight complete where they started, its queue
 * drained by the other CPUs' accept(). Then it is retired: it stops
 * listening, its queued connections move to the listener, a straggling
 * handshake on its next ACK or SYN-ACK retransmit (the rmmod migration);
 * it is closed when none is left. Each step at most FSK_RETIRE_WAIT. A CPU
 * back online before the retirement keeps its clone.
 */
struct fsk_retired {
	struct list_head node;
	struct list_head batch_node;	/* a step that works on it */
	struct sock *clone;		/* referenced */
	struct sock *parent;		/* referenced */
	struct fsk_clone_wq *cw;	/* referenced once retired */
	int cpu;
	bool retired;			/* no longer in the listener's clones[] */
	unsigned long deadline;		/* of the current step */
};

#define FSK_RETIRE_WAIT		(3 * HZ)
/*
 * RCU list; writers hold fsk_nets_mutex, so an entry stays while a holder
 * uses it.
 */
static LIST_HEAD(fsk_retired);
static void fsk_retire_reap(struct work_struct *work);
static DECLARE_DELAYED_WORK(fsk_retire_work, fsk_retire_reap);

/* The table of @sk's netns; under RCU, or while @sk holds its netns. */
static struct fsk_llt_net *fsk_llt(const struct sock *sk)
{
	return &fsk_net(sock_net(sk))->llt;
}

static struct fsk_listener *fsk_listener_find(const struct sock *sk)
{
	struct fsk_listener *l;

	hash_for_each_possible_rcu(fsk_llt(sk)->listeners, l, hash_node,
				   (unsigned long)sk)
		if (l->parent == sk)
			return l;
	return NULL;
}

/* Called under RCU; the answer may be stale by the time it is used. */
bool fsk_listener_managed(const struct sock *sk)
{
	return fsk_netns_listeners(sock_net(sk)) && fsk_listener_find(sk);
}

static bool fsk_listen_eligible(const struct sock *sk)
{
	const struct inet_connection_sock *icsk = inet_csk(sk);

	if (sk->sk_type != SOCK_STREAM || sk->sk_protocol != IPPROTO_TCP)
		return false;
	/* Not sockmap, MPTCP or any other protocol that borrowed TCP's. */
	if (sk->sk_prot != &tcp_prot
#if IS_ENABLED(CONFIG_IPV6)
	    && sk->sk_prot != &tcpv6_prot
#endif
	    )
		return false;
	/* Reuseport groups are the kernel's own per-socket scheme. */
	if (sk->sk_reuseport || rcu_access_pointer(sk->sk_reuseport_cb))
		return false;
	if (!sk->sk_net_refcnt || !sk->sk_socket)
		return false;
	if (icsk->icsk_ulp_ops || rcu_access_pointer(sk->sk_user_data))
		return false;
	if (!icsk->icsk_bind_hash || !icsk->icsk_bind2_hash)
		return false;
#ifdef CONFIG_TCP_MD5SIG
	if (rcu_access_pointer(tcp_sk(sk)->md5sig_info))
		return false;
#endif
	if (fsk_tcp_has_ao(sk))
		return false;
	/* A BPF congestion control cannot be pinned from here. */
	if (icsk->icsk_ca_ops && icsk->icsk_ca_ops->owner == BPF_MODULE_OWNER)
		return false;
	return true;
}

static int fsk_clone_wq_forward(struct wait_queue_entry *entry, unsigned int mode,
				int sync, void *key)
{
	struct fsk_clone_wq *cw = container_of(entry, struct fsk_clone_wq, forward);
	struct socket_wq *parent_wq;

	if (atomic_read(&cw->local_waiters))
		return 0;
	/* Called under RCU (sock_def_readable): the socket's wq is RCU-freed. */
	parent_wq = READ_ONCE(cw->parent_wq);
	if (!parent_wq)
		return 0;
	if (wq_has_sleeper(&parent_wq->wait))
		__wake_up_sync_key(&parent_wq->wait, mode, key);
	if (READ_ONCE(parent_wq->fasync_list))
		sock_wake_async(parent_wq, SOCK_WAKE_WAITD, POLL_IN);
	return 0;
}

static struct fsk_clone_wq *fsk_clone_wq_alloc(struct socket_wq *parent_wq)
{
	struct fsk_clone_wq *cw = kzalloc(sizeof(*cw), GFP_KERNEL);

	if (!cw)
		return NULL;
	init_waitqueue_head(&cw->wq.wait);
	init_waitqueue_func_entry(&cw->forward, fsk_clone_wq_forward);
	add_wait_queue_exclusive(&cw->wq.wait, &cw->forward);
	cw->parent_wq = parent_wq;
	atomic_set(&cw->local_waiters, 0);
	refcount_set(&cw->ref, 1);
	return cw;
}

/* Exclusive entries are added at the tail: put the forward back behind them. */
static void fsk_clone_wq_forward_last(struct fsk_clone_wq *cw)
{
	unsigned long flags;

	spin_lock_irqsave(&cw->wq.wait.lock, flags);
	list_move_tail(&cw->forward.entry, &cw->wq.wait.head);
	spin_unlock_irqrestore(&cw->wq.wait.lock, flags);
}

void fsk_clone_wq_put(struct fsk_clone_wq *cw)
{
	if (!refcount_dec_and_test(&cw->ref))
		return;
	remove_wait_queue(&cw->wq.wait, &cw->forward);
	/*
	 * epoll, io_uring and aio entries outlive the clone: POLLFREE makes
	 * them let go, and the queue is freed only after RCU, as they need.
	 */
	wake_up_pollfree(&cw->wq.wait);
	kfree_rcu(cw, rcu);
}

/* The options a listener passes on to its connections, parent to clone. */
static void fsk_clone_sync_options(struct sock *clone, const struct sock *parent)
{
	const struct inet_connection_sock *picsk = inet_csk(parent);
	struct inet_connection_sock *icsk = inet_csk(clone);
	const struct tcp_sock *ptp = tcp_sk(parent);
	struct tcp_sock *tp = tcp_sk(clone);

	WRITE_ONCE(clone->sk_max_ack_backlog, READ_ONCE(parent->sk_max_ack_backlog));
	WRITE_ONCE(clone->sk_rcvbuf, READ_ONCE(parent->sk_rcvbuf));
	WRITE_ONCE(clone->sk_sndbuf, READ_ONCE(parent->sk_sndbuf));
	clone->sk_userlocks = parent->sk_userlocks & ~SOCK_BINDPORT_LOCK;
	WRITE_ONCE(clone->sk_priority, READ_ONCE(parent->sk_priority));
	WRITE_ONCE(clone->sk_mark, READ_ONCE(parent->sk_mark));
	WRITE_ONCE(clone->sk_rcvlowat, READ_ONCE(parent->sk_rcvlowat));
	WRITE_ONCE(clone->sk_rcvtimeo, READ_ONCE(parent->sk_rcvtimeo));
	WRITE_ONCE(clone->sk_sndtimeo, READ_ONCE(parent->sk_sndtimeo));
	WRITE_ONCE(clone->sk_lingertime, READ_ONCE(parent->sk_lingertime));
	/* Not all of sk_flags: timestamp flags are counted when set. */
	sock_valbool_flag(clone, SOCK_KEEPOPEN, sock_flag(parent, SOCK_KEEPOPEN));
	sock_valbool_flag(clone, SOCK_LINGER, sock_flag(parent, SOCK_LINGER));
	sock_valbool_flag(clone, SOCK_URGINLINE, sock_flag(parent, SOCK_URGINLINE));
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
	WRITE_ONCE(inet_sk(clone)->tos, READ_ONCE(inet_sk(parent)->tos));
	WRITE_ONCE(inet_sk(clone)->uc_ttl, READ_ONCE(inet_sk(parent)->uc_ttl));
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
	clone = sk_clone_lock(parent, GFP_ATOMIC);
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
static void fsk_clone_unlink(struct sock *clone, struct fsk_clone_wq *cw)
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
static void fsk_clone_stop(struct sock *clone)
{
	lock_sock(clone);
	inet_csk_listen_stop(clone);
	release_sock(clone);
}

static void fsk_clone_close(struct sock *clone)
{
	/* With no bucket, no port: closing must not release the parent's. */
	WRITE_ONCE(inet_sk(clone)->inet_num, 0);
	tcp_close(clone, 0);
}

static void fsk_listener_put(struct fsk_listener *l)
{
	if (!refcount_dec_and_test(&l->ref))
		return;
	sock_put(l->parent);
	kfree(l->clone_wqs);
	kfree(l);
}

/* The hash's reference, once unpublished: close the clones, then let go. */
static void fsk_listener_release_work(struct work_struct *work)
{
	struct fsk_listener *l = container_of(to_rcu_work(work),
					      struct fsk_listener, release_work);
	int cpu;

	for_each_possible_cpu(cpu) {
		if (l->clones[cpu]) {
			fsk_clone_stop(l->clones[cpu]);
			fsk_clone_close(l->clones[cpu]);
		}
		if (l->clone_wqs[cpu])
			fsk_clone_wq_put(l->clone_wqs[cpu]);
	}
	fsk_listener_put(l);
}

static void fsk_listener_release(struct fsk_listener *l)
{
	queue_rcu_work(fsk_listen_wq, &l->release_work);
}

/*
 * Take @l out of the hash and cut every clone's links to the parent. Returns
 * false if someone else did first. Any context.
 */
static bool fsk_listener_unpublish(struct fsk_listener *l)
{
	struct fsk_llt_net *llt = fsk_llt(l->parent);
	bool unpublished = false;
	int cpu;

	spin_lock_bh(&llt->lock);
	if (!hlist_unhashed(&l->hash_node)) {
		hash_del_rcu(&l->hash_node);
		atomic_dec(&fsk_net(sock_net(l->parent))->managed_listeners);
		for_each_possible_cpu(cpu) {
			struct sock *clone = l->clones[cpu];

			if (!clone)
				continue;
			/*
			 * Not listening any more: a late ACK of one of its
			 * handshakes takes the kernel's path for a stopped
			 * listener (migrate, or drop and look up again)
			 * instead of making a connection without a port.
			 */
			inet_sk_set_state(clone, TCP_CLOSE);
			fsk_clone_unlink(clone, l->clone_wqs[cpu]);
		}
		unpublished = true;
	}
	spin_unlock_bh(&llt->lock);
	return unpublished;
}

static struct fsk_listener *fsk_listener_alloc(struct sock *parent)
{
	struct fsk_listener *l;

	l = kzalloc(struct_size(l, clones, nr_cpu_ids), GFP_KERNEL);
	if (!l)
		return NULL;
	l->clone_wqs = kcalloc(nr_cpu_ids, sizeof(*l->clone_wqs), GFP_KERNEL);
	if (!l->clone_wqs) {
		kfree(l);
		return NULL;
	}
	INIT_HLIST_NODE(&l->hash_node);
	INIT_RCU_WORK(&l->release_work, fsk_listener_release_work);
	refcount_set(&l->ref, 1);
	l->parent = parent;
	return l;
}

/* A clone and its wait queue for @cpu, or false. Parent locked. */
static bool fsk_clone_make(struct sock *parent, int cpu, struct sock **clone,
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
static void fsk_clone_discard(struct sock *clone, struct fsk_clone_wq *cw)
{
	fsk_clone_unlink(clone, cw);
	fsk_clone_close(clone);
	/* The clone was never visible: no reader can hold its queue. */
	fsk_clone_wq_put(cw);
}

/* Parent locked, listening and eligible: give every online CPU a clone. */
static void fsk_listener_create(struct sock *parent)
{
	struct fsk_net *fn = fsk_net(sock_net(parent));
	struct fsk_listener *l;
	int cpu, clones = 0;

	l = fsk_listener_alloc(parent);
	if (!l)
		return;
	/*
	 * A CPU coming or going meanwhile queues fsk_hotplug_work, which waits
	 * for this netns's mutex and then puts this listener's clones right.
	 */
	for_each_cpu_andnot(cpu, cpu_online_mask, &fsk_cpus_leaving)
		if (fsk_clone_make(parent, cpu, &l->clones[cpu], &l->clone_wqs[cpu]))
			clones++;
	if (!clones) {
		kfree(l->clone_wqs);
		kfree(l);
		fsk_count(fn, listen_clone_failed);
		return;
	}
	sock_hold(parent);
	spin_lock_bh(&fn->llt.lock);
	hash_add_rcu(fn->llt.listeners, &l->hash_node, (unsigned long)parent);
	atomic_inc(&fn->managed_listeners);
	spin_unlock_bh(&fn->llt.lock);
	fsk_count(fn, listen_managed);
}

static void fsk_listener_sync(struct fsk_listener *l)
{
	int cpu;

	for_each_possible_cpu(cpu) {
		struct sock *clone = l->clones[cpu];

		if (!clone)
			continue;
		/* A clone's lock nests in its listener's. */
		lock_sock_nested(clone, SINGLE_DEPTH_NESTING);
		fsk_clone_sync_options(clone, l->parent);
		release_sock(clone);
	}
}

static void fsk_listen_started(struct sock *sk)
{
	struct fsk_net *fn = fsk_net(sock_net(sk));
	struct fsk_listener *l;

	mutex_lock(&fn->llt.mutex);
	lock_sock(sk);
	if (sk->sk_state != TCP_LISTEN || fsk_listen_stopping)
		goto out;
	rcu_read_lock();
	l = fsk_listener_find(sk);
	rcu_read_unlock();
	/*
	 * Still published after RCU: only closing this socket (whose lock we
	 * hold) or unload (which takes our mutex) unpublishes it.
	 */
	if (l)
		/* listen() again, as nginx does after setting options. */
		fsk_listener_sync(l);
	else if (READ_ONCE(fn->enabled) && READ_ONCE(fn->listen) &&
		 fsk_listen_eligible(sk))
		fsk_listener_create(sk);
out:
	release_sock(sk);
	mutex_unlock(&fn->llt.mutex);
}

static int fsk_inet_listen(struct socket *sock, int backlog)
{
	int idx = fsk_enter();
	int err = inet_listen(sock, backlog);

	if (!err)
		fsk_listen_started(sock->sk);
	fsk_exit(idx);
	return err;
}

static bool notrace fsk_inet_listen_wanted(struct ftrace_regs *fregs)
{
	const struct socket *sock = (const void *)fsk_fregs_arg(fregs, 0);
	const struct sock *sk = sock->sk;
	const struct fsk_net *fn;
	bool wanted;

	if (!sk || sk->sk_protocol != IPPROTO_TCP)
		return false;
	rcu_read_lock();
	fn = fsk_net(sock_net(sk));
	wanted = (READ_ONCE(fn->enabled) && READ_ONCE(fn->listen)) ||
		 atomic_read(&fn->managed_listeners);
	rcu_read_unlock();
	return wanted;
}

/* A managed listener stops listening: its clones go. Any context. */
static void fsk_listener_stop(struct sock *sk)
{
	struct fsk_listener *l;

	rcu_read_lock();
	l = fsk_listener_find(sk);
	/* Unpublished under a spinlock, released after a grace period. */
	if (l && fsk_listener_unpublish(l))
		fsk_listener_release(l);
	rcu_read_unlock();
}

/* The parent stops listening (close, shutdown, abort): clones go too. */
static void fsk_inet_csk_listen_stop(struct sock *sk)
{
	int idx = fsk_enter();

	fsk_listener_stop(sk);
	inet_csk_listen_stop(sk);
	fsk_exit(idx);
}

/*
 * A listener bound to port 0, or autobound by listen(), gives its port back
 * as it stops listening (tcp_set_state(TCP_CLOSE)), before
 * inet_csk_listen_stop(): its clones let go of the bind bucket first, so
 * that a handshake completing on one cannot inherit a freed bucket.
 */
static void fsk_inet_put_port(struct sock *sk)
{
	int idx = fsk_enter();

	fsk_listener_stop(sk);
	inet_put_port(sk);
	fsk_exit(idx);
}

static bool notrace fsk_put_port_wanted(struct ftrace_regs *fregs)
{
	const struct sock *sk = (const void *)fsk_fregs_arg(fregs, 0);
	bool wanted;

	/* Connections close by the thousand: only a listener is looked at. */
	if (inet_sk_state_load(sk) != TCP_LISTEN)
		return false;
	rcu_read_lock();
	wanted = fsk_netns_listeners(sock_net(sk));
	rcu_read_unlock();
	return wanted;
}

static bool notrace fsk_listen_stop_wanted(struct ftrace_regs *fregs)
{
	const struct sock *sk = (const void *)fsk_fregs_arg(fregs, 0);
	bool wanted;

	rcu_read_lock();
	wanted = fsk_netns_listeners(sock_net(sk));
	rcu_read_unlock();
	return wanted;
}

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
 * The kernel checks a SYN against the listener its lookup returns: MD5 and AO
 * keys, GTSM (IP_MINTTL, IPV6_MINHOPCOUNT), socket filters, a listener's own
 * TFO key; and the connection inherits its congestion control and protocol
 * ops (sockmap). A clone holds its listener's state as of listen(). A listener
 * that gained or changed any of it since takes its packets itself, from the
 * moment the option is set.
 */
static bool fsk_clone_current(const struct sock *parent, const struct sock *clone)
{
	const struct inet_connection_sock *picsk = inet_csk(parent);

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
	if (!clone || inet_sk_state_load(clone) != TCP_LISTEN ||
	    !fsk_clone_current(sk, clone))
		return sk;
	if (skb_transport_header_was_set(skb) &&
	    skb_transport_offset(skb) + (int)sizeof(*th) <= (int)skb_headlen(skb)) {
		th = tcp_hdr(skb);
		if (!th->syn && th->ack && !th->rst)
			return fsk_cookie_listener(l, clone);
		/* rmmod: no new handshake on a clone (fsk_listen_dismantle). */
		if (th->syn && READ_ONCE(fsk_listen_stopping))
			return sk;
		if (th->syn)
			fsk_count(fsk_net(net), listen_syn_local);
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

/*
 * Pollers that may wait on a clone's queue besides the socket's: epoll and
 * io_uring, whose queue procs take a second wait queue and let go of it on
 * POLLFREE. Linux AIO takes one only (a second fails the poll with EINVAL),
 * select() and poll() remove their entries only when the call returns, which
 * a clone's queue may not outlive: these, and any queue proc not named here,
 * wait on the socket's queue alone, as on stock Linux. A queue proc is
 * known by its symbol name, looked up once and remembered.
 */
static const char *const fsk_multi_queue_pollers[] = {
	"ep_ptable_queue_proc",		/* epoll */
	"io_poll_queue_proc",		/* io_uring IORING_OP_POLL_ADD */
	"io_async_queue_proc",		/* io_uring's internal poll (accept) */
};

#define FSK_QPROC_SLOTS	4
/* Queue procs seen, by answer; a slot is filled once, never changed. */
static poll_queue_proc fsk_qprocs_two[FSK_QPROC_SLOTS];
static poll_queue_proc fsk_qprocs_one[FSK_QPROC_SLOTS];

static bool fsk_qproc_classify(poll_queue_proc qproc)
{
	/* Longer names are cut, and so match none of ours. */
	char name[48];
	unsigned int i;

	snprintf(name, sizeof(name), "%ps", qproc);
	for (i = 0; i < ARRAY_SIZE(fsk_multi_queue_pollers); i++)
		if (!strcmp(name, fsk_multi_queue_pollers[i]))
			return true;
	return false;
}

static bool fsk_qproc_seen(poll_queue_proc *slots, poll_queue_proc qproc)
{
	unsigned int i;

	for (i = 0; i < FSK_QPROC_SLOTS; i++) {
		poll_queue_proc seen = READ_ONCE(slots[i]);

		if (seen == qproc)
			return true;
		if (!seen)
			break;
	}
	return false;
}

static void fsk_qproc_remember(poll_queue_proc *slots, poll_queue_proc qproc)
{
	unsigned int i;

	for (i = 0; i < FSK_QPROC_SLOTS; i++) {
		poll_queue_proc seen = cmpxchg(&slots[i], NULL, qproc);

		if (!seen || seen == qproc)
			return;
	}
	/* All taken: it is looked up by name each time, which is still right. */
}

static bool fsk_poller_takes_two_queues(poll_queue_proc qproc)
{
	bool two;

	if (fsk_qproc_seen(fsk_qprocs_two, qproc))
		return true;
	if (fsk_qproc_seen(fsk_qprocs_one, qproc))
		return false;
	two = fsk_qproc_classify(qproc);
	fsk_qproc_remember(two ? fsk_qprocs_two : fsk_qprocs_one, qproc);
	return two;
}

/*
 * A poller registering on a managed listener (epoll_ctl(ADD) and the like)
 * waits on this CPU's clone queue too: connections queued there wake it
 * before anyone else. Servers that pin a worker per CPU get CPU-local
 * accepts; the others lose nothing, the forward still reaches them.
 */
static void fsk_listener_poll_local(struct file *file, const struct sock *sk,
				    poll_table *wait)
{
	struct fsk_clone_wq *cw = NULL;
	struct fsk_listener *l;
	int cpu;

	if (poll_does_not_wait(wait) || !fsk_poller_takes_two_queues(wait->_qproc))
		return;
	rcu_read_lock();
	l = fsk_listener_find(sk);
	cpu = raw_smp_processor_id();
	if (l && smp_load_acquire(&l->clones[cpu])) {
		cw = l->clone_wqs[cpu];
		if (!refcount_inc_not_zero(&cw->ref))
			cw = NULL;
	}
	rcu_read_unlock();
	if (!cw)
		return;
	poll_wait(file, &cw->wq.wait, wait);
	fsk_clone_wq_forward_last(cw);
	fsk_clone_wq_put(cw);
}

/* poll/select/epoll on the application's socket see the clones' queues. */
static __poll_t fsk_tcp_poll(struct file *file, struct socket *sock,
			     poll_table *wait)
{
	int idx = fsk_enter();
	__poll_t mask = tcp_poll(file, sock, wait);

	if (inet_sk_state_load(sock->sk) == TCP_LISTEN) {
		fsk_listener_poll_local(file, sock->sk, wait);
		if (!(mask & EPOLLIN) && fsk_listener_has_queued(sock->sk))
			mask |= EPOLLIN | EPOLLRDNORM;
	}
	fsk_exit(idx);
	return mask;
}

static bool notrace fsk_tcp_poll_wanted(struct ftrace_regs *fregs)
{
	const struct socket *sock = (const void *)fsk_fregs_arg(fregs, 1);
	const struct sock *sk = sock->sk;
	bool wanted;

	if (inet_sk_state_load(sk) != TCP_LISTEN)
		return false;
	rcu_read_lock();
	wanted = fsk_netns_listeners(sock_net(sk));
	rcu_read_unlock();
	return wanted;
}

/* Any connection waiting on one of @sk's clones? Lockless, like poll. */
bool fsk_listener_has_queued(const struct sock *sk)
{
	struct fsk_listener *l;
	bool queued = false;
	int cpu;

	rcu_read_lock();
	l = fsk_listener_find(sk);
	if (l)
		for_each_possible_cpu(cpu) {
			struct sock *clone = READ_ONCE(l->clones[cpu]);

			if (clone && !reqsk_queue_empty(&inet_csk(clone)->icsk_accept_queue)) {
				queued = true;
				break;
			}
		}
	rcu_read_unlock();
	return queued;
}

/*
 * The wait queue of @sk's clone on @cpu, referenced, with the caller counted
 * as a local waiter (so wakeups stay on this CPU), or NULL.
 */
struct fsk_clone_wq *fsk_listener_wait_local(const struct sock *sk, int cpu,
					     struct wait_queue_entry *entry)
{
	struct fsk_clone_wq *cw = NULL;
	struct fsk_listener *l;

	rcu_read_lock();
	l = fsk_listener_find(sk);
	if (l && smp_load_acquire(&l->clones[cpu])) {
		cw = l->clone_wqs[cpu];
		if (!refcount_inc_not_zero(&cw->ref))
			cw = NULL;
	}
	rcu_read_unlock();
	if (cw) {
		atomic_inc(&cw->local_waiters);
		add_wait_queue_exclusive(&cw->wq.wait, entry);
		fsk_clone_wq_forward_last(cw);
	}
	return cw;
}

void fsk_listener_wait_local_end(struct fsk_clone_wq *cw,
				 struct wait_queue_entry *entry)
{
	remove_wait_queue(&cw->wq.wait, entry);
	atomic_dec(&cw->local_waiters);
	fsk_clone_wq_put(cw);
}

/*
 * How long the oldest connection queued on @clone may still wait for its
 * own CPU's acceptor, in jiffies; 0 if none may. Its child was made as it
 * was queued, and tcp_create_openreq_child() stamped lsndtime then: nothing
 * is sent on a connection before accept().
 */
static long fsk_clone_courtesy_left(struct sock *clone)
{
	struct request_sock_queue *queue = &inet_csk(clone)->icsk_accept_queue;
	struct request_sock *req;
	long left = 0;

	spin_lock_bh(&queue->rskq_lock);
	req = queue->rskq_accept_head;
	if (req && req->sk)
		left = (s32)(tcp_sk(req->sk)->lsndtime + FSK_LOCAL_ACCEPT_ACTIVE -
			     tcp_jiffies32);
	spin_unlock_bh(&queue->rskq_lock);
	return max(left, 0L);
}

/*
 * A referenced clone of @sk on @cpu that has a connection queued, or NULL.
 * The reference keeps it valid while accept() sleeps on its lock. A
 * courteous caller leaves the queue to a busy acceptor of its CPU while its
 * oldest connection is younger than FSK_LOCAL_ACCEPT_ACTIVE, and learns in
 * *retry_in when to look again.
 */
struct sock *fsk_listener_get_queued_clone(const struct sock *sk, int cpu,
					   enum fsk_clone_take how, long *retry_in)
{
	long left;
	struct sock *clone = NULL;
	struct fsk_clone_wq *cw;
	struct fsk_listener *l;

	rcu_read_lock();
	l = fsk_listener_find(sk);
	if (!l)
		goto out;
	clone = smp_load_acquire(&l->clones[cpu]);
	if (!clone || reqsk_queue_empty(&inet_csk(clone)->icsk_accept_queue)) {
		clone = NULL;
		goto out;
	}
	cw = l->clone_wqs[cpu];
	if (how == FSK_CLONE_LOCAL) {
		if (READ_ONCE(cw->last_local_accept) != jiffies)
			WRITE_ONCE(cw->last_local_accept, jiffies);
	} else if (how == FSK_CLONE_STEAL_COURTEOUS &&
		   (atomic_read(&cw->local_waiters) ||
		    time_before(jiffies, READ_ONCE(cw->last_local_accept) +
					 FSK_LOCAL_ACCEPT_ACTIVE)) &&
		   (left = fsk_clone_courtesy_left(clone))) {
		/* Its own CPU has an accept() caller at work: leave it. */
		if (!*retry_in || left < *retry_in)
			*retry_in = left;
		clone = NULL;
		goto out;
	}
	if (!refcount_inc_not_zero(&clone->sk_refcnt))
		clone = NULL;
out:
	rcu_read_unlock();
	return clone;
}

/*
 * Give @cpu a clone of every managed listener of @llt that lacks one and is
 * still eligible (it may have gained MD5 keys, a BPF congestion control...
 * since listen()). The netns's mutex held.
 */
static void fsk_clone_cpu(struct fsk_llt_net *llt, unsigned int cpu)
{
	struct fsk_listener *l, **todo;
	unsigned int bkt, n = 0, i, max = 0;

	rcu_read_lock();
	hash_for_each_rcu(llt->listeners, bkt, l, hash_node)
		if (!READ_ONCE(l->clones[cpu]))
			max++;
	rcu_read_unlock();
	if (!max)
		return;
	/* Listeners are added under the mutex: max stays an upper bound. */
	todo = kmalloc_array(max, sizeof(*todo), GFP_KERNEL);
	if (!todo)
		return;
	spin_lock_bh(&llt->lock);
	hash_for_each(llt->listeners, bkt, l, hash_node) {
		if (l->clones[cpu] || n == max)
			continue;
		refcount_inc(&l->ref);
		todo[n++] = l;
	}
	spin_unlock_bh(&llt->lock);

	for (i = 0; i < n; i++) {
		struct fsk_clone_wq *cw;
		struct sock *clone = NULL;

		l = todo[i];
		lock_sock(l->parent);
		if (l->parent->sk_state == TCP_LISTEN && fsk_listen_eligible(l->parent) &&
		    !fsk_clone_make(l->parent, cpu, &clone, &cw))
			clone = NULL;
		spin_lock_bh(&llt->lock);
		if (clone && !hlist_unhashed(&l->hash_node) && !l->clones[cpu]) {
			/* A retired clone's queue: the retired entry keeps it. */
			if (l->clone_wqs[cpu])
				fsk_clone_wq_put(l->clone_wqs[cpu]);
			l->clone_wqs[cpu] = cw;
			/* Readers load the clone, then its queue. */
			smp_store_release(&l->clones[cpu], clone);
			clone = NULL;
		}
		spin_unlock_bh(&llt->lock);
		release_sock(l->parent);
		if (clone)
			fsk_clone_discard(clone, cw);
		fsk_listener_put(l);
	}
	kfree(todo);
}

static void fsk_retired_free(struct fsk_retired *r)
{
	if (r->cw)
		fsk_clone_wq_put(r->cw);
	sock_put(r->clone);
	sock_put(r->parent);
	kfree(r);
}

/*
 * Take @r's clone out of its listener's clones[], if it is still there,
 * so that accept(), poll and the lookup no longer see it. Its netns's
 * mutex keeps listen() again (fsk_listener_sync) away from it.
 */
static bool fsk_retire_unslot(struct fsk_retired *r)
{
	struct fsk_llt_net *llt = fsk_llt(r->parent);
	struct fsk_listener *l;
	bool unslotted = false;

	mutex_lock(&llt->mutex);
	spin_lock_bh(&llt->lock);
	l = fsk_listener_find(r->parent);
	if (l && l->clones[r->cpu] == r->clone) {
		WRITE_ONCE(l->clones[r->cpu], NULL);
		/* A late ACK of one of its handshakes migrates it. */
		inet_sk_set_state(r->clone, TCP_CLOSE);
		fsk_clone_unlink(r->clone, l->clone_wqs[r->cpu]);
		/* The listener keeps its reference, for the next online. */
		r->cw = l->clone_wqs[r->cpu];
		refcount_inc(&r->cw->ref);
		unslotted = true;
	}
	spin_unlock_bh(&llt->lock);
	mutex_unlock(&llt->mutex);
	return unslotted;
}

/*
 * One pass over the clones of offline CPUs (fsk_nets_mutex held): retire
 * those done with their handshakes, close the retired ones done with their
 * stragglers; @all (rmmod) forgets the first kind, which stay the
 * listener's, and closes every retired one. Says whether some are left.
 */
static bool fsk_retire_step(bool all)
{
	struct fsk_retired *r, *tmp;
	LIST_HEAD(retire);
	LIST_HEAD(done);

	list_for_each_entry_safe(r, tmp, &fsk_retired, node) {
		bool quiet = !inet_csk_reqsk_queue_len(r->clone) ||
			     time_after(jiffies, r->deadline);

		if (r->retired) {
			if (all || quiet) {
				list_del_rcu(&r->node);
				list_add_tail(&r->batch_node, &done);
				atomic_dec(&fsk_migrating_count);
			}
			continue;
		}
		if (!all && !quiet)
			continue;
		if (all || !fsk_retire_unslot(r)) {
			/* Closed with its listener, or rmmod's to handle. */
			list_del_rcu(&r->node);
			list_add_tail(&r->batch_node, &done);
			continue;
		}
		r->retired = true;
		r->deadline = jiffies + FSK_RETIRE_WAIT;
		atomic_inc(&fsk_migrating_count);
		list_add_tail(&r->batch_node, &retire);
		fsk_count(fsk_net(sock_net(r->parent)), listen_clone_retired);
	}
	if (list_empty(&retire) && list_empty(&done))
		return !list_empty(&fsk_retired);

	/* Lookups that saw these clones listening, or the entries, are over. */
	synchronize_rcu();
	list_for_each_entry(r, &retire, batch_node) {
		/* The kernel's own teardown: connections go to the listener. */
		fsk_clone_stop(r->clone);
		if (!reqsk_queue_empty(&inet_csk(r->parent)->icsk_accept_queue))
			r->parent->sk_data_ready(r->parent);
	}
	list_for_each_entry_safe(r, tmp, &done, batch_node) {
		if (r->retired) {
			fsk_clone_stop(r->clone);
			fsk_clone_close(r->clone);
		}
		fsk_retired_free(r);
	}
	return !list_empty(&fsk_retired);
}

static void fsk_retire_reap(struct work_struct *work)
{
	bool left;

	mutex_lock(&fsk_nets_mutex);
	left = fsk_retire_step(false);
	mutex_unlock(&fsk_nets_mutex);
	if (left)
		schedule_delayed_work(&fsk_retire_work, HZ / 10);
}

static bool fsk_cpu_gone(unsigned int cpu)
{
	return !cpu_online(cpu) || cpumask_test_cpu(cpu, &fsk_cpus_leaving);
}

/* Is @clone on its way to retirement? fsk_nets_mutex held. */
static bool fsk_retiring(const struct sock *clone)
{
	struct fsk_retired *r;

	list_for_each_entry(r, &fsk_retired, node)
		if (r->clone == clone)
			return true;
	return false;
}

/*
 * Every clone of a CPU gone, in @llt, is put on the way to retirement
 * (fsk_retired). fsk_nets_mutex and the netns's mutex held.
 */
static bool fsk_retire_gone_cpus(struct fsk_llt_net *llt)
{
	struct fsk_retired *r, *tmp;
	struct fsk_listener *l;
	unsigned int bkt, cpu;
	LIST_HEAD(spare);
	bool queued = false;
	int n = 0;

	/* An entry per clone, allocated before taking the spinlock. */
	rcu_read_lock();
	hash_for_each_rcu(llt->listeners, bkt, l, hash_node)
		for_each_possible_cpu(cpu)
			if (fsk_cpu_gone(cpu) && READ_ONCE(l->clones[cpu]))
				n++;
	rcu_read_unlock();
	while (n--) {
		r = kzalloc(sizeof(*r), GFP_KERNEL);
		if (!r)
			break;	/* The clones left over stay, as before: nothing is lost. */
		list_add(&r->batch_node, &spare);
	}

	spin_lock_bh(&llt->lock);
	hash_for_each(llt->listeners, bkt, l, hash_node) {
		for_each_possible_cpu(cpu) {
			struct sock *clone = l->clones[cpu];

			if (!fsk_cpu_gone(cpu) || !clone || list_empty(&spare) ||
			    fsk_retiring(clone))
				continue;
			r = list_first_entry(&spare, struct fsk_retired, batch_node);
			list_del(&r->batch_node);
			sock_hold(clone);
			r->clone = clone;
			sock_hold(l->parent);
			r->parent = l->parent;
			r->cpu = cpu;
			r->deadline = jiffies + FSK_RETIRE_WAIT;
			list_add_tail_rcu(&r->node, &fsk_retired);
			queued = true;
		}
	}
	spin_unlock_bh(&llt->lock);
	list_for_each_entry_safe(r, tmp, &spare, batch_node)
		kfree(r);
	return queued;
}

/* A CPU back before its clones were retired keeps them. fsk_nets_mutex held. */
static void fsk_retire_cancel_back(void)
{
	struct fsk_retired *r, *tmp;
	LIST_HEAD(done);

	list_for_each_entry_safe(r, tmp, &fsk_retired, node)
		if (!r->retired && !fsk_cpu_gone(r->cpu)) {
			list_del_rcu(&r->node);
			list_add_tail(&r->batch_node, &done);
		}
	if (list_empty(&done))
		return;
	synchronize_rcu();
	list_for_each_entry_safe(r, tmp, &done, batch_node)
		fsk_retired_free(r);
}

/*
 * Make every netns's clones match the CPUs: idempotent, so that a change
 * racing with it only queues it once more.
 */
static void fsk_hotplug_reconcile(struct work_struct *work)
{
	struct fsk_net *fn;
	bool queued = false;
	unsigned int cpu;

	mutex_lock(&fsk_nets_mutex);
	if (READ_ONCE(fsk_listen_stopping))
		goto out;
	fsk_retire_cancel_back();
	list_for_each_entry(fn, &fsk_nets, llt.node) {
		mutex_lock(&fn->llt.mutex);
		if (fsk_retire_gone_cpus(&fn->llt))
			queued = true;
		for_each_online_cpu(cpu)
			if (!fsk_cpu_gone(cpu))
				fsk_clone_cpu(&fn->llt, cpu);
		mutex_unlock(&fn->llt.mutex);
	}
	if (queued)
		schedule_delayed_work(&fsk_retire_work, HZ / 10);
out:
	mutex_unlock(&fsk_nets_mutex);
}

static int fsk_listen_cpu_online(unsigned int cpu)
{
	cpumask_clear_cpu(cpu, &fsk_cpus_leaving);
	queue_work(fsk_listen_wq, &fsk_hotplug_work);
	return 0;
}

/* Teardown, on @cpu while it is still online. */
static int fsk_listen_cpu_offline(unsigned int cpu)
{
	cpumask_set_cpu(cpu, &fsk_cpus_leaving);
	queue_work(fsk_listen_wq, &fsk_hotplug_work);
	return 0;
}

/*
 * During rmmod, and for a clone retired by CPU hotplug, a clone's requests
 * and connections go to its listener.
 */
static struct sock *fsk_migration_target(const struct sock *sk)
{
	struct sock *target = NULL;
	struct fsk_listener *l;
	int cpu;

	rcu_read_lock();
	list_for_each_entry_rcu(l, &fsk_migrating, migrating_node)
		for_each_possible_cpu(cpu)
			if (READ_ONCE(l->clones[cpu]) == sk) {
				target = l->parent;
				goto found;
			}
	{
		struct fsk_retired *r;

		list_for_each_entry_rcu(r, &fsk_retired, node)
			if (r->clone == sk) {
				target = r->parent;
				break;
			}
	}
found:
	if (target && (inet_sk_state_load(target) != TCP_LISTEN ||
		       !refcount_inc_not_zero(&target->sk_refcnt)))
		target = NULL;
	rcu_read_unlock();
	return target;
}

static struct sock *fsk_reuseport_migrate_sock(struct sock *sk,
					       struct sock *migrating_sk,
					       struct sk_buff *skb)
{
	int idx = fsk_enter();
	struct sock *nsk = reuseport_migrate_sock(sk, migrating_sk, skb);

	if (!nsk)
		nsk = fsk_migration_target(sk);
	fsk_exit(idx);
	return nsk;
}

static bool notrace fsk_migrate_wanted(struct ftrace_regs *fregs)
{
	return atomic_read(&fsk_migrating_count) > 0;
}

static struct fsk_hook fsk_listen_hooks[] = {
	FSK_HOOK(reuseport_migrate_sock, fsk_reuseport_migrate_sock,
		 fsk_migrate_wanted),
	FSK_HOOK(inet_listen, fsk_inet_listen, fsk_inet_listen_wanted),
	FSK_HOOK(inet_csk_listen_stop, fsk_inet_csk_listen_stop,
		 fsk_listen_stop_wanted),
	FSK_HOOK(inet_put_port, fsk_inet_put_port, fsk_put_port_wanted),
	FSK_HOOK(__inet_lookup_listener, fsk___inet_lookup_listener,
		 fsk_lookup_listener_wanted),
#if IS_ENABLED(CONFIG_IPV6)
	FSK_HOOK(inet6_lookup_listener, fsk_inet6_lookup_listener,
		 fsk_lookup_listener_wanted),
#endif
	FSK_HOOK(tcp_poll, fsk_tcp_poll, fsk_tcp_poll_wanted),
};

int fsk_listen_init(void)
{
	int ret;

	fsk_listen_stopping = false;
	cpumask_clear(&fsk_cpus_leaving);
	fsk_listen_wq = alloc_workqueue("fastsocket", WQ_UNBOUND, 0);
	if (!fsk_listen_wq)
		return -ENOMEM;
	ret = cpuhp_setup_state_nocalls(CPUHP_AP_ONLINE_DYN, "net/fastsocket:online",
					fsk_listen_cpu_online, fsk_listen_cpu_offline);
	if (ret < 0)
		goto out_wq;
	fsk_cpuhp_state = ret;
	ret = fsk_hooks_add(fsk_listen_hooks, ARRAY_SIZE(fsk_listen_hooks));
	if (!ret)
		return 0;
	cpuhp_remove_state_nocalls(fsk_cpuhp_state);
out_wq:
	destroy_workqueue(fsk_listen_wq);
	return ret;
}

void fsk_listen_net_init(struct fsk_net *fn)
{
	hash_init(fn->llt.listeners);
	spin_lock_init(&fn->llt.lock);
	mutex_init(&fn->llt.mutex);
	mutex_lock(&fsk_nets_mutex);
	list_add_tail(&fn->llt.node, &fsk_nets);
	mutex_unlock(&fsk_nets_mutex);
}

/* Its sockets are gone, clones too: they hold the netns. */
void fsk_listen_net_exit(struct fsk_net *fn)
{
	mutex_lock(&fsk_nets_mutex);
	list_del(&fn->llt.node);
	mutex_unlock(&fsk_nets_mutex);
	WARN_ON_ONCE(!hash_empty(fn->llt.listeners));
	mutex_destroy(&fn->llt.mutex);
}

/* Has a clone of a managed listener a handshake in flight? fsk_nets_mutex held. */
static bool fsk_clones_have_handshakes(void)
{
	struct fsk_listener *l;
	struct fsk_net *fn;
	unsigned int bkt;
	bool pending = false;
	int cpu;

	rcu_read_lock();
	list_for_each_entry(fn, &fsk_nets, llt.node)
		hash_for_each_rcu(fn->llt.listeners, bkt, l, hash_node)
			for_each_possible_cpu(cpu) {
				struct sock *clone = READ_ONCE(l->clones[cpu]);

				if (clone && inet_csk_reqsk_queue_len(clone))
					pending = true;
			}
	rcu_read_unlock();
	return pending;
}

/* The first listener of @llt, referenced, or NULL. */
static struct fsk_listener *fsk_listener_first(struct fsk_llt_net *llt)
{
	struct fsk_listener *l = NULL;
	unsigned int bkt;

	spin_lock_bh(&llt->lock);
	hash_for_each(llt->listeners, bkt, l, hash_node)
		break;
	if (l)
		refcount_inc(&l->ref);
	spin_unlock_bh(&llt->lock);
	return l;
}

/*
 * Before the hooks go: no new clone, then every listener back to stock. Also
 * undoes fsk_listen_init() when loading fails later on.
 */
void fsk_listen_dismantle(void)
{
	unsigned long deadline;
	struct fsk_listener *l;
	struct fsk_net *fn;
	bool pending;
	int cpu;

	mutex_lock(&fsk_nets_mutex);
	WRITE_ONCE(fsk_listen_stopping, true);
	/* A listen() that did not see it has published its listener. */
	list_for_each_entry(fn, &fsk_nets, llt.node) {
		mutex_lock(&fn->llt.mutex);
		mutex_unlock(&fn->llt.mutex);
	}
	mutex_unlock(&fsk_nets_mutex);
	cpuhp_remove_state_nocalls(fsk_cpuhp_state);
	/* It sees fsk_listen_stopping and does nothing more. */
	flush_work(&fsk_hotplug_work);
	/* Retired clones are closed below, with the listeners'. */
	cancel_delayed_work_sync(&fsk_retire_work);
	mutex_lock(&fsk_nets_mutex);

	/*
	 * First, new SYNs go to the listeners themselves (fsk_local_listener),
	 * while the clones' handshakes in flight complete where they started
	 * and are accepted as usual: a clone that stops listening while one of
	 * its handshakes is completing resets that connection, as the kernel's
	 * own listener close does. A few seconds at most.
	 */
	synchronize_rcu();
	deadline = jiffies + 3 * HZ;
	while (fsk_clones_have_handshakes() && time_before(jiffies, deadline))
		msleep(20);

	/* Every listener off its hash, onto the migration list. */
	list_for_each_entry(fn, &fsk_nets, llt.node) {
		while ((l = fsk_listener_first(&fn->llt))) {
			/* The hash's reference passes to fsk_migrating. */
			if (fsk_listener_unpublish(l)) {
				list_add_rcu(&l->migrating_node, &fsk_migrating);
				atomic_inc(&fsk_migrating_count);
			}
			fsk_listener_put(l);
		}
	}
	/* Done with every lookup that saw a clone listening. */
	synchronize_rcu();

	/* Queued connections move to the listener, as reuseport does. */
	list_for_each_entry(l, &fsk_migrating, migrating_node) {
		for_each_possible_cpu(cpu)
			if (l->clones[cpu])
				fsk_clone_stop(l->clones[cpu]);
		if (!reqsk_queue_empty(&inet_csk(l->parent)->icsk_accept_queue))
			l->parent->sk_data_ready(l->parent);
	}

	/*
	 * Handshakes in flight on a clone move on their next ACK or SYN-ACK
	 * retransmit (the first comes after a second): wait for them while
	 * the hooks still name the listener, a few seconds at most.
	 */
	deadline = jiffies + 3 * HZ;
	do {
		struct fsk_retired *r;

		pending = false;
		list_for_each_entry(l, &fsk_migrating, migrating_node)
			for_each_possible_cpu(cpu)
				if (l->clones[cpu] && inet_csk_reqsk_queue_len(l->clones[cpu]))
					pending = true;
		list_for_each_entry(r, &fsk_retired, node)
			if (r->retired && inet_csk_reqsk_queue_len(r->clone))
				pending = true;
		if (pending)
			msleep(20);
	} while (pending && time_before(jiffies, deadline));
	fsk_retire_step(true);

	while (!list_empty(&fsk_migrating)) {
		l = list_first_entry(&fsk_migrating, struct fsk_listener, migrating_node);
		list_del_rcu(&l->migrating_node);
		atomic_dec(&fsk_migrating_count);
		/* The release work waits for RCU before the clones go. */
		fsk_listener_release(l);
	}
	mutex_unlock(&fsk_nets_mutex);
}

/* After every hook is gone and no task is left in them. */
void fsk_listen_exit(void)
{
	/* Release works wait for a grace period before they are queued. */
	rcu_barrier();
	/* Runs the clones' pending closes, then frees the queue. */
	destroy_workqueue(fsk_listen_wq);
}

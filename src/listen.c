// SPDX-License-Identifier: GPL-2.0
/*
 * Local Listen Table: per-CPU clones of a listening TCP socket.
 *
 * When a socket starts listening in a namespace with net.fastsocket.enabled
 * and .listen set, every online CPU gets a clone of it: same address, port,
 * options and backlog (clone.c). The kernel's lookup hands SYNs to the
 * current CPU's clone (lookup.c), accept() and poll take its queue first
 * (accept.c, poll.c), CPUs coming and going get and lose clones
 * (hotplug.c), and rmmod gives the listeners back to the kernel
 * (migrate.c). This file holds the table of managed listeners and their
 * lifecycle: eligibility, publication at listen(), listen() again, the end
 * at close or shutdown; the setup per module and netns, which adds every
 * file's hooks.
 */
#include <linux/cpu.h>
#include <linux/hashtable.h>
#include <linux/module.h>
#include <linux/net.h>
#include <linux/slab.h>
#include <linux/workqueue.h>
#include <net/inet_common.h>
#include <net/inet_connection_sock.h>
#include <net/inet_hashtables.h>
#include <net/tcp.h>
#include <net/transp_v6.h>

#include "fastsocket.h"
#include "hook.h"
#include "listen.h"
#include "llt.h"

/* Shared by the Local Listen Table's files: llt.h says what guards what. */
DEFINE_MUTEX(fsk_nets_mutex);
LIST_HEAD(fsk_nets);
bool fsk_listen_stopping;
struct workqueue_struct *fsk_listen_wq;

/* The table of @sk's netns; under RCU, or while @sk holds its netns. */
struct fsk_llt_net *fsk_llt(const struct sock *sk)
{
	return &fsk_net(sock_net(sk))->llt;
}

struct fsk_listener *fsk_listener_find(const struct sock *sk)
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

bool fsk_listen_eligible(const struct sock *sk)
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
	/* Its own TFO key: every SYN would go to it (fsk_clone_current). */
	if (rcu_access_pointer(icsk->icsk_accept_queue.fastopenq.ctx))
		return false;
#ifdef CONFIG_XFRM
	if (rcu_access_pointer(sk->sk_policy[0]) || rcu_access_pointer(sk->sk_policy[1]))
		return false;
#endif
	/* A BPF congestion control cannot be pinned from here. */
	if (icsk->icsk_ca_ops && icsk->icsk_ca_ops->owner == BPF_MODULE_OWNER)
		return false;
	return true;
}

void fsk_listener_put(struct fsk_listener *l)
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

void fsk_listener_release(struct fsk_listener *l)
{
	queue_rcu_work(fsk_listen_wq, &l->release_work);
}

/*
 * Take @l out of the hash and cut every clone's links to the parent. Returns
 * false if someone else did first. Any context.
 */
bool fsk_listener_unpublish(struct fsk_listener *l)
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

/*
 * The parent's options to its clones (not the backlog: lookup.c's share sets
 * each clone's per SYN, from the parent's). The netns's mutex and the
 * parent's lock held.
 */
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
	/*
	 * Some options are set without the parent's lock (TCP_DEFER_ACCEPT,
	 * TCP_USER_TIMEOUT, ...): one written while the clones were made
	 * either finds the listener listening and published (sockopt.c copies
	 * it), or is seen here. Pairs with fsk_listener_options_changed()'s
	 * barrier. (A lockless option the clones do not copy, written in
	 * that window, goes unseen: SO_BUSY_POLL, SO_MAX_PACING_RATE.)
	 */
	smp_mb();
	fsk_listener_sync(l);
}

/*
 * @sk, a TCP socket, got option @optname of @level (sockopt.c). If it is a
 * managed listener, its clones copy the option, or, for one they cannot
 * follow, the listener takes its SYNs itself from now on. Process context;
 * the caller may hold io_uring's ctx lock, no socket lock.
 */
void fsk_listener_options_changed(struct sock *sk, int level, int optname)
{
	struct fsk_listener *l;
	struct fsk_net *fn;
	bool managed;

	/*
	 * The option's write before the looks at the state and the hash;
	 * pairs with fsk_listener_create()'s.
	 */
	smp_mb();
	if (inet_sk_state_load(sk) != TCP_LISTEN)
		return;
	fn = fsk_net_of_sock(sk);
	rcu_read_lock();
	managed = fsk_listener_managed(sk);
	rcu_read_unlock();
	/* Most setsockopt() calls on listeners are on unmanaged ones. */
	if (!managed)
		return;
	mutex_lock(&fn->llt.mutex);
	lock_sock(sk);
	if (sk->sk_state != TCP_LISTEN || READ_ONCE(fsk_listen_stopping))
		goto out;
	rcu_read_lock();
	l = fsk_listener_find(sk);
	rcu_read_unlock();
	/*
	 * Still published after RCU: only closing this socket (whose lock we
	 * hold) or unload, which sets fsk_listen_stopping under our mutex
	 * first, unpublishes it.
	 */
	if (!l)
		goto out;
	if (fsk_sockopt_followed(level, optname)) {
		fsk_listener_sync(l);
	} else if (!l->options_unfollowed) {
		WRITE_ONCE(l->options_unfollowed, true);
		fsk_count(fn, listen_option_unfollowed);
	}
out:
	release_sock(sk);
	mutex_unlock(&fn->llt.mutex);
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

	return fsk_sock_may_be_managed(sock->sk);
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
	/* Connections close by the thousand: only a listener is looked at. */
	return fsk_listening_in_managed_netns((const void *)fsk_fregs_arg(fregs, 0));
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

static struct fsk_hook fsk_listen_hooks[] = {
	FSK_HOOK(inet_listen, fsk_inet_listen, fsk_inet_listen_wanted),
	FSK_HOOK(inet_csk_listen_stop, fsk_inet_csk_listen_stop,
		 fsk_listen_stop_wanted),
	FSK_HOOK(inet_put_port, fsk_inet_put_port, fsk_put_port_wanted),
};

int fsk_listen_init(void)
{
	int ret;

	fsk_listen_stopping = false;
	cpumask_clear(&fsk_cpus_leaving);
	fsk_listen_wq = alloc_workqueue("fastsocket", WQ_UNBOUND, 0);
	if (!fsk_listen_wq)
		return -ENOMEM;
	ret = fsk_hotplug_init();
	if (ret)
		goto out_wq;
	ret = fsk_migrate_hooks_add();
	if (!ret)
		ret = fsk_hooks_add(fsk_listen_hooks, ARRAY_SIZE(fsk_listen_hooks));
	if (!ret)
		ret = fsk_lookup_hooks_add();
	if (!ret)
		ret = fsk_poll_hooks_add();
	if (!ret)
		ret = fsk_sockopt_hooks_add();
	if (!ret)
		return 0;
	fsk_hotplug_exit();
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

/* After every hook is gone and no task is left in them. */
void fsk_listen_exit(void)
{
	/* Release works wait for a grace period before they are queued. */
	rcu_barrier();
	/* Runs the clones' pending closes, then frees the queue. */
	destroy_workqueue(fsk_listen_wq);
}

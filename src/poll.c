// SPDX-License-Identifier: GPL-2.0
/*
 * Local Listen Table: wait queues and poll. A connection queued on a clone
 * wakes the accept() callers and the epoll or io_uring waiters of the
 * clone's CPU first, else the application's socket (struct fsk_clone_wq).
 * poll() on the socket sees the clones' queues, and accept() (accept.c)
 * takes the local clone's queue first, then the parent's, then the other
 * clones'.
 */
#include <linux/net.h>
#include <linux/poll.h>
#include <linux/slab.h>
#include <net/inet_connection_sock.h>
#include <net/request_sock.h>
#include <net/tcp.h>

#include "fastsocket.h"
#include "hook.h"
#include "listen.h"
#include "llt.h"

static int fsk_clone_wq_forward(struct wait_queue_entry *entry, unsigned int mode,
				int sync, void *key)
{
	struct fsk_clone_wq *cw = container_of(entry, struct fsk_clone_wq, forward);
	struct socket_wq *parent_wq;

	/*
	 * The exclusive walk gets here only when no local entry woke a task:
	 * a local waiter that is running, not asleep, does not take this
	 * connection for sure, so the socket's waiters are woken too.
	 */
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

struct fsk_clone_wq *fsk_clone_wq_alloc(struct socket_wq *parent_wq)
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

	return fsk_listening_in_managed_netns(sock->sk);
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
		left = (s32)(READ_ONCE(tcp_sk(req->sk)->lsndtime) +
			     FSK_LOCAL_ACCEPT_ACTIVE - tcp_jiffies32);
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

static struct fsk_hook fsk_poll_hooks[] = {
	FSK_HOOK(tcp_poll, fsk_tcp_poll, fsk_tcp_poll_wanted),
};

int fsk_poll_hooks_add(void)
{
	return fsk_hooks_add(fsk_poll_hooks, ARRAY_SIZE(fsk_poll_hooks));
}

/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Local Listen Table: what its files share (listen.c: the table and the
 * lifecycle of a managed listener; clone.c: making and unmaking a clone;
 * lookup.c: the SYN path; poll.c: wait queues and poll; hotplug.c: CPU
 * hotplug; migrate.c: rmmod). The rest of the module uses listen.h.
 */
#ifndef _FSK_LLT_H
#define _FSK_LLT_H

#include <linux/cpumask.h>
#include <linux/list.h>
#include <linux/mutex.h>
#include <linux/workqueue.h>
#include <net/inet_sock.h>
#include <net/sock.h>

#include "fastsocket.h"
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
	/*
	 * The backlog state (include/fastsocket/backlog.h): odd while some
	 * clone may hold more than its share of the backlog, and every SYN
	 * then weighs the listener as a whole (lookup.c). Read by every SYN,
	 * changed only by atomic compare-and-exchange, each change to a
	 * greater value. In the hole after ref; options_unfollowed below
	 * takes 8 bytes more than it did beside a bool.
	 */
	atomic_t backlog_state;
	/*
	 * An option set after listen() that the clones cannot copy
	 * (sockopt.c): the listener takes its SYNs itself for good. Written
	 * under the netns's mutex and the parent's lock.
	 */
	bool options_unfollowed;
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
extern struct mutex fsk_nets_mutex;
extern struct list_head fsk_nets;
/* Set by unload, under every netns's mutex: no new clone from then on. */
extern bool fsk_listen_stopping;
/* Closes clones in process context; drained before the module goes. */
extern struct workqueue_struct *fsk_listen_wq;

/*
 * CPU hotplug: the callbacks run under the CPU hotplug lock, which
 * setsockopt() takes inside the socket lock (static keys), so they only
 * record the change and queue fsk_hotplug_work, which gives new CPUs their
 * clones and retires those of CPUs gone. A CPU is
 * in fsk_cpus_leaving from its teardown until it is back: treated as gone.
 */
extern struct cpumask fsk_cpus_leaving;
extern struct work_struct fsk_hotplug_work;

/* Listeners on fsk_migrating plus clones on fsk_retired: the hook's switch. */
extern atomic_t fsk_migrating_count;

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
extern struct list_head fsk_retired;
extern struct delayed_work fsk_retire_work;

/* listen.c */
struct fsk_llt_net *fsk_llt(const struct sock *sk);
struct fsk_listener *fsk_listener_find(const struct sock *sk);
bool fsk_listen_eligible(const struct sock *sk);
void fsk_listener_put(struct fsk_listener *l);
void fsk_listener_release(struct fsk_listener *l);
bool fsk_listener_unpublish(struct fsk_listener *l);

/* clone.c */
void fsk_clone_sync_options(struct sock *clone, const struct sock *parent);
void fsk_clone_unlink(struct sock *clone, struct fsk_clone_wq *cw);
void fsk_clone_stop(struct sock *clone);
void fsk_clone_close(struct sock *clone);
bool fsk_clone_make(struct sock *parent, int cpu, struct sock **clone,
		    struct fsk_clone_wq **cw);
void fsk_clone_discard(struct sock *clone, struct fsk_clone_wq *cw);

/* lookup.c */
int fsk_lookup_hooks_add(void);

/* poll.c */
struct fsk_clone_wq *fsk_clone_wq_alloc(struct socket_wq *parent_wq);
int fsk_poll_hooks_add(void);

/* hotplug.c */
int fsk_hotplug_init(void);
void fsk_hotplug_exit(void);
bool fsk_retire_step(bool all);

/* migrate.c */
int fsk_migrate_hooks_add(void);

/* sockopt.c */
int fsk_sockopt_hooks_add(void);
bool fsk_sockopt_followed(int level, int optname);

/*
 * For the hooks' ftrace callbacks: could @sk, a TCP socket, be or become a
 * managed listener? Kernel sockets, ULPs (MPTCP's subflows) and sockets with
 * sk_user_data (sockmap, SMC's internal one) are never managed; their
 * listen() and setsockopt() may run under another socket's lock, which must
 * not nest the netns's mutex, so they run the kernel's function untouched.
 */
static inline bool notrace fsk_sock_may_be_managed(const struct sock *sk)
{
	bool may;

	if (!sk || sk->sk_protocol != IPPROTO_TCP)
		return false;
	if (!sk->sk_net_refcnt || READ_ONCE(inet_csk(sk)->icsk_ulp_ops) ||
	    rcu_access_pointer(sk->sk_user_data))
		return false;
	rcu_read_lock();
	may = fsk_netns_may_manage(sock_net(sk));
	rcu_read_unlock();
	return may;
}

/*
 * For the hooks' ftrace callbacks: is @sk a listener in a netns that has
 * managed listeners? Anything else runs the kernel's function untouched.
 */
static inline bool notrace fsk_listening_in_managed_netns(const struct sock *sk)
{
	bool managed;

	if (inet_sk_state_load(sk) != TCP_LISTEN)
		return false;
	rcu_read_lock();
	managed = fsk_netns_listeners(sock_net(sk));
	rcu_read_unlock();
	return managed;
}

#endif /* _FSK_LLT_H */

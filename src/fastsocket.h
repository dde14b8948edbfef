/* SPDX-License-Identifier: GPL-2.0 */
#ifndef _FSK_FASTSOCKET_H
#define _FSK_FASTSOCKET_H

#include <linux/hashtable.h>
#include <linux/mutex.h>
#include <linux/percpu.h>
#include <linux/spinlock.h>
#include <linux/types.h>
#include <net/net_namespace.h>
#include <net/netns/generic.h>
#include <net/sock.h>

#include <fastsocket/abi.h>

struct fsk_cpu_stats {
#define FSK_COUNTER_FIELD(name, desc) u64 name;
	FSK_COUNTERS(FSK_COUNTER_FIELD)
#undef FSK_COUNTER_FIELD
};

#define FSK_LISTENERS_HASH_BITS	8

/* A network namespace's Local Listen Table (listen.c). */
struct fsk_llt_net {
	/* Managed listeners by socket address; readers walk it under RCU. */
	DECLARE_HASHTABLE(listeners, FSK_LISTENERS_HASH_BITS);
	/* Writers of the hash, of its listeners' clones[] slots. */
	spinlock_t lock;
	/*
	 * Clones' lives in this netns: made (listen(), CPU hotplug), synced
	 * (listen() again), retired and closed. Taken inside fsk_nets_mutex by
	 * CPU hotplug and unload, which work on every netns.
	 */
	struct mutex mutex;
	/* On the list of every netns (listen.c), under fsk_nets_mutex. */
	struct list_head node;
};

/* Per network namespace state. */
struct fsk_net {
	struct net *net;
	/* net.fastsocket.enabled; read locklessly by hooks. */
	int enabled;
	/* net.fastsocket.listen: listeners get per-CPU clones. */
	int listen;
	/* net.fastsocket.rfd: connect() picks a port in the caller CPU's block. */
	int rfd;
	/* Listeners of this netns that have clones (listen.c). */
	atomic_t managed_listeners;
	struct fsk_llt_net llt;
	struct fsk_cpu_stats __percpu *stats;
	struct ctl_table_header *sysctl_header;
};

extern unsigned int fsk_net_id;

/* Valid under RCU, or while the caller holds a reference to the netns. */
static inline struct fsk_net *fsk_net(const struct net *net)
{
	return net_generic(net, fsk_net_id);
}

/*
 * The pernet block lives as long as its netns, and a socket's caller holds
 * the netns: the pointer stays valid after the RCU section.
 */
static inline struct fsk_net *fsk_net_of_sock(const struct sock *sk)
{
	struct fsk_net *fn;

	rcu_read_lock();
	fn = fsk_net(sock_net(sk));
	rcu_read_unlock();
	return fn;
}

static inline bool fsk_enabled(const struct net *net)
{
	return READ_ONCE(fsk_net(net)->enabled);
}

static inline int fsk_netns_listeners(const struct net *net)
{
	return atomic_read(&fsk_net(net)->managed_listeners);
}

/* Could a listen() in @net get clones, or has one? Under RCU. */
static inline bool fsk_netns_may_manage(const struct net *net)
{
	const struct fsk_net *fn = fsk_net(net);

	return (READ_ONCE(fn->enabled) && READ_ONCE(fn->listen)) ||
	       atomic_read(&fn->managed_listeners);
}

#define fsk_count(fn, counter) this_cpu_inc((fn)->stats->counter)

int fsk_netns_init(void);
void fsk_netns_exit(void);

int fsk_sysctl_net_init(struct net *net, struct fsk_net *fn);
void fsk_sysctl_net_exit(struct fsk_net *fn);

int fsk_stats_net_init(struct net *net, struct fsk_net *fn);
void fsk_stats_net_exit(struct net *net, struct fsk_net *fn);

int fsk_accept_hooks_add(void);
int fsk_rfd_hooks_add(void);

#endif /* _FSK_FASTSOCKET_H */

// SPDX-License-Identifier: GPL-2.0
/*
 * Local Listen Table: rmmod gives every managed listener back to the kernel.
 * New SYNs go to the listeners and the clones' handshakes in flight complete
 * where they started; then the clones stop listening and hand their queued
 * connections, and any handshake still in flight, to the listener through the
 * kernel's own request migration (the one reuseport groups use): the hook of
 * reuseport_migrate_sock() names the listener, for clones retired by CPU
 * hotplug too.
 */
#include <linux/delay.h>
#include <linux/hashtable.h>
#include <net/inet_connection_sock.h>
#include <net/request_sock.h>
#include <net/sock_reuseport.h>
#include <net/tcp.h>

#include "fastsocket.h"
#include "hook.h"
#include "listen.h"
#include "llt.h"

/*
 * Listeners being given back to the kernel at rmmod, whose clones hand their
 * requests and connections to the listener (RCU list, writers under
 * fsk_nets_mutex).
 */
static LIST_HEAD(fsk_migrating);

/* Shared by the Local Listen Table's files: llt.h says what guards what. */
atomic_t fsk_migrating_count = ATOMIC_INIT(0);

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

static struct fsk_hook fsk_migrate_hooks[] = {
	FSK_HOOK(reuseport_migrate_sock, fsk_reuseport_migrate_sock,
		 fsk_migrate_wanted),
};

int fsk_migrate_hooks_add(void)
{
	return fsk_hooks_add(fsk_migrate_hooks, ARRAY_SIZE(fsk_migrate_hooks));
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
	fsk_hotplug_exit();
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
			/*
			 * On the migration list before its clones stop
			 * listening, so that no late ACK finds them closed
			 * and unnamed. The hash's reference passes to
			 * fsk_migrating.
			 */
			atomic_inc(&fsk_migrating_count);
			list_add_rcu(&l->migrating_node, &fsk_migrating);
			if (!fsk_listener_unpublish(l)) {
				/* Closed meanwhile: its own release has it. */
				list_del_rcu(&l->migrating_node);
				atomic_dec(&fsk_migrating_count);
				/* Readers of the list let go before our put. */
				synchronize_rcu();
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

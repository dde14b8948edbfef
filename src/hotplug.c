// SPDX-License-Identifier: GPL-2.0
/*
 * Local Listen Table: CPU hotplug. A CPU coming online gives every managed
 * listener that is still eligible a clone; the clones of a CPU gone offline
 * finish their handshakes, then are retired (struct fsk_retired): they stop
 * listening and their connections move to the listener, as at rmmod. The
 * cpuhp callbacks only note the change; a work does the rest.
 */
#include <linux/cpu.h>
#include <linux/cpuhotplug.h>
#include <linux/hashtable.h>
#include <linux/slab.h>
#include <linux/workqueue.h>
#include <net/inet_connection_sock.h>
#include <net/request_sock.h>
#include <net/tcp.h>

#include "fastsocket.h"
#include "llt.h"

static enum cpuhp_state fsk_cpuhp_state;
/* Shared by the Local Listen Table's files: llt.h says what guards what. */
struct cpumask fsk_cpus_leaving;
static void fsk_hotplug_reconcile(struct work_struct *work);
DECLARE_WORK(fsk_hotplug_work, fsk_hotplug_reconcile);
LIST_HEAD(fsk_retired);
static void fsk_retire_reap(struct work_struct *work);
DECLARE_DELAYED_WORK(fsk_retire_work, fsk_retire_reap);

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
	todo = kvmalloc_array(max, sizeof(*todo), GFP_KERNEL);
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
	kvfree(todo);
}

static bool fsk_cpu_gone(unsigned int cpu)
{
	return !cpu_online(cpu) || cpumask_test_cpu(cpu, &fsk_cpus_leaving);
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
		/*
		 * A late ACK of one of its handshakes migrates it: the
		 * migration hook is switched on before the clone stops.
		 */
		atomic_inc(&fsk_migrating_count);
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
bool fsk_retire_step(bool all)
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
		if (!all && (!quiet || !fsk_cpu_gone(r->cpu)))
			continue;
		if (all || !fsk_retire_unslot(r)) {
			/* Closed with its listener, or rmmod's to handle. */
			list_del_rcu(&r->node);
			list_add_tail(&r->batch_node, &done);
			continue;
		}
		r->retired = true;
		r->deadline = jiffies + FSK_RETIRE_WAIT;
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
			/*
			 * No SYN comes to it any more to set its limit (lookup.c):
			 * its handshakes in flight complete against the backlog.
			 */
			WRITE_ONCE(clone->sk_max_ack_backlog,
				   READ_ONCE(l->parent->sk_max_ack_backlog));
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

/* The cpuhp callbacks, from fsk_listen_init() until fsk_listen_dismantle(). */
int fsk_hotplug_init(void)
{
	int ret;

	ret = cpuhp_setup_state_nocalls(CPUHP_AP_ONLINE_DYN, "net/fastsocket:online",
					fsk_listen_cpu_online, fsk_listen_cpu_offline);
	if (ret < 0)
		return ret;
	fsk_cpuhp_state = ret;
	return 0;
}

void fsk_hotplug_exit(void)
{
	cpuhp_remove_state_nocalls(fsk_cpuhp_state);
}

// SPDX-License-Identifier: GPL-2.0
/*
 * Receive Flow Deliver, connect side: a TCP connect() that leaves the source
 * port to the kernel gets one from the calling CPU's block of the namespace's
 * ephemeral range (include/fastsocket/rfd.h), so that the XDP program can
 * steer the replies back to that CPU.
 *
 * The kernel's own port search stays in charge: we only narrow the range it
 * asks inet_sk_get_local_port_range() for, after that function applied the
 * socket's IP_LOCAL_PORT_RANGE; ip_local_reserved_ports and the 4-tuple
 * uniqueness checks apply as always. When the block has no free port, the
 * connect is retried once over the whole range.
 */
#include <linux/cpumask.h>
#include <linux/percpu.h>
#include <linux/preempt.h>
#include <net/inet_hashtables.h>
#include <net/ip.h>
#include <net/ipv6.h>
#include <net/tcp.h>

#include <fastsocket/rfd.h>

#include "fastsocket.h"
#include "hook.h"

/* Modules get no ..read_mostly per-CPU section: plain DEFINE_PER_CPU. */
static DEFINE_PER_CPU(u32, fsk_rfd_slot);
static u32 fsk_rfd_nslots __read_mostly;

/*
 * The tasks retrying a connect over the whole range on this CPU. A retry
 * runs with migration disabled, but may be preempted (the kernel's port
 * search reschedules), and another task's retry may then start and end on
 * the same CPU: each has its own slot. Slots change with preemption off.
 */
#define FSK_RFD_FALLBACK_TASKS	8
struct fsk_rfd_fallback {
	unsigned int count;
	struct task_struct *task[FSK_RFD_FALLBACK_TASKS];
};
static DEFINE_PER_CPU(struct fsk_rfd_fallback, fsk_rfd_fallback);

/* Is current retrying over the whole range? Migration disabled. */
static bool fsk_rfd_in_fallback(void)
{
	struct fsk_rfd_fallback *f = raw_cpu_ptr(&fsk_rfd_fallback);
	unsigned int i;

	if (likely(!READ_ONCE(f->count)))
		return false;
	for (i = 0; i < FSK_RFD_FALLBACK_TASKS; i++)
		if (READ_ONCE(f->task[i]) == current)
			return true;
	return false;
}

static bool fsk_rfd_fallback_enter(void)
{
	struct fsk_rfd_fallback *f;
	unsigned int i;
	bool entered = false;

	preempt_disable();
	f = this_cpu_ptr(&fsk_rfd_fallback);
	for (i = 0; i < FSK_RFD_FALLBACK_TASKS; i++)
		if (!f->task[i]) {
			WRITE_ONCE(f->task[i], current);
			WRITE_ONCE(f->count, f->count + 1);
			entered = true;
			break;
		}
	preempt_enable();
	return entered;
}

static void fsk_rfd_fallback_leave(void)
{
	struct fsk_rfd_fallback *f;
	unsigned int i;

	preempt_disable();
	f = this_cpu_ptr(&fsk_rfd_fallback);
	for (i = 0; i < FSK_RFD_FALLBACK_TASKS; i++)
		if (f->task[i] == current) {
			WRITE_ONCE(f->task[i], NULL);
			WRITE_ONCE(f->count, f->count - 1);
			break;
		}
	preempt_enable();
}

/* Would this CPU's block narrow [*low, *high]? */
static bool fsk_rfd_block_of(const struct sock *sk, u32 *lo, u32 *hi)
{
	int ns_low, ns_high;

	inet_get_local_port_range(sock_net(sk), &ns_low, &ns_high);
	return fsk_rfd_narrow(ns_low, ns_high, fsk_rfd_nslots,
			      this_cpu_read(fsk_rfd_slot), lo, hi);
}

static bool fsk_rfd_narrow_range(const struct sock *sk, int *low, int *high)
{
	struct fsk_net *fn = fsk_net_of_sock(sk);
	u32 lo = *low, hi = *high;
	bool narrowed;

	if (unlikely(fsk_rfd_in_fallback()))
		return false;
	narrowed = fsk_rfd_block_of(sk, &lo, &hi);
	if (narrowed) {
		*low = lo;
		*high = hi;
		fsk_count(fn, rfd_connect_local);
	} else {
		fsk_count(fn, rfd_connect_unowned);
	}
	return narrowed;
}

#ifdef FSK_INET_SK_PORT_RANGE_RETURNS_BOOL
static bool fsk_inet_sk_get_local_port_range(const struct sock *sk, int *low,
					     int *high)
{
	int idx = fsk_enter();
	bool sk_range = inet_sk_get_local_port_range(sk, low, high);

	/*
	 * true: the kernel then scans the block port by port, instead of its
	 * even ports first (it keeps odd ones for bind()): a block is small.
	 */
	if (fsk_rfd_narrow_range(sk, low, high))
		sk_range = true;
	fsk_exit(idx);
	return sk_range;
}
#else
static void fsk_inet_sk_get_local_port_range(const struct sock *sk, int *low,
					     int *high)
{
	int idx = fsk_enter();

	inet_sk_get_local_port_range(sk, low, high);
	fsk_rfd_narrow_range(sk, low, high);
	fsk_exit(idx);
}
#endif

static bool notrace fsk_rfd_wanted_for(const struct sock *sk)
{
	const struct fsk_net *fn;
	bool wanted;

	if (sk->sk_protocol != IPPROTO_TCP || sk->sk_type != SOCK_STREAM)
		return false;
	rcu_read_lock();
	fn = fsk_net(sock_net(sk));
	wanted = READ_ONCE(fn->enabled) && READ_ONCE(fn->rfd);
	rcu_read_unlock();
	return wanted;
}

static bool notrace fsk_port_range_wanted(struct ftrace_regs *fregs)
{
	const struct sock *sk = (const void *)fsk_fregs_arg(fregs, 0);

	/* connect(): tcp_v4/v6_connect() set SYN_SENT before hashing. */
	return READ_ONCE(sk->sk_state) == TCP_SYN_SENT && fsk_rfd_wanted_for(sk);
}

static bool notrace fsk_hash_connect_wanted(struct ftrace_regs *fregs)
{
	const struct sock *sk = (const void *)fsk_fregs_arg(fregs, 1);

	/* A socket bound to a port before connect() keeps it. */
	return !inet_sk(sk)->inet_num && fsk_rfd_wanted_for(sk);
}

static int fsk_hash_connect_once(struct inet_timewait_death_row *death_row,
				 struct sock *sk, bool ipv6)
{
#if IS_ENABLED(CONFIG_IPV6)
	if (ipv6)
		return inet6_hash_connect(death_row, sk);
#endif
	return inet_hash_connect(death_row, sk);
}

/*
 * The kernel's port search, in the block; when the block had no free port,
 * once more over the whole range. Only then: a search that was not narrowed
 * (no block for this CPU, a socket range that misses it or lies inside the
 * block) already saw every port it may use. Migration is disabled so that
 * "this CPU's block" means one block.
 */
static int fsk_hash_connect(struct inet_timewait_death_row *death_row,
			    struct sock *sk, bool ipv6)
{
	int idx = fsk_enter();
	u32 lo, hi;
	int err, low, high;

	migrate_disable();
	err = fsk_hash_connect_once(death_row, sk, ipv6);
	if (err == -EADDRNOTAVAIL && !inet_sk(sk)->inet_num) {
		inet_sk_get_local_port_range(sk, &low, &high);
		lo = low;
		hi = high;
		if (fsk_rfd_block_of(sk, &lo, &hi) && (lo != low || hi != high) &&
		    fsk_rfd_fallback_enter()) {
			fsk_count(fsk_net_of_sock(sk), rfd_connect_fallback);
			err = fsk_hash_connect_once(death_row, sk, ipv6);
			fsk_rfd_fallback_leave();
		}
	}
	migrate_enable();
	fsk_exit(idx);
	return err;
}

static int fsk_inet_hash_connect(struct inet_timewait_death_row *death_row,
				 struct sock *sk)
{
	return fsk_hash_connect(death_row, sk, false);
}

#if IS_ENABLED(CONFIG_IPV6)
static int fsk_inet6_hash_connect(struct inet_timewait_death_row *death_row,
				  struct sock *sk)
{
	return fsk_hash_connect(death_row, sk, true);
}
#endif

static struct fsk_hook fsk_rfd_hooks[] = {
	FSK_HOOK(inet_sk_get_local_port_range, fsk_inet_sk_get_local_port_range,
		 fsk_port_range_wanted),
	FSK_HOOK(inet_hash_connect, fsk_inet_hash_connect,
		 fsk_hash_connect_wanted),
#if IS_ENABLED(CONFIG_IPV6)
	FSK_HOOK(inet6_hash_connect, fsk_inet6_hash_connect,
		 fsk_hash_connect_wanted),
#endif
};

int fsk_rfd_hooks_add(void)
{
	const __u64 *possible = (const __u64 *)cpumask_bits(cpu_possible_mask);
	int cpu;

	BUILD_BUG_ON(sizeof(unsigned long) != sizeof(__u64));
	fsk_rfd_nslots = num_possible_cpus();
	for_each_possible_cpu(cpu)
		per_cpu(fsk_rfd_slot, cpu) =
			fsk_rfd_slot_of_cpu(possible, BITS_TO_LONGS(nr_cpu_ids), cpu);

	return fsk_hooks_add(fsk_rfd_hooks, ARRAY_SIZE(fsk_rfd_hooks));
}


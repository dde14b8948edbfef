// SPDX-License-Identifier: GPL-2.0
/*
 * The accept path: inet_csk_accept() wrapped for user sockets of namespaces
 * with net.fastsocket.enabled=1.
 *
 * The replacement never sleeps inside the kernel's function: it calls it with
 * O_NONBLOCK and does the waiting itself, with the kernel's semantics
 * (exclusive wakeups, SO_RCVTIMEO, signals). That keeps every sleeping task
 * where unload can reach it: on unload the wait ends and the syscall is
 * restarted, transparently, in the stock kernel.
 */

#include <linux/sched/signal.h>
#include <linux/wait.h>
#include <net/inet_connection_sock.h>
#include <net/sock.h>

#include "fastsocket.h"
#include "hook.h"
#include "listen.h"

struct fsk_accept_call {
	int flags;
	bool kern;
	int *err;
	int *is_empty;
	bool wants_is_empty;
};

/* One non-blocking try of the kernel's own accept: a direct call. */
static struct sock *fsk_accept_try(struct sock *sk,
				   const struct fsk_accept_call *call)
{
#ifdef FSK_HAVE_PROTO_ACCEPT_ARG
	struct proto_accept_arg arg = {
		.flags		= call->flags | O_NONBLOCK,
		.err		= *call->err,
		.kern		= call->kern,
		.is_empty	= *call->is_empty,
	};
	struct sock *newsk = inet_csk_accept(sk, &arg);

	*call->err = arg.err;
	*call->is_empty = arg.is_empty;
	return newsk;
#else
	return inet_csk_accept(sk, call->flags | O_NONBLOCK, call->err,
			       call->kern);
#endif
}

/* A connection queued on @sk's clone on @cpu, if any. */
static struct sock *fsk_accept_from_clone(struct sock *sk, int cpu,
					  const struct fsk_accept_call *call,
					  enum fsk_clone_take how, long *retry_in)
{
	struct sock *clone = fsk_listener_get_queued_clone(sk, cpu, how, retry_in);
	struct sock *newsk;

	if (!clone)
		return NULL;
	newsk = fsk_accept_try(clone, call);
	sock_put(clone);
	/* A clone being closed says -EINVAL: for the caller, just empty. */
	*call->err = newsk ? 0 : -EAGAIN;
	return newsk;
}

/*
 * One non-blocking round: the local clone's queue, the listener's own, then
 * the other CPUs' clones, so nothing is stranded where no thread accepts.
 * A caller that can sleep (@courteous) leaves a queue whose own CPU has a
 * busy accept() caller to it, for a while (*retry_in: when to look again);
 * one that cannot must take it, or it would spin between poll and accept.
 */
static struct sock *fsk_accept_round(struct sock *sk,
				     const struct fsk_accept_call *call,
				     struct fsk_net *fn, bool courteous,
				     long *retry_in)
{
	int this_cpu, cpu;
	struct sock *newsk;
	bool managed;

	rcu_read_lock();
	managed = fsk_listener_managed(sk);
	rcu_read_unlock();
	if (!managed)
		return fsk_accept_try(sk, call);

	this_cpu = raw_smp_processor_id();
	newsk = fsk_accept_from_clone(sk, this_cpu, call, FSK_CLONE_LOCAL, retry_in);
	if (newsk) {
		fsk_count(fn, accept_local);
		goto out;
	}
	newsk = fsk_accept_try(sk, call);
	if (newsk) {
		fsk_count(fn, accept_parent);
		goto out;
	}
	if (*call->err != -EAGAIN)
		return NULL;
	for (cpu = cpumask_next(this_cpu, cpu_possible_mask); cpu != this_cpu;
	     cpu = cpumask_next(cpu, cpu_possible_mask)) {
		if (cpu >= nr_cpu_ids) {
			cpu = -1;
			continue;
		}
		newsk = fsk_accept_from_clone(sk, cpu, call,
					      courteous ? FSK_CLONE_STEAL_COURTEOUS :
					      FSK_CLONE_STEAL, retry_in);
		if (newsk) {
			fsk_count(fn, accept_stolen);
			goto out;
		}
	}
	*call->err = -EAGAIN;
	return NULL;
out:
	/*
	 * io_uring asks whether anything is left (it presets -1): a walk of
	 * every clone's queue, for it only.
	 */
	if (call->wants_is_empty)
		*call->is_empty = reqsk_queue_empty(&inet_csk(sk)->icsk_accept_queue) &&
				  !fsk_listener_has_queued(sk);
	return newsk;
}

struct fsk_accept_waiter {
	struct wait_queue_entry on_socket;
	/* This CPU's clone, so its connections wake us before anyone else. */
	struct wait_queue_entry on_clone;
	struct wait_queue_entry on_unload;
};

/* Module unload wakes the waiter as if its socket had. */
static int fsk_accept_unload_wake(struct wait_queue_entry *entry,
				  unsigned int mode, int sync, void *key)
{
	struct fsk_accept_waiter *waiter =
		container_of(entry, struct fsk_accept_waiter, on_unload);

	return woken_wake_function(&waiter->on_socket, mode, sync, key);
}

static int fsk_accept_clone_wake(struct wait_queue_entry *entry,
				 unsigned int mode, int sync, void *key)
{
	struct fsk_accept_waiter *waiter =
		container_of(entry, struct fsk_accept_waiter, on_clone);

	return woken_wake_function(&waiter->on_socket, mode, sync, key);
}

static struct sock *fsk_accept_wait(struct sock *sk,
				    const struct fsk_accept_call *call,
				    struct fsk_net *fn, long timeo)
{
	struct fsk_accept_waiter waiter;
	struct fsk_clone_wq *clone_wq;
	struct sock *newsk;
	int wait_cpu;

	init_waitqueue_func_entry(&waiter.on_socket, woken_wake_function);
	waiter.on_socket.private = current;
	init_waitqueue_func_entry(&waiter.on_clone, fsk_accept_clone_wake);
	init_waitqueue_func_entry(&waiter.on_unload, fsk_accept_unload_wake);
	/* Exclusive, as the kernel's own wait: one wakeup per connection. */
	add_wait_queue_exclusive(sk_sleep(sk), &waiter.on_socket);
	wait_cpu = raw_smp_processor_id();
	clone_wq = fsk_listener_wait_local(sk, wait_cpu, &waiter.on_clone);
	add_wait_queue(&fsk_unload_wq, &waiter.on_unload);

	for (;;) {
		long slice, left, retry_in = 0;

		/*
		 * Woken on another CPU than it slept on: a local waiter of
		 * this one now, or it would count as the old CPU's busy
		 * acceptor and leave that queue alone.
		 */
		if (raw_smp_processor_id() != wait_cpu) {
			if (clone_wq)
				fsk_listener_wait_local_end(clone_wq, &waiter.on_clone);
			wait_cpu = raw_smp_processor_id();
			clone_wq = fsk_listener_wait_local(sk, wait_cpu,
							   &waiter.on_clone);
		}
		newsk = fsk_accept_round(sk, call, fn, true, &retry_in);
		if (newsk || *call->err != -EAGAIN)
			break;
		/*
		 * About to give up (a signal, the timeout, unload): like the
		 * kernel's wait, which looks at the queue first, take what is
		 * queued anywhere, courtesy or not.
		 */
		if (retry_in && (fsk_unloading() || signal_pending(current) ||
				 timeo <= retry_in)) {
			retry_in = 0;
			newsk = fsk_accept_round(sk, call, fn, false, &retry_in);
			if (newsk || *call->err != -EAGAIN)
				break;
		}
		if (fsk_unloading()) {
			/*
			 * Nothing is lost: the call restarts, without a
			 * signal, in the kernel's own accept.
			 */
			set_thread_flag(TIF_NOTIFY_SIGNAL);
			*call->err = -ERESTARTSYS;
			break;
		}
		if (signal_pending(current)) {
			*call->err = sock_intr_errno(timeo);
			break;
		}
		if (!timeo)
			break;
		/*
		 * A queue left to its busy owner is looked at again when its
		 * oldest connection has waited FSK_LOCAL_ACCEPT_ACTIVE: no
		 * connection waits longer for an accept() that does not come.
		 */
		slice = retry_in ? min(timeo, retry_in) : timeo;
		left = wait_woken(&waiter.on_socket, TASK_INTERRUPTIBLE, slice);
		if (timeo != MAX_SCHEDULE_TIMEOUT)
			timeo -= slice - left;
	}

	remove_wait_queue(&fsk_unload_wq, &waiter.on_unload);
	if (clone_wq)
		fsk_listener_wait_local_end(clone_wq, &waiter.on_clone);
	remove_wait_queue(sk_sleep(sk), &waiter.on_socket);
	return newsk;
}

static struct sock *fsk_accept(struct sock *sk,
			       const struct fsk_accept_call *call)
{
	struct fsk_net *fn = fsk_net_of_sock(sk);
	long retry_in = 0;
	struct sock *newsk;
	long timeo;
	int idx;

	idx = fsk_enter();
	fsk_count(fn, accept_calls);

	timeo = sock_rcvtimeo(sk, call->flags & O_NONBLOCK);
	newsk = fsk_accept_round(sk, call, fn, timeo != 0, &retry_in);
	if (!newsk && *call->err == -EAGAIN && timeo)
		newsk = fsk_accept_wait(sk, call, fn, timeo);
	if (newsk)
		fsk_count(fn, accepted);

	fsk_exit(idx);
	return newsk;
}

#ifdef FSK_HAVE_PROTO_ACCEPT_ARG
static struct sock *fsk_inet_csk_accept(struct sock *sk,
					struct proto_accept_arg *arg)
{
	struct fsk_accept_call call = {
		.flags		= arg->flags,
		.kern		= arg->kern,
		.err		= &arg->err,
		.is_empty	= &arg->is_empty,
		.wants_is_empty	= arg->is_empty == -1,
	};

	return fsk_accept(sk, &call);
}

static bool fsk_accept_from_user(struct ftrace_regs *fregs)
{
	const struct proto_accept_arg *arg =
		(const void *)fsk_fregs_arg(fregs, 1);

	return !arg->kern;
}
#else
static struct sock *fsk_inet_csk_accept(struct sock *sk, int flags, int *err,
					bool kern)
{
	int is_empty = 0;
	struct fsk_accept_call call = {
		.flags		= flags,
		.kern		= kern,
		.err		= err,
		.is_empty	= &is_empty,
	};

	return fsk_accept(sk, &call);
}

static bool fsk_accept_from_user(struct ftrace_regs *fregs)
{
	return !fsk_fregs_arg(fregs, 3);
}
#endif

/*
 * Decided in the ftrace callback, so that a namespace with fastsocket off (and
 * no listener still holding clones), and
 * kernel users of accept (which must never see -ERESTARTSYS), run the kernel's
 * function with no detour at all.
 */
static bool notrace fsk_accept_wanted(struct ftrace_regs *fregs)
{
	const struct sock *sk = (const void *)fsk_fregs_arg(fregs, 0);
	bool wanted;

	if (!fsk_accept_from_user(fregs))
		return false;
	rcu_read_lock();
	/* Managed listeners keep their clones' queues after enabled=0. */
	wanted = fsk_enabled(sock_net(sk)) || fsk_netns_listeners(sock_net(sk));
	rcu_read_unlock();
	return wanted;
}

static struct fsk_hook fsk_accept_hooks[] = {
	FSK_HOOK(inet_csk_accept, fsk_inet_csk_accept, fsk_accept_wanted),
};

int fsk_accept_hooks_add(void)
{
	return fsk_hooks_add(fsk_accept_hooks,
				  ARRAY_SIZE(fsk_accept_hooks));
}


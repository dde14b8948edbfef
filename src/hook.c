// SPDX-License-Identifier: GPL-2.0
/*
 * The hook layer: one ftrace IPMODIFY ops whose callback sends calls of
 * exported kernel functions to this module's replacements, registered all or
 * nothing, and the bookkeeping that makes unloading safe while tasks are
 * inside them.
 *
 * One ops for every hook, not one each: unregistering an ops waits for
 * RCU-tasks grace periods, and rmmod would pay them once per hook.
 */
#include <linux/kernel.h>
#include <linux/module.h>
#include <linux/rcupdate.h>
#include <linux/sched.h>

#include "hook.h"

#define FSK_MAX_HOOKS	16

struct srcu_struct fsk_srcu;
DECLARE_WAIT_QUEUE_HEAD(fsk_unload_wq);
static bool fsk_unload_started;

/* Written before the ops is registered, read-only while it is. */
static struct fsk_hook *fsk_hooks[FSK_MAX_HOOKS];
static unsigned long fsk_hook_ips[FSK_MAX_HOOKS];
static unsigned int fsk_nr_hooks;
static struct ftrace_ops fsk_ops;
static bool fsk_ops_registered;

bool fsk_unloading(void)
{
	return READ_ONCE(fsk_unload_started);
}

/*
 * ftrace reports the address of the call to __fentry__, a few bytes into
 * the function (after ENDBR on IBT kernels).
 */
#define FSK_FENTRY_MAX_OFFSET	16

static void notrace fsk_ftrace_thunk(unsigned long ip, unsigned long parent_ip,
				     struct ftrace_ops *ops,
				     struct ftrace_regs *fregs)
{
	unsigned int i;

	/* Our replacement calling the original: let it run. */
	if (within_module(parent_ip, THIS_MODULE))
		return;
	for (i = 0; i < fsk_nr_hooks; i++) {
		const struct fsk_hook *hook = fsk_hooks[i];

		if (ip - hook->target >= FSK_FENTRY_MAX_OFFSET)
			continue;
		if (!hook->wanted || hook->wanted(fregs))
			fsk_fregs_set_ip(fregs, hook->replacement);
		return;
	}
}

static void fsk_ops_init(struct ftrace_ops *ops)
{
	ops->func = fsk_ftrace_thunk;
	/*
	 * PERMANENT: kernel.ftrace_enabled=0 is refused while we are loaded
	 * instead of silently turning fastsocket off. RECURSION: ftrace
	 * guards the callback against recursion.
	 */
	ops->flags = FTRACE_OPS_FL_IPMODIFY | FTRACE_OPS_FL_RECURSION |
		     FTRACE_OPS_FL_PERMANENT | FSK_FTRACE_OPS_SAVE_REGS;
}

int fsk_hooks_add(struct fsk_hook *hooks, size_t count)
{
	size_t i;

	if (fsk_ops_registered || fsk_nr_hooks + count > FSK_MAX_HOOKS)
		return -EINVAL;
	for (i = 0; i < count; i++) {
		fsk_hook_ips[fsk_nr_hooks] = hooks[i].target;
		fsk_hooks[fsk_nr_hooks++] = &hooks[i];
	}
	return 0;
}

/* The probe of fsk_explain_busy() only asks for ownership; it redirects nothing. */
static void notrace fsk_ftrace_probe(unsigned long ip, unsigned long parent_ip,
				     struct ftrace_ops *ops,
				     struct ftrace_regs *fregs)
{
}

/* Which hooks does someone else own? Only on the failure path. */
static void fsk_explain_busy(void)
{
	struct ftrace_ops probe;
	unsigned int i;
	int err;

	for (i = 0; i < fsk_nr_hooks; i++) {
		const struct fsk_hook *hook = fsk_hooks[i];

		/* An ops is good for one filter's life: a fresh one each time. */
		memset(&probe, 0, sizeof(probe));
		fsk_ops_init(&probe);
		probe.func = fsk_ftrace_probe;
		if (ftrace_set_filter_ip(&probe, hook->target, 0, 0))
			continue;
		err = register_ftrace_function(&probe);
		if (err == -EBUSY)
			pr_err("cannot hook %s: another ftrace IPMODIFY user owns it (a livepatch, kpatch, a kprobe with a post_handler or another hooking module), or kernel.ftrace_enabled is 0 (-EBUSY)\n",
			       hook->name);
		else if (!err)
			unregister_ftrace_function(&probe);
		ftrace_free_filter(&probe);
	}
}

int fsk_hooks_start(void)
{
	unsigned int i;
	int err;

	fsk_ops_init(&fsk_ops);
	err = ftrace_set_filter_ips(&fsk_ops, fsk_hook_ips, fsk_nr_hooks, 0, 1);
	if (err) {
		for (i = 0; i < fsk_nr_hooks; i++)
			if (ftrace_set_filter_ip(&fsk_ops, fsk_hooks[i]->target, 0, 1))
				pr_err("cannot hook %s: the kernel cannot trace it (%d)\n",
				       fsk_hooks[i]->name, err);
		goto out_free;
	}
	err = register_ftrace_function(&fsk_ops);
	if (!err) {
		fsk_ops_registered = true;
		return 0;
	}
	if (err == -EBUSY)
		fsk_explain_busy();
	else
		pr_err("cannot register the ftrace hooks: error %d\n", err);
out_free:
	ftrace_free_filter(&fsk_ops);
	fsk_nr_hooks = 0;
	return err;
}

void fsk_hooks_stop(void)
{
	int err;

	if (!fsk_ops_registered)
		return;
	err = unregister_ftrace_function(&fsk_ops);
	if (err)
		pr_err("cannot unregister the ftrace hooks: error %d\n", err);
	ftrace_free_filter(&fsk_ops);
	fsk_ops_registered = false;
	fsk_nr_hooks = 0;
}

int fsk_hook_core_init(void)
{
	WRITE_ONCE(fsk_unload_started, false);
	fsk_nr_hooks = 0;
	return init_srcu_struct(&fsk_srcu);
}

void fsk_hook_core_drain(void)
{
	/*
	 * The hooks are unregistered, so no new call enters a replacement.
	 * ftrace waited for its trampoline to be left; a task redirected just
	 * before may not have reached fsk_enter() yet, and has not slept
	 * voluntarily since: an RCU-tasks grace period waits for it to be
	 * inside its SRCU section (or gone).
	 */
	synchronize_rcu_tasks();
	WRITE_ONCE(fsk_unload_started, true);
	/* Sleepers in replacements leave their waits and restart the call. */
	wake_up_all(&fsk_unload_wq);
	synchronize_srcu(&fsk_srcu);
	/* And the few instructions each replacement runs after fsk_exit(). */
	synchronize_rcu_tasks();
}

void fsk_hook_core_exit(void)
{
	cleanup_srcu_struct(&fsk_srcu);
}

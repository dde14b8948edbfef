// SPDX-License-Identifier: GPL-2.0
/*
 * The hook layer: ftrace IPMODIFY callbacks that send calls of exported kernel
 * functions to this module's replacements, registered all or nothing, and
 * the bookkeeping that makes unloading safe while tasks are inside them.
 */

#include <linux/kernel.h>
#include <linux/module.h>
#include <linux/rcupdate.h>
#include <linux/sched.h>

#include "hook.h"

struct srcu_struct fsk_srcu;
DECLARE_WAIT_QUEUE_HEAD(fsk_unload_wq);
static bool fsk_unload_started;

bool fsk_unloading(void)
{
	return READ_ONCE(fsk_unload_started);
}

static void notrace fsk_ftrace_thunk(unsigned long ip, unsigned long parent_ip,
				     struct ftrace_ops *ops,
				     struct ftrace_regs *fregs)
{
	struct fsk_hook *hook = container_of(ops, struct fsk_hook, ops);

	/* Our replacement calling the original: let it run. */
	if (within_module(parent_ip, THIS_MODULE))
		return;
	if (hook->wanted && !hook->wanted(fregs))
		return;
	fsk_fregs_set_ip(fregs, hook->replacement);
}

static void fsk_explain_register_error(const struct fsk_hook *hook, int err)
{
	if (err == -EBUSY)
		pr_err("cannot hook %s: another ftrace IPMODIFY user owns it (a livepatch, kpatch, a kprobe with a post_handler or another hooking module), or kernel.ftrace_enabled is 0 (-EBUSY)\n",
		       hook->name);
	else if (err == -ENODEV || err == -EINVAL)
		pr_err("cannot hook %s: the kernel cannot trace it (%d)\n",
		       hook->name, err);
	else
		pr_err("cannot hook %s: error %d\n", hook->name, err);
}

static int fsk_hook_register_one(struct fsk_hook *hook)
{
	int err;

	hook->ops.func = fsk_ftrace_thunk;
	/*
	 * PERMANENT: kernel.ftrace_enabled=0 is refused while we are loaded
	 * instead of silently turning fastsocket off. RECURSION: ftrace
	 * guards the callback against recursion.
	 */
	hook->ops.flags = FTRACE_OPS_FL_IPMODIFY | FTRACE_OPS_FL_RECURSION |
			  FTRACE_OPS_FL_PERMANENT | FSK_FTRACE_OPS_SAVE_REGS;

	err = ftrace_set_filter_ip(&hook->ops, hook->target, 0, 0);
	if (err) {
		fsk_explain_register_error(hook, err);
		return err;
	}
	err = register_ftrace_function(&hook->ops);
	if (err) {
		fsk_explain_register_error(hook, err);
		ftrace_free_filter(&hook->ops);
		return err;
	}
	hook->registered = true;
	return 0;
}

static void fsk_hook_unregister_one(struct fsk_hook *hook)
{
	int err;

	if (!hook->registered)
		return;
	err = unregister_ftrace_function(&hook->ops);
	if (err)
		pr_err("cannot unhook %s: error %d\n", hook->name, err);
	ftrace_free_filter(&hook->ops);
	hook->registered = false;
}

int fsk_hooks_register(struct fsk_hook *hooks, size_t count)
{
	size_t i;
	int err;

	for (i = 0; i < count; i++) {
		err = fsk_hook_register_one(&hooks[i]);
		if (err) {
			while (i--)
				fsk_hook_unregister_one(&hooks[i]);
			return err;
		}
	}
	return 0;
}

void fsk_hooks_unregister(struct fsk_hook *hooks, size_t count)
{
	size_t i;

	for (i = count; i--; )
		fsk_hook_unregister_one(&hooks[i]);
}

int fsk_hook_core_init(void)
{
	WRITE_ONCE(fsk_unload_started, false);
	return init_srcu_struct(&fsk_srcu);
}

void fsk_hook_core_drain(void)
{
	/*
	 * The hooks are unregistered, so no new call enters a replacement.
	 * A task redirected just before may not have reached fsk_enter() yet:
	 * such a task has not slept voluntarily, so an RCU-tasks grace period
	 * waits for it to be inside its SRCU section (or gone).
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

/* SPDX-License-Identifier: GPL-2.0 */
#ifndef _FSK_HOOK_H
#define _FSK_HOOK_H

#include <linux/ftrace.h>
#include <linux/srcu.h>
#include <linux/wait.h>

/*
 * A hook redirects calls of one EXPORTED kernel function to a replacement in
 * this module. The replacement does its own work and reaches the kernel's
 * function by a plain direct call to the exported symbol: the ftrace callback
 * lets calls whose return address lies in this module through untouched.
 *
 * On kernels with IBT (Debian's 6.12) most unexported functions have their
 * ENDBR sealed, so the target is named here as a C symbol: modpost refuses the
 * build if it is not exported, and no address ever comes from kallsyms or a
 * kprobe. `make lint` checks the built module for this.
 */
struct fsk_hook {
	const char *name;
	unsigned long target;
	unsigned long replacement;
	/* Called with the traced function's arguments; false: run the original. */
	bool (*wanted)(struct ftrace_regs *fregs);
};

/* The replacement must have the hooked function's exact type. */
#define FSK_HOOK(symbol, replacement_fn, wanted_fn) {			\
	.name = #symbol,						\
	.target = (unsigned long)&(symbol) +				\
		  BUILD_BUG_ON_ZERO(!__same_type(&(symbol), &(replacement_fn))), \
	.replacement = (unsigned long)&(replacement_fn),		\
	.wanted = (wanted_fn),						\
}

/* Each mechanism adds its hooks; then all start, or none. */
int fsk_hooks_add(struct fsk_hook *hooks, size_t count);
int fsk_hooks_start(void);
void fsk_hooks_stop(void);

/*
 * Replacements run inside fsk_enter()/fsk_exit() so that unload can wait for
 * every task still executing module text, including tasks asleep in it.
 * A replacement that sleeps waits on fsk_unload_wq too, and gives up its wait
 * (returning -ERESTARTSYS with a restart requested, see accept.c) once
 * fsk_unloading() is true.
 */
extern struct srcu_struct fsk_srcu;
extern struct wait_queue_head fsk_unload_wq;

static inline int fsk_enter(void)
{
	return srcu_read_lock(&fsk_srcu);
}

static inline void fsk_exit(int idx)
{
	srcu_read_unlock(&fsk_srcu, idx);
}

bool fsk_unloading(void);

int fsk_hook_core_init(void);
/* Called after all hooks are gone: wakes sleepers, waits for every task. */
void fsk_hook_core_drain(void);
void fsk_hook_core_exit(void);

#endif /* _FSK_HOOK_H */

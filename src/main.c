// SPDX-License-Identifier: GPL-2.0
/*
 * fastsocket: per-CPU partitioning of the TCP stack for short-lived
 * connections, as a module for stock kernels.
 */
#include <linux/module.h>

#include "fastsocket.h"
#include "hook.h"
#include "listen.h"

static int __init fsk_init(void)
{
	int err;

	err = fsk_hook_core_init();
	if (err)
		return err;
	err = fsk_netns_init();
	if (err)
		goto out_core;
	err = fsk_listen_init();
	if (err)
		goto out_netns;
	err = fsk_accept_hooks_add();
	if (!err)
		err = fsk_rfd_hooks_add();
	/* Last: once hooked, calls arrive and need all the state above. */
	if (!err)
		err = fsk_hooks_start();
	if (err)
		goto out_listen;
	pr_info("loaded; switch on per network namespace with sysctl %s.enabled=1\n",
		"net.fastsocket");
	return 0;

out_listen:
	fsk_listen_dismantle();
	fsk_listen_exit();
out_netns:
	fsk_netns_exit();
out_core:
	fsk_hook_core_exit();
	return err;
}

static void __exit fsk_exit_module(void)
{
	/* Listeners back to stock first, while the hooks still track them. */
	fsk_listen_dismantle();
	fsk_hooks_stop();
	fsk_hook_core_drain();
	fsk_listen_exit();
	fsk_netns_exit();
	fsk_hook_core_exit();
	pr_info("unloaded\n");
}

module_init(fsk_init);
module_exit(fsk_exit_module);

MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("Per-CPU listen, established and receive-flow tables for TCP");
MODULE_AUTHOR("The fastsocket developers");
MODULE_VERSION(FSK_VERSION);

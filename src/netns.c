// SPDX-License-Identifier: GPL-2.0
/* Per network namespace state: net.fastsocket.* sysctls and counters. */

#include <linux/slab.h>
#include <linux/sysctl.h>
#include <net/net_namespace.h>

#include "fastsocket.h"
#include "listen.h"

unsigned int fsk_net_id __read_mostly;

enum {
	FSK_SYSCTL_ENABLED,
	FSK_SYSCTL_LISTEN,
	FSK_SYSCTL_RFD,
	FSK_SYSCTL_COUNT
};

/*
 * A 0/1 switch of one netns. Writes need CAP_NET_ADMIN over the netns that
 * owns the switch (not the writer's: the file can be passed around), and an
 * empty write is an error, not a no-op. The value changes only when the
 * whole write is valid.
 */
static int fsk_sysctl_switch(FSK_CTL_TABLE_CONST struct ctl_table *table,
			     int write, void *buffer, size_t *lenp, loff_t *ppos)
{
	const struct fsk_net *fn = table->extra1;
	int value = READ_ONCE(*(int *)table->data);
	struct ctl_table tmp = {
		.data	= &value,
		.maxlen	= sizeof(value),
		.extra1	= SYSCTL_ZERO,
		.extra2	= SYSCTL_ONE,
	};
	int err;

	if (write) {
		if (!ns_capable(fn->net->user_ns, CAP_NET_ADMIN))
			return -EPERM;
		if (!*lenp)
			return -EINVAL;
	}
	err = proc_dointvec_minmax(&tmp, write, buffer, lenp, ppos);
	if (!err && write)
		WRITE_ONCE(*(int *)table->data, value);
	return err;
}

#define FSK_SYSCTL_SWITCH(name) {			\
	.procname	= name,				\
	.maxlen		= sizeof(int),			\
	.mode		= 0644,				\
	.proc_handler	= fsk_sysctl_switch,		\
}

static const struct ctl_table fsk_sysctl_template[] = {
	[FSK_SYSCTL_ENABLED] = FSK_SYSCTL_SWITCH("enabled"),
	[FSK_SYSCTL_LISTEN] = FSK_SYSCTL_SWITCH("listen"),
	[FSK_SYSCTL_RFD] = FSK_SYSCTL_SWITCH("rfd"),
	FSK_SYSCTL_SENTINEL
};

int fsk_sysctl_net_init(struct net *net, struct fsk_net *fn)
{
	struct ctl_table *table;
	int i;

	/* Each netns gets its own copy whose .data points at its own state. */
	table = kmemdup(fsk_sysctl_template, sizeof(fsk_sysctl_template),
			GFP_KERNEL);
	if (!table)
		return -ENOMEM;
	for (i = 0; i < FSK_SYSCTL_COUNT; i++)
		table[i].extra1 = fn;
	table[FSK_SYSCTL_ENABLED].data = &fn->enabled;
	table[FSK_SYSCTL_LISTEN].data = &fn->listen;
	table[FSK_SYSCTL_RFD].data = &fn->rfd;

	fn->sysctl_header = fsk_register_net_sysctl(net, FSK_SYSCTL_DIR, table,
						    FSK_SYSCTL_COUNT);
	if (!fn->sysctl_header) {
		kfree(table);
		return -ENOMEM;
	}
	return 0;
}

void fsk_sysctl_net_exit(struct fsk_net *fn)
{
	const struct ctl_table *table = fn->sysctl_header->ctl_table_arg;

	unregister_net_sysctl_table(fn->sysctl_header);
	kfree(table);
}

static int __net_init fsk_net_init(struct net *net)
{
	struct fsk_net *fn = fsk_net(net);
	int err;

	fn->net = net;
	fn->enabled = 0;
	fn->listen = 1;
	fn->rfd = 1;
	atomic_set(&fn->managed_listeners, 0);
	err = fsk_stats_net_init(net, fn);
	if (err)
		return err;
	err = fsk_sysctl_net_init(net, fn);
	if (err) {
		fsk_stats_net_exit(net, fn);
		return err;
	}
	fsk_listen_net_init(fn);
	return 0;
}

static void __net_exit fsk_net_exit(struct net *net)
{
	struct fsk_net *fn = fsk_net(net);

	fsk_listen_net_exit(fn);
	fsk_sysctl_net_exit(fn);
	fsk_stats_net_exit(net, fn);
}

static struct pernet_operations fsk_net_ops = {
	.init	= fsk_net_init,
	.exit	= fsk_net_exit,
	.id	= &fsk_net_id,
	.size	= sizeof(struct fsk_net),
};

int fsk_netns_init(void)
{
	return register_pernet_subsys(&fsk_net_ops);
}

void fsk_netns_exit(void)
{
	unregister_pernet_subsys(&fsk_net_ops);
}

// SPDX-License-Identifier: GPL-2.0
/* /proc/net/fastsocket: one row per CPU, one column per counter. */

#include <linux/cpumask.h>
#include <linux/proc_fs.h>
#include <linux/seq_file.h>
#include <net/net_namespace.h>

#include "fastsocket.h"

static const char *const fsk_counter_names[] = {
#define FSK_COUNTER_NAME(name, desc) #name,
	FSK_COUNTERS(FSK_COUNTER_NAME)
#undef FSK_COUNTER_NAME
};

#define FSK_NR_COUNTERS ARRAY_SIZE(fsk_counter_names)

static_assert(sizeof(struct fsk_cpu_stats) == FSK_NR_COUNTERS * sizeof(u64));

static int fsk_stats_show(struct seq_file *seq, void *v)
{
	struct fsk_net *fn = fsk_net(seq_file_single_net(seq));
	unsigned int i;
	int cpu;

	seq_puts(seq, "cpu");
	for (i = 0; i < FSK_NR_COUNTERS; i++)
		seq_printf(seq, " %s", fsk_counter_names[i]);
	seq_putc(seq, '\n');

	for_each_possible_cpu(cpu) {
		const u64 *counters = (const u64 *)per_cpu_ptr(fn->stats, cpu);

		seq_printf(seq, "cpu%d", cpu);
		for (i = 0; i < FSK_NR_COUNTERS; i++)
			seq_printf(seq, " %llu", READ_ONCE(counters[i]));
		seq_putc(seq, '\n');
	}
	return 0;
}

int fsk_stats_net_init(struct net *net, struct fsk_net *fn)
{
	fn->stats = alloc_percpu(struct fsk_cpu_stats);
	if (!fn->stats)
		return -ENOMEM;
	if (!proc_create_net_single(FSK_PROC_NAME, 0444, net->proc_net,
				    fsk_stats_show, NULL)) {
		free_percpu(fn->stats);
		return -ENOMEM;
	}
	return 0;
}

void fsk_stats_net_exit(struct net *net, struct fsk_net *fn)
{
	remove_proc_entry(FSK_PROC_NAME, net->proc_net);
	free_percpu(fn->stats);
}

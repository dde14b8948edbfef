// SPDX-License-Identifier: GPL-2.0
/*
 * fsk-bench sample-cpus: how busy each CPU was between two reads of
 * /proc/stat, so that a benchmark driver can say how loaded the client's and
 * the server's CPUs were. Busy is user + nice + system + irq + softirq over
 * all time (idle, iowait and steal included in the total). Network receive
 * processing shows up as softirq, or as system when it runs in the sender's
 * context (loopback).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

/* The first eight columns of a cpu line; guest time is already in user. */
enum stat_field {
	ST_USER,
	ST_NICE,
	ST_SYSTEM,
	ST_IDLE,
	ST_IOWAIT,
	ST_IRQ,
	ST_SOFTIRQ,
	ST_STEAL,
	ST_FIELDS
};

struct cpu_times {
	bool seen;
	unsigned long long field[ST_FIELDS];
};

struct stat_sample {
	struct cpu_times all;
	struct cpu_times cpu[CPU_SETSIZE];
};

static void usage(FILE *out)
{
	fputs(
"usage: fsk-bench sample-cpus [--duration S] [--delay S]\n"
"  --delay S              wait S seconds before the first sample (default 0)\n"
"  --duration S           take the second sample S seconds later (default:\n"
"                         at SIGTERM, SIGINT or SIGUSR1)\n"
"Prints one line of key=value per-CPU busy percentages on stdout.\n", out);
}

static void read_stat(struct stat_sample *s)
{
	FILE *f = fopen("/proc/stat", "re");
	char line[512];

	if (!f)
		die("/proc/stat: %s", strerror(errno));
	memset(s, 0, sizeof(*s));
	while (fgets(line, sizeof(line), f)) {
		struct cpu_times t = { .seen = true };
		char *rest = line + 3;
		int id = -1;

		if (strncmp(line, "cpu", 3))
			continue;
		if (*rest != ' ') {
			id = strtol(rest, &rest, 10);
			if (id < 0 || id >= CPU_SETSIZE)
				continue;
		}
		/* Older kernels have fewer columns; missing ones stay 0. */
		sscanf(rest, "%llu %llu %llu %llu %llu %llu %llu %llu",
		       &t.field[ST_USER], &t.field[ST_NICE], &t.field[ST_SYSTEM],
		       &t.field[ST_IDLE], &t.field[ST_IOWAIT], &t.field[ST_IRQ],
		       &t.field[ST_SOFTIRQ], &t.field[ST_STEAL]);
		if (id < 0)
			s->all = t;
		else
			s->cpu[id] = t;
	}
	fclose(f);
}

/* Percentages of one CPU's time between a and b. */
struct cpu_load {
	double busy, user, sys, irq, softirq;
};

static struct cpu_load cpu_load(const struct cpu_times *a, const struct cpu_times *b)
{
	unsigned long long d[ST_FIELDS], total = 0;
	struct cpu_load load = { 0 };
	int i;

	for (i = 0; i < ST_FIELDS; i++) {
		/* A CPU that went offline and back may restart from 0. */
		d[i] = b->field[i] >= a->field[i] ? b->field[i] - a->field[i] : 0;
		total += d[i];
	}
	if (!total)
		return load;
	load.user = 100.0 * (d[ST_USER] + d[ST_NICE]) / total;
	load.sys = 100.0 * d[ST_SYSTEM] / total;
	load.irq = 100.0 * d[ST_IRQ] / total;
	load.softirq = 100.0 * d[ST_SOFTIRQ] / total;
	load.busy = load.user + load.sys + load.irq + load.softirq;
	return load;
}

int cpustat_main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "duration",	required_argument,	NULL, 'd' },
		{ "delay",	required_argument,	NULL, 'D' },
		{ "help",	no_argument,		NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	struct stat_sample *first, *second;
	double duration = 0, delay = 0;
	struct cpu_load load;
	uint64_t start;
	int opt, id, count = 0;

	while ((opt = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (opt) {
		case 'd':
			duration = parse_seconds(optarg, "--duration");
			break;
		case 'D':
			delay = parse_seconds(optarg, "--delay");
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc)
		die("sample-cpus: unexpected argument '%s'", argv[optind]);

	first = malloc(sizeof(*first));
	second = malloc(sizeof(*second));
	if (!first || !second)
		die("out of memory");
	block_stop_signals(true);
	/* A stop signal during the delay still gives a (short) sample. */
	if (delay > 0 && wait_for_stop(delay, true))
		duration = -1;
	read_stat(first);
	start = now_ns();
	if (duration >= 0)
		wait_for_stop(duration, true);
	read_stat(second);

	for (id = 0; id < CPU_SETSIZE; id++)
		count += first->cpu[id].seen && second->cpu[id].seen;
	load = cpu_load(&first->all, &second->all);
	printf("cpus=%d busy=%.1f", count, load.busy);
	for (id = 0; id < CPU_SETSIZE; id++) {
		if (!first->cpu[id].seen || !second->cpu[id].seen)
			continue;
		load = cpu_load(&first->cpu[id], &second->cpu[id]);
		printf(" cpu%d_busy=%.1f cpu%d_user=%.1f cpu%d_sys=%.1f cpu%d_irq=%.1f"
		       " cpu%d_softirq=%.1f", id, load.busy, id, load.user, id, load.sys,
		       id, load.irq, id, load.softirq);
	}
	printf(" interval_s=%.3f\n", (now_ns() - start) / 1e9);
	fflush(stdout);

	fprintf(stderr, "cpu   busy%%  user%%   sys%%   irq%%  softirq%%\n");
	for (id = 0; id < CPU_SETSIZE; id++) {
		if (!first->cpu[id].seen || !second->cpu[id].seen)
			continue;
		load = cpu_load(&first->cpu[id], &second->cpu[id]);
		fprintf(stderr, "%-4d %6.1f %6.1f %6.1f %6.1f %8.1f\n", id, load.busy, load.user,
			load.sys, load.irq, load.softirq);
	}
	free(first);
	free(second);
	return 0;
}

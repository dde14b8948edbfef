// SPDX-License-Identifier: GPL-2.0
/*
 * fsk-bench: the server, load generator and CPU sampler that fastsocket's
 * benchmark drives. One binary with subcommands, so that a single static file
 * is all an initramfs needs. See README.md.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <string.h>

#include "bench.h"

static void usage(FILE *out)
{
	fputs(
"usage: fsk-bench server --listen ADDR:PORT [--workers N] [--mode shared|reuseport]\n"
"                        [--pin] [--incoming-cpu] [--proxy ADDR:PORT] [--duration S]\n"
"                        [--timeout MS] [--backlog N] [--ready-file PATH]\n"
"       fsk-bench client --connect ADDR:PORT [--threads M] [--pin] [--concurrency C]\n"
"                        [--duration S] [--warmup S] [--timeout MS] [--request-bytes N]\n"
"       fsk-bench sample-cpus [--duration S] [--delay S]\n"
"       fsk-bench cost-window open|close TAG\n"
"'fsk-bench COMMAND --help' describes each option.\n", out);
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	/* Each subcommand parses argv[1..] with getopt: argv[0] is its name. */
	if (!strcmp(argv[1], "server"))
		return server_main(argc - 1, argv + 1);
	if (!strcmp(argv[1], "client"))
		return client_main(argc - 1, argv + 1);
	if (!strcmp(argv[1], "sample-cpus"))
		return cpustat_main(argc - 1, argv + 1);
	if (!strcmp(argv[1], "cost-window"))
		return cost_window_main(argc - 1, argv + 1);
	if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "help")) {
		usage(stdout);
		return 0;
	}
	fprintf(stderr, "fsk-bench: unknown command '%s'\n", argv[1]);
	usage(stderr);
	return 2;
}

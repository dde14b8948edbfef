// SPDX-License-Identifier: GPL-2.0
/*
 * accept_count [-n TOTAL] [-f 4|6]
 *
 * The oracle for /proc/net/fastsocket's accept_calls and accepted columns.
 * One loopback listener; for every CPU this process may use, an accepting
 * thread and a client thread pinned to that CPU. The clients open TOTAL
 * connections split evenly over the CPUs; each client waits for the server
 * to close before the next connect, so every connection has been accepted
 * when the clients finish. The listener is then shut down, which ends every
 * acceptor's last, blocked accept() with EINVAL.
 *
 * Each acceptor counts its own accept() calls (one call of inet_csk_accept
 * each, the final EINVAL one included) and the ones that returned a
 * connection. Pinning makes "CPU of the call" and "CPU of the return" the
 * acceptor's CPU, which is checked with sched_getcpu(). Output, one line per
 * CPU used, for the runner to compare with the counter deltas:
 *   cpuN CALLS ACCEPTED
 * Exit 0 when all TOTAL connections were accepted with no error.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "common.h"

struct worker {
	int cpu;
	int conns;			/* client: connections to open */
	unsigned long calls;		/* acceptor: accept() calls made */
	unsigned long accepted;		/* acceptor: connections returned */
	unsigned long errors;
	pthread_t acc_th, cli_th;
};

static int lfd;
static union sockaddr_any laddr;
static socklen_t laddr_len;
static int stopping;

static void *acceptor_fn(void *arg)
{
	struct worker *w = arg;
	int fd;

	if (pin_to_cpu(w->cpu))
		die("pin acceptor to cpu%d: %s", w->cpu, errname(errno));
	for (;;) {
		w->calls++;
		fd = accept(lfd, NULL, NULL);
		if (sched_getcpu() != w->cpu) {
			printf("# acceptor of cpu%d ran on cpu%d\n", w->cpu,
			       sched_getcpu());
			w->errors++;
		}
		if (fd >= 0) {
			w->accepted++;
			close(fd);
			continue;
		}
		if (errno == EINVAL &&
		    __atomic_load_n(&stopping, __ATOMIC_ACQUIRE))
			break;
		printf("# cpu%d accept: %s\n", w->cpu, errname(errno));
		w->errors++;
		break;
	}
	return NULL;
}

static void *client_fn(void *arg)
{
	struct worker *w = arg;
	char c;
	int i, fd;

	if (pin_to_cpu(w->cpu))
		die("pin client to cpu%d: %s", w->cpu, errname(errno));
	for (i = 0; i < w->conns; i++) {
		fd = connect_to(&laddr, laddr_len);
		if (fd < 0) {
			printf("# cpu%d connect: %s\n", w->cpu, errname(errno));
			w->errors++;
			return NULL;
		}
		/* EOF = the server accepted and closed this connection. */
		if (read(fd, &c, 1) != 0) {
			printf("# cpu%d: expected EOF from server\n", w->cpu);
			w->errors++;
		}
		close(fd);
	}
	return NULL;
}

int main(int argc, char **argv)
{
	unsigned long accepted = 0, errors = 0;
	struct worker w[MAX_CPUS] = { 0 };
	int cpus[MAX_CPUS], ncpu, i, opt;
	int family = AF_INET, total = 1000;
	long long start;

	while ((opt = getopt(argc, argv, "n:f:")) != -1) {
		switch (opt) {
		case 'n':
			total = atoi(optarg);
			break;
		case 'f':
			family = parse_family(optarg);
			break;
		default:
			fprintf(stderr, "usage: %s [-n TOTAL] [-f 4|6]\n",
				argv[0]);
			return 2;
		}
	}
	if (total <= 0)
		die("TOTAL must be positive");
	setvbuf(stdout, NULL, _IOLBF, 0);

	ncpu = allowed_cpus(cpus, MAX_CPUS);
	/* Large enough that no SYN is dropped: drops would only add delay. */
	lfd = listen_loopback(family, 4096, &laddr, &laddr_len);
	start = now_ms();
	for (i = 0; i < ncpu; i++) {
		w[i].cpu = cpus[i];
		w[i].conns = total / ncpu + (i < total % ncpu);
		if (pthread_create(&w[i].acc_th, NULL, acceptor_fn, &w[i]) ||
		    pthread_create(&w[i].cli_th, NULL, client_fn, &w[i]))
			die("pthread_create failed");
	}
	for (i = 0; i < ncpu; i++)
		pthread_join(w[i].cli_th, NULL);
	__atomic_store_n(&stopping, 1, __ATOMIC_RELEASE);
	if (shutdown(lfd, SHUT_RDWR))
		die("shutdown(listener): %s", errname(errno));
	for (i = 0; i < ncpu; i++) {
		pthread_join(w[i].acc_th, NULL);
		accepted += w[i].accepted;
		errors += w[i].errors;
	}
	close(lfd);

	printf("# %s: %d connections over %d CPUs in %lld ms\n",
	       family_name(family), total, ncpu, now_ms() - start);
	printf("# cpu accept_calls accepted\n");
	for (i = 0; i < ncpu; i++)
		printf("cpu%d %lu %lu\n", w[i].cpu, w[i].calls, w[i].accepted);
	if (accepted != (unsigned long)total) {
		printf("# accepted %lu of %d connections\n", accepted, total);
		errors++;
	}
	if (errors)
		printf("# %lu errors\n", errors);
	return errors ? 1 : 0;
}

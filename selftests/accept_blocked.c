// SPDX-License-Identifier: GPL-2.0
/*
 * accept_blocked -r READYFILE [-t SECONDS] [-f 4|6]
 *
 * A server thread blocks in accept() on a loopback listener. Once it is
 * really asleep in the syscall (not merely about to call it), READYFILE is
 * created holding the port, so the runner can rmmod the module under it and
 * then connect. The program then waits up to SECONDS for accept() to return
 * and prints one of:
 *   result got       accept() returned the connection
 *   result error E   accept() failed with errno E
 *   result timeout   accept() did not return in time
 * Exit 0 only for "result got".
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "common.h"

struct acceptor {
	int lfd;
	pid_t tid;
	int started;
	int fd;
	int err;
	union sockaddr_any peer;
};

static void *acceptor_fn(void *arg)
{
	struct acceptor *a = arg;
	socklen_t len = sizeof(a->peer);

	a->tid = gettid();
	__atomic_store_n(&a->started, 1, __ATOMIC_RELEASE);
	a->fd = accept(a->lfd, &a->peer.sa, &len);
	a->err = errno;
	return NULL;
}

int main(int argc, char **argv)
{
	struct acceptor a = { .fd = -1 };
	const char *ready = NULL;
	union sockaddr_any addr;
	int family = AF_INET;
	struct timespec ts;
	long long start;
	char text[32];
	socklen_t len;
	pthread_t th;
	int secs = 10;
	int opt, ret;

	while ((opt = getopt(argc, argv, "r:t:f:")) != -1) {
		switch (opt) {
		case 'r':
			ready = optarg;
			break;
		case 't':
			secs = atoi(optarg);
			break;
		case 'f':
			family = parse_family(optarg);
			break;
		default:
			fprintf(stderr,
				"usage: %s -r READYFILE [-t SECONDS] [-f 4|6]\n",
				argv[0]);
			return 2;
		}
	}
	if (!ready || secs <= 0)
		die("need -r READYFILE and a positive -t");
	setvbuf(stdout, NULL, _IOLBF, 0);

	a.lfd = listen_loopback(family, 16, &addr, &len);
	if (pthread_create(&th, NULL, acceptor_fn, &a))
		die("pthread_create failed");
	while (!__atomic_load_n(&a.started, __ATOMIC_ACQUIRE))
		sleep_ms(1);
	if (wait_in_accept(a.tid, 10000))
		die("acceptor thread never blocked in accept()");
	snprintf(text, sizeof(text), "%u\n", addr_port(&addr));
	if (write_file_atomic(ready, text))
		die("cannot write %s: %s", ready, errname(errno));
	printf("# %s port %u: thread %d blocked in accept()\n",
	       family_name(family), addr_port(&addr), a.tid);

	start = now_ms();
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += secs;
	ret = pthread_timedjoin_np(th, NULL, &ts);
	if (ret) {
		printf("# accept() still blocked after %d s\n", secs);
		printf("result timeout\n");
		/* exit() takes the blocked thread down with the process. */
		return 1;
	}
	printf("# accept() returned after %lld ms\n", now_ms() - start);
	if (a.fd < 0) {
		printf("result error %s\n", errname(a.err));
		return 1;
	}
	printf("# accepted peer port %u\n", addr_port(&a.peer));
	printf("result got\n");
	close(a.fd);
	close(a.lfd);
	return 0;
}

// SPDX-License-Identifier: GPL-2.0
/*
 * conn_churn [-t SECONDS] [-j THREADS] [-f 4|6] [-r READYFILE]
 *
 * THREADS client threads connect and close in a loop for SECONDS while
 * THREADS server threads accept, wait for the client's FIN and close, so that
 * accepts are in flight (blocked or running) at any moment, e.g. while the
 * module is removed. READYFILE, when given, is created once the first
 * connection is accepted.
 *
 * The client closes first, so TIME_WAIT stays on the client side, where the
 * kernel reuses ports safely (tcp_tw_reuse). With the server closing first,
 * a reused client port can meet the server's old connection and the stock
 * kernel then fails a connect() now and then with EPIPE (seen on 6.1 after
 * ~14K connections, module not loaded).
 *
 * An application must not notice the module coming or going: any error
 * from connect() or accept() counts, and so does a connection that was
 * established but never accepted. Exit 0 when there was none.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "common.h"

#define MAX_THREADS	64

static int lfd;
static union sockaddr_any laddr;
static socklen_t laddr_len;
static const char *ready;
static int stop_clients, stopping;
static unsigned long connected, accepted, errors;

static void count_error(const char *what, int err)
{
	/* The first few say what went wrong; the count says how often. */
	if (__atomic_fetch_add(&errors, 1, __ATOMIC_RELAXED) < 5)
		printf("# %s: %s\n", what, errname(err));
}

static void *acceptor_fn(void *arg)
{
	ssize_t n;
	char c;
	int fd;

	(void)arg;
	for (;;) {
		fd = accept(lfd, NULL, NULL);
		if (fd >= 0) {
			if (__atomic_fetch_add(&accepted, 1,
					       __ATOMIC_RELAXED) == 0 && ready &&
			    write_file_atomic(ready, "1\n"))
				count_error("write ready file", errno);
			/* The client sends nothing: EOF is its close(). */
			n = read(fd, &c, 1);
			if (n < 0)
				count_error("read", errno);
			else if (n > 0)
				count_error("read: unexpected data", 0);
			close(fd);
			continue;
		}
		if (errno == EINVAL &&
		    __atomic_load_n(&stopping, __ATOMIC_ACQUIRE))
			break;
		count_error("accept", errno);
		/* Keep accepting: one error must not strand the clients. */
	}
	return NULL;
}

static void *client_fn(void *arg)
{
	int fd;

	(void)arg;
	while (!__atomic_load_n(&stop_clients, __ATOMIC_ACQUIRE)) {
		fd = connect_to(&laddr, laddr_len);
		if (fd < 0) {
			count_error("connect", errno);
			sleep_ms(10);
			continue;
		}
		__atomic_fetch_add(&connected, 1, __ATOMIC_RELAXED);
		close(fd);
	}
	return NULL;
}

int main(int argc, char **argv)
{
	pthread_t acc[MAX_THREADS], cli[MAX_THREADS];
	int family = AF_INET, secs = 3, nthreads = 2;
	long long start, deadline;
	int i, opt;

	while ((opt = getopt(argc, argv, "t:j:f:r:")) != -1) {
		switch (opt) {
		case 't':
			secs = atoi(optarg);
			break;
		case 'j':
			nthreads = atoi(optarg);
			break;
		case 'f':
			family = parse_family(optarg);
			break;
		case 'r':
			ready = optarg;
			break;
		default:
			fprintf(stderr,
				"usage: %s [-t SECONDS] [-j THREADS] [-f 4|6] [-r READYFILE]\n",
				argv[0]);
			return 2;
		}
	}
	if (secs <= 0 || nthreads <= 0 || nthreads > MAX_THREADS)
		die("bad -t or -j");
	setvbuf(stdout, NULL, _IOLBF, 0);

	lfd = listen_loopback(family, 4096, &laddr, &laddr_len);
	start = now_ms();
	for (i = 0; i < nthreads; i++)
		if (pthread_create(&acc[i], NULL, acceptor_fn, NULL) ||
		    pthread_create(&cli[i], NULL, client_fn, NULL))
			die("pthread_create failed");
	sleep_ms(secs * 1000);
	__atomic_store_n(&stop_clients, 1, __ATOMIC_RELEASE);
	for (i = 0; i < nthreads; i++)
		pthread_join(cli[i], NULL);

	/* Every established connection sits in the queue until accepted. */
	deadline = now_ms() + 5000;
	while (__atomic_load_n(&accepted, __ATOMIC_RELAXED) <
	       __atomic_load_n(&connected, __ATOMIC_RELAXED) &&
	       now_ms() < deadline)
		sleep_ms(10);
	__atomic_store_n(&stopping, 1, __ATOMIC_RELEASE);
	if (shutdown(lfd, SHUT_RDWR))
		die("shutdown(listener): %s", errname(errno));
	for (i = 0; i < nthreads; i++)
		pthread_join(acc[i], NULL);
	close(lfd);

	printf("# %s: %lu connected, %lu accepted, %lu errors in %lld ms\n",
	       family_name(family), connected, accepted, errors,
	       now_ms() - start);
	if (accepted != connected) {
		printf("# connected %lu != accepted %lu\n", connected,
		       accepted);
		errors++;
	}
	if (!connected) {
		printf("# no connection at all\n");
		errors++;
	}
	return errors ? 1 : 0;
}

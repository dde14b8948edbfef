// SPDX-License-Identifier: GPL-2.0
/*
 * accept_semantics [-f 4|6]
 *
 * accept() as applications see it, on IPv4 and IPv6 loopback. The runner
 * runs this with net.fastsocket.enabled=1 (every accept goes through the
 * module's replacement of inet_csk_accept) and with 0 (stock path): both
 * must give the stock kernel's answers. Each case prints "# [v4] name: ok"
 * or a FAIL line; the exit status is the number of failed cases (capped).
 * A case that hangs ends the program with a FAIL after its timeout.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common.h"

/* Generous: TCG emulation is ~10x slower than a real CPU. */
#define BLOCK_WAIT_MS	5000
#define RETURN_WAIT_MS	5000

#define CHECK(cond, ...)						\
	do {								\
		if (!(cond)) {						\
			printf("#   FAIL line %d: ", __LINE__);		\
			printf(__VA_ARGS__);				\
			printf("\n");					\
			return -1;					\
		}							\
	} while (0)

/* One accept4() call made by its own thread, so the main thread can poke it. */
struct job {
	int lfd;
	int flags;
	pthread_t th;
	pid_t tid;
	int started;
	int done;
	int fd;
	int err;
	long long elapsed_ms;
	union sockaddr_any peer;
	socklen_t peer_len;
};

static volatile sig_atomic_t sig_count;
static const char *cur_case;

static void on_sigusr1(int sig)
{
	(void)sig;
	sig_count++;
}

static void set_handler(int sa_flags)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_sigusr1;
	sa.sa_flags = sa_flags;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGUSR1, &sa, NULL))
		die("sigaction: %s", errname(errno));
	sig_count = 0;
}

static void *job_fn(void *arg)
{
	struct job *j = arg;
	long long t0;

	j->tid = gettid();
	j->peer_len = sizeof(j->peer);
	__atomic_store_n(&j->started, 1, __ATOMIC_RELEASE);
	t0 = now_ms();
	j->fd = accept4(j->lfd, &j->peer.sa, &j->peer_len, j->flags);
	j->err = errno;
	j->elapsed_ms = now_ms() - t0;
	__atomic_store_n(&j->done, 1, __ATOMIC_RELEASE);
	return NULL;
}

static void job_start(struct job *j, int lfd, int flags)
{
	memset(j, 0, sizeof(*j));
	j->lfd = lfd;
	j->flags = flags;
	j->fd = -1;
	if (pthread_create(&j->th, NULL, job_fn, j))
		die("pthread_create failed");
}

/* 0 once the job's thread sleeps inside accept4(). */
static int job_wait_blocked(struct job *j)
{
	while (!__atomic_load_n(&j->started, __ATOMIC_ACQUIRE))
		sleep_ms(1);
	return wait_in_accept(j->tid, BLOCK_WAIT_MS);
}

static bool job_done(struct job *j)
{
	return __atomic_load_n(&j->done, __ATOMIC_ACQUIRE);
}

/*
 * Wait for accept4() to return. A hang cannot be cleaned up from here (the
 * thread sleeps in the kernel): report it and end the process, which kills
 * the thread with it.
 */
static void job_join(struct job *j)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += RETURN_WAIT_MS / 1000;
	if (pthread_timedjoin_np(j->th, NULL, &ts)) {
		printf("#   FAIL %s: accept() did not return within %d ms\n",
		       cur_case, RETURN_WAIT_MS);
		exit(100);
	}
}

static int fd_flags(int fd, bool *nonblock, bool *cloexec)
{
	int fl = fcntl(fd, F_GETFL), fdfl = fcntl(fd, F_GETFD);

	*nonblock = false;
	*cloexec = false;
	if (fl < 0 || fdfl < 0)
		return -1;
	*nonblock = fl & O_NONBLOCK;
	*cloexec = fdfl & FD_CLOEXEC;
	return 0;
}

static int set_rcvtimeo(int fd, int ms)
{
	struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };

	return setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
}

/* The accepted socket is connected to @c: same addresses, data flows. */
static int check_pair(int afd, const union sockaddr_any *peer, int c)
{
	union sockaddr_any local;
	socklen_t len = sizeof(local);
	char buf[8] = "";

	CHECK(!getsockname(c, &local.sa, &len), "getsockname: %s",
	      errname(errno));
	CHECK(same_addr(peer, &local),
	      "accept() peer port %u is not the client's port %u",
	      addr_port(peer), addr_port(&local));
	CHECK(write(c, "ping", 4) == 4, "write: %s", errname(errno));
	CHECK(read(afd, buf, sizeof(buf)) == 4 && !memcmp(buf, "ping", 4),
	      "data did not arrive on the accepted socket");
	return 0;
}

static int t_blocking(int family)
{
	union sockaddr_any addr;
	bool nonblock, cloexec;
	socklen_t len;
	struct job j;
	int lfd, c;

	lfd = listen_loopback(family, 16, &addr, &len);
	job_start(&j, lfd, 0);
	CHECK(!job_wait_blocked(&j), "thread never blocked in accept()");
	c = connect_to(&addr, len);
	CHECK(c >= 0, "connect: %s", errname(errno));
	job_join(&j);
	CHECK(j.fd >= 0, "accept: %s", errname(j.err));
	CHECK(j.peer_len == len, "addrlen %u, expected %u", j.peer_len, len);
	CHECK(!fd_flags(j.fd, &nonblock, &cloexec) && !nonblock && !cloexec,
	      "plain accept() gave O_NONBLOCK=%d FD_CLOEXEC=%d", nonblock,
	      cloexec);
	if (check_pair(j.fd, &j.peer, c))
		return -1;
	close(j.fd);
	close(c);
	close(lfd);
	return 0;
}

/* A connection already queued; the address buffer is too small. */
static int t_queued_short_addr(int family)
{
	union sockaddr_any addr, peer;
	socklen_t len, plen = 4;
	int lfd, c, fd;

	lfd = listen_loopback(family, 16, &addr, &len);
	c = connect_to(&addr, len);
	CHECK(c >= 0, "connect: %s", errname(errno));
	memset(&peer, 0xa5, sizeof(peer));
	fd = accept(lfd, &peer.sa, &plen);
	CHECK(fd >= 0, "accept: %s", errname(errno));
	/* Truncated copy, but the full length is reported back. */
	CHECK(plen == len, "addrlen %u after truncation, expected %u", plen,
	      len);
	CHECK(peer.sa.sa_family == family, "sa_family %d", peer.sa.sa_family);
	CHECK(((unsigned char *)&peer)[4] == 0xa5,
	      "accept() wrote past the 4-byte address buffer");
	close(fd);
	close(c);
	close(lfd);
	return 0;
}

static int t_nonblock(int family)
{
	union sockaddr_any addr;
	bool nonblock, cloexec;
	struct pollfd pfd;
	socklen_t len;
	int lfd, c, fd;

	lfd = listen_loopback(family, 16, &addr, &len);
	CHECK(!fcntl(lfd, F_SETFL, O_NONBLOCK), "F_SETFL: %s", errname(errno));
	fd = accept(lfd, NULL, NULL);
	CHECK(fd < 0 && errno == EAGAIN, "empty O_NONBLOCK accept: %s",
	      fd < 0 ? errname(errno) : "got a connection");
	fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK);
	CHECK(fd < 0 && errno == EAGAIN, "empty O_NONBLOCK accept4: %s",
	      fd < 0 ? errname(errno) : "got a connection");
	c = connect_to(&addr, len);
	CHECK(c >= 0, "connect: %s", errname(errno));
	pfd.fd = lfd;
	pfd.events = POLLIN;
	CHECK(poll(&pfd, 1, RETURN_WAIT_MS) == 1 && (pfd.revents & POLLIN),
	      "listener not readable with a connection queued");
	fd = accept(lfd, NULL, NULL);
	CHECK(fd >= 0, "O_NONBLOCK accept with a queued connection: %s",
	      errname(errno));
	/* Linux does not copy the listener's O_NONBLOCK to the new file. */
	CHECK(!fd_flags(fd, &nonblock, &cloexec) && !nonblock && !cloexec,
	      "accept() on O_NONBLOCK listener gave O_NONBLOCK=%d FD_CLOEXEC=%d",
	      nonblock, cloexec);
	fd = accept(lfd, NULL, NULL);
	CHECK(fd < 0 && errno == EAGAIN, "drained O_NONBLOCK accept: %s",
	      fd < 0 ? errname(errno) : "got a connection");
	close(c);
	close(lfd);
	return 0;
}

static int t_accept4_flags(int family)
{
	union sockaddr_any addr;
	bool nonblock, cloexec;
	socklen_t len;
	struct job j;
	int lfd, c, fd;

	lfd = listen_loopback(family, 16, &addr, &len);
	/* Blocked first, then woken by the connection. */
	job_start(&j, lfd, SOCK_NONBLOCK | SOCK_CLOEXEC);
	CHECK(!job_wait_blocked(&j), "thread never blocked in accept4()");
	c = connect_to(&addr, len);
	CHECK(c >= 0, "connect: %s", errname(errno));
	job_join(&j);
	CHECK(j.fd >= 0, "accept4: %s", errname(j.err));
	CHECK(!fd_flags(j.fd, &nonblock, &cloexec) && nonblock && cloexec,
	      "accept4(NONBLOCK|CLOEXEC) gave O_NONBLOCK=%d FD_CLOEXEC=%d",
	      nonblock, cloexec);
	if (check_pair(j.fd, &j.peer, c))
		return -1;
	close(j.fd);
	close(c);

	/* Queued, one flag only. */
	c = connect_to(&addr, len);
	CHECK(c >= 0, "connect: %s", errname(errno));
	fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	CHECK(fd >= 0, "accept4(CLOEXEC): %s", errname(errno));
	CHECK(!fd_flags(fd, &nonblock, &cloexec) && !nonblock && cloexec,
	      "accept4(CLOEXEC) gave O_NONBLOCK=%d FD_CLOEXEC=%d", nonblock,
	      cloexec);
	close(fd);
	close(c);
	close(lfd);
	return 0;
}

static int t_rcvtimeo(int family)
{
	union sockaddr_any addr;
	struct pollfd pfd;
	long long t0, ms;
	socklen_t len;
	int lfd, c, fd;

	lfd = listen_loopback(family, 16, &addr, &len);
	CHECK(!set_rcvtimeo(lfd, 300), "SO_RCVTIMEO: %s", errname(errno));
	t0 = now_ms();
	fd = accept(lfd, NULL, NULL);
	ms = now_ms() - t0;
	CHECK(fd < 0 && errno == EAGAIN, "accept with SO_RCVTIMEO: %s",
	      fd < 0 ? errname(errno) : "got a connection");
	CHECK(ms >= 250 && ms < 3000,
	      "SO_RCVTIMEO of 300 ms expired after %lld ms", ms);
	c = connect_to(&addr, len);
	CHECK(c >= 0, "connect: %s", errname(errno));
	pfd.fd = lfd;
	pfd.events = POLLIN;
	CHECK(poll(&pfd, 1, RETURN_WAIT_MS) == 1, "listener never readable");
	fd = accept(lfd, NULL, NULL);
	CHECK(fd >= 0, "accept with SO_RCVTIMEO and a queued connection: %s",
	      errname(errno));
	close(fd);
	close(c);
	close(lfd);
	return 0;
}

/* Kick the blocked job with SIGUSR1 and wait for the handler to have run. */
static int kick(struct job *j)
{
	long long end = now_ms() + BLOCK_WAIT_MS;

	CHECK(!pthread_kill(j->th, SIGUSR1), "pthread_kill failed");
	while (!sig_count && now_ms() < end)
		sleep_ms(1);
	CHECK(sig_count == 1, "signal handler ran %d times", (int)sig_count);
	return 0;
}

static int t_signal_restart(int family)
{
	union sockaddr_any addr;
	socklen_t len;
	struct job j;
	int lfd, c;

	set_handler(SA_RESTART);
	lfd = listen_loopback(family, 16, &addr, &len);
	job_start(&j, lfd, 0);
	CHECK(!job_wait_blocked(&j), "thread never blocked in accept()");
	if (kick(&j))
		return -1;
	/* The restarted accept() sleeps again rather than returning. */
	CHECK(!job_wait_blocked(&j) && !job_done(&j),
	      "accept() returned after an SA_RESTART signal: %s",
	      job_done(&j) ? (j.fd >= 0 ? "fd" : errname(j.err)) : "?");
	c = connect_to(&addr, len);
	CHECK(c >= 0, "connect: %s", errname(errno));
	job_join(&j);
	CHECK(j.fd >= 0, "restarted accept: %s", errname(j.err));
	if (check_pair(j.fd, &j.peer, c))
		return -1;
	close(j.fd);
	close(c);
	close(lfd);
	return 0;
}

static int t_signal_eintr(int family)
{
	union sockaddr_any addr;
	socklen_t len;
	struct job j;
	int lfd;

	set_handler(0);
	lfd = listen_loopback(family, 16, &addr, &len);
	job_start(&j, lfd, 0);
	CHECK(!job_wait_blocked(&j), "thread never blocked in accept()");
	if (kick(&j))
		return -1;
	job_join(&j);
	CHECK(j.fd < 0 && j.err == EINTR,
	      "signal without SA_RESTART: accept gave %s, expected EINTR",
	      j.fd >= 0 ? "a connection" : errname(j.err));
	close(lfd);
	return 0;
}

/*
 * With a receive timeout the kernel does not restart accept() even under
 * SA_RESTART (sock_intr_errno(): -EINTR unless the wait is unbounded),
 * because a restart would start the full timeout again.
 */
static int t_signal_restart_timeo(int family)
{
	union sockaddr_any addr;
	socklen_t len;
	struct job j;
	int lfd;

	set_handler(SA_RESTART);
	lfd = listen_loopback(family, 16, &addr, &len);
	CHECK(!set_rcvtimeo(lfd, 30000), "SO_RCVTIMEO: %s", errname(errno));
	job_start(&j, lfd, 0);
	CHECK(!job_wait_blocked(&j), "thread never blocked in accept()");
	if (kick(&j))
		return -1;
	job_join(&j);
	CHECK(j.fd < 0 && j.err == EINTR,
	      "SA_RESTART signal with SO_RCVTIMEO: accept gave %s, expected EINTR",
	      j.fd >= 0 ? "a connection" : errname(j.err));
	close(lfd);
	return 0;
}

static int t_shutdown(int family)
{
	union sockaddr_any addr;
	socklen_t len;
	struct job j;
	int lfd, fd;

	lfd = listen_loopback(family, 16, &addr, &len);
	job_start(&j, lfd, 0);
	CHECK(!job_wait_blocked(&j), "thread never blocked in accept()");
	CHECK(!shutdown(lfd, SHUT_RDWR), "shutdown(listener): %s",
	      errname(errno));
	job_join(&j);
	CHECK(j.fd < 0 && j.err == EINVAL,
	      "accept blocked across shutdown() gave %s, expected EINVAL",
	      j.fd >= 0 ? "a connection" : errname(j.err));
	fd = accept(lfd, NULL, NULL);
	CHECK(fd < 0 && errno == EINVAL,
	      "accept after shutdown() gave %s, expected EINVAL",
	      fd >= 0 ? "a connection" : errname(errno));
	close(lfd);
	return 0;
}

/*
 * close() of the listener's fd from another thread: the blocked accept()
 * holds its own reference to the file, so on a stock kernel the socket keeps
 * listening and the next connection is accepted. The hard requirement is
 * that accept() comes back; what it returned is printed.
 */
static int t_close_other_thread(int family)
{
	union sockaddr_any addr;
	socklen_t len;
	struct job j;
	int lfd, c;

	lfd = listen_loopback(family, 16, &addr, &len);
	job_start(&j, lfd, 0);
	CHECK(!job_wait_blocked(&j), "thread never blocked in accept()");
	CHECK(!close(lfd), "close(listener): %s", errname(errno));
	sleep_ms(100);
	c = connect_to(&addr, len);
	job_join(&j);
	printf("#   after close(): connect %s, accept %s\n",
	       c >= 0 ? "ok" : errname(errno),
	       j.fd >= 0 ? "got the connection" : errname(j.err));
	if (j.fd >= 0)
		close(j.fd);
	if (c >= 0)
		close(c);
	return 0;
}

/* Exclusive wakeup: one connection wakes one of two sleeping acceptors. */
static int t_two_waiters(int family)
{
	union sockaddr_any addr;
	struct job j[2], *first, *second;
	socklen_t len;
	int lfd, c1, c2;

	lfd = listen_loopback(family, 16, &addr, &len);
	job_start(&j[0], lfd, 0);
	job_start(&j[1], lfd, 0);
	CHECK(!job_wait_blocked(&j[0]) && !job_wait_blocked(&j[1]),
	      "threads never blocked in accept()");
	c1 = connect_to(&addr, len);
	CHECK(c1 >= 0, "connect: %s", errname(errno));
	while (!job_done(&j[0]) && !job_done(&j[1]))
		sleep_ms(1);
	first = job_done(&j[0]) ? &j[0] : &j[1];
	second = first == &j[0] ? &j[1] : &j[0];
	job_join(first);
	CHECK(first->fd >= 0, "first accept: %s", errname(first->err));
	sleep_ms(200);
	CHECK(!job_done(second), "second acceptor returned %s without a connection",
	      second->fd >= 0 ? "a connection" : errname(second->err));
	c2 = connect_to(&addr, len);
	CHECK(c2 >= 0, "connect: %s", errname(errno));
	job_join(second);
	CHECK(second->fd >= 0, "second accept: %s", errname(second->err));
	close(first->fd);
	close(second->fd);
	close(c1);
	close(c2);
	close(lfd);
	return 0;
}

static int t_not_listening(int family)
{
	union sockaddr_any addr;
	socklen_t len;
	int s, fd;

	/* Bound but not listening (a listener turned back by shutdown is above). */
	s = listen_loopback(family, 16, &addr, &len);
	close(s);
	s = socket(family, SOCK_STREAM, 0);
	CHECK(s >= 0, "socket: %s", errname(errno));
	CHECK(!bind(s, &addr.sa, len), "bind: %s", errname(errno));
	fd = accept(s, NULL, NULL);
	CHECK(fd < 0 && errno == EINVAL,
	      "accept on a bound, non-listening socket gave %s, expected EINVAL",
	      fd >= 0 ? "a connection" : errname(errno));
	close(s);
	return 0;
}

static const struct {
	const char *name;
	int (*fn)(int family);
} cases[] = {
	{ "blocking accept", t_blocking },
	{ "queued connection, short address buffer", t_queued_short_addr },
	{ "O_NONBLOCK listener: EAGAIN, then a connection", t_nonblock },
	{ "accept4 SOCK_NONBLOCK|SOCK_CLOEXEC", t_accept4_flags },
	{ "SO_RCVTIMEO expires with EAGAIN", t_rcvtimeo },
	{ "SA_RESTART signal keeps waiting", t_signal_restart },
	{ "signal without SA_RESTART: EINTR", t_signal_eintr },
	{ "SA_RESTART signal with SO_RCVTIMEO: EINTR", t_signal_restart_timeo },
	{ "shutdown(listener) wakes accept with EINVAL", t_shutdown },
	{ "close(listener) from another thread", t_close_other_thread },
	{ "one connection wakes one of two acceptors", t_two_waiters },
	{ "accept on a non-listening socket: EINVAL", t_not_listening },
};

int main(int argc, char **argv)
{
	int families[2] = { AF_INET, AF_INET6 }, nfam = 2;
	int f, i, opt, failed = 0, passed = 0;
	long long t0, start = now_ms();
	char name[128];

	while ((opt = getopt(argc, argv, "f:")) != -1) {
		switch (opt) {
		case 'f':
			families[0] = parse_family(optarg);
			nfam = 1;
			break;
		default:
			fprintf(stderr, "usage: %s [-f 4|6]\n", argv[0]);
			return 2;
		}
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	/* Last resort if a case hangs somewhere job_join() does not cover. */
	alarm(120);

	for (f = 0; f < nfam; f++) {
		for (i = 0; i < (int)(sizeof(cases) / sizeof(cases[0])); i++) {
			snprintf(name, sizeof(name), "[%s] %s",
				 family_name(families[f]), cases[i].name);
			cur_case = name;
			t0 = now_ms();
			if (cases[i].fn(families[f])) {
				printf("# %s: FAIL (%lld ms)\n", name, now_ms() - t0);
				failed++;
			} else {
				printf("# %s: ok (%lld ms)\n", name, now_ms() - t0);
				passed++;
			}
		}
	}
	printf("# %d passed, %d failed in %lld ms\n", passed, failed,
	       now_ms() - start);
	return failed > 99 ? 99 : failed;
}

// SPDX-License-Identifier: GPL-2.0
/*
 * fsk-bench client: M threads, each with its own epoll set and a fixed share of
 * the --concurrency connections in flight. A connection is: non-blocking
 * connect(), send the request, read the REPLY_BYTES reply, wait for the
 * server's FIN, close; a new one starts as soon as one ends. The server closes
 * first, so TIME_WAIT stays on the server side and the client's ephemeral
 * ports are free again at once (see README.md).
 *
 * Latency is from just before connect() to the last byte of the reply. Only
 * what ends between the end of --warmup and the end of --duration counts;
 * after that the threads stop starting connections and let those in flight
 * finish (uncounted) or reach their --timeout, so that the server does not see
 * spurious resets at the end of a run.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <fastsocket/cost.h>

#include "bench.h"

static struct {
	struct bench_addr addr;
	int threads;
	bool pin;
	int concurrency;
	double duration;
	double warmup;
	int timeout_ms;
	int request_bytes;
	unsigned int cost_tag;	/* nonzero: open and close a cost window */
} opts = {
	.concurrency = 64,
	.duration = 5,
	.warmup = 1,
	.timeout_ms = 5000,
	.request_bytes = 32,
};

enum cconn_state {
	CC_CONNECTING,		/* connect() in progress */
	CC_REPLY,		/* request sent, reading the reply */
	CC_EOF,			/* reply complete, waiting for the server's FIN */
};

struct cconn {
	int fd;
	enum cconn_state state;
	unsigned int got;		/* reply bytes so far */
	uint64_t start_ns;		/* just before connect() */
	struct cconn *prev, *next;	/* the live list by start time, or the free list */
};

struct cthread {
	int id;
	int cpu;		/* -1: not pinned */
	pthread_t thread;
	int epfd;
	int slots;
	struct cconn *conn;	/* slots connections, allocated once */
	struct cconn *free_list;
	/* All connections have the same timeout: the oldest expires first. */
	struct cconn *oldest, *newest;
	struct hist *hist;

	uint64_t conns;		/* completed in the measured window */
	uint64_t errors[ERR_KINDS];
	uint64_t no_close;	/* replied, but the server did not close in time */
	int last_errno;
} __attribute__((aligned(64)));

/* Set by the main thread between the two start barriers. */
static uint64_t measure_start_ns, run_end_ns, drain_end_ns, timeout_ns;
static pthread_barrier_t start_barrier;
static char request[REQUEST_MAX];

static void usage(FILE *out)
{
	fputs(
"usage: fsk-bench client --connect ADDR:PORT [options]\n"
"  --connect ADDR:PORT    server to load: 127.0.0.1:8080 or [::1]:8080\n"
"  --threads M            threads (default: CPUs in the affinity mask)\n"
"  --pin                  pin thread i to the i-th CPU of the affinity mask\n"
"  --concurrency C        connections in flight, split over the threads (64)\n"
"  --duration S           measured seconds, after the warmup (default 5)\n"
"  --warmup S             seconds of load before measuring (default 1)\n"
"  --timeout MS           give up on a connection after MS ms (default 5000)\n"
"  --request-bytes N      request size, 8 to 512, ends with \\r\\n\\r\\n (32)\n"
"  --cost-tag N           open a cost window (tools/cost) as the measured seconds\n"
"                         start and close it, tagged N, as they end\n"
"Prints one line of key=value results on stdout and a summary on stderr.\n", out);
}

static bool in_window(uint64_t when)
{
	return when >= measure_start_ns && when < run_end_ns;
}

static void count_error(struct cthread *t, enum err_kind kind, int err)
{
	if (!in_window(now_ns()))
		return;
	t->errors[kind]++;
	if (kind == ERR_OTHER)
		t->last_errno = err;
}

static void conn_done(struct cthread *t, struct cconn *c)
{
	close(c->fd);
	c->fd = -1;
	if (c->prev)
		c->prev->next = c->next;
	else
		t->oldest = c->next;
	if (c->next)
		c->next->prev = c->prev;
	else
		t->newest = c->prev;
	c->next = t->free_list;
	t->free_list = c;
}

static void conn_fail(struct cthread *t, struct cconn *c, enum err_kind kind, int err)
{
	count_error(t, kind, err);
	conn_done(t, c);
}

/* Starts a connection in a free slot; false if it failed at once. */
static bool conn_start(struct cthread *t)
{
	struct cconn *c = t->free_list;
	struct epoll_event ev = {
		/* Edge-triggered: one registration for the connection's life. */
		.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET,
		.data.ptr = c,
	};
	uint64_t start;
	int fd, err;

	fd = socket(opts.addr.sa.sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		count_error(t, ERR_OTHER, errno);
		return false;
	}
	start = now_ns();
	if (connect(fd, &opts.addr.sa, opts.addr.len) && errno != EINPROGRESS) {
		err = errno;
		close(fd);
		count_error(t, err_kind_of(err), err);
		return false;
	}
	if (epoll_ctl(t->epfd, EPOLL_CTL_ADD, fd, &ev)) {
		err = errno;
		close(fd);
		count_error(t, ERR_OTHER, err);
		return false;
	}

	t->free_list = c->next;
	c->fd = fd;
	c->state = CC_CONNECTING;
	c->got = 0;
	c->start_ns = start;
	c->next = NULL;
	c->prev = t->newest;
	if (t->newest)
		t->newest->next = c;
	else
		t->oldest = c;
	t->newest = c;
	return true;
}

static void conn_read(struct cthread *t, struct cconn *c)
{
	char buf[REPLY_BYTES * 2];

	for (;;) {
		ssize_t n = recv(c->fd, buf, sizeof(buf), 0);

		if (n > 0) {
			if (c->state != CC_REPLY || c->got + n > REPLY_BYTES) {
				conn_fail(t, c, ERR_OTHER, EPROTO);
				return;
			}
			c->got += n;
			if (c->got == REPLY_BYTES) {
				uint64_t now = now_ns();

				if (in_window(now)) {
					t->conns++;
					hist_add(t->hist, now - c->start_ns);
				}
				c->state = CC_EOF;
			}
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return;
		/* After the whole reply, any end is a good end. */
		if (c->state == CC_EOF)
			conn_done(t, c);
		else if (n == 0)
			conn_fail(t, c, ERR_EOF, 0);
		else
			conn_fail(t, c, err_kind_of(errno), errno);
		return;
	}
}

static void conn_event(struct cthread *t, struct cconn *c, uint32_t events)
{
	ssize_t n;

	if (c->state != CC_CONNECTING) {
		/* A bare EPOLLOUT (send buffer space) says nothing about the reply. */
		if (events & (EPOLLIN | EPOLLRDHUP | EPOLLERR | EPOLLHUP))
			conn_read(t, c);
		return;
	}
	if (events & (EPOLLERR | EPOLLHUP)) {
		int err = 0;
		socklen_t len = sizeof(err);

		if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len))
			err = errno;
		conn_fail(t, c, err ? err_kind_of(err) : ERR_RESET, err);
		return;
	}
	if (!(events & EPOLLOUT))
		return;
	n = send(c->fd, request, opts.request_bytes, MSG_NOSIGNAL);
	if (n != opts.request_bytes) {
		if (n < 0)
			conn_fail(t, c, err_kind_of(errno), errno);
		else
			conn_fail(t, c, ERR_OTHER, EMSGSIZE);
		return;
	}
	/* The reply cannot be there yet; the next edge will say when it is. */
	c->state = CC_REPLY;
}

static void expire(struct cthread *t, uint64_t now)
{
	while (t->oldest && t->oldest->start_ns + timeout_ns <= now) {
		struct cconn *c = t->oldest;

		if (c->state == CC_EOF) {
			if (in_window(now))
				t->no_close++;
			conn_done(t, c);
		} else {
			conn_fail(t, c, ERR_TIMEOUT, 0);
		}
	}
}

static void *client_thread(void *arg)
{
	struct epoll_event events[EVENT_BATCH];
	struct cthread *t = arg;

	if (t->cpu >= 0)
		pin_self(t->cpu);
	pthread_barrier_wait(&start_barrier);	/* every thread is ready */
	pthread_barrier_wait(&start_barrier);	/* the run's times are set */

	for (;;) {
		uint64_t now = now_ns(), wake;
		bool backoff = false;
		int timeout_ms, n, i;

		expire(t, now);
		if (now < run_end_ns) {
			while (t->free_list) {
				if (!conn_start(t)) {
					backoff = true;
					break;
				}
			}
			wake = run_end_ns;
		} else {
			if (!t->oldest || now >= drain_end_ns)
				break;
			wake = drain_end_ns;
		}
		if (t->oldest && t->oldest->start_ns + timeout_ns < wake)
			wake = t->oldest->start_ns + timeout_ns;
		/*
		 * A connect() that fails at once (no free port, no listener)
		 * would fail again right away: retry the free slots in 1 ms.
		 */
		if (backoff && now + NSEC_PER_MSEC < wake)
			wake = now + NSEC_PER_MSEC;
		timeout_ms = wake > now ? (wake - now + NSEC_PER_MSEC - 1) / NSEC_PER_MSEC : 0;

		n = epoll_wait(t->epfd, events, EVENT_BATCH, timeout_ms);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			die("epoll_wait: %s", strerror(errno));
		}
		for (i = 0; i < n; i++)
			conn_event(t, events[i].data.ptr, events[i].events);
	}

	/* Still in flight after the drain: dropped, not counted. */
	while (t->oldest)
		conn_done(t, t->oldest);
	return NULL;
}

static void parse_args(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "connect",		required_argument,	NULL, 'c' },
		{ "threads",		required_argument,	NULL, 'T' },
		{ "pin",		no_argument,		NULL, 'p' },
		{ "concurrency",	required_argument,	NULL, 'C' },
		{ "duration",		required_argument,	NULL, 'd' },
		{ "warmup",		required_argument,	NULL, 'w' },
		{ "timeout",		required_argument,	NULL, 't' },
		{ "request-bytes",	required_argument,	NULL, 'r' },
		{ "cost-tag",		required_argument,	NULL, 'k' },
		{ "help",		no_argument,		NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	bool have_addr = false;
	int opt;

	while ((opt = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (opt) {
		case 'c':
			parse_addr(optarg, "--connect", &opts.addr);
			have_addr = true;
			break;
		case 'T':
			opts.threads = parse_long(optarg, "--threads", 1, CPU_SETSIZE);
			break;
		case 'p':
			opts.pin = true;
			break;
		case 'C':
			opts.concurrency = parse_long(optarg, "--concurrency", 1, 1000000);
			break;
		case 'd':
			opts.duration = parse_seconds(optarg, "--duration");
			break;
		case 'w':
			opts.warmup = parse_seconds(optarg, "--warmup");
			break;
		case 't':
			opts.timeout_ms = parse_long(optarg, "--timeout", 1, 3600000);
			break;
		case 'r':
			opts.request_bytes = parse_long(optarg, "--request-bytes", REQUEST_MIN,
							REQUEST_MAX);
			break;
		case 'k':
			opts.cost_tag = parse_long(optarg, "--cost-tag", 1, 0x7fffffff);
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			usage(stderr);
			exit(2);
		}
	}
	if (optind < argc)
		die("client: unexpected argument '%s'", argv[optind]);
	if (!have_addr) {
		usage(stderr);
		exit(2);
	}
	if (opts.duration <= 0)
		die("--duration must be more than 0 seconds");
}

static void sleep_until(uint64_t when)
{
	struct timespec ts = {
		.tv_sec = when / NSEC_PER_SEC,
		.tv_nsec = when % NSEC_PER_SEC,
	};

	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
		;
}

static void report(struct cthread *threads, int count, double user_s, double sys_s)
{
	uint64_t conns = 0, errors[ERR_KINDS] = { 0 }, total_errors = 0, no_close = 0;
	struct hist *all = calloc(1, sizeof(*all));
	double cps, mean_us;
	int last_errno = 0;
	int i, kind;
	char name[64];

	if (!all)
		die("out of memory");
	for (i = 0; i < count; i++) {
		struct cthread *t = &threads[i];

		conns += t->conns;
		no_close += t->no_close;
		for (kind = 0; kind < ERR_KINDS; kind++)
			errors[kind] += t->errors[kind];
		if (t->last_errno)
			last_errno = t->last_errno;
		hist_merge(all, t->hist);
	}
	for (kind = 0; kind < ERR_KINDS; kind++)
		total_errors += errors[kind];
	cps = conns / opts.duration;
	mean_us = all->count ? all->sum_ns / 1e3 / all->count : 0;

	printf("cps=%.1f conns=%llu errors=%llu", cps, (unsigned long long)conns,
	       (unsigned long long)total_errors);
	for (kind = 0; kind < ERR_KINDS; kind++)
		printf(" %s=%llu", err_kind_name[kind], (unsigned long long)errors[kind]);
	printf(" p50_us=%.1f p90_us=%.1f p99_us=%.1f p999_us=%.1f max_us=%.1f mean_us=%.1f"
	       " duration_s=%.3f threads=%d concurrency=%d user_s=%.3f sys_s=%.3f\n",
	       hist_quantile(all, 0.50) / 1e3, hist_quantile(all, 0.90) / 1e3,
	       hist_quantile(all, 0.99) / 1e3, hist_quantile(all, 0.999) / 1e3,
	       all->max_ns / 1e3, mean_us, opts.duration, count, opts.concurrency,
	       user_s, sys_s);
	fflush(stdout);

	addr_to_str(&opts.addr, name, sizeof(name));
	fprintf(stderr, "client %s: %.1f conn/s, %llu in %.2f s, %d threads, %d in flight%s\n",
		name, cps, (unsigned long long)conns, opts.duration, count, opts.concurrency,
		opts.pin ? ", pinned" : "");
	fprintf(stderr, "  latency us: p50 %.1f  p90 %.1f  p99 %.1f  p99.9 %.1f  max %.1f\n",
		hist_quantile(all, 0.50) / 1e3, hist_quantile(all, 0.90) / 1e3,
		hist_quantile(all, 0.99) / 1e3, hist_quantile(all, 0.999) / 1e3,
		all->max_ns / 1e3);
	fprintf(stderr, "  errors: %llu", (unsigned long long)total_errors);
	for (kind = 0; kind < ERR_KINDS; kind++)
		fprintf(stderr, " %s %llu", err_kind_name[kind], (unsigned long long)errors[kind]);
	if (last_errno)
		fprintf(stderr, " (last other: %s)", strerror(last_errno));
	fprintf(stderr, "\n  CPU in the window: %.2f s user, %.2f s sys\n", user_s, sys_s);
	if (no_close)
		fprintf(stderr, "  %llu replies without the server's close within --timeout\n",
			(unsigned long long)no_close);
	free(all);
}

int client_main(int argc, char **argv)
{
	struct cthread *threads;
	struct cpu_list cpus;
	double user0, sys0, user1, sys1;
	uint64_t start;
	int i, err;

	parse_args(argc, argv);
	allowed_cpus(&cpus);
	if (!opts.threads)
		opts.threads = cpus.count;
	if (opts.threads > opts.concurrency)
		opts.threads = opts.concurrency;
	raise_nofile(opts.concurrency + 64);
	signal(SIGPIPE, SIG_IGN);

	memset(request, 'q', opts.request_bytes);
	memcpy(request, "FSK /", 5);
	memcpy(request + opts.request_bytes - REQUEST_END_LEN, REQUEST_END, REQUEST_END_LEN);

	threads = aligned_alloc(64, sizeof(*threads) * opts.threads);
	if (!threads)
		die("out of memory");
	memset(threads, 0, sizeof(*threads) * opts.threads);
	for (i = 0; i < opts.threads; i++) {
		struct cthread *t = &threads[i];
		int j;

		t->id = i;
		t->cpu = opts.pin ? cpus.cpu[i % cpus.count] : -1;
		t->slots = opts.concurrency / opts.threads +
			   (i < opts.concurrency % opts.threads);
		t->conn = calloc(t->slots, sizeof(*t->conn));
		t->hist = calloc(1, sizeof(*t->hist));
		if (!t->conn || !t->hist)
			die("out of memory");
		for (j = t->slots - 1; j >= 0; j--) {
			t->conn[j].fd = -1;
			t->conn[j].next = t->free_list;
			t->free_list = &t->conn[j];
		}
		t->epfd = epoll_create1(EPOLL_CLOEXEC);
		if (t->epfd < 0)
			die("epoll_create1: %s", strerror(errno));
	}

	err = pthread_barrier_init(&start_barrier, NULL, opts.threads + 1);
	if (err)
		die("pthread_barrier_init: %s", strerror(err));
	for (i = 0; i < opts.threads; i++) {
		err = pthread_create(&threads[i].thread, NULL, client_thread, &threads[i]);
		if (err)
			die("pthread_create: %s", strerror(err));
	}
	pthread_barrier_wait(&start_barrier);
	start = now_ns();
	timeout_ns = (uint64_t)opts.timeout_ms * NSEC_PER_MSEC;
	measure_start_ns = start + (uint64_t)(opts.warmup * NSEC_PER_SEC);
	run_end_ns = measure_start_ns + (uint64_t)(opts.duration * NSEC_PER_SEC);
	/*
	 * Every connection in flight at the end may finish, up to its own
	 * timeout: one slowed down near the end (a SYN retransmitted after the
	 * 1 s initial RTO, a vCPU descheduled by a busy host) would otherwise
	 * be closed under the server's feet, which counts the reset or EOF as
	 * an error of the run.
	 */
	drain_end_ns = run_end_ns + timeout_ns;
	pthread_barrier_wait(&start_barrier);

	/* The process's CPU time over the measured window only. */
	sleep_until(measure_start_ns);
	if (opts.cost_tag)
		cost_window(FSK_COST_OPEN, opts.cost_tag);
	process_cpu_time(&user0, &sys0);
	sleep_until(run_end_ns);
	if (opts.cost_tag)
		cost_window(FSK_COST_CLOSE, opts.cost_tag);
	process_cpu_time(&user1, &sys1);

	for (i = 0; i < opts.threads; i++)
		pthread_join(threads[i].thread, NULL);
	report(threads, opts.threads, user1 - user0, sys1 - sys0);

	for (i = 0; i < opts.threads; i++) {
		close(threads[i].epfd);
		free(threads[i].conn);
		free(threads[i].hist);
	}
	free(threads);
	pthread_barrier_destroy(&start_barrier);
	return 0;
}

// SPDX-License-Identifier: GPL-2.0
/*
 * rfd_conn: TCP endpoints for the Receive Flow Deliver selftests.
 *
 *   rfd_conn server -a ADDR [-p PORT] [--cpu N] [--echo]
 *       Listen on ADDR:PORT (0: any) and print "port N". Default: one
 *       thread, pinned to --cpu, accepts, writes one byte and closes, so
 *       that every reply a client gets was sent from that CPU (like a NIC
 *       whose only IRQ is there). --echo: a thread per connection echoes
 *       32-byte messages; one starting with 'Q' is the last.
 *   rfd_conn client -a ADDR -p PORT -n TOTAL
 *       A thread pinned to each CPU we may use opens its share of TOTAL
 *       connections, in batches: connect, read the byte, then check the
 *       source port against the CPU's block (include/fastsocket/rfd.h) and
 *       SO_INCOMING_CPU against the CPU. Prints per-CPU lines and
 *       "conns N in_block B incoming_cpu I errors E".
 *   rfd_conn traffic -a ADDR -p PORT -s SECONDS [-k PERSISTENT]
 *       A thread pinned to each CPU: short echo connections in a loop, and
 *       PERSISTENT long ones that exchange a message per loop and must
 *       survive to the end, for SECONDS or until SIGTERM. Prints
 *       "conns N rounds R failures F" and exits 1 on any failure (connect,
 *       reset, timeout, wrong data).
 *
 * The netns's ip_local_port_range and /sys/devices/system/cpu/possible give
 * the blocks, as in the module.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <fastsocket/rfd.h>

#define MAX_CPUS	1024
#define MSG		32
#define IO_TIMEOUT_S	20

union addr {
	struct sockaddr sa;
	struct sockaddr_in in4;
	struct sockaddr_in6 in6;
};

static union addr server;
static socklen_t server_len;
static pthread_mutex_t out_lock = PTHREAD_MUTEX_INITIALIZER;

__attribute__((noreturn, format(printf, 1, 2)))
static void die(const char *fmt, ...)
{
	va_list ap;

	printf("# FATAL: ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
	exit(2);
}

__attribute__((format(printf, 1, 2)))
static void say(const char *fmt, ...)
{
	va_list ap;

	pthread_mutex_lock(&out_lock);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	fflush(stdout);
	pthread_mutex_unlock(&out_lock);
}

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

static void parse_addr(const char *text, unsigned int port)
{
	memset(&server, 0, sizeof(server));
	if (inet_pton(AF_INET, text, &server.in4.sin_addr) == 1) {
		server.in4.sin_family = AF_INET;
		server.in4.sin_port = htons(port);
		server_len = sizeof(server.in4);
	} else if (inet_pton(AF_INET6, text, &server.in6.sin6_addr) == 1) {
		server.in6.sin6_family = AF_INET6;
		server.in6.sin6_port = htons(port);
		server_len = sizeof(server.in6);
	} else {
		die("not an address: %s", text);
	}
}

static void pin(int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	if (sched_setaffinity(0, sizeof(set), &set))
		die("pin to cpu%d: %s", cpu, strerror(errno));
}

static int allowed_cpus(int *cpus)
{
	cpu_set_t set;
	int cpu, n = 0;

	if (sched_getaffinity(0, sizeof(set), &set))
		die("sched_getaffinity: %s", strerror(errno));
	for (cpu = 0; cpu < CPU_SETSIZE && n < MAX_CPUS; cpu++)
		if (CPU_ISSET(cpu, &set))
			cpus[n++] = cpu;
	return n;
}

static void set_timeouts(int fd)
{
	struct timeval tv = { .tv_sec = IO_TIMEOUT_S };

	/* SO_SNDTIMEO bounds connect() too. */
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

/* 0, or an errno; 0 bytes read (EOF) is EPIPE. */
static int read_full(int fd, char *buf, size_t len)
{
	size_t got = 0;
	ssize_t n;

	while (got < len) {
		n = read(fd, buf + got, len - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return errno;
		if (!n)
			return EPIPE;
		got += n;
	}
	return 0;
}

static int write_full(int fd, const char *buf, size_t len)
{
	size_t done = 0;
	ssize_t n;

	while (done < len) {
		n = write(fd, buf + done, len - done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return errno;
		done += n;
	}
	return 0;
}

/* ------------------------------------------------------------------ server */

static void *echo_conn(void *arg)
{
	int fd = (int)(long)arg;
	char buf[MSG];

	set_timeouts(fd);
	while (!read_full(fd, buf, MSG)) {
		if (write_full(fd, buf, MSG) || buf[0] == 'Q')
			break;
	}
	close(fd);
	return NULL;
}

static int cmd_server(const char *addr, unsigned int port, int cpu, bool echo)
{
	union addr bound;
	socklen_t len = sizeof(bound);
	pthread_attr_t attr;
	pthread_t t;
	int lfd, fd, one = 1;

	parse_addr(addr, port);
	if (cpu >= 0)
		pin(cpu);
	lfd = socket(server.sa.sa_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (lfd < 0)
		die("socket: %s", strerror(errno));
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(lfd, &server.sa, server_len) || listen(lfd, 4096))
		die("bind/listen %s: %s", addr, strerror(errno));
	if (getsockname(lfd, &bound.sa, &len))
		die("getsockname: %s", strerror(errno));
	printf("port %u\n", ntohs(bound.sa.sa_family == AF_INET ? bound.in4.sin_port :
				  bound.in6.sin6_port));
	fflush(stdout);
	signal(SIGPIPE, SIG_IGN);
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	for (;;) {
		fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			die("accept: %s", strerror(errno));
		}
		if (echo) {
			if (pthread_create(&t, &attr, echo_conn, (void *)(long)fd))
				close(fd);
			continue;
		}
		/* The one byte, then our FIN: the server side keeps TIME_WAIT. */
		if (write(fd, "x", 1) != 1)
			say("# server: write: %s\n", strerror(errno));
		close(fd);
	}
}

/* ------------------------------------------------------------------ client */

struct rfd_view {
	__u64 possible[MAX_CPUS / 64];
	unsigned int nslots, low, high;
};

static struct rfd_view view;

static void read_view(void)
{
	char buf[4096], *p, *end;
	unsigned long a, b, c;
	FILE *f;

	f = fopen("/sys/devices/system/cpu/possible", "r");
	if (!f || !fgets(buf, sizeof(buf), f))
		die("reading the possible CPUs");
	fclose(f);
	for (p = buf; *p && *p != '\n'; p = end) {
		if (*p == ',') {
			end = p + 1;
			continue;
		}
		a = b = strtoul(p, &end, 10);
		if (*end == '-')
			b = strtoul(end + 1, &end, 10);
		for (c = a; c <= b && c < MAX_CPUS; c++) {
			view.possible[c / 64] |= 1ULL << (c % 64);
			view.nslots++;
		}
	}
	f = fopen("/proc/sys/net/ipv4/ip_local_port_range", "r");
	if (!f || fscanf(f, "%u %u", &view.low, &view.high) != 2)
		die("reading ip_local_port_range");
	fclose(f);
}

struct worker {
	pthread_t thread;
	int cpu;
	unsigned int count;		/* client: connections to open */
	long long deadline;		/* traffic */
	unsigned int persistent;	/* traffic */
	/* results */
	unsigned int conns, in_block, incoming, errors, rounds;
	int bad_incoming_cpu;
};

/* A connected socket, or -1 with errno. */
static int dial(void)
{
	int fd = socket(server.sa.sa_family, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -1;
	set_timeouts(fd);
	if (connect(fd, &server.sa, server_len)) {
		int err = errno;

		close(fd);
		errno = err;
		return -1;
	}
	return fd;
}

static unsigned int local_port(int fd)
{
	union addr a;
	socklen_t len = sizeof(a);

	if (getsockname(fd, &a.sa, &len))
		return 0;
	return ntohs(a.sa.sa_family == AF_INET ? a.in4.sin_port : a.in6.sin6_port);
}

/*
 * Connections go in batches: connect() returns once the kernel completed
 * the handshake, so a batch is open before the server has written to any;
 * then each is read and checked. One at a time, an emulated guest spends
 * its time waiting on cross-CPU wakeups.
 */
#define BATCH	25

static void *client_worker(void *arg)
{
	struct worker *w = arg;
	__u32 slot, bl = 1, bh = 0;
	unsigned int i, j, n, port[BATCH];
	int fd[BATCH], in_cpu;
	socklen_t len;
	char c;

	pin(w->cpu);
	slot = fsk_rfd_slot_of_cpu(view.possible, MAX_CPUS / 64, w->cpu);
	if (!fsk_rfd_block(view.low, view.high, view.nslots, slot, &bl, &bh))
		say("# cpu%d owns no ports\n", w->cpu);
	w->bad_incoming_cpu = -1;
	for (i = 0; i < w->count; i += n) {
		n = w->count - i < BATCH ? w->count - i : BATCH;
		for (j = 0; j < n; j++) {
			fd[j] = dial();
			if (fd[j] < 0) {
				say("# cpu%d: connect: %s\n", w->cpu, strerror(errno));
				w->errors++;
				continue;
			}
			if (sched_getcpu() != w->cpu)
				die("thread of cpu%d runs on cpu%d", w->cpu, sched_getcpu());
			port[j] = local_port(fd[j]);
		}
		for (j = 0; j < n; j++) {
			if (fd[j] < 0)
				continue;
			if (read(fd[j], &c, 1) != 1) {
				say("# cpu%d: read: %s\n", w->cpu, strerror(errno));
				w->errors++;
				close(fd[j]);
				continue;
			}
			len = sizeof(in_cpu);
			if (getsockopt(fd[j], SOL_SOCKET, SO_INCOMING_CPU, &in_cpu, &len))
				die("SO_INCOMING_CPU: %s", strerror(errno));
			w->conns++;
			w->in_block += port[j] >= bl && port[j] <= bh;
			if (in_cpu == w->cpu)
				w->incoming++;
			else
				w->bad_incoming_cpu = in_cpu;
			close(fd[j]);
		}
	}
	return NULL;
}

static int cmd_client(const char *addr, unsigned int port, unsigned int total)
{
	static struct worker w[MAX_CPUS];
	int cpus[MAX_CPUS], n, i;
	unsigned int conns = 0, in_block = 0, incoming = 0, errors = 0;
	__u32 bl, bh, slot;

	parse_addr(addr, port);
	read_view();
	n = allowed_cpus(cpus);
	for (i = 0; i < n; i++) {
		w[i].cpu = cpus[i];
		w[i].count = total / n + ((unsigned int)i < total % n);
		if (pthread_create(&w[i].thread, NULL, client_worker, &w[i]))
			die("pthread_create");
	}
	for (i = 0; i < n; i++) {
		pthread_join(w[i].thread, NULL);
		slot = fsk_rfd_slot_of_cpu(view.possible, MAX_CPUS / 64, w[i].cpu);
		if (!fsk_rfd_block(view.low, view.high, view.nslots, slot, &bl, &bh))
			bl = bh = 0;
		say("# cpu%d block %u-%u: conns %u in_block %u incoming_cpu %u errors %u%s",
		    w[i].cpu, bl, bh, w[i].conns, w[i].in_block, w[i].incoming, w[i].errors,
		    w[i].bad_incoming_cpu >= 0 ? "" : "\n");
		if (w[i].bad_incoming_cpu >= 0)
			say(" (e.g. cpu%d)\n", w[i].bad_incoming_cpu);
		conns += w[i].conns;
		in_block += w[i].in_block;
		incoming += w[i].incoming;
		errors += w[i].errors;
	}
	printf("conns %u in_block %u incoming_cpu %u errors %u\n", conns, in_block, incoming,
	       errors);
	return errors ? 1 : 0;
}

/* ----------------------------------------------------------------- traffic */

static int echo_round(int fd, char kind, unsigned int seq, const char **what)
{
	char out[MSG], in[MSG];
	int err;

	memset(out, 'a' + seq % 26, sizeof(out));
	out[0] = kind;
	snprintf(out + 1, sizeof(out) - 1, "%u", seq);
	err = write_full(fd, out, MSG);
	if (err) {
		*what = "write";
		return err;
	}
	err = read_full(fd, in, MSG);
	if (err) {
		*what = "read";
		return err;
	}
	if (memcmp(in, out, MSG)) {
		*what = "echo";
		return EBADMSG;
	}
	return 0;
}

static volatile sig_atomic_t stop_traffic;

static void on_stop(int sig)
{
	(void)sig;
	stop_traffic = 1;
}

static void *traffic_worker(void *arg)
{
	struct worker *w = arg;
	int pfd[64], fd, err;
	unsigned int i, seq = 0;
	const char *what = "";
	char c;

	pin(w->cpu);
	for (i = 0; i < w->persistent; i++) {
		pfd[i] = dial();
		if (pfd[i] < 0) {
			say("# cpu%d: persistent connect: %s\n", w->cpu, strerror(errno));
			w->errors++;
		}
	}
	while (!stop_traffic && now_ms() < w->deadline) {
		fd = dial();
		if (fd < 0) {
			say("# cpu%d: connect: %s\n", w->cpu, strerror(errno));
			w->errors++;
			continue;
		}
		err = echo_round(fd, 'Q', seq++, &what);
		/* The server closes first (it keeps the TIME_WAIT): expect EOF. */
		if (!err) {
			ssize_t r = read(fd, &c, 1);

			if (r) {
				what = "eof";
				err = r < 0 ? errno : EPROTO;
			}
		}
		close(fd);
		if (err) {
			say("# cpu%d: short connection %s: %s\n", w->cpu, what, strerror(err));
			w->errors++;
		} else {
			w->conns++;
		}
		if (w->persistent) {
			i = seq % w->persistent;
			if (pfd[i] >= 0) {
				err = echo_round(pfd[i], 'P', seq, &what);
				if (err) {
					say("# cpu%d: persistent connection %u %s: %s\n", w->cpu,
					    i, what, strerror(err));
					w->errors++;
					close(pfd[i]);
					pfd[i] = -1;
				} else {
					w->rounds++;
				}
			}
		}
	}
	/* Every long connection must still answer. */
	for (i = 0; i < w->persistent; i++) {
		if (pfd[i] < 0)
			continue;
		err = echo_round(pfd[i], 'Q', seq++, &what);
		if (err) {
			say("# cpu%d: persistent connection %u at the end %s: %s\n", w->cpu, i,
			    what, strerror(err));
			w->errors++;
		} else {
			w->rounds++;
		}
		close(pfd[i]);
	}
	return NULL;
}

static int cmd_traffic(const char *addr, unsigned int port, unsigned int seconds,
		       unsigned int persistent)
{
	static struct worker w[MAX_CPUS];
	int cpus[MAX_CPUS], n, i;
	unsigned int conns = 0, rounds = 0, errors = 0;
	long long deadline = now_ms() + seconds * 1000LL;

	parse_addr(addr, port);
	signal(SIGPIPE, SIG_IGN);
	/* SIGTERM ends the loops; the long connections are still checked. */
	sigaction(SIGTERM, &(struct sigaction){ .sa_handler = on_stop }, NULL);
	sigaction(SIGINT, &(struct sigaction){ .sa_handler = on_stop }, NULL);
	if (persistent > 64)
		persistent = 64;
	n = allowed_cpus(cpus);
	for (i = 0; i < n; i++) {
		w[i].cpu = cpus[i];
		w[i].deadline = deadline;
		w[i].persistent = persistent;
		if (pthread_create(&w[i].thread, NULL, traffic_worker, &w[i]))
			die("pthread_create");
	}
	for (i = 0; i < n; i++) {
		pthread_join(w[i].thread, NULL);
		conns += w[i].conns;
		rounds += w[i].rounds;
		errors += w[i].errors;
	}
	printf("conns %u rounds %u failures %u\n", conns, rounds, errors);
	return errors || !conns ? 1 : 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "addr", required_argument, NULL, 'a' },
		{ "port", required_argument, NULL, 'p' },
		{ "cpu", required_argument, NULL, 'c' },
		{ "echo", no_argument, NULL, 'e' },
		{ "count", required_argument, NULL, 'n' },
		{ "seconds", required_argument, NULL, 's' },
		{ "persistent", required_argument, NULL, 'k' },
		{ }
	};
	const char *cmd, *addr = NULL;
	unsigned int port = 0, count = 1000, seconds = 5, persistent = 4;
	int c, cpu = -1;
	bool echo = false;

	if (argc < 2)
		goto usage;
	cmd = argv[1];
	optind = 2;
	while ((c = getopt_long(argc, argv, "a:p:c:en:s:k:", opts, NULL)) != -1) {
		switch (c) {
		case 'a':
			addr = optarg;
			break;
		case 'p':
			port = atoi(optarg);
			break;
		case 'c':
			cpu = atoi(optarg);
			break;
		case 'e':
			echo = true;
			break;
		case 'n':
			count = atoi(optarg);
			break;
		case 's':
			seconds = atoi(optarg);
			break;
		case 'k':
			persistent = atoi(optarg);
			break;
		default:
			goto usage;
		}
	}
	if (!addr)
		goto usage;
	if (!strcmp(cmd, "server"))
		return cmd_server(addr, port, cpu, echo);
	if (!strcmp(cmd, "client") && port)
		return cmd_client(addr, port, count);
	if (!strcmp(cmd, "traffic") && port)
		return cmd_traffic(addr, port, seconds, persistent);
usage:
	fprintf(stderr,
		"usage: rfd_conn server|client|traffic -a ADDR [-p PORT] ... (see the source)\n");
	return 2;
}

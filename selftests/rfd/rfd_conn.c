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
 *   rfd_conn ports -p PORT --cpu N -n COUNT [-m MODE] [-r LO-HI] [-x LIST]
 *                  [--same]
 *       The connect side's port choice, alone on loopback: listen on
 *       0.0.0.0:PORT (outside the range), then from CPU N open COUNT
 *       connections, each kept open to the end, to 127.0.0.1 (--same, or
 *       -m fill) or else to COUNT different 127.0.x.y, so that the kernel's
 *       own choice starts at a different place each time. MODE: connect
 *       (plain), noport (bind 127.0.0.1:0 with IP_BIND_ADDRESS_NO_PORT
 *       first), bind0 (bind 127.0.0.1:0 first: the port is chosen there),
 *       fill (until a port lands outside the CPU's block). -r sets the
 *       socket's IP_LOCAL_PORT_RANGE; -x LIST ("a-b,c") counts chosen ports
 *       in LIST. Prints "key value" pairs: the CPU's block and the range,
 *       how many ports fell where, and the module's rfd_connect_* counters'
 *       growth on CPU N and over all CPUs (/proc/net/fastsocket); COUNT 0
 *       only shows the block.
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
#define NPORTS		65536
#define ARRAY_SIZE(a)	(sizeof(a) / sizeof((a)[0]))

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT	24
#endif
#ifndef IP_LOCAL_PORT_RANGE
#define IP_LOCAL_PORT_RANGE	51
#endif

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

static bool bit_test(const __u64 *bits, unsigned int n)
{
	return bits[n / 64] & (1ULL << (n % 64));
}

/* A "0-3,8,10-11" list into @bits (@nbits of them); returns the members. */
static unsigned int parse_list(const char *text, __u64 *bits, unsigned int nbits)
{
	unsigned long a, b, c;
	unsigned int n = 0;
	const char *p;
	char *end;

	for (p = text; *p && *p != '\n'; p = end) {
		if (*p == ',') {
			end = (char *)p + 1;
			continue;
		}
		a = b = strtoul(p, &end, 10);
		if (end == p)
			die("not a list: %s", text);
		if (*end == '-')
			b = strtoul(end + 1, &end, 10);
		for (c = a; c <= b && c < nbits; c++) {
			n += !bit_test(bits, c);
			bits[c / 64] |= 1ULL << (c % 64);
		}
	}
	return n;
}

static void read_view(void)
{
	char buf[4096];
	FILE *f;

	f = fopen("/sys/devices/system/cpu/possible", "r");
	if (!f || !fgets(buf, sizeof(buf), f))
		die("reading the possible CPUs");
	fclose(f);
	view.nslots = parse_list(buf, view.possible, MAX_CPUS);
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

/* ------------------------------------------------------------------- ports */

enum { RFD_LOCAL, RFD_UNOWNED, RFD_FALLBACK, RFD_NR };

static const char *const rfd_counter[RFD_NR] = {
	"rfd_connect_local", "rfd_connect_unowned", "rfd_connect_fallback",
};

/*
 * Our netns's /proc/net/fastsocket, one row per CPU, columns named in the
 * header: the rfd_connect_* counters of @cpu's row in @mine, of all rows in
 * @all.
 */
static void read_counters(int cpu, unsigned long long *mine, unsigned long long *all)
{
	char line[8192], *tok, *save;
	int col[RFD_NR], c, i, row;
	FILE *f;

	f = fopen("/proc/net/fastsocket", "r");
	if (!f || !fgets(line, sizeof(line), f))
		die("reading /proc/net/fastsocket: %s", strerror(errno));
	for (i = 0; i < RFD_NR; i++) {
		col[i] = -1;
		mine[i] = all[i] = 0;
	}
	for (c = 0, tok = strtok_r(line, " \n", &save); tok;
	     c++, tok = strtok_r(NULL, " \n", &save))
		for (i = 0; i < RFD_NR; i++)
			if (!strcmp(tok, rfd_counter[i]))
				col[i] = c;
	for (i = 0; i < RFD_NR; i++)
		if (col[i] < 0)
			die("/proc/net/fastsocket has no column %s", rfd_counter[i]);
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "cpu%d", &row) != 1)
			die("/proc/net/fastsocket: bad row %s", line);
		for (c = 0, tok = strtok_r(line, " \n", &save); tok;
		     c++, tok = strtok_r(NULL, " \n", &save)) {
			for (i = 0; i < RFD_NR; i++) {
				if (col[i] != c)
					continue;
				all[i] += strtoull(tok, NULL, 10);
				if (row == cpu)
					mine[i] += strtoull(tok, NULL, 10);
			}
		}
	}
	fclose(f);
}

enum ports_mode { PORTS_CONNECT, PORTS_NOPORT, PORTS_BIND0, PORTS_FILL };

static const char *const ports_modes[] = {
	[PORTS_CONNECT] = "connect", [PORTS_NOPORT] = "noport",
	[PORTS_BIND0] = "bind0", [PORTS_FILL] = "fill",
};

struct ports_opts {
	unsigned int port, count, sk_lo, sk_hi;
	int cpu;
	enum ports_mode mode;
	bool sk_range, same;
	const char *list;
};

static bool in(unsigned int port, unsigned int lo, unsigned int hi)
{
	return port >= lo && port <= hi;
}

/* A socket ready for connect() as @o asks; dies on what must not fail. */
static int ports_socket(const struct ports_opts *o)
{
	struct sockaddr_in src = {
		.sin_family = AF_INET,
		.sin_addr.s_addr = htonl(INADDR_LOOPBACK),
	};
	int fd, one = 1;
	__u32 range;

	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		die("socket: %s", strerror(errno));
	set_timeouts(fd);
	/* No TIME_WAIT at close: each run finds the ports as it left them. */
	if (setsockopt(fd, SOL_SOCKET, SO_LINGER, &(struct linger){ 1, 0 },
		       sizeof(struct linger)))
		die("SO_LINGER: %s", strerror(errno));
	if (o->sk_range) {
		range = o->sk_lo | o->sk_hi << 16;
		if (setsockopt(fd, IPPROTO_IP, IP_LOCAL_PORT_RANGE, &range, sizeof(range)))
			die("IP_LOCAL_PORT_RANGE %u-%u: %s", o->sk_lo, o->sk_hi, strerror(errno));
	}
	if (o->mode == PORTS_NOPORT &&
	    setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one)))
		die("IP_BIND_ADDRESS_NO_PORT: %s", strerror(errno));
	if ((o->mode == PORTS_NOPORT || o->mode == PORTS_BIND0) &&
	    bind(fd, (struct sockaddr *)&src, sizeof(src)))
		die("bind 127.0.0.1:0: %s", strerror(errno));
	return fd;
}

static int cmd_ports(const struct ports_opts *o)
{
	static __u64 listed[NPORTS / 64], seen[NPORTS / 64];
	unsigned int conns = 0, errors = 0, in_block = 0, in_range = 0, in_sk = 0;
	unsigned int inter = 0, listed_hits = 0, distinct = 0, fill = 0, first = 0;
	unsigned int i, p, bound, last = 0, ilo = 1, ihi = 0;
	unsigned long long mine0[RFD_NR], mine1[RFD_NR], all0[RFD_NR], all1[RFD_NR];
	struct sockaddr_in dst = { .sin_family = AF_INET };
	__u32 slot, bl = 0, bh = 0;
	int lfd, *fds, one = 1;
	char block[32];
	bool owned;

	read_view();
	pin(o->cpu);
	slot = fsk_rfd_slot_of_cpu(view.possible, MAX_CPUS / 64, o->cpu);
	owned = fsk_rfd_block(view.low, view.high, view.nslots, slot, &bl, &bh);
	if (!owned)
		bl = bh = 0;
	if (owned && o->sk_range) {
		ilo = bl > o->sk_lo ? bl : o->sk_lo;
		ihi = bh < o->sk_hi ? bh : o->sk_hi;
	}
	if (o->list)
		parse_list(o->list, listed, NPORTS);
	fds = calloc(o->count ? o->count : 1, sizeof(*fds));
	if (!fds)
		die("out of memory");

	lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (lfd < 0)
		die("socket: %s", strerror(errno));
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	/* 0.0.0.0:PORT: every 127.0.x.y we connect to. */
	dst.sin_port = htons(o->port);
	if (bind(lfd, (struct sockaddr *)&dst, sizeof(dst)) || listen(lfd, 4096))
		die("bind/listen 0.0.0.0:%u: %s", o->port, strerror(errno));

	read_counters(o->cpu, mine0, all0);
	for (i = 0; i < o->count; i++) {
		int fd = ports_socket(o);

		bound = o->mode == PORTS_BIND0 ? local_port(fd) : 0;
		if (o->same || o->mode == PORTS_FILL)
			dst.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		else
			dst.sin_addr.s_addr = htonl(0x7f000000 | (1 + i / 250) << 8 |
						    (1 + i % 250));
		if (connect(fd, (struct sockaddr *)&dst, sizeof(dst))) {
			say("# connect %u from cpu%d: %s\n", i + 1, o->cpu, strerror(errno));
			errors++;
			close(fd);
			continue;
		}
		if (sched_getcpu() != o->cpu)
			die("pinned to cpu%d, runs on cpu%d", o->cpu, sched_getcpu());
		p = local_port(fd);
		if (bound && p != bound)
			die("bind() chose port %u, connect() has %u", bound, p);
		fds[conns++] = fd;
		if (!first)
			first = p;
		last = p;
		in_block += owned && in(p, bl, bh);
		in_range += in(p, view.low, view.high);
		in_sk += o->sk_range && in(p, o->sk_lo, o->sk_hi);
		inter += in(p, ilo, ihi);
		listed_hits += bit_test(listed, p);
		if (!bit_test(seen, p)) {
			seen[p / 64] |= 1ULL << (p % 64);
			distinct++;
		}
		if (o->mode == PORTS_FILL) {
			if (!owned || !in(p, bl, bh))
				break;
			fill++;
		}
	}
	read_counters(o->cpu, mine1, all1);

	if (distinct && distinct <= 64) {
		say("# ports from cpu%d (%s):", o->cpu, ports_modes[o->mode]);
		for (p = 0; p < NPORTS; p++)
			if (bit_test(seen, p))
				say(" %u", p);
		say("\n");
	}
	if (owned)
		snprintf(block, sizeof(block), "%u-%u", bl, bh);
	else
		snprintf(block, sizeof(block), "none");
	printf("cpu %d slot %d nslots %u block %s range %u-%u conns %u errors %u", o->cpu,
	       slot == FSK_RFD_NO_SLOT ? -1 : (int)slot, view.nslots, block, view.low,
	       view.high, conns, errors);
	printf(" in_block %u in_range %u in_sk %u inter %u listed %u distinct %u fill %u",
	       in_block, in_range, in_sk, inter, listed_hits, distinct, fill);
	printf(" first %u last %u", first, last);
	/* rfd_connect_* growth: "local L unowned U fallback F" on our CPU, all_* on all. */
	for (i = 0; i < RFD_NR; i++)
		printf(" %s %llu", rfd_counter[i] + strlen("rfd_connect_"), mine1[i] - mine0[i]);
	for (i = 0; i < RFD_NR; i++)
		printf(" all_%s %llu", rfd_counter[i] + strlen("rfd_connect_"), all1[i] - all0[i]);
	printf("\n");
	for (i = 0; i < conns; i++)
		close(fds[i]);
	close(lfd);
	free(fds);
	return errors ? 1 : 0;
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
		{ "mode", required_argument, NULL, 'm' },
		{ "sk-range", required_argument, NULL, 'r' },
		{ "list", required_argument, NULL, 'x' },
		{ "same", no_argument, NULL, 'S' },
		{ }
	};
	const char *cmd, *addr = NULL, *mode = "connect";
	unsigned int port = 0, count = 1000, seconds = 5, persistent = 4;
	struct ports_opts po = { };
	int c, cpu = -1;
	bool echo = false;

	if (argc < 2)
		goto usage;
	cmd = argv[1];
	optind = 2;
	while ((c = getopt_long(argc, argv, "a:p:c:en:s:k:m:r:x:S", opts, NULL)) != -1) {
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
		case 'm':
			mode = optarg;
			break;
		case 'r':
			if (sscanf(optarg, "%u-%u", &po.sk_lo, &po.sk_hi) != 2)
				goto usage;
			po.sk_range = true;
			break;
		case 'x':
			po.list = optarg;
			break;
		case 'S':
			po.same = true;
			break;
		default:
			goto usage;
		}
	}
	if (!strcmp(cmd, "ports") && port && cpu >= 0) {
		for (po.mode = 0; po.mode < ARRAY_SIZE(ports_modes); po.mode++)
			if (!strcmp(mode, ports_modes[po.mode]))
				break;
		if (po.mode == ARRAY_SIZE(ports_modes))
			goto usage;
		po.port = port;
		po.cpu = cpu;
		po.count = count;
		return cmd_ports(&po);
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
		"usage: rfd_conn server|client|traffic -a ADDR [-p PORT] ...\n"
		"       rfd_conn ports -p PORT --cpu N -n COUNT [-m MODE] ... (see the source)\n");
	return 2;
}

// SPDX-License-Identifier: GPL-2.0
/*
 * llt SUBCOMMAND [OPTIONS]: the programs of selftests/llt.sh, the Local Listen
 * Table selftests. Each subcommand sets up what it needs (sysctls of its own
 * network namespace included), runs, prints "# " diagnostics and exits 0
 * when every check held, 1 when one failed, 2 when it could not run, 4 when
 * it cannot test what it is about here and now (it says why).
 *
 * Common options:
 *   -p PORT        first port to use (each test gets its own range)
 *   -n N           connections per client thread
 *   -d MS          duration of duration-based traffic
 *   -r FILE        ready file (created when the subcommand is ready; memcg:
 *                  the stock run's figures, for the fastsocket run)
 *   -m MODE        subcommand specific (accept mode, option, ...)
 *   -f 4|6         listener family; -F 4|6 clients' family
 *   -l ADDR        listening address; -c ADDR address clients connect to
 *   -6 0|1         IPV6_V6ONLY on an AF_INET6 listener
 *   -R N           resets tolerated after connect() (rmmod under traffic)
 *   -S             fastsocket is off in this netns: counters must not move
 *   -C CPU         the CPU to take offline (hotplug)
 *   -N COUNT       number of listeners (memory, clone-fail)
 *   -B MS          a time bound (accept-courtesy)
 *   -Z             listeners bind port 0 (close-queued, shutdown)
 *   -x NETNS       the clients' network namespace (flood)
 *   -s ADDR/LEN    source addresses of a SYN flood
 *   -b BACKLOG     listen() backlog (syn-flood)
 *   -k SYNS        SYNs per CPU (flood), instead of for -d MS
 *   -I N           iterations (netns-churn)
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "llt.h"

int llt_failures;
int llt_ncpus;
bool llt_debug_kernel;
int llt_cpus[LLT_MAX_CPUS];

void note(const char *fmt, ...)
{
	va_list ap;

	printf("# ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
}

void fail(const char *fmt, ...)
{
	va_list ap;

	printf("# FAIL: ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
	__atomic_fetch_add(&llt_failures, 1, __ATOMIC_RELAXED);
}

/* ------------------------------------------------------------ sysctls */

int sysctl_read(const char *path)
{
	char buf[64];
	ssize_t n;
	int fd;

	fd = open(path, O_RDONLY);
	if (fd < 0)
		die("open %s: %s", path, errname(errno));
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		die("read %s: %s", path, n ? errname(errno) : "empty");
	buf[n] = '\0';
	return atoi(buf);
}

void sysctl_write(const char *path, int val)
{
	char buf[32];
	int fd, len;

	len = snprintf(buf, sizeof(buf), "%d\n", val);
	fd = open(path, O_WRONLY);
	if (fd < 0)
		die("open %s: %s", path, errname(errno));
	if (write(fd, buf, len) != len)
		die("write %d to %s: %s", val, path, errname(errno));
	close(fd);
}

void fsk_sysctl_set(const char *name, int val)
{
	char path[128];

	snprintf(path, sizeof(path), "/proc/sys/net/fastsocket/%s", name);
	sysctl_write(path, val);
}

void unpin(void)
{
	cpu_set_t set;
	int i;

	CPU_ZERO(&set);
	for (i = 0; i < llt_ncpus; i++)
		CPU_SET(llt_cpus[i], &set);
	sched_setaffinity(0, sizeof(set), &set);
}

void xpin(int cpu)
{
	if (pin_to_cpu(cpu))
		die("pin to CPU %d: %s", cpu, errname(errno));
}

void set_fastsocket(int enabled, int listen)
{
	fsk_sysctl_set("listen", listen);
	fsk_sysctl_set("enabled", enabled);
}

/* ------------------------------------------------------------ counters */

bool stats_available(void)
{
	return access("/proc/net/fastsocket", R_OK) == 0;
}

void stats_read(struct llt_stats *s)
{
	char line[4096], *tok, *save;
	FILE *f;
	int cpu, i;

	memset(s, 0, sizeof(*s));
	f = fopen("/proc/net/fastsocket", "r");
	if (!f)
		die("open /proc/net/fastsocket: %s", errname(errno));
	if (!fgets(line, sizeof(line), f))
		die("/proc/net/fastsocket: no header");
	tok = strtok_r(line, " \n", &save);
	if (!tok || strcmp(tok, "cpu"))
		die("/proc/net/fastsocket: bad header");
	while ((tok = strtok_r(NULL, " \n", &save)) && s->ncols < LLT_MAX_COLS)
		snprintf(s->col[s->ncols++], sizeof(s->col[0]), "%s", tok);
	while (fgets(line, sizeof(line), f)) {
		tok = strtok_r(line, " \n", &save);
		if (!tok || sscanf(tok, "cpu%d", &cpu) != 1 || cpu < 0)
			die("/proc/net/fastsocket: bad row '%s'", line);
		if (cpu >= LLT_MAX_CPUS)
			continue;
		s->has_cpu[cpu] = true;
		for (i = 0; i < s->ncols; i++) {
			tok = strtok_r(NULL, " \n", &save);
			if (!tok)
				die("/proc/net/fastsocket: short row for cpu%d", cpu);
			s->v[cpu][i] = strtoull(tok, NULL, 10);
		}
	}
	fclose(f);
}

static int stats_col(const struct llt_stats *s, const char *col)
{
	int i;

	for (i = 0; i < s->ncols; i++)
		if (!strcmp(s->col[i], col))
			return i;
	die("/proc/net/fastsocket has no column %s", col);
}

/* Delta of @col between @a and @b on @cpu, or summed over CPUs if cpu < 0. */
long long stats_delta(const struct llt_stats *a, const struct llt_stats *b,
		      const char *col, int cpu)
{
	int i = stats_col(b, col), c;
	long long d = 0;

	for (c = 0; c < LLT_MAX_CPUS; c++) {
		if (!b->has_cpu[c] || (cpu >= 0 && c != cpu))
			continue;
		d += (long long)(b->v[c][i] - a->v[c][i]);
	}
	return d;
}

void stats_print_delta(const char *what, const struct llt_stats *a,
		       const struct llt_stats *b)
{
	char buf[2048];
	int i, c, len = 0;

	for (i = 0; i < b->ncols; i++) {
		if (!stats_delta(a, b, b->col[i], -1))
			continue;
		len += snprintf(buf + len, sizeof(buf) - len, " %s", b->col[i]);
		for (c = 0; c < LLT_MAX_CPUS && len < (int)sizeof(buf) - 64; c++)
			if (b->has_cpu[c])
				len += snprintf(buf + len, sizeof(buf) - len, "%s%llu",
						c ? "/" : "=",
						b->v[c][i] - a->v[c][i]);
	}
	note("%s counters (per CPU):%s", what, len ? buf : " none moved");
}

bool stats_all_zero(const struct llt_stats *a, const struct llt_stats *b)
{
	int i;

	for (i = 0; i < b->ncols; i++)
		if (stats_delta(a, b, b->col[i], -1))
			return false;
	return true;
}

void check_stock_counters(const char *what, const struct llt_stats *a,
			  const struct llt_stats *b)
{
	if (!stats_all_zero(a, b)) {
		stats_print_delta(what, a, b);
		fail("%s: fastsocket counters moved where fastsocket is off", what);
	}
}

/* ------------------------------------------------------------ sockets */

void sa_make(union sockaddr_any *sa, socklen_t *len, int family,
	     const char *addr, int port)
{
	memset(sa, 0, sizeof(*sa));
	if (family == AF_INET6) {
		char a[INET6_ADDRSTRLEN], *scope;

		/* ADDR%DEV: a scope, by device name in the current netns. */
		snprintf(a, sizeof(a), "%s", addr);
		scope = strchr(a, '%');
		if (scope)
			*scope++ = 0;
		sa->in6.sin6_family = AF_INET6;
		sa->in6.sin6_port = htons(port);
		if (inet_pton(AF_INET6, a, &sa->in6.sin6_addr) != 1)
			die("bad IPv6 address %s", addr);
		if (scope && !(sa->in6.sin6_scope_id = if_nametoindex(scope)))
			die("no device %s here for the scope of %s", scope, addr);
		*len = sizeof(sa->in6);
	} else {
		sa->in4.sin_family = AF_INET;
		sa->in4.sin_port = htons(port);
		if (inet_pton(AF_INET, addr, &sa->in4.sin_addr) != 1)
			die("bad IPv4 address %s", addr);
		*len = sizeof(sa->in4);
	}
}

const char *sa_str(const union sockaddr_any *sa)
{
	static __thread char buf[INET6_ADDRSTRLEN + 16];
	char a[INET6_ADDRSTRLEN];

	if (sa->sa.sa_family == AF_INET6) {
		inet_ntop(AF_INET6, &sa->in6.sin6_addr, a, sizeof(a));
		snprintf(buf, sizeof(buf), "[%s]:%u", a, ntohs(sa->in6.sin6_port));
	} else {
		inet_ntop(AF_INET, &sa->in4.sin_addr, a, sizeof(a));
		snprintf(buf, sizeof(buf), "%s:%u", a, ntohs(sa->in4.sin_port));
	}
	return buf;
}

int tcp_socket(int family)
{
	int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		die("socket: %s", errname(errno));
	return fd;
}

void xsetint(int fd, int level, int opt, int val, const char *name)
{
	if (setsockopt(fd, level, opt, &val, sizeof(val)))
		die("setsockopt %s=%d: %s", name, val, errname(errno));
}

int xgetint(int fd, int level, int opt, const char *name)
{
	socklen_t len = sizeof(int);
	int val;

	if (getsockopt(fd, level, opt, &val, &len))
		die("getsockopt %s: %s", name, errname(errno));
	return val;
}

void xbind(int fd, const union sockaddr_any *sa, socklen_t len)
{
	if (bind(fd, &sa->sa, len))
		die("bind %s: %s", sa_str(sa), errname(errno));
}

void xlisten(int fd, int backlog)
{
	if (listen(fd, backlog))
		die("listen: %s", errname(errno));
}

/* A listener bound to an explicit port (what makes it eligible). */
int listener_at(int family, const char *addr, int port, int backlog)
{
	union sockaddr_any sa;
	socklen_t len;
	int fd;

	sa_make(&sa, &len, family, addr, port);
	fd = tcp_socket(family);
	xsetint(fd, SOL_SOCKET, SO_REUSEADDR, 1, "SO_REUSEADDR");
	xbind(fd, &sa, len);
	xlisten(fd, backlog);
	return fd;
}

bool poll_readable(int fd, int timeout_ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	int n;

	do {
		n = poll(&p, 1, timeout_ms);
	} while (n < 0 && errno == EINTR);
	return n > 0 && (p.revents & POLLIN);
}

/*
 * accept() that does not wait, on a listener that may be blocking (accept4's
 * SOCK_NONBLOCK is about the new socket, not the call): -1 with EAGAIN.
 */
int accept_nb(int lfd)
{
	int fl = fcntl(lfd, F_GETFL), fd, err;

	if (fl < 0 || (!(fl & O_NONBLOCK) && fcntl(lfd, F_SETFL, fl | O_NONBLOCK)))
		die("fcntl O_NONBLOCK: %s", errname(errno));
	fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	err = errno;
	if (!(fl & O_NONBLOCK))
		fcntl(lfd, F_SETFL, fl);
	errno = err;
	return fd;
}

int netns_open(const char *name)
{
	char path[256];
	int fd;

	if (!name)
		return -1;
	snprintf(path, sizeof(path), "/run/netns/%s", name);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		die("open %s: %s", path, errname(errno));
	return fd;
}

/*
 * Two pipes and a fork, for a child the caller talks to: the child writes
 * @up[1] and reads @down[0], the parent the other ends; each side's unused
 * ends are closed. Returns fork()'s pid.
 */
pid_t fork_with_pipes(int up[2], int down[2])
{
	pid_t pid;

	if (pipe(up) || pipe(down))
		die("pipe: %s", errname(errno));
	pid = fork();
	if (pid < 0)
		die("fork: %s", errname(errno));
	close(pid ? up[1] : up[0]);
	close(pid ? down[0] : down[1]);
	return pid;
}

/* This thread into the network namespace @fd (netns_open(), /proc/self/ns/net). */
void netns_set(int fd)
{
	if (setns(fd, CLONE_NEWNET))
		die("setns: %s", errname(errno));
}

/* A connection within @timeout_ms (poll, then a non-blocking accept). */
int accept_wait(int lfd, int timeout_ms, int *err)
{
	long long end = now_ms() + timeout_ms;
	int fd;

	for (;;) {
		fd = accept_nb(lfd);
		if (fd >= 0) {
			*err = 0;
			return fd;
		}
		*err = errno;
		if (errno != EAGAIN || now_ms() >= end)
			return -1;
		poll_readable(lfd, (int)(end - now_ms()));
	}
}

int incoming_cpu(int fd)
{
	return xgetint(fd, SOL_SOCKET, SO_INCOMING_CPU, "SO_INCOMING_CPU");
}

/* ------------------------------------------------------------ leaks */

static void slab_shrink(const char *cache)
{
	char path[128];
	int fd;

	/* Flushes the per-CPU slabs, so that "active" counts objects in use. */
	snprintf(path, sizeof(path), "/sys/kernel/slab/%s/shrink", cache);
	fd = open(path, O_WRONLY);
	if (fd < 0)
		return;
	if (write(fd, "1", 1) != 1)
		note("shrink %s: %s", cache, errname(errno));
	close(fd);
}

long slab_active(const char *cache)
{
	char line[512], name[64];
	long active, ret = -1;
	FILE *f;

	slab_shrink(cache);
	f = fopen("/proc/slabinfo", "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "%63s %ld", name, &active) == 2 && !strcmp(name, cache))
			ret = active;
	fclose(f);
	return ret;
}

void sockstat_read(struct llt_sockstat *s)
{
	char line[512];
	FILE *f;

	memset(s, 0, sizeof(*s));
	f = fopen("/proc/net/sockstat", "r");
	if (!f)
		die("open /proc/net/sockstat: %s", errname(errno));
	while (fgets(line, sizeof(line), f))
		sscanf(line, "TCP: inuse %ld orphan %ld tw %ld alloc %ld",
		       &s->inuse, &s->orphan, &s->tw, &s->alloc);
	fclose(f);

	s->tcp_objs = slab_active("TCP");
	s->tcp6_objs = slab_active("TCPv6");
	s->slab = s->tcp_objs >= 0 && s->tcp6_objs >= 0;
}

void sockstat_print(const char *what, const struct llt_sockstat *s)
{
	if (s->slab)
		note("%s: sockstat TCP inuse %ld orphan %ld tw %ld alloc %ld; "
		     "slab TCP %ld TCPv6 %ld", what, s->inuse, s->orphan, s->tw, s->alloc,
		     s->tcp_objs, s->tcp6_objs);
	else
		note("%s: sockstat TCP inuse %ld orphan %ld tw %ld alloc %ld; slabinfo unreadable",
		     what, s->inuse, s->orphan, s->tw, s->alloc);
}

static bool sockstat_same(const struct llt_sockstat *a,
			  const struct llt_sockstat *b)
{
	/* TIME_WAIT sockets are not full sockets: tw may stay up for a while. */
	return a->inuse == b->inuse && a->orphan == b->orphan &&
	       a->alloc == b->alloc &&
	       (!a->slab || !b->slab ||
		(a->tcp_objs == b->tcp_objs && a->tcp6_objs == b->tcp6_objs));
}

/* Wait for sockstat and slabs to come back to @base. */
bool sockstat_settle(const struct llt_sockstat *base, int timeout_ms,
		     struct llt_sockstat *now)
{
	long long end = now_ms() + timeout_ms;

	for (;;) {
		sockstat_read(now);
		if (sockstat_same(base, now))
			return true;
		if (now_ms() >= end)
			return false;
		sleep_ms(100);
	}
}

/* "llt leak -m save|check -r FILE": a baseline for the runner. */
int cmd_leak(const struct llt_opts *o)
{
	struct llt_sockstat base, now;
	char text[256];
	int slab;
	FILE *f;

	if (!o->ready)
		die("leak: -r FILE needed");
	if (o->mode && !strcmp(o->mode, "save")) {
		sockstat_read(&base);
		snprintf(text, sizeof(text), "%ld %ld %ld %ld %d %ld %ld\n",
			 base.inuse, base.orphan, base.tw, base.alloc, base.slab,
			 base.tcp_objs, base.tcp6_objs);
		if (write_file_atomic(o->ready, text))
			die("write %s: %s", o->ready, errname(errno));
		sockstat_print("baseline", &base);
		return 0;
	}
	f = fopen(o->ready, "r");
	if (!f)
		die("open %s: %s", o->ready, errname(errno));
	memset(&base, 0, sizeof(base));
	if (fscanf(f, "%ld %ld %ld %ld %d %ld %ld", &base.inuse, &base.orphan,
		   &base.tw, &base.alloc, &slab, &base.tcp_objs,
		   &base.tcp6_objs) != 7)
		die("bad baseline in %s", o->ready);
	base.slab = slab != 0;
	fclose(f);
	sockstat_print("baseline", &base);
	if (!sockstat_settle(&base, 15000, &now)) {
		sockstat_print("now", &now);
		fail("TCP sockets did not come back to the baseline within 15 s");
		return 1;
	}
	sockstat_print("now", &now);
	return 0;
}

/* /proc/net/netstat and snmp: a line of names, then a line of values. */
static long long proc_net_counter(const char *file, const char *name)
{
	char hdr[8192], val[8192], *h, *v, *hs, *vs;
	long long ret = -1;
	FILE *f;

	f = fopen(file, "r");
	if (!f)
		return -1;
	while (fgets(hdr, sizeof(hdr), f) && fgets(val, sizeof(val), f)) {
		h = strtok_r(hdr, " \n", &hs);
		v = strtok_r(val, " \n", &vs);
		while (h && v) {
			if (!strcmp(h, name)) {
				ret = atoll(v);
				goto out;
			}
			h = strtok_r(NULL, " \n", &hs);
			v = strtok_r(NULL, " \n", &vs);
		}
	}
out:
	fclose(f);
	return ret;
}

long long netstat_get(const char *name)
{
	return proc_net_counter("/proc/net/netstat", name);
}

long long snmp_get(const char *name)
{
	return proc_net_counter("/proc/net/snmp", name);
}

/* ------------------------------------------------------------ main */

static const struct {
	const char *name;
	int (*fn)(const struct llt_opts *o);
} cmds[] = {
	{ "locality", cmd_locality },
	{ "nostrand", cmd_nostrand },
	{ "traffic", cmd_traffic },
	{ "flip", cmd_flip },
	{ "serve", cmd_serve },
	{ "close-queued", cmd_close_queued },
	{ "shutdown", cmd_shutdown },
	{ "rmmod-queued", cmd_rmmod_queued },
	{ "eligible", cmd_eligible },
	{ "reuseport", cmd_reuseport },
	{ "opt", cmd_opt },
	{ "syncookies", cmd_syncookies },
	{ "cookie-steer", cmd_cookie_steer },
	{ "hotplug", cmd_hotplug },
	{ "memory", cmd_memory },
	{ "leak", cmd_leak },
	{ "late-opt", cmd_late_opt },
	{ "late-inherit", cmd_late_inherit },
	{ "late-sockopt", cmd_late_sockopt },
	{ "sockopt-churn", cmd_sockopt_churn },
	{ "accept-giveup", cmd_accept_giveup },
	{ "fastopen-key", cmd_fastopen_key },
	{ "accept-migrated", cmd_accept_migrated },
	{ "accept-courtesy", cmd_accept_courtesy },
	{ "aio-poll", cmd_aio_poll },
	{ "uring", cmd_uring },
	{ "md5-hotplug", cmd_md5_hotplug },
	{ "memcg", cmd_memcg },
	{ "clone-fail", cmd_clone_fail },
	{ "backlog-bound", cmd_backlog_bound },
	{ "ipv6-corners", cmd_ipv6_corners },
	{ "flood", cmd_flood },
	{ "syn-flood", cmd_syn_flood },
	{ "netns-churn", cmd_netns_churn },
	{ "many-listeners", cmd_many_listeners },
};

static void usage(void)
{
	unsigned int i;

	fprintf(stderr, "usage: llt SUBCOMMAND [-p PORT] [-n N] [-d MS] [-r FILE] [-m MODE]\n"
		"           [-f 4|6] [-F 4|6] [-l ADDR] [-c ADDR] [-6 0|1] [-R N] [-S]\n"
		"           [-C CPU] [-N COUNT] [-B MS] [-Z] [-x NETNS] [-s ADDR/LEN]\n"
		"           [-b BACKLOG] [-k SYNS] [-I N]\nsubcommands:");
	for (i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		fprintf(stderr, " %s", cmds[i].name);
	fprintf(stderr, "\n");
	exit(2);
}

int main(int argc, char **argv)
{
	struct llt_opts o = {
		.port = 21000,
		.family = AF_INET,
		.cfamily = AF_UNSPEC,
		.v6only = -1,
		.cpu = 1,
		.count = 50,
	};
	unsigned int i;
	int c, ret;

	if (argc < 2)
		usage();
	setvbuf(stdout, NULL, _IOLBF, 0);
	signal(SIGPIPE, SIG_IGN);
	llt_debug_kernel = getenv("FSK_DEBUG_KERNEL") && !strcmp(getenv("FSK_DEBUG_KERNEL"), "1");
	optind = 2;
	while ((c = getopt(argc, argv, "p:n:d:r:m:f:F:l:c:6:R:SC:N:ZB:x:s:b:k:I:")) != -1) {
		switch (c) {
		case 'p': o.port = atoi(optarg); break;
		case 'n': o.conns = atoi(optarg); break;
		case 'd': o.duration_ms = atoi(optarg); break;
		case 'r': o.ready = optarg; break;
		case 'm': o.mode = optarg; break;
		case 'f': o.family = parse_family(optarg); break;
		case 'F': o.cfamily = parse_family(optarg); break;
		case 'l': o.laddr = optarg; break;
		case 'c': o.caddr = optarg; break;
		case '6': o.v6only = atoi(optarg); break;
		case 'R': o.allow_resets = atoi(optarg); break;
		case 'S': o.expect_stock = true; break;
		case 'C': o.cpu = atoi(optarg); break;
		case 'N': o.count = atoi(optarg); break;
		case 'Z': o.port_zero = true; break;
		case 'B': o.bound_ms = atoi(optarg); break;
		case 'x': o.peer_ns = optarg; break;
		case 's': o.src = optarg; break;
		case 'b': o.backlog = atoi(optarg); break;
		case 'k': o.syns = atoi(optarg); break;
		case 'I': o.iterations = atoi(optarg); break;
		default: usage();
		}
	}
	if (optind != argc)
		usage();
	llt_ncpus = allowed_cpus(llt_cpus, LLT_MAX_CPUS);
	for (i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		if (strcmp(argv[1], cmds[i].name))
			continue;
		ret = cmds[i].fn(&o);
		if (llt_failures && (!ret || ret == 4))
			ret = 1;
		note("%s: %s", argv[1], ret == 4 ? "skipped" : ret ? "FAILED" : "passed");
		return ret;
	}
	usage();
}

// SPDX-License-Identifier: GPL-2.0
/*
 * Listener life cycle and bookkeeping: close and shutdown with connections
 * queued on clones, rmmod with queued connections, eligibility, SO_REUSEPORT
 * with SO_INCOMING_CPU, CPU hotplug, memory per clone.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include "llt.h"

#define MAX_QUEUED	512

/* @per_cpu connections from each CPU, left in the accept queue. */
static int connect_queued(int family, const char *addr, int port, int per_cpu,
			  int *fds)
{
	union sockaddr_any sa;
	socklen_t len;
	int i, k, n = 0;

	sa_make(&sa, &len, family, addr, port);
	for (i = 0; i < llt_ncpus; i++) {
		xpin(llt_cpus[i]);
		for (k = 0; k < per_cpu && n < MAX_QUEUED; k++) {
			fds[n] = connect_to(&sa, len);
			if (fds[n] < 0)
				die("connect to %s from CPU %d: %s", sa_str(&sa),
				    llt_cpus[i], errname(errno));
			n++;
		}
	}
	unpin();
	return n;
}

enum outcome { OUT_RESET, OUT_EOF, OUT_DATA, OUT_NOTHING, OUT_OTHER, OUT_NR };
static const char *const outcome_names[] = {
	"reset", "EOF", "data", "nothing", "other error"
};

/* What a client sees within 3 s, counted in @hist. */
static void classify(int fd, long *hist)
{
	ssize_t n;
	char c;

	poll_readable(fd, 3000);
	n = recv(fd, &c, 1, MSG_DONTWAIT);
	if (n > 0)
		hist[OUT_DATA]++;
	else if (n == 0)
		hist[OUT_EOF]++;
	else if (errno == ECONNRESET)
		hist[OUT_RESET]++;
	else if (errno == EAGAIN)
		hist[OUT_NOTHING]++;
	else
		hist[OUT_OTHER]++;
}

static void print_hist(const char *what, const long *hist)
{
	char buf[256];
	int i, len = 0;

	for (i = 0; i < OUT_NR; i++)
		if (hist[i])
			len += snprintf(buf + len, sizeof(buf) - len, " %s %ld",
					outcome_names[i], hist[i]);
	note("%s: clients saw%s", what, len ? buf : " nothing at all");
}

static void check_queued_on_clones(const char *what, const struct llt_stats *a,
				   const struct llt_stats *b, int per_cpu)
{
	long long d;
	int i;

	d = stats_delta(a, b, "listen_managed", -1);
	check(d == 1, "%s: listen_managed +%lld, expected +1", what, d);
	for (i = 0; i < llt_ncpus; i++) {
		d = stats_delta(a, b, "listen_syn_local", llt_cpus[i]);
		check(d == per_cpu, "%s: listen_syn_local on cpu%d +%lld, expected %d",
		      what, llt_cpus[i], d, per_cpu);
	}
}

/* ------------------------------------------------------------ close, shutdown */

static int local_port(int fd)
{
	union sockaddr_any sa;
	socklen_t len = sizeof(sa);

	if (getsockname(fd, &sa.sa, &len))
		die("getsockname: %s", errname(errno));
	return ntohs(sa.in4.sin_port);
}

static void queued_then_gone(const struct llt_opts *o, bool use_shutdown,
			     long hist[2][OUT_NR])
{
	static int fds[MAX_QUEUED];
	int per_cpu = o->conns ? o->conns : 8, managed, lfd, n, i, afd, err, port;
	const char *what;
	struct llt_stats a, b, c;
	union sockaddr_any sa;
	socklen_t len;
	long long d;

	for (managed = 0; managed <= 1; managed++) {
		what = managed ? "fastsocket" : "stock";
		set_fastsocket(managed, 1);
		stats_read(&a);
		port = o->port + managed;
		lfd = listener_at(AF_INET, "127.0.0.1", o->port_zero ? 0 : port, 256);
		if (o->port_zero)
			port = local_port(lfd);
		n = connect_queued(AF_INET, "127.0.0.1", port, per_cpu, fds);
		stats_read(&b);
		if (managed)
			check_queued_on_clones(what, &a, &b, per_cpu);
		else
			check_stock_counters(what, &a, &b);
		check(poll_readable(lfd, 1000), "%s: listener not readable with %d queued",
		      what, n);
		if (use_shutdown) {
			if (shutdown(lfd, SHUT_RDWR))
				die("shutdown: %s", errname(errno));
		} else {
			close(lfd);
		}
		for (i = 0; i < n; i++) {
			classify(fds[i], hist[managed]);
			close(fds[i]);
		}
		print_hist(what, hist[managed]);
		if (!use_shutdown)
			continue;

		/*
		 * The same socket listens again: clones anew, and they work. A
		 * port 0 socket gave its port back and gets a new one.
		 */
		xlisten(lfd, 256);
		if (o->port_zero)
			port = local_port(lfd);
		stats_read(&c);
		d = stats_delta(&b, &c, "listen_managed", -1);
		check(d == managed, "%s: listen() after shutdown: listen_managed +%lld",
		      what, d);
		sa_make(&sa, &len, AF_INET, "127.0.0.1", port);
		for (i = 0; i < llt_ncpus; i++) {
			xpin(llt_cpus[i]);
			fds[i] = connect_to(&sa, len);
			if (fds[i] < 0) {
				fail("%s: connect after listen() again: %s", what,
				     errname(errno));
				continue;
			}
			afd = accept_wait(lfd, 3000, &err);
			check(afd >= 0, "%s: accept after listen() again: %s", what,
			      errname(err));
			if (afd >= 0)
				close(afd);
			close(fds[i]);
		}
		unpin();
		stats_read(&b);
		if (managed) {
			for (i = 0; i < llt_ncpus; i++) {
				d = stats_delta(&c, &b, "accept_local", llt_cpus[i]);
				check(d == 1,
				      "%s: after listen() again, accept_local on cpu%d +%lld",
				      what, llt_cpus[i], d);
			}
		} else {
			check_stock_counters(what, &c, &b);
		}
		close(lfd);
	}
}

static int close_or_shutdown(const struct llt_opts *o, bool use_shutdown)
{
	long hist[2][OUT_NR] = { { 0 } };
	struct llt_sockstat base, now;
	int i;

	sockstat_read(&base);
	sockstat_print("before", &base);
	queued_then_gone(o, use_shutdown, hist);
	set_fastsocket(0, 1);
	for (i = 0; i < OUT_NR; i++)
		check(hist[0][i] == hist[1][i],
		      "clients saw %s %ld times with fastsocket, %ld times with stock",
		      outcome_names[i], hist[1][i], hist[0][i]);
	check(hist[1][OUT_RESET] > 0, "no client was reset");
	if (!sockstat_settle(&base, 15000, &now)) {
		sockstat_print("after", &now);
		fail("TCP sockets or slab objects did not come back within 15 s");
	} else {
		sockstat_print("after", &now);
	}
	return 0;
}

int cmd_close_queued(const struct llt_opts *o)
{
	return close_or_shutdown(o, false);
}

int cmd_shutdown(const struct llt_opts *o)
{
	return close_or_shutdown(o, true);
}

/* ------------------------------------------------------------ rmmod */

/* Connections queued on clones; the runner removes the module; all accepted. */
int cmd_rmmod_queued(const struct llt_opts *o)
{
	static int fds[MAX_QUEUED];
	int per_cpu = o->conns ? o->conns : 10, lfd, n, i, afd, err, got = 0;
	struct timeval tv = { .tv_sec = 3 };
	struct llt_stats a, b;
	struct stat st;
	long long end;
	char c;

	set_fastsocket(1, 1);
	stats_read(&a);
	lfd = listener_at(AF_INET, "127.0.0.1", o->port, 256);
	n = connect_queued(AF_INET, "127.0.0.1", o->port, per_cpu, fds);
	stats_read(&b);
	stats_print_delta("queued", &a, &b);
	check_queued_on_clones("queued", &a, &b, per_cpu);
	if (!o->ready || write_file_atomic(o->ready, "ready\n"))
		die("rmmod-queued: cannot write the ready file (-r)");
	end = now_ms() + 60000;
	while (!stat("/sys/module/fastsocket", &st) && now_ms() < end)
		sleep_ms(20);
	if (!stat("/sys/module/fastsocket", &st))
		die("the module is still loaded after 60 s");
	note("module gone; accepting %d queued connections", n);
	for (i = 0; i < n; i++) {
		afd = accept_wait(lfd, 2000, &err);
		if (afd < 0) {
			fail("accept %d of %d after rmmod: %s", i + 1, n, errname(err));
			break;
		}
		if (send(afd, "R", 1, MSG_NOSIGNAL) != 1)
			fail("reply after rmmod: %s", errname(errno));
		close(afd);
	}
	for (i = 0; i < n; i++) {
		setsockopt(fds[i], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		if (recv(fds[i], &c, 1, 0) == 1 && c == 'R')
			got++;
		close(fds[i]);
	}
	close(lfd);
	note("%d of %d queued connections got their reply after rmmod", got, n);
	check(got == n, "%d connections lost across rmmod", n - got);
	return 0;
}

/* ------------------------------------------------------------ eligibility */

/* One connection from each CPU, accepted; returns the counters' movement. */
static void one_per_cpu(int lfd, int family, const char *addr, int port,
			const char *what)
{
	union sockaddr_any sa;
	socklen_t len;
	int i, cfd, afd, err;

	sa_make(&sa, &len, family, addr, port);
	for (i = 0; i < llt_ncpus; i++) {
		xpin(llt_cpus[i]);
		cfd = connect_to(&sa, len);
		if (cfd < 0) {
			fail("%s: connect from CPU %d: %s", what, llt_cpus[i],
			     errname(errno));
			continue;
		}
		afd = accept_wait(lfd, 3000, &err);
		check(afd >= 0, "%s: accept: %s", what, errname(err));
		if (afd >= 0)
			close(afd);
		close(cfd);
	}
	unpin();
}

enum elig_case {
	ELIG_EXPLICIT_V4, ELIG_EXPLICIT_V6, ELIG_PORT0, ELIG_AUTOBIND,
	ELIG_REUSEPORT, ELIG_MD5, ELIG_LISTEN_OFF, ELIG_NR
};

static const struct {
	const char *name;
	int managed;
} elig[] = {
	[ELIG_EXPLICIT_V4] = { "IPv4, explicit port", 1 },
	[ELIG_EXPLICIT_V6] = { "IPv6, explicit port", 1 },
	[ELIG_PORT0] = { "bind() to port 0", 1 },
	[ELIG_AUTOBIND] = { "listen() without bind() (autobind)", 1 },
	[ELIG_REUSEPORT] = { "SO_REUSEPORT", 0 },
	[ELIG_MD5] = { "TCP_MD5SIG key", 0 },
	[ELIG_LISTEN_OFF] = { "net.fastsocket.listen=0", 0 },
};

void md5_key(int fd)
{
	struct tcp_md5sig md5;
	struct sockaddr_in *sin = (struct sockaddr_in *)&md5.tcpm_addr;

	memset(&md5, 0, sizeof(md5));
	sin->sin_family = AF_INET;
	sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	md5.tcpm_keylen = 8;
	memcpy(md5.tcpm_key, "fsk-llt!", 8);
	if (setsockopt(fd, IPPROTO_TCP, TCP_MD5SIG, &md5, sizeof(md5)))
		die("TCP_MD5SIG: %s", errname(errno));
}

static void elig_case(const struct llt_opts *o, enum elig_case k)
{
	int family = k == ELIG_EXPLICIT_V6 ? AF_INET6 : AF_INET;
	const char *addr = family == AF_INET6 ? "::1" : "127.0.0.1";
	int port = o->port + 1 + k, fd, i, cfd, afd, err;
	struct llt_stats a, b;
	union sockaddr_any sa;
	socklen_t len;
	long long d;

	set_fastsocket(1, k != ELIG_LISTEN_OFF);
	fd = tcp_socket(family);
	xsetint(fd, SOL_SOCKET, SO_REUSEADDR, 1, "SO_REUSEADDR");
	if (k == ELIG_REUSEPORT)
		xsetint(fd, SOL_SOCKET, SO_REUSEPORT, 1, "SO_REUSEPORT");
	if (k == ELIG_MD5)
		md5_key(fd);
	if (k != ELIG_AUTOBIND) {
		sa_make(&sa, &len, family, addr, k == ELIG_PORT0 ? 0 : port);
		xbind(fd, &sa, len);
	}
	stats_read(&a);
	xlisten(fd, 64);
	len = sizeof(sa);
	if (getsockname(fd, &sa.sa, &len))
		die("getsockname: %s", errname(errno));
	port = addr_port(&sa);
	if (k == ELIG_MD5) {
		/* The client signs with the same key. */
		sa_make(&sa, &len, AF_INET, "127.0.0.1", port);
		for (i = 0; i < llt_ncpus; i++) {
			xpin(llt_cpus[i]);
			cfd = tcp_socket(AF_INET);
			md5_key(cfd);
			if (connect(cfd, &sa.sa, len))
				fail("MD5: connect: %s", errname(errno));
			afd = accept_wait(fd, 3000, &err);
			check(afd >= 0, "MD5: accept: %s", errname(err));
			if (afd >= 0)
				close(afd);
			close(cfd);
		}
		unpin();
	} else {
		one_per_cpu(fd, family, family == AF_INET6 ? "::1" : "127.0.0.1",
			    port, elig[k].name);
	}
	stats_read(&b);
	close(fd);
	d = stats_delta(&a, &b, "listen_managed", -1);
	note("%s (port %d): listen_managed +%lld, listen_syn_local +%lld", elig[k].name,
	     port, d, stats_delta(&a, &b, "listen_syn_local", -1));
	check(d == elig[k].managed, "%s: listen_managed +%lld, expected +%d",
	      elig[k].name, d, elig[k].managed);
	d = stats_delta(&a, &b, "listen_syn_local", -1);
	check(elig[k].managed ? d == llt_ncpus : d == 0,
	      "%s: listen_syn_local +%lld", elig[k].name, d);
}

int cmd_eligible(const struct llt_opts *o)
{
	struct llt_stats a, b, c;
	enum elig_case k;
	long long d;
	int fd;

	for (k = 0; k < ELIG_NR; k++)
		elig_case(o, k);

	/* A listener from before enabled=1 is left alone until listen() again. */
	set_fastsocket(0, 1);
	fd = listener_at(AF_INET, "127.0.0.1", o->port, 64);
	set_fastsocket(1, 1);
	stats_read(&a);
	one_per_cpu(fd, AF_INET, "127.0.0.1", o->port, "pre-existing listener");
	stats_read(&b);
	d = stats_delta(&a, &b, "listen_managed", -1) +
	    stats_delta(&a, &b, "listen_syn_local", -1);
	note("listener from before enabled=1: listen_managed+listen_syn_local +%lld", d);
	check(d == 0, "a listener from before enabled=1 was converted without listen()");
	xlisten(fd, 64);
	one_per_cpu(fd, AF_INET, "127.0.0.1", o->port, "after listen() again");
	stats_read(&c);
	stats_print_delta("after listen() again", &b, &c);
	d = stats_delta(&b, &c, "listen_managed", -1);
	check(d == 1, "listen() again: listen_managed +%lld, expected +1", d);
	d = stats_delta(&b, &c, "listen_syn_local", -1);
	check(d == llt_ncpus, "listen() again: listen_syn_local +%lld, expected %d", d,
	      llt_ncpus);
	d = stats_delta(&b, &c, "accept_local", -1);
	check(d == llt_ncpus, "listen() again: accept_local +%lld, expected %d", d,
	      llt_ncpus);
	close(fd);
	set_fastsocket(0, 1);
	return 0;
}

/* ------------------------------------------------------------ SO_REUSEPORT */

/*
 * The idea of the kernel's tools/testing/selftests/net/so_incoming_cpu.c: a
 * reuseport group with one listener per CPU, SO_INCOMING_CPU set to that CPU
 * (before bind, before listen or after listen); a client pinned to CPU i
 * lands on listener i, and the accepted socket says i.
 */
enum { RP_BEFORE_BIND, RP_BEFORE_LISTEN, RP_AFTER_LISTEN, RP_NR };
static const char *const rp_names[] = {
	"SO_INCOMING_CPU before bind", "before listen", "after listen"
};
#define RP_CLIENTS	4

/* Misplaced connections, or -1 if the group could not be set up. */
static int reuseport_run(int port, int when, long *hist)
{
	int lfd[LLT_MAX_CPUS], cfd[LLT_MAX_CPUS][RP_CLIENTS];
	int i, j, k, afd, bad = 0, cpu;
	union sockaddr_any sa;
	socklen_t len;

	sa_make(&sa, &len, AF_INET, "127.0.0.1", port);
	for (i = 0; i < llt_ncpus; i++) {
		lfd[i] = tcp_socket(AF_INET);
		xsetint(lfd[i], SOL_SOCKET, SO_REUSEPORT, 1, "SO_REUSEPORT");
		if (when == RP_BEFORE_BIND)
			xsetint(lfd[i], SOL_SOCKET, SO_INCOMING_CPU, llt_cpus[i],
				"SO_INCOMING_CPU");
		xbind(lfd[i], &sa, len);
		if (when == RP_BEFORE_LISTEN)
			xsetint(lfd[i], SOL_SOCKET, SO_INCOMING_CPU, llt_cpus[i],
				"SO_INCOMING_CPU");
		xlisten(lfd[i], 64);
		if (when == RP_AFTER_LISTEN)
			xsetint(lfd[i], SOL_SOCKET, SO_INCOMING_CPU, llt_cpus[i],
				"SO_INCOMING_CPU");
	}
	for (i = 0; i < llt_ncpus; i++) {
		xpin(llt_cpus[i]);
		for (j = 0; j < RP_CLIENTS; j++) {
			cfd[i][j] = connect_to(&sa, len);
			if (cfd[i][j] < 0)
				die("connect from CPU %d: %s", llt_cpus[i], errname(errno));
		}
	}
	unpin();
	/* Listener i holds exactly the connections from CPU i. */
	for (i = 0; i < llt_ncpus; i++) {
		for (k = 0;; k++) {
			afd = accept_nb(lfd[i]);
			if (afd < 0)
				break;
			cpu = incoming_cpu(afd);
			hist[i * LLT_MAX_CPUS + (cpu >= 0 && cpu < LLT_MAX_CPUS ? cpu : 0)]++;
			if (cpu != llt_cpus[i])
				bad++;
			close(afd);
		}
		if (k != RP_CLIENTS)
			bad += abs(k - RP_CLIENTS);
		close(lfd[i]);
	}
	for (i = 0; i < llt_ncpus; i++)
		for (j = 0; j < RP_CLIENTS; j++)
			close(cfd[i][j]);
	return bad;
}

int cmd_reuseport(const struct llt_opts *o)
{
	static long hist[2][RP_NR][LLT_MAX_CPUS * LLT_MAX_CPUS];
	int managed, when, bad[2][RP_NR];
	struct llt_stats a, b;
	long long d;

	if (llt_ncpus < 2)
		die("reuseport: needs 2 CPUs");
	for (managed = 0; managed <= 1; managed++) {
		set_fastsocket(managed, 1);
		for (when = 0; when < RP_NR; when++) {
			stats_read(&a);
			bad[managed][when] = reuseport_run(o->port + managed * RP_NR + when,
							   when, hist[managed][when]);
			stats_read(&b);
			note("%s, %s: %d of %d connections on the wrong listener or CPU",
			     managed ? "fastsocket" : "stock", rp_names[when],
			     bad[managed][when], llt_ncpus * RP_CLIENTS);
			if (!managed) {
				check_stock_counters("stock", &a, &b);
				continue;
			}
			d = stats_delta(&a, &b, "listen_managed", -1);
			check(d == 0, "a reuseport listener got clones (listen_managed +%lld)", d);
			d = stats_delta(&a, &b, "listen_syn_local", -1) +
			    stats_delta(&a, &b, "accept_local", -1) +
			    stats_delta(&a, &b, "accept_stolen", -1) +
			    stats_delta(&a, &b, "accept_parent", -1);
			check(d == 0, "LLT counters moved by %lld for a reuseport group", d);
			d = stats_delta(&a, &b, "accept_calls", -1);
			check(d > 0, "accept_calls +%lld: the module did not see the accepts", d);
		}
	}
	set_fastsocket(0, 1);
	for (when = 0; when < RP_NR; when++) {
		check(!bad[0][when], "stock, %s: %d misplaced: the test's premise fails",
		      rp_names[when], bad[0][when]);
		check(!memcmp(hist[0][when], hist[1][when], sizeof(hist[0][when])),
		      "%s: placement differs between stock and fastsocket", rp_names[when]);
	}
	return 0;
}

/* ------------------------------------------------------------ CPU hotplug */

void cpu_online_set(int cpu, int online)
{
	char path[96];
	long long end = now_ms() + 10000;

	snprintf(path, sizeof(path), "/sys/devices/system/cpu/cpu%d/online", cpu);
	sysctl_write(path, online);
	while (sysctl_read(path) != online && now_ms() < end)
		sleep_ms(10);
	if (sysctl_read(path) != online)
		die("cpu%d did not go %s", cpu, online ? "online" : "offline");
}

/*
 * Connections queued on @cpu's clone when @cpu goes offline move to the
 * listener: accepted from another CPU, alive, none reset; and the listener
 * goes on taking connections.
 */
static void hotplug_offline_queued(const struct llt_opts *o, int lfd, int cpu,
				   int other, const union sockaddr_any *sa,
				   socklen_t len)
{
	int n = o->conns ? o->conns : 20, cfd[64], i, afd, err, alive = 0;
	struct llt_stats a, b;
	long long v;
	char c;

	if (n > (int)(sizeof(cfd) / sizeof(cfd[0])))
		n = sizeof(cfd) / sizeof(cfd[0]);
	xpin(cpu);
	for (i = 0; i < n; i++) {
		cfd[i] = connect_to(sa, len);
		if (cfd[i] < 0)
			fail("connect from cpu%d: %s", cpu, errname(errno));
	}
	unpin();
	stats_read(&a);
	cpu_online_set(cpu, 0);
	note("cpu%d offline with %d connections queued on its clone", cpu, n);
	/* Retired once its handshakes are done: at once here, a work's tick. */
	for (i = 0; i < 300; i++) {
		stats_read(&b);
		if (stats_delta(&a, &b, "listen_clone_retired", -1))
			break;
		sleep_ms(10);
	}
	note("clone retired after %d ms", i * 10);
	xpin(other);
	for (i = 0; i < n; i++) {
		afd = accept_wait(lfd, 3000, &err);
		if (afd < 0) {
			fail("accept after cpu%d went offline: %s", cpu, errname(err));
			continue;
		}
		if (send(afd, "x", 1, MSG_NOSIGNAL) == 1)
			alive++;
		close(afd);
	}
	for (i = 0; i < n; i++) {
		if (cfd[i] < 0)
			continue;
		if (recv(cfd[i], &c, 1, 0) != 1)
			fail("client %d: no byte from the server after the move: %s", i,
			     errname(errno));
		close(cfd[i]);
	}
	/* New connections, from the CPU left. */
	for (i = 0; i < 5; i++) {
		int fd = connect_to(sa, len);

		afd = fd < 0 ? -1 : accept_wait(lfd, 3000, &err);
		check(afd >= 0, "connection %d after the offline: %s", i,
		      errname(fd < 0 ? errno : err));
		if (afd >= 0)
			close(afd);
		if (fd >= 0)
			close(fd);
	}
	unpin();
	stats_read(&b);
	stats_print_delta("after cpu offline", &a, &b);
	check(alive == n, "%d of %d queued connections alive after the offline", alive, n);
	v = stats_delta(&a, &b, "listen_clone_retired", -1);
	check(v == 1, "listen_clone_retired +%lld, expected 1", v);
	v = stats_delta(&a, &b, "accept_parent", -1);
	check(v >= n, "accept_parent +%lld, expected >= %d: the queue moved to the listener",
	      v, n);
	v = stats_delta(&a, &b, "accept_stolen", -1);
	check(v == 0, "accept_stolen +%lld: a retired clone was still reachable", v);
	cpu_online_set(cpu, 1);
}

int cmd_hotplug(const struct llt_opts *o)
{
	int cpu = o->cpu, other = -1, n = o->conns ? o->conns : 20, lfd, i, cfd;
	int afd, err, ok = 0;
	struct llt_stats a, b, c, d;
	union sockaddr_any sa;
	socklen_t len;
	long long v;

	for (i = 0; i < llt_ncpus; i++)
		if (llt_cpus[i] != cpu)
			other = llt_cpus[i];
	if (other < 0 || cpu >= LLT_MAX_CPUS)
		die("hotplug: needs cpu%d and another CPU", cpu);
	set_fastsocket(1, 1);
	cpu_online_set(cpu, 0);
	note("cpu%d offline", cpu);
	stats_read(&a);
	lfd = listener_at(AF_INET, "127.0.0.1", o->port, 256);
	stats_read(&b);
	v = stats_delta(&a, &b, "listen_managed", -1);
	check(v == 1, "listener made while cpu%d was offline: listen_managed +%lld", cpu, v);

	cpu_online_set(cpu, 1);
	note("cpu%d online again", cpu);
	stats_read(&c);
	sa_make(&sa, &len, AF_INET, "127.0.0.1", o->port);
	/* The scheduler may take a moment to let us onto the new CPU. */
	for (i = 0; i < 100 && pin_to_cpu(cpu); i++)
		sleep_ms(20);
	xpin(cpu);
	for (i = 0; i < n; i++) {
		cfd = connect_to(&sa, len);
		if (cfd < 0) {
			fail("connect from cpu%d: %s", cpu, errname(errno));
			continue;
		}
		afd = accept_wait(lfd, 3000, &err);
		if (afd >= 0) {
			ok++;
			close(afd);
		} else {
			fail("accept on cpu%d: %s", cpu, errname(err));
		}
		close(cfd);
	}
	unpin();
	stats_read(&d);
	stats_print_delta("after cpu online", &c, &d);
	check(ok == n, "%d of %d connections from cpu%d accepted", ok, n, cpu);
	v = stats_delta(&c, &d, "listen_syn_local", cpu);
	check(v == n, "listen_syn_local on cpu%d +%lld, expected %d: no clone for it", cpu,
	      v, n);
	v = stats_delta(&c, &d, "accept_local", cpu);
	check(v == n, "accept_local on cpu%d +%lld, expected %d", cpu, v, n);

	hotplug_offline_queued(o, lfd, cpu, other, &sa, len);
	close(lfd);
	set_fastsocket(0, 1);
	return 0;
}

/* ------------------------------------------------------------ memory */

long meminfo_kb(const char *key)
{
	char line[256];
	size_t klen = strlen(key);
	long v = -1;
	FILE *f = fopen("/proc/meminfo", "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, key, klen) && line[klen] == ':')
			v = atol(line + klen + 1);
	fclose(f);
	return v;
}

/* The caches a clone allocates from: its socket, the module's kmallocs. */
static bool clone_cache(const char *name)
{
	return !strcmp(name, "TCP") || !strcmp(name, "TCPv6") ||
	       !strncmp(name, "kmalloc-", 8);
}

/*
 * Bytes in use in the caches a clone allocates from: each shrunk first
 * (flushing the per-CPU slabs, whose free objects /proc/slabinfo counts as
 * active), then active objects times object size. Not the other caches:
 * earlier tests' TIME_WAIT sockets expire meanwhile, and dentries come and go.
 */
long long slab_bytes(void)
{
	char path[300], line[512], name[64];
	long active, num, size;
	long long sum = 0;
	struct dirent *de;
	struct stat st;
	DIR *d;
	FILE *f;
	int fd;

	d = opendir("/sys/kernel/slab");
	while (d && (de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/sys/kernel/slab/%s", de->d_name);
		/* Aliases are links to the cache they were merged into. */
		if (lstat(path, &st) || !S_ISDIR(st.st_mode) || !clone_cache(de->d_name))
			continue;
		snprintf(path, sizeof(path), "/sys/kernel/slab/%s/shrink", de->d_name);
		fd = open(path, O_WRONLY);
		if (fd < 0)
			continue;
		if (write(fd, "1", 1) != 1)
			note("shrink %s: %s", de->d_name, errname(errno));
		close(fd);
	}
	if (d)
		closedir(d);
	f = fopen("/proc/slabinfo", "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "%63s %ld %ld %ld", name, &active, &num, &size) == 4 &&
		    clone_cache(name))
			sum += (long long)active * size;
	fclose(f);
	return sum;
}

/* Bytes a TCP slab object takes, slab overhead included, or -1. */
long tcp_obj_bytes(long *objsize)
{
	long active, num, size, perslab, pages;
	char line[512], name[64];
	long ret = -1;
	FILE *f = fopen("/proc/slabinfo", "r");

	*objsize = -1;
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "%63s %ld %ld %ld %ld %ld", name, &active, &num, &size,
			   &perslab, &pages) == 6 && !strcmp(name, "TCP") && perslab) {
			*objsize = size;
			ret = pages * sysconf(_SC_PAGESIZE) / perslab;
		}
	fclose(f);
	return ret;
}

/*
 * @nl listeners on 127.0.0.1, ports @port.., bound, then listen() timed,
 * fastsocket on (@managed) or off; what listen() allocated goes into @c.
 */
void listeners_open(int *fds, int nl, int port, bool managed, struct listen_cost *c)
{
	struct llt_sockstat s0, s1;
	struct llt_stats a, b;
	union sockaddr_any sa;
	long long b0, b1, t0;
	socklen_t len;
	long k0, k1;
	int i;

	memset(c, 0, sizeof(*c));
	set_fastsocket(managed, 1);
	for (i = 0; i < nl; i++) {
		fds[i] = tcp_socket(AF_INET);
		xsetint(fds[i], SOL_SOCKET, SO_REUSEADDR, 1, "SO_REUSEADDR");
		sa_make(&sa, &len, AF_INET, "127.0.0.1", port + i);
		xbind(fds[i], &sa, len);
	}
	stats_read(&a);
	sockstat_read(&s0);
	b0 = slab_bytes();
	k0 = meminfo_kb("Slab");
	c->avail_kb = meminfo_kb("MemAvailable");
	t0 = now_us();
	for (i = 0; i < nl; i++)
		xlisten(fds[i], 128);
	c->listen_us = now_us() - t0;
	sockstat_read(&s1);
	b1 = slab_bytes();
	k1 = meminfo_kb("Slab");
	c->avail_kb -= meminfo_kb("MemAvailable");
	stats_read(&b);
	c->objs = s1.tcp_objs - s0.tcp_objs;
	c->bytes = b1 - b0;
	c->kb = k1 - k0;
	c->managed = stats_delta(&a, &b, "listen_managed", -1);
	check(c->managed == (managed ? nl : 0), "%s: listen_managed +%lld for %d listeners",
	      managed ? "fastsocket" : "stock", c->managed, nl);
}

/* close() them, timed, then wait for the clones to go (a work item). */
void listeners_close(int *fds, int nl, const struct llt_sockstat *base,
		     struct listen_cost *c)
{
	struct llt_sockstat now;
	long long t0;
	int i;

	t0 = now_us();
	for (i = 0; i < nl; i++)
		close(fds[i]);
	c->close_us = now_us() - t0;
	if (!sockstat_settle(base, 15000, &now)) {
		sockstat_print("after closing", &now);
		fail("TCP sockets did not come back after closing %d listeners", nl);
	}
	c->settle_us = now_us() - t0;
}

/*
 * README: a clone costs its TCP object and under 512 B of the module's;
 * SLUB's red zones and KASAN's on the debug kernel double that.
 */
void clone_memory_check(int nl, int online, const struct listen_cost *stock,
			const struct listen_cost *fsk)
{
	long clones = (long)nl * online, per_obj, objsize, own;
	long long d = fsk->bytes - stock->bytes;

	per_obj = tcp_obj_bytes(&objsize);
	note("memory: %d listeners, %d online CPUs: listen() added %ld TCP slab objects "
	     "(stock: %ld), %lld B of TCP and kmalloc objects (stock: %lld B); Slab "
	     "in /proc/meminfo %+ld kB (stock: %+ld kB)", nl, online, fsk->objs,
	     stock->objs, fsk->bytes, stock->bytes, fsk->kb, stock->kb);
	note("memory: per clone %lld B: its TCP socket object of %ld B (%ld B with "
	     "slab overhead) and the module's own; per managed listener %lld B",
	     d / clones, objsize, per_obj, d / nl);
	check(d >= clones * objsize, "%lld B for %ld clones: less than their TCP objects",
	      d, clones);
	own = llt_debug_kernel ? 1024 : 512;
	check(d / clones <= per_obj + own,
	      "%lld B per clone: more than its TCP object of %ld B and %ld B",
	      d / clones, per_obj, own);
	check(fsk->objs - stock->objs == clones,
	      "TCP objects: %ld with fastsocket, %ld stock, expected %ld more (one per clone)",
	      fsk->objs, stock->objs, clones);
}

int cmd_memory(const struct llt_opts *o)
{
	int nl = o->count, online = sysconf(_SC_NPROCESSORS_ONLN), managed;
	struct listen_cost cost[2];
	struct llt_sockstat base;
	int *fds;

	fds = calloc(nl, sizeof(*fds));
	if (!fds || nl <= 0)
		die("memory: bad -N");
	sockstat_read(&base);
	if (!base.slab)
		die("memory: /proc/slabinfo is not readable");
	for (managed = 0; managed <= 1; managed++) {
		listeners_open(fds, nl, o->port + managed * nl, managed, &cost[managed]);
		listeners_close(fds, nl, &base, &cost[managed]);
	}
	set_fastsocket(0, 1);
	clone_memory_check(nl, online, &cost[0], &cost[1]);
	free(fds);
	return 0;
}

// SPDX-License-Identifier: GPL-2.0
/*
 * Listener options reach connections accepted through clones: each option is
 * set on a listener, one connection comes from each CPU (so each through
 * that CPU's clone, which the counters confirm) and what the accepted socket
 * (and the client) show is compared with the same run on a stock listener.
 * Also SYN cookies, including an ACK steered to another CPU than its SYN's.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/ip.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "llt.h"

#ifndef TCPI_OPT_SYN_DATA
#define TCPI_OPT_SYN_DATA	32
#endif

/* Each connection of a managed listener went through its CPU's clone. */
static void check_through_clones(const char *what, const struct llt_stats *a,
				 const struct llt_stats *b, int per_cpu)
{
	long long d;
	int i;

	d = stats_delta(a, b, "listen_managed", -1);
	check(d == 1, "%s: listen_managed +%lld, expected +1", what, d);
	for (i = 0; i < llt_ncpus; i++) {
		d = stats_delta(a, b, "listen_syn_local", llt_cpus[i]);
		check(d >= per_cpu, "%s: listen_syn_local on cpu%d +%lld, expected %d",
		      what, llt_cpus[i], d, per_cpu);
		d = stats_delta(a, b, "accept_local", llt_cpus[i]);
		check(d == per_cpu, "%s: accept_local on cpu%d +%lld, expected %d", what,
		      llt_cpus[i], d, per_cpu);
	}
}

static void check_counters(bool managed, const char *what,
			   const struct llt_stats *a, const struct llt_stats *b,
			   int per_cpu)
{
	if (managed)
		check_through_clones(what, a, b, per_cpu);
	else
		check_stock_counters(what, a, b);
}

/* ------------------------------------------------------------ inherited values */

struct opt_case {
	const char *name;
	void (*setup)(int lfd);
	/* What the accepted socket @afd (and client @cfd) show, into @buf. */
	void (*observe)(int lfd, int afd, int cfd, char *buf, size_t size);
};

static void bufs_setup(int fd)
{
	xsetint(fd, SOL_SOCKET, SO_RCVBUF, 40000, "SO_RCVBUF");
	xsetint(fd, SOL_SOCKET, SO_SNDBUF, 50000, "SO_SNDBUF");
}

static void bufs_observe(int lfd, int afd, int cfd, char *buf, size_t size)
{
	int r = xgetint(afd, SOL_SOCKET, SO_RCVBUF, "SO_RCVBUF");
	int s = xgetint(afd, SOL_SOCKET, SO_SNDBUF, "SO_SNDBUF");
	int lr = xgetint(lfd, SOL_SOCKET, SO_RCVBUF, "SO_RCVBUF");
	int ls = xgetint(lfd, SOL_SOCKET, SO_SNDBUF, "SO_SNDBUF");

	(void)cfd;
	snprintf(buf, size, "SO_RCVBUF=%d SO_SNDBUF=%d", r, s);
	check(r == lr && s == ls && r == 80000 && s == 100000,
	      "accepted socket has SO_RCVBUF %d SO_SNDBUF %d, the listener %d/%d", r, s,
	      lr, ls);
}

static void maxseg_setup(int fd)
{
	xsetint(fd, IPPROTO_TCP, TCP_MAXSEG, 1000, "TCP_MAXSEG");
}

static void maxseg_observe(int lfd, int afd, int cfd, char *buf, size_t size)
{
	int a = xgetint(afd, IPPROTO_TCP, TCP_MAXSEG, "TCP_MAXSEG");
	int c = xgetint(cfd, IPPROTO_TCP, TCP_MAXSEG, "TCP_MAXSEG");

	(void)lfd;
	snprintf(buf, size, "accepted TCP_MAXSEG=%d client TCP_MAXSEG=%d", a, c);
	/* The client learnt it from the SYN-ACK: the clone advertised it. */
	check(a > 0 && a <= 1000 && c > 0 && c <= 1000,
	      "TCP_MAXSEG 1000 on the listener: accepted %d, client %d", a, c);
}

static void bindtodevice_setup(int fd)
{
	if (setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, "lo", 3))
		die("SO_BINDTODEVICE lo: %s", errname(errno));
}

static void bindtodevice_observe(int lfd, int afd, int cfd, char *buf, size_t size)
{
	char dev[IFNAMSIZ] = "";
	socklen_t len = sizeof(dev);

	(void)lfd;
	(void)cfd;
	if (getsockopt(afd, SOL_SOCKET, SO_BINDTODEVICE, dev, &len))
		die("getsockopt SO_BINDTODEVICE: %s", errname(errno));
	snprintf(buf, size, "SO_BINDTODEVICE=%s", dev);
	check(!strcmp(dev, "lo"), "accepted socket bound to '%s', expected lo", dev);
}

static void user_timeout_setup(int fd)
{
	xsetint(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, 12345, "TCP_USER_TIMEOUT");
}

static void user_timeout_observe(int lfd, int afd, int cfd, char *buf, size_t size)
{
	int v = xgetint(afd, IPPROTO_TCP, TCP_USER_TIMEOUT, "TCP_USER_TIMEOUT");

	(void)lfd;
	(void)cfd;
	snprintf(buf, size, "TCP_USER_TIMEOUT=%d", v);
	check(v == 12345, "accepted TCP_USER_TIMEOUT %d, expected 12345", v);
}

static void keepalive_setup(int fd)
{
	xsetint(fd, SOL_SOCKET, SO_KEEPALIVE, 1, "SO_KEEPALIVE");
	xsetint(fd, IPPROTO_TCP, TCP_KEEPIDLE, 111, "TCP_KEEPIDLE");
	xsetint(fd, IPPROTO_TCP, TCP_KEEPINTVL, 22, "TCP_KEEPINTVL");
	xsetint(fd, IPPROTO_TCP, TCP_KEEPCNT, 7, "TCP_KEEPCNT");
}

static void keepalive_observe(int lfd, int afd, int cfd, char *buf, size_t size)
{
	int k = xgetint(afd, SOL_SOCKET, SO_KEEPALIVE, "SO_KEEPALIVE");
	int idle = xgetint(afd, IPPROTO_TCP, TCP_KEEPIDLE, "TCP_KEEPIDLE");
	int intvl = xgetint(afd, IPPROTO_TCP, TCP_KEEPINTVL, "TCP_KEEPINTVL");
	int cnt = xgetint(afd, IPPROTO_TCP, TCP_KEEPCNT, "TCP_KEEPCNT");

	(void)lfd;
	(void)cfd;
	snprintf(buf, size, "SO_KEEPALIVE=%d TCP_KEEPIDLE=%d TCP_KEEPINTVL=%d TCP_KEEPCNT=%d",
		 k, idle, intvl, cnt);
	check(k == 1 && idle == 111 && intvl == 22 && cnt == 7,
	      "accepted keepalive settings: %s", buf);
}

/* Options nobody listed, compared with stock only: whatever stock does. */
static void misc_setup(int fd)
{
	struct linger lg = { .l_onoff = 1, .l_linger = 3 };

	xsetint(fd, IPPROTO_IP, IP_TOS, 0x10, "IP_TOS");
	xsetint(fd, IPPROTO_IP, IP_TTL, 33, "IP_TTL");
	xsetint(fd, SOL_SOCKET, SO_PRIORITY, 3, "SO_PRIORITY");
	xsetint(fd, SOL_SOCKET, SO_MARK, 42, "SO_MARK");
	xsetint(fd, IPPROTO_TCP, TCP_NODELAY, 1, "TCP_NODELAY");
	xsetint(fd, IPPROTO_TCP, TCP_NOTSENT_LOWAT, 54321, "TCP_NOTSENT_LOWAT");
	xsetint(fd, IPPROTO_TCP, TCP_LINGER2, 7, "TCP_LINGER2");
	xsetint(fd, SOL_SOCKET, SO_RCVLOWAT, 5, "SO_RCVLOWAT");
	if (setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)))
		die("SO_LINGER: %s", errname(errno));
}

static void misc_observe(int lfd, int afd, int cfd, char *buf, size_t size)
{
	struct linger lg;
	socklen_t len = sizeof(lg);

	(void)lfd;
	(void)cfd;
	if (getsockopt(afd, SOL_SOCKET, SO_LINGER, &lg, &len))
		die("getsockopt SO_LINGER: %s", errname(errno));
	snprintf(buf, size, "IP_TOS=%#x IP_TTL=%d SO_PRIORITY=%d SO_MARK=%d TCP_NODELAY=%d "
		 "TCP_NOTSENT_LOWAT=%d TCP_LINGER2=%d SO_RCVLOWAT=%d SO_LINGER=%d/%d",
		 xgetint(afd, IPPROTO_IP, IP_TOS, "IP_TOS"),
		 xgetint(afd, IPPROTO_IP, IP_TTL, "IP_TTL"),
		 xgetint(afd, SOL_SOCKET, SO_PRIORITY, "SO_PRIORITY"),
		 xgetint(afd, SOL_SOCKET, SO_MARK, "SO_MARK"),
		 xgetint(afd, IPPROTO_TCP, TCP_NODELAY, "TCP_NODELAY"),
		 xgetint(afd, IPPROTO_TCP, TCP_NOTSENT_LOWAT, "TCP_NOTSENT_LOWAT"),
		 xgetint(afd, IPPROTO_TCP, TCP_LINGER2, "TCP_LINGER2"),
		 xgetint(afd, SOL_SOCKET, SO_RCVLOWAT, "SO_RCVLOWAT"),
		 lg.l_onoff, lg.l_linger);
}

static const struct opt_case opt_cases[] = {
	{ "bufs", bufs_setup, bufs_observe },
	{ "maxseg", maxseg_setup, maxseg_observe },
	{ "bindtodevice", bindtodevice_setup, bindtodevice_observe },
	{ "user-timeout", user_timeout_setup, user_timeout_observe },
	{ "keepalive", keepalive_setup, keepalive_observe },
	{ "misc", misc_setup, misc_observe },
};

static int opt_inherit(const struct llt_opts *o, const struct opt_case *oc)
{
	static char seen[2][LLT_MAX_CPUS][512];
	int managed, i, lfd, cfd, afd, err;
	struct llt_stats a, b;
	union sockaddr_any sa;
	socklen_t len;

	for (managed = 0; managed <= 1; managed++) {
		const char *what = managed ? "fastsocket" : "stock";

		set_fastsocket(managed, 1);
		sa_make(&sa, &len, AF_INET, "127.0.0.1", o->port + managed);
		lfd = tcp_socket(AF_INET);
		xsetint(lfd, SOL_SOCKET, SO_REUSEADDR, 1, "SO_REUSEADDR");
		oc->setup(lfd);
		xbind(lfd, &sa, len);
		stats_read(&a);
		xlisten(lfd, 64);
		for (i = 0; i < llt_ncpus; i++) {
			xpin(llt_cpus[i]);
			cfd = connect_to(&sa, len);
			if (cfd < 0)
				die("%s: connect from CPU %d: %s", what, llt_cpus[i],
				    errname(errno));
			afd = accept_wait(lfd, 3000, &err);
			if (afd < 0)
				die("%s: accept on CPU %d: %s", what, llt_cpus[i],
				    errname(err));
			oc->observe(lfd, afd, cfd, seen[managed][i], sizeof(seen[0][0]));
			note("%s, cpu%d: %s", what, llt_cpus[i], seen[managed][i]);
			close(afd);
			close(cfd);
		}
		unpin();
		stats_read(&b);
		close(lfd);
		check_counters(managed, what, &a, &b, 1);
	}
	set_fastsocket(0, 1);
	for (i = 0; i < llt_ncpus; i++)
		check(!strcmp(seen[0][i], seen[1][i]), "cpu%d: stock '%s', fastsocket '%s'",
		      llt_cpus[i], seen[0][i], seen[1][i]);
	return 0;
}

/* ------------------------------------------------------------ TCP_DEFER_ACCEPT */

/*
 * From the CPU of the caller: a connection that must not be acceptable
 * until its first data, which then comes with it.
 */
static void defer_one(int lfd, const union sockaddr_any *sa, socklen_t len,
		      const char *what)
{
	int cfd, afd, err;
	char c;

	cfd = connect_to(sa, len);
	if (cfd < 0)
		die("%s: connect: %s", what, errname(errno));
	check(!poll_readable(lfd, 300), "%s: listener readable before any data", what);
	afd = accept_nb(lfd);
	check(afd < 0 && errno == EAGAIN,
	      "%s: accept() before any data: %s", what, afd < 0 ? errname(errno) : "got one");
	if (afd >= 0)
		close(afd);
	if (send(cfd, "x", 1, 0) != 1)
		die("%s: send: %s", what, errname(errno));
	afd = accept_wait(lfd, 3000, &err);
	check(afd >= 0, "%s: accept after data: %s", what, errname(err));
	if (afd >= 0) {
		check(recv(afd, &c, 1, MSG_DONTWAIT) == 1 && c == 'x',
		      "%s: the data did not come with the connection", what);
		close(afd);
	}
	close(cfd);
}

static int opt_defer_accept(const struct llt_opts *o)
{
	struct llt_stats a, b;
	union sockaddr_any sa;
	int managed, i, lfd;
	socklen_t len;

	for (managed = 0; managed <= 1; managed++) {
		const char *what = managed ? "fastsocket" : "stock";

		set_fastsocket(managed, 1);
		sa_make(&sa, &len, AF_INET, "127.0.0.1", o->port + managed);
		lfd = tcp_socket(AF_INET);
		xsetint(lfd, SOL_SOCKET, SO_REUSEADDR, 1, "SO_REUSEADDR");
		xsetint(lfd, IPPROTO_TCP, TCP_DEFER_ACCEPT, 5, "TCP_DEFER_ACCEPT");
		xbind(lfd, &sa, len);
		stats_read(&a);
		xlisten(lfd, 64);
		for (i = 0; i < llt_ncpus; i++) {
			xpin(llt_cpus[i]);
			defer_one(lfd, &sa, len, what);
		}
		unpin();
		stats_read(&b);
		close(lfd);
		check_counters(managed, what, &a, &b, 1);
		note("%s: TCP_DEFER_ACCEPT held each connection until its data", what);
	}
	set_fastsocket(0, 1);
	return 0;
}

/* ------------------------------------------------------------ TCP_FASTOPEN */

static const char tfo_path[] = "/proc/sys/net/ipv4/tcp_fastopen";

/* A connect with data; returns whether the data rode on the SYN. */
bool tfo_connect(int lfd, const union sockaddr_any *sa, socklen_t len,
		 const char *what)
{
	static const char msg[] = "tfo-data";
	struct tcp_info ti;
	socklen_t tlen = sizeof(ti);
	int cfd, afd, err;
	char buf[32];
	ssize_t n;
	bool syn_data;

	cfd = tcp_socket(sa->sa.sa_family);
	if (sendto(cfd, msg, sizeof(msg), MSG_FASTOPEN, &sa->sa, len) != sizeof(msg))
		die("%s: sendto(MSG_FASTOPEN): %s", what, errname(errno));
	afd = accept_wait(lfd, 3000, &err);
	if (afd < 0)
		die("%s: accept: %s", what, errname(err));
	/* With TFO the data came with the SYN: it is there at accept(). */
	poll_readable(afd, 1000);
	n = recv(afd, buf, sizeof(buf), MSG_DONTWAIT);
	check(n == sizeof(msg) && !memcmp(buf, msg, n), "%s: the data is not there (%zd)",
	      what, n);
	if (getsockopt(cfd, IPPROTO_TCP, TCP_INFO, &ti, &tlen))
		die("TCP_INFO: %s", errname(errno));
	syn_data = ti.tcpi_options & TCPI_OPT_SYN_DATA;
	close(afd);
	close(cfd);
	return syn_data;
}

static int opt_fastopen(const struct llt_opts *o)
{
	int saved = sysctl_read(tfo_path), managed, i, lfd;
	long long p0, p1;
	struct llt_stats a, b;
	union sockaddr_any sa;
	socklen_t len;
	bool syn_data;

	sysctl_write(tfo_path, 3);
	for (managed = 0; managed <= 1; managed++) {
		const char *what = managed ? "fastsocket" : "stock";

		set_fastsocket(managed, 1);
		sa_make(&sa, &len, AF_INET, "127.0.0.1", o->port + managed);
		lfd = tcp_socket(AF_INET);
		xsetint(lfd, SOL_SOCKET, SO_REUSEADDR, 1, "SO_REUSEADDR");
		xsetint(lfd, IPPROTO_TCP, TCP_FASTOPEN, 16, "TCP_FASTOPEN");
		xbind(lfd, &sa, len);
		stats_read(&a);
		xlisten(lfd, 64);
		/* The first one fetches a cookie (the netns's key: any port). */
		xpin(llt_cpus[0]);
		tfo_connect(lfd, &sa, len, what);
		p0 = netstat_get("TCPFastOpenPassive");
		for (i = 0; i < llt_ncpus; i++) {
			xpin(llt_cpus[i]);
			syn_data = tfo_connect(lfd, &sa, len, what);
			note("%s, cpu%d: data %s the SYN", what, llt_cpus[i],
			     syn_data ? "acknowledged with" : "NOT acknowledged with");
			check(syn_data, "%s, cpu%d: the server did not take the SYN's data",
			      what, llt_cpus[i]);
		}
		unpin();
		p1 = netstat_get("TCPFastOpenPassive");
		stats_read(&b);
		close(lfd);
		note("%s: TcpExt TCPFastOpenPassive +%lld", what, p1 - p0);
		check(p1 - p0 == llt_ncpus, "%s: TCPFastOpenPassive +%lld, expected %d", what,
		      p1 - p0, llt_ncpus);
		if (managed) {
			/* cpus[0] made two connections: the cookie one too. */
			check(stats_delta(&a, &b, "listen_managed", -1) == 1,
			      "fastsocket: listener not managed");
			for (i = 0; i < llt_ncpus; i++)
				check(stats_delta(&a, &b, "accept_local", llt_cpus[i]) ==
				      1 + !i && stats_delta(&a, &b, "listen_syn_local",
							    llt_cpus[i]) == 1 + !i,
				      "fastsocket: cpu%d: not through its clone",
				      llt_cpus[i]);
			stats_print_delta(what, &a, &b);
		} else {
			check_stock_counters(what, &a, &b);
		}
	}
	sysctl_write(tfo_path, saved);
	set_fastsocket(0, 1);
	return 0;
}

/* ------------------------------------------------------------ IP_FREEBIND */

/* Give lo an address (an alias, SIOCSIFADDR): run in a netns of its own. */
static void lo_add_addr(const char *addr)
{
	struct sockaddr_in *sin;
	struct ifreq ifr;
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "lo:llt");
	sin = (struct sockaddr_in *)&ifr.ifr_addr;
	sin->sin_family = AF_INET;
	inet_pton(AF_INET, addr, &sin->sin_addr);
	if (fd < 0 || ioctl(fd, SIOCSIFADDR, &ifr))
		die("add %s to lo: %s", addr, errname(errno));
	close(fd);
}

static int opt_freebind(const struct llt_opts *o)
{
	const char *addr = "192.0.2.1";
	union sockaddr_any sa;
	struct llt_stats a, b;
	int lfd, i, cfd, afd, err;
	socklen_t len;

	set_fastsocket(1, 1);
	sa_make(&sa, &len, AF_INET, addr, o->port);
	lfd = tcp_socket(AF_INET);
	check(bind(lfd, &sa.sa, len) && errno == EADDRNOTAVAIL,
	      "%s is local already: run this in a fresh netns", addr);
	xsetint(lfd, IPPROTO_IP, IP_FREEBIND, 1, "IP_FREEBIND");
	xbind(lfd, &sa, len);
	stats_read(&a);
	xlisten(lfd, 64);
	note("listening on %s, not a local address yet", sa_str(&sa));
	lo_add_addr(addr);
	for (i = 0; i < llt_ncpus; i++) {
		xpin(llt_cpus[i]);
		cfd = connect_to(&sa, len);
		if (cfd < 0)
			die("connect to %s: %s", sa_str(&sa), errname(errno));
		afd = accept_wait(lfd, 3000, &err);
		check(afd >= 0, "accept: %s", errname(err));
		if (afd >= 0)
			close(afd);
		close(cfd);
	}
	unpin();
	stats_read(&b);
	close(lfd);
	stats_print_delta("freebind", &a, &b);
	check_through_clones("IP_FREEBIND", &a, &b, 1);
	set_fastsocket(0, 1);
	return 0;
}

/* ------------------------------------------------------------ listen() again */

/* Options changed after listen() reach the clones with listen() again. */
static int opt_relisten(const struct llt_opts *o)
{
	int managed, i, lfd, cfd, afd, err, rcv[2][2] = { { 0 } };
	struct llt_stats a, b;
	union sockaddr_any sa;
	socklen_t len;

	for (managed = 0; managed <= 1; managed++) {
		const char *what = managed ? "fastsocket" : "stock";

		set_fastsocket(managed, 1);
		sa_make(&sa, &len, AF_INET, "127.0.0.1", o->port + managed);
		lfd = tcp_socket(AF_INET);
		xsetint(lfd, SOL_SOCKET, SO_REUSEADDR, 1, "SO_REUSEADDR");
		xsetint(lfd, SOL_SOCKET, SO_RCVBUF, 40000, "SO_RCVBUF");
		xbind(lfd, &sa, len);
		stats_read(&a);
		xlisten(lfd, 64);
		for (i = 0; i < llt_ncpus; i++) {
			xpin(llt_cpus[i]);
			cfd = connect_to(&sa, len);
			afd = accept_wait(lfd, 3000, &err);
			if (cfd < 0 || afd < 0)
				die("%s: first connection: %s", what,
				    errname(cfd < 0 ? errno : err));
			rcv[managed][0] = xgetint(afd, SOL_SOCKET, SO_RCVBUF, "SO_RCVBUF");
			check(rcv[managed][0] == 80000, "%s: first SO_RCVBUF %d, expected 80000",
			      what, rcv[managed][0]);
			close(afd);
			close(cfd);
		}
		/* nginx style: options, then listen() again. */
		xsetint(lfd, SOL_SOCKET, SO_RCVBUF, 60000, "SO_RCVBUF");
		xsetint(lfd, IPPROTO_TCP, TCP_DEFER_ACCEPT, 5, "TCP_DEFER_ACCEPT");
		xlisten(lfd, 128);
		for (i = 0; i < llt_ncpus; i++) {
			xpin(llt_cpus[i]);
			defer_one(lfd, &sa, len, what);
			cfd = connect_to(&sa, len);
			if (cfd < 0 || send(cfd, "y", 1, 0) != 1)
				die("%s: third connection: %s", what, errname(errno));
			afd = accept_wait(lfd, 3000, &err);
			if (afd < 0)
				die("%s: third connection: accept: %s", what, errname(err));
			rcv[managed][1] = xgetint(afd, SOL_SOCKET, SO_RCVBUF, "SO_RCVBUF");
			check(rcv[managed][1] == 120000,
			      "%s: SO_RCVBUF %d after listen() again, expected 120000", what,
			      rcv[managed][1]);
			close(afd);
			close(cfd);
		}
		unpin();
		stats_read(&b);
		close(lfd);
		note("%s: SO_RCVBUF %d, then %d and TCP_DEFER_ACCEPT after listen() again",
		     what, rcv[managed][0], rcv[managed][1]);
		/* One listener managed once; three connections per CPU. */
		check_counters(managed, what, &a, &b, 3);
	}
	set_fastsocket(0, 1);
	return 0;
}

int cmd_opt(const struct llt_opts *o)
{
	unsigned int i;

	if (!o->mode)
		die("opt: -m OPTION");
	if (!strcmp(o->mode, "defer-accept"))
		return opt_defer_accept(o);
	if (!strcmp(o->mode, "fastopen"))
		return opt_fastopen(o);
	if (!strcmp(o->mode, "freebind"))
		return opt_freebind(o);
	if (!strcmp(o->mode, "relisten"))
		return opt_relisten(o);
	for (i = 0; i < sizeof(opt_cases) / sizeof(opt_cases[0]); i++)
		if (!strcmp(o->mode, opt_cases[i].name))
			return opt_inherit(o, &opt_cases[i]);
	die("opt: unknown option test %s", o->mode);
}

/* ------------------------------------------------------------ SYN cookies */

static const char cookies_path[] = "/proc/sys/net/ipv4/tcp_syncookies";

int cmd_syncookies(const struct llt_opts *o)
{
	int saved = sysctl_read(cookies_path), n = o->conns ? o->conns : 10;
	int managed, i, k, lfd, cfd, afd, err;
	long long r0, r1;
	struct llt_stats a, b;
	union sockaddr_any sa;
	socklen_t len;

	sysctl_write(cookies_path, 2);
	for (managed = 0; managed <= 1; managed++) {
		const char *what = managed ? "fastsocket" : "stock";

		set_fastsocket(managed, 1);
		sa_make(&sa, &len, AF_INET, "127.0.0.1", o->port + managed);
		stats_read(&a);
		lfd = listener_at(AF_INET, "127.0.0.1", o->port + managed, 64);
		r0 = netstat_get("SyncookiesRecv");
		for (i = 0; i < llt_ncpus; i++) {
			xpin(llt_cpus[i]);
			for (k = 0; k < n; k++) {
				cfd = connect_to(&sa, len);
				if (cfd < 0) {
					fail("%s: connect from cpu%d: %s", what, llt_cpus[i],
					     errname(errno));
					continue;
				}
				afd = accept_wait(lfd, 3000, &err);
				check(afd >= 0, "%s: accept on cpu%d: %s", what, llt_cpus[i],
				      errname(err));
				if (afd >= 0)
					close(afd);
				close(cfd);
			}
		}
		unpin();
		r1 = netstat_get("SyncookiesRecv");
		stats_read(&b);
		close(lfd);
		note("%s: %d connections, TcpExt SyncookiesRecv +%lld", what,
		     n * llt_ncpus, r1 - r0);
		check(r1 - r0 == n * llt_ncpus, "%s: SyncookiesRecv +%lld, expected %d",
		      what, r1 - r0, n * llt_ncpus);
		check_counters(managed, what, &a, &b, n);
	}
	sysctl_write(cookies_path, saved);
	set_fastsocket(0, 1);
	return 0;
}

/* ------------------------------------------------------------ cookie ACK on another CPU */

/*
 * connect() cannot split a handshake over two CPUs (over loopback the SYN,
 * SYN-ACK and ACK all run on the connecting CPU), so the client here is a
 * raw socket: the SYN goes out on CPU a, the ACK on CPU b. The kernel's
 * RST to the SYN-ACK (no socket owns the raw client's port) reaches the
 * listener, which drops it, as stock does.
 *
 * SYN from @syn_cpu, ACK from @ack_cpu; accept on @ack_cpu. Returns the fd.
 */
static int steered_handshake(int lfd, int port, int sport, int syn_cpu,
			     int ack_cpu)
{
	struct in_addr lo = { .s_addr = htonl(INADDR_LOOPBACK) };
	struct tcp4_seg seg = {
		.src = lo, .dst = lo, .sport = sport, .dport = port,
		.seq = 0x12345678u ^ (sport << 8), .syn = true,
	};
	unsigned int cookie;
	int raw, afd, err;

	raw = raw_tcp4_socket();
	if (raw < 0)
		die("raw socket: %s", errname(errno));
	xpin(syn_cpu);
	if (tcp4_send(raw, &seg))
		die("raw sendto: %s", errname(errno));
	if (!tcp4_synack(raw, &seg, &cookie, 2000)) {
		close(raw);
		unpin();
		fail("no SYN-ACK for the raw SYN from port %d", sport);
		return -1;
	}
	xpin(ack_cpu);
	seg.seq++;
	seg.ack = cookie + 1;
	seg.syn = false;
	if (tcp4_send(raw, &seg))
		die("raw sendto: %s", errname(errno));
	afd = accept_wait(lfd, 2000, &err);
	close(raw);
	if (afd < 0) {
		unpin();
		fail("SYN on cpu%d, cookie ACK on cpu%d: no connection (%s)", syn_cpu,
		     ack_cpu, errname(err));
		return -1;
	}
	check(incoming_cpu(afd) == ack_cpu, "the connection's SO_INCOMING_CPU is %d, not %d",
	      incoming_cpu(afd), ack_cpu);
	unpin();
	return afd;
}

/* jiffies as /proc/timer_list shows them, or -1. */
static long long jiffies_now(void)
{
	long long j = -1;
	char line[256];
	FILE *f = fopen("/proc/timer_list", "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "jiffies: %lld", &j) == 1)
			break;
	fclose(f);
	return j;
}

/*
 * A listener that never sent a cookie has a last-overflow stamp of 0, which
 * tcp_synq_no_recent_overflow() compares with the 32-bit jiffies: from 1 s
 * before the wrap (5 min after boot) to 2 min after it, 0 looks recent and
 * every listener takes cookie ACKs. Then the test cannot tell the clones
 * apart.
 */
static bool cookie_stamp0_recent(bool say)
{
	long long j0 = jiffies_now(), j1;
	unsigned int now, hz;

	if (j0 < 0)
		return false;
	sleep_ms(200);
	j1 = jiffies_now();
	hz = (j1 - j0) * 5 < 175 ? 100 : (j1 - j0) * 5 < 275 ? 250 :
	     (j1 - j0) * 5 < 650 ? 300 : 1000;
	now = (unsigned int)j1;
	if (say)
		note("jiffies %u (HZ %u)", now, hz);
	return (unsigned int)(121 * hz) >= now + hz;
}

int cmd_cookie_steer(const struct llt_opts *o)
{
	int saved = sysctl_read(cookies_path), managed, dir, lfd, afd, a_cpu, b_cpu;
	int port;
	struct llt_stats a, b;
	long long r0, r1, d;

	if (llt_ncpus < 2)
		die("cookie-steer: needs 2 CPUs");
	/* At most 2 min, and only in a guest that reaches the window. */
	if (cookie_stamp0_recent(true)) {
		long long end = now_ms() + 130000;

		note("jiffies are near their 32-bit wrap: every listener takes cookies now; "
		     "waiting it out");
		while (cookie_stamp0_recent(false) && now_ms() < end)
			sleep_ms(1000);
		if (cookie_stamp0_recent(true))
			die("cookie-steer: jiffies still near their wrap after 130 s");
	}
	sysctl_write(cookies_path, 2);
	for (managed = 0; managed <= 1; managed++) {
		const char *what = managed ? "fastsocket" : "stock";

		for (dir = 0; dir <= 1; dir++) {
			a_cpu = llt_cpus[dir];
			b_cpu = llt_cpus[1 - dir];
			/* A fresh listener: no clone has sent a cookie yet. */
			port = o->port + managed * 2 + dir;
			set_fastsocket(managed, 1);
			lfd = listener_at(AF_INET, "127.0.0.1", port, 64);
			stats_read(&a);
			r0 = netstat_get("SyncookiesRecv");
			afd = steered_handshake(lfd, port, o->port + 1000 + managed * 2 + dir,
						a_cpu, b_cpu);
			r1 = netstat_get("SyncookiesRecv");
			stats_read(&b);
			close(lfd);
			if (afd >= 0)
				close(afd);
			note("%s: SYN on cpu%d, ACK on cpu%d: %s, SyncookiesRecv +%lld", what,
			     a_cpu, b_cpu, afd >= 0 ? "accepted" : "FAILED", r1 - r0);
			stats_print_delta(what, &a, &b);
			check(r1 - r0 == 1, "%s: SyncookiesRecv +%lld, expected 1", what,
			      r1 - r0);
			if (!managed) {
				check_stock_counters(what, &a, &b);
				continue;
			}
			/* The SYN went to a's clone; the ACK came back to it. */
			d = stats_delta(&a, &b, "listen_syn_local", a_cpu);
			check(d >= 1, "SYN on cpu%d: listen_syn_local there +%lld", a_cpu, d);
			d = stats_delta(&a, &b, "accept_stolen", b_cpu);
			check(d == 1, "accept on cpu%d: accept_stolen +%lld: the connection "
			      "was not on cpu%d's clone", b_cpu, d, a_cpu);
		}
	}
	sysctl_write(cookies_path, saved);
	set_fastsocket(0, 1);
	return 0;
}

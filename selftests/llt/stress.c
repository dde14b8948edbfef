// SPDX-License-Identifier: GPL-2.0
/*
 * Scale and churn: network namespaces that die with managed listeners,
 * queued connections and handshakes in flight on their clones (netns-churn),
 * and a thousand managed listeners in one process (many-listeners).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_link.h>
#include <linux/rtnetlink.h>
#include <linux/veth.h>
#include <net/if.h>
#include <net/route.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "llt.h"

/* ------------------------------------------------------------ netns-churn */

#define CHURN_LISTENERS	4
/* Handshakes in flight come from here: its SYN-ACKs are dropped. */
#define CHURN_SINK	"10.9.0.0"
#define CHURN_DEV	"fsk-sink0"
#define CHURN_PEER	"fsk-sink1"
/* The listeners' address, on CHURN_DEV: 127.0.0.1 may not leave through it. */
#define CHURN_ADDR	"10.8.0.1"

static void if_flags(const char *name, short flags)
{
	struct ifreq ifr = { 0 };
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	if (fd < 0 || ioctl(fd, SIOCGIFFLAGS, &ifr))
		die("SIOCGIFFLAGS %s: %s", name, errname(errno));
	ifr.ifr_flags |= flags;
	if (ioctl(fd, SIOCSIFFLAGS, &ifr))
		die("SIOCSIFFLAGS %s 0x%x: %s", name, flags, errname(errno));
	close(fd);
}

static void if_addr(const char *name, const char *addr)
{
	struct ifreq ifr = { 0 };
	struct sockaddr_in *sin = (struct sockaddr_in *)&ifr.ifr_addr;
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	sin->sin_family = AF_INET;
	inet_pton(AF_INET, addr, &sin->sin_addr);
	if (fd < 0 || ioctl(fd, SIOCSIFADDR, &ifr))
		die("SIOCSIFADDR %s %s: %s", name, addr, errname(errno));
	close(fd);
}

static struct rtattr *nl_attr(struct nlmsghdr *n, unsigned short type,
			      const void *data, int len)
{
	struct rtattr *rta = (struct rtattr *)((char *)n + NLMSG_ALIGN(n->nlmsg_len));

	rta->rta_type = type;
	rta->rta_len = RTA_LENGTH(len);
	if (len)
		memcpy(RTA_DATA(rta), data, len);
	n->nlmsg_len = NLMSG_ALIGN(n->nlmsg_len) + RTA_ALIGN(rta->rta_len);
	return rta;
}

static void nl_nest_end(struct nlmsghdr *n, struct rtattr *nest)
{
	nest->rta_len = (char *)n + n->nlmsg_len - (char *)nest;
}

/* ip link add CHURN_DEV type veth peer name CHURN_PEER, over rtnetlink. */
static void veth_add(void)
{
	struct {
		struct nlmsghdr n;
		struct ifinfomsg i;
		char buf[512];
	} req = { 0 };
	struct ifinfomsg peer = { .ifi_family = AF_UNSPEC };
	struct rtattr *info, *data, *p;
	char ack[1024];
	struct nlmsgerr *err;
	int fd;
	ssize_t n;

	req.n.nlmsg_len = NLMSG_LENGTH(sizeof(req.i));
	req.n.nlmsg_type = RTM_NEWLINK;
	req.n.nlmsg_flags = NLM_F_REQUEST | NLM_F_CREATE | NLM_F_EXCL | NLM_F_ACK;
	req.i.ifi_family = AF_UNSPEC;
	nl_attr(&req.n, IFLA_IFNAME, CHURN_DEV, sizeof(CHURN_DEV));
	info = nl_attr(&req.n, IFLA_LINKINFO, NULL, 0);
	nl_attr(&req.n, IFLA_INFO_KIND, "veth", 4);
	data = nl_attr(&req.n, IFLA_INFO_DATA, NULL, 0);
	p = nl_attr(&req.n, VETH_INFO_PEER, &peer, sizeof(peer));
	nl_attr(&req.n, IFLA_IFNAME, CHURN_PEER, sizeof(CHURN_PEER));
	nl_nest_end(&req.n, p);
	nl_nest_end(&req.n, data);
	nl_nest_end(&req.n, info);
	fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
	if (fd < 0 || send(fd, &req, req.n.nlmsg_len, 0) != (ssize_t)req.n.nlmsg_len)
		die("rtnetlink: %s", errname(errno));
	n = recv(fd, ack, sizeof(ack), 0);
	err = NLMSG_DATA((struct nlmsghdr *)ack);
	if (n < (ssize_t)NLMSG_LENGTH(sizeof(*err)) ||
	    ((struct nlmsghdr *)ack)->nlmsg_type != NLMSG_ERROR)
		die("rtnetlink: no answer to RTM_NEWLINK");
	if (err->error)
		die("ip link add %s type veth: %s", CHURN_DEV, errname(-err->error));
	close(fd);
}

/*
 * CHURN_SINK/24 routed to a veth whose peer is down, without ARP: a
 * SYN-ACK to it is dropped by veth_xmit, so the handshake stays half-open
 * and its SYN-ACK timer runs. (Not lo: a route through lo is local, and
 * the SYN-ACK would reach the IP_TRANSPARENT client.) The listeners are on
 * CHURN_ADDR of that veth, reached over loopback.
 */
static void sink_route(void)
{
	struct rtentry rt = { 0 };
	struct sockaddr_in *sin;
	char dev[] = CHURN_DEV;
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	sin = (struct sockaddr_in *)&rt.rt_dst;
	sin->sin_family = AF_INET;
	inet_pton(AF_INET, CHURN_SINK, &sin->sin_addr);
	sin = (struct sockaddr_in *)&rt.rt_genmask;
	sin->sin_family = AF_INET;
	sin->sin_addr.s_addr = htonl(0xffffff00);
	rt.rt_flags = RTF_UP;
	rt.rt_dev = dev;
	if (fd < 0 || ioctl(fd, SIOCADDRT, &rt))
		die("route %s/24 dev %s: %s", CHURN_SINK, CHURN_DEV, errname(errno));
	close(fd);
}

/* A connection from a sink address (IP_TRANSPARENT): SYN sent, no SYN-ACK. */
static int connect_half_open(const union sockaddr_any *dst, socklen_t len, int k)
{
	union sockaddr_any src;
	socklen_t slen;
	char addr[32];
	int fd;

	snprintf(addr, sizeof(addr), "10.9.0.%d", 1 + k % 250);
	sa_make(&src, &slen, AF_INET, addr, 0);
	fd = tcp_socket(AF_INET);
	xsetint(fd, SOL_IP, IP_TRANSPARENT, 1, "IP_TRANSPARENT");
	xbind(fd, &src, slen);
	if (fcntl(fd, F_SETFL, O_NONBLOCK))
		die("fcntl O_NONBLOCK: %s", errname(errno));
	if (!connect(fd, &dst->sa, len) || errno != EINPROGRESS)
		die("half-open connect from %s: %s", addr, errname(errno));
	return fd;
}

/* Lines of /proc/net/tcp (this netns) in state @st (hex, "03": SYN_RECV). */
static int tcp_state_count(const char *st)
{
	char line[512], s[8];
	int n = 0;
	FILE *f = fopen("/proc/net/tcp", "r");

	if (!f)
		die("open /proc/net/tcp: %s", errname(errno));
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "%*s %*s %*s %7s", s) == 1 && !strcmp(s, st))
			n++;
	fclose(f);
	return n;
}

/*
 * One namespace: managed listeners with connections queued on every CPU's
 * clone and handshakes in flight on them; reports to @wfd and exits with
 * everything open, so that the namespace goes with its close work pending.
 */
static void churn_child(const struct llt_opts *o, int it, int per_cpu, int wfd)
{
	int lfd[CHURN_LISTENERS], i, l, k, n = 0, syn_recv = 0, expect;
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };
	union sockaddr_any sa;
	struct llt_stats a, b;
	long long d, end;
	socklen_t len;
	char c = 'k';

	if (unshare(CLONE_NEWNET))
		die("unshare(CLONE_NEWNET): %s", errname(errno));
	if_flags("lo", IFF_UP);
	veth_add();
	if_flags(CHURN_DEV, IFF_UP | IFF_NOARP);
	if_addr(CHURN_DEV, CHURN_ADDR);
	sink_route();
	set_fastsocket(!o->expect_stock, 1);
	stats_read(&a);
	/* Listeners first: exit closes them before their clients. */
	for (l = 0; l < CHURN_LISTENERS; l++)
		lfd[l] = listener_at(AF_INET, CHURN_ADDR, o->port + l, 128);
	for (i = 0; i < llt_ncpus; i++) {
		xpin(llt_cpus[i]);
		for (l = 0; l < CHURN_LISTENERS; l++) {
			sa_make(&sa, &len, AF_INET, CHURN_ADDR, o->port + l);
			for (k = 0; k < per_cpu; k++) {
				int fd = connect_to(&sa, len);

				if (fd < 0)
					die("connect to %s from CPU %d: %s", sa_str(&sa),
					    llt_cpus[i], errname(errno));
				/* Its close is a reset: nothing lingers in FIN_WAIT. */
				setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
				connect_half_open(&sa, len, n++);
			}
		}
	}
	unpin();
	expect = llt_ncpus * CHURN_LISTENERS * per_cpu;
	end = now_ms() + 3000;
	do {
		stats_read(&b);
		syn_recv = tcp_state_count("03");
		d = stats_delta(&a, &b, "listen_syn_local", -1);
		if ((o->expect_stock || d >= 2 * expect) && syn_recv >= expect)
			break;
		sleep_ms(20);
	} while (now_ms() < end);
	if (o->expect_stock) {
		check_stock_counters("stock", &a, &b);
	} else {
		d = stats_delta(&a, &b, "listen_managed", -1);
		check(d == CHURN_LISTENERS, "netns %d: listen_managed +%lld, expected %d", it,
		      d, CHURN_LISTENERS);
		d = stats_delta(&a, &b, "listen_syn_local", -1);
		check(d == 2 * expect, "netns %d: listen_syn_local +%lld, expected %d (%d "
		      "queued, %d half-open)", it, d, 2 * expect, expect, expect);
	}
	check(syn_recv == expect, "netns %d: %d handshakes in SYN_RECV, expected %d", it,
	      syn_recv, expect);
	for (l = 0; l < CHURN_LISTENERS; l++)
		check(poll_readable(lfd[l], 0), "netns %d: listener %d has nothing queued",
		      it, l);
	if (it == 0) {
		stats_print_delta("netns 0", &a, &b);
		note("netns 0: %d %s listeners, %d connections queued and %d handshakes in "
		     "SYN_RECV; leaving with all of it open", CHURN_LISTENERS,
		     o->expect_stock ? "stock" : "managed", expect, syn_recv);
	}
	if (!llt_failures && write(wfd, &c, 1) != 1)
		die("report to the parent: %s", errname(errno));
	_exit(llt_failures ? 1 : 0);
}

/* A netns made and gone at once (no sockets, nothing of the module's). */
static void netns_blip(void)
{
	int status;
	pid_t pid = fork();

	if (pid < 0)
		die("fork: %s", errname(errno));
	if (!pid)
		_exit(unshare(CLONE_NEWNET) ? 2 : 0);
	if (waitpid(pid, &status, 0) != pid || status)
		die("unshare(CLONE_NEWNET): status 0x%x", status);
}

/* A netns's TCP sockets, request socks and the netns itself back to @base. */
static bool churn_settled(const struct llt_sockstat *base, long req0, long net0,
			  struct llt_sockstat *now, long *req, long *net)
{
	bool same = sockstat_settle(base, 0, now);

	*req = slab_active("request_sock_TCP");
	*net = slab_active("net_namespace");
	return same && *req <= req0 && (net0 < 0 || *net <= net0);
}

int cmd_netns_churn(const struct llt_opts *o)
{
	int iters = o->iterations > 0 ? o->iterations : 10, per_cpu = o->conns ? o->conns : 2;
	long req0, net0, req, net, worst = 0;
	int blips = 0;
	struct llt_sockstat base, now;
	long long t0, t1, t, end;
	int it, p[2], status;
	pid_t pid;
	char c;

	/*
	 * The kernel keeps the struct net of the last netns to go until
	 * another one goes (stock 6.1: `unshare -n true` leaves one object in
	 * the net_namespace cache, however often it runs): the baseline is
	 * taken after one such netns, and the wait below makes one every 2 s.
	 */
	netns_blip();
	sleep_ms(1000);
	sockstat_read(&base);
	req0 = slab_active("request_sock_TCP");
	net0 = slab_active("net_namespace");
	sockstat_print("before", &base);
	note("before: request_sock_TCP %ld, net_namespace %ld slab objects", req0, net0);
	if (net0 < 0)
		note("net_namespace is no cache of its own here (merged): the netns count "
		     "is not checked, the runner's rmmod is");
	t0 = now_ms();
	for (it = 0; it < iters && !llt_failures; it++) {
		t = now_ms();
		if (pipe2(p, O_CLOEXEC))
			die("pipe: %s", errname(errno));
		pid = fork();
		if (pid < 0)
			die("fork: %s", errname(errno));
		if (!pid) {
			close(p[0]);
			churn_child(o, it, per_cpu, p[1]);
		}
		close(p[1]);
		if (read(p[0], &c, 1) != 1)
			fail("netns %d: its process ended without reporting", it);
		close(p[0]);
		if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) ||
		    WEXITSTATUS(status))
			fail("netns %d: its process failed (status 0x%x)", it, status);
		if (now_ms() - t > worst)
			worst = now_ms() - t;
	}
	t1 = now_ms();
	note("netns-churn: %d namespaces, each with %d managed listeners, %d connections "
	     "queued and %d handshakes in flight per listener and CPU, gone with their "
	     "process: %lld ms (%lld ms per netns, the slowest %ld ms)", it,
	     CHURN_LISTENERS, per_cpu, per_cpu, t1 - t0, (t1 - t0) / (it ? it : 1), worst);
	/* Half-open requests go at their first SYN-ACK retransmit (1 s). */
	end = t1 + (llt_debug_kernel ? 180000 : 60000);
	for (t = t1; !churn_settled(&base, req0, net0, &now, &req, &net) &&
	     now_ms() < end; sleep_ms(200)) {
		if (now_ms() - t < 2000)
			continue;
		netns_blip();
		blips++;
		t = now_ms();
	}
	sockstat_print("after", &now);
	note("after: request_sock_TCP %ld, net_namespace %ld slab objects, %lld ms after "
	     "the last netns's process ended (%d empty netns made meanwhile)", req, net,
	     now_ms() - t1, blips);
	if (!churn_settled(&base, req0, net0, &now, &req, &net))
		fail("after %lld s: TCP sockets, request socks (%ld, before %ld) or netns "
		     "objects (%ld, before %ld) not back to the baseline",
		     (now_ms() - t1) / 1000, req, req0, net, net0);
	return 0;
}

/* ------------------------------------------------------------ many-listeners */

#define RATE_ROUNDS	5

/* Connections per second to @lfd: connect, accept, close, @n times. */
static double conn_rate(int lfd, int port, int n)
{
	union sockaddr_any sa;
	int i, cfd, afd, err;
	socklen_t len;
	long long t0;

	sa_make(&sa, &len, AF_INET, "127.0.0.1", port);
	t0 = now_us();
	for (i = 0; i < n; i++) {
		cfd = connect_to(&sa, len);
		if (cfd < 0)
			die("connect to %s: %s", sa_str(&sa), errname(errno));
		afd = accept_wait(lfd, 3000, &err);
		if (afd < 0)
			die("accept from %s: %s", sa_str(&sa), errname(err));
		/* The client closes first: TIME_WAIT on its side. */
		close(cfd);
		close(afd);
	}
	return n * 1e6 / (double)(now_us() - t0 ? now_us() - t0 : 1);
}

/*
 * The connection rate to one listener alone and with @nl - 1 others,
 * RATE_ROUNDS rounds of each, alternating (the others opened and closed in
 * between), the best of each: the host's other load only ever slows a round
 * down, and alternating keeps a slow minute from landing on one side only.
 */
/* Returns how often the others were opened. */
static int rates(int *fds, int nl, int port, int n, double *alone, double *with)
{
	bool with_now, open = false;
	int lfd, i, k, opened = 0;
	double r;

	*alone = *with = 0;
	lfd = listener_at(AF_INET, "127.0.0.1", port, 128);
	/* Alone, with, with, alone, alone, ...: neither side always goes first. */
	for (k = 0; k < 2 * RATE_ROUNDS; k++) {
		with_now = k % 4 == 1 || k % 4 == 2;
		if (with_now != open) {
			for (i = 1; i < nl; i++)
				if (with_now)
					fds[i] = listener_at(AF_INET, "127.0.0.1", port + i, 128);
				else
					close(fds[i]);
			open = with_now;
			opened += open;
		}
		r = conn_rate(lfd, port, n);
		if (r > (with_now ? *with : *alone))
			*(with_now ? with : alone) = r;
	}
	for (i = 1; open && i < nl; i++)
		close(fds[i]);
	close(lfd);
	return opened;
}

int cmd_many_listeners(const struct llt_opts *o)
{
	int nl = o->count, n = o->conns ? o->conns : 200, managed, opened;
	int online = sysconf(_SC_NPROCESSORS_ONLN);
	double alone[2], with[2];
	struct listen_cost cost[2];
	struct llt_sockstat base, now;
	struct llt_stats a, b;
	struct rlimit rl;
	const char *what;
	long long d;
	int *fds;

	if (nl < 2)
		die("many-listeners: -N 2 or more");
	if (getrlimit(RLIMIT_NOFILE, &rl))
		die("getrlimit: %s", errname(errno));
	if (rl.rlim_cur < (rlim_t)nl + 64) {
		rl.rlim_cur = nl + 64;
		if (rl.rlim_max < rl.rlim_cur)
			rl.rlim_max = rl.rlim_cur;
		if (setrlimit(RLIMIT_NOFILE, &rl))
			die("RLIMIT_NOFILE %d: %s", nl + 64, errname(errno));
	}
	fds = calloc(nl, sizeof(*fds));
	if (!fds)
		die("many-listeners: out of memory");
	sockstat_read(&base);
	if (!base.slab)
		die("many-listeners: /proc/slabinfo is not readable");
	for (managed = 0; managed <= 1; managed++) {
		what = managed ? "fastsocket" : "stock";
		set_fastsocket(managed, 1);
		stats_read(&a);
		listeners_open(fds, nl, o->port, managed, &cost[managed]);
		listeners_close(fds, nl, &base, &cost[managed]);
		opened = rates(fds, nl, o->port, n, &alone[managed], &with[managed]);
		if (!sockstat_settle(&base, 15000, &now)) {
			sockstat_print("after the rates", &now);
			fail("%s: TCP sockets did not come back after the rates", what);
		}
		stats_read(&b);
		if (!managed) {
			check_stock_counters(what, &a, &b);
			continue;
		}
		d = stats_delta(&a, &b, "listen_managed", -1);
		check(d == nl + 1 + opened * (nl - 1), "%s: listen_managed +%lld, "
		      "expected %d", what, d, nl + 1 + opened * (nl - 1));
		d = stats_delta(&a, &b, "listen_syn_local", -1);
		check(d == 2LL * RATE_ROUNDS * n, "%s: listen_syn_local +%lld, expected %d",
		      what, d, 2 * RATE_ROUNDS * n);
	}
	set_fastsocket(0, 1);
	for (managed = 0; managed <= 1; managed++)
		note("many-listeners: %s, %d listeners: listen() %lld us per listener, "
		     "close() %lld us, all gone %lld us per listener after the first close; "
		     "MemAvailable %+ld kB", managed ? "fastsocket" : "stock", nl,
		     cost[managed].listen_us / nl, cost[managed].close_us / nl,
		     cost[managed].settle_us / nl, -cost[managed].avail_kb);
	note("many-listeners: listen() %.1fx, close() %.1fx stock's time with %d clones each",
	     (double)cost[1].listen_us / (cost[0].listen_us ? cost[0].listen_us : 1),
	     (double)cost[1].close_us / (cost[0].close_us ? cost[0].close_us : 1), online);
	for (managed = 0; managed <= 1; managed++)
		note("many-listeners: %s: connections to one listener, best of %d rounds of "
		     "%d, alternating: alone %.0f/s, with %d others %.0f/s (%.0f%%)",
		     managed ? "fastsocket" : "stock", RATE_ROUNDS, n, alone[managed], nl - 1,
		     with[managed], 100 * with[managed] / alone[managed]);
	clone_memory_check(nl, online, &cost[0], &cost[1]);
	check(with[1] * 2 >= alone[1],
	      "fastsocket: %.0f connections/s to one listener with %d others, under half of "
	      "%.0f/s alone", with[1], nl - 1, alone[1]);
	free(fds);
	return 0;
}

/* ------------------------------------------------------------ sockopt-churn */

/*
 * setsockopt() on a managed listener from every CPU, as fast as it goes,
 * until -d MS are up: rmmod in the middle of it (the runner) must neither
 * stall nor let a sync touch clones it is freeing. Every call must succeed,
 * before and after the module goes.
 */
struct sockopt_churner {
	pthread_t th;
	int lfd, cpu;
	long long end_ms, calls, errors;
};

static void *sockopt_churn_thread(void *arg)
{
	struct sockopt_churner *t = arg;
	int v;

	xpin(t->cpu);
	while (now_ms() < t->end_ms) {
		for (v = 0; v < 64; v++) {
			int rcvbuf = 32768 + v * 1024, defer = v & 1, uto = 1000 + v;

			t->errors += !!setsockopt(t->lfd, SOL_SOCKET, SO_RCVBUF, &rcvbuf,
						  sizeof(rcvbuf));
			t->errors += !!setsockopt(t->lfd, IPPROTO_TCP, TCP_DEFER_ACCEPT, &defer,
						  sizeof(defer));
			t->errors += !!setsockopt(t->lfd, IPPROTO_TCP, TCP_USER_TIMEOUT, &uto,
						  sizeof(uto));
			t->calls += 3;
		}
	}
	return NULL;
}

int cmd_sockopt_churn(const struct llt_opts *o)
{
	struct sockopt_churner t[LLT_MAX_CPUS];
	long long calls = 0, errors = 0, end;
	struct llt_stats a, b;
	int lfd, i;

	set_fastsocket(1, 1);
	stats_read(&a);
	lfd = listener_at(AF_INET, "127.0.0.1", o->port, 64);
	stats_read(&b);
	check(stats_delta(&a, &b, "listen_managed", -1) == 1,
	      "sockopt-churn: the listener is not managed: nothing is tested");
	end = now_ms() + (o->duration_ms ? o->duration_ms : 4000);
	for (i = 0; i < llt_ncpus; i++) {
		t[i] = (struct sockopt_churner){ .lfd = lfd, .cpu = llt_cpus[i], .end_ms = end };
		if (pthread_create(&t[i].th, NULL, sockopt_churn_thread, &t[i]))
			die("pthread_create");
	}
	if (o->ready && write_file_atomic(o->ready, "ready\n"))
		die("write %s: %s", o->ready, errname(errno));
	for (i = 0; i < llt_ncpus; i++) {
		pthread_join(t[i].th, NULL);
		calls += t[i].calls;
		errors += t[i].errors;
	}
	close(lfd);
	note("sockopt-churn: %lld setsockopt() calls on a managed listener from %d CPUs, "
	     "%lld failed", calls, llt_ncpus, errors);
	check(errors == 0, "sockopt-churn: %lld of %lld setsockopt() calls failed", errors,
	      calls);
	return 0;
}

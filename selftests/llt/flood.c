// SPDX-License-Identifier: GPL-2.0
/*
 * SYN floods against a listener in this network namespace, sent from a peer
 * namespace over a veth pair (selftests/llt.sh builds both). The flood's
 * source addresses lie in a prefix routed to the peer (default 10.78.0.0/24;
 * the block after it too, for handshakes split over CPUs), which owns none
 * of them and blackholes them, so the SYN-ACKs vanish without a RST and the
 * requests stay half-open, as under a real flood.
 *
 * Stock Linux bounds both queues of a listener by its backlog: requests
 * (the SYN queue) up to backlog, then SYN cookies (tcp_syncookies=1);
 * connections waiting for accept() up to backlog + 1, then
 * ListenOverflows. The checks here hold a managed listener to that, as a
 * whole over its clones, with one per CPU of slack (a SYN in flight on each
 * CPU when the bound is reached).
 *
 * Subcommands:
 *   flood       the sender alone: -c ADDR -p PORT -s ADDR/LEN, -k SYNS per
 *               CPU or -d MS, [-x NETNS] to send from there
 *   syn-flood   -m cookies|close -x NETNS -c ADDR -s ADDR/LEN [-b BACKLOG]
 *               [-k SYNS] [-d MS] [-S]: the scenarios of llt.sh's
 *               syn_flood_cookies and close_under_pressure
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_ether.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "llt.h"

struct flood_thr {
	struct flood *f;
	pthread_t th;
	int cpu;
	long sent, errs;
	int first_err;
	long long end_ms;	/* when it stopped sending */
};

struct flood {
	struct in_addr dst;
	int dport;
	unsigned int src_net, src_host_mask;	/* host order */
	int ns;			/* > 0: send from that netns */
	int syns;		/* per thread; 0: for duration_ms */
	int duration_ms;
	int stop;
	int nthr;
	unsigned int tuple_base;	/* where this flood's source tuples start */
	struct flood_thr thr[LLT_MAX_CPUS];
	long long t0, t1;
	long sent, errs;
};

static unsigned int xorshift(unsigned int *s)
{
	unsigned int x = *s;

	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	return *s = x;
}

static void *flood_thread(void *arg)
{
	struct flood_thr *t = arg;
	struct flood *f = t->f;
	unsigned int rnd = 0x9e3779b9u ^ (t->cpu * 0x85ebca6bu) ^ (unsigned int)now_ms();
	struct tcp4_seg seg = { .dst = f->dst, .dport = f->dport, .syn = true };
	long long end = now_ms() + f->duration_ms;
	unsigned int nhosts = f->src_host_mask > 1 ? f->src_host_mask - 1 : 1;
	unsigned int host;
	unsigned long k;
	int raw;

	if (pin_to_cpu(t->cpu))
		die("pin flood thread to CPU %d: %s", t->cpu, errname(errno));
	if (f->ns > 0)
		netns_set(f->ns);
	raw = raw_tcp4_socket();
	if (raw < 0)
		die("raw socket: %s", errname(errno));
	for (;;) {
		if (f->syns ? t->sent + t->errs >= f->syns :
		    __atomic_load_n(&f->stop, __ATOMIC_RELAXED) ||
		    ((t->sent & 15) == 0 && now_ms() >= end))
			break;
		/*
		 * Every SYN from a source address and port of its own: a SYN
		 * that repeats a request's would meet that request, neither a
		 * cookie nor a request, and the counts would not add up. Not the
		 * prefix's network or broadcast address.
		 */
		k = f->tuple_base + (unsigned long)(t - f->thr) +
		    (unsigned long)f->nthr * (unsigned long)(t->sent + t->errs);
		host = nhosts > 1 ? 1 + k % nhosts : (unsigned int)k & f->src_host_mask;
		seg.src.s_addr = htonl(f->src_net | host);
		seg.sport = 1024 + (k / nhosts) % 64512;
		seg.seq = xorshift(&rnd);
		if (tcp4_send(raw, &seg)) {
			if (!t->first_err)
				t->first_err = errno;
			t->errs++;
			continue;
		}
		t->sent++;
	}
	t->end_ms = now_ms();
	close(raw);
	return NULL;
}

/* "A.B.C.D/LEN" into @f's source prefix. */
static void flood_src(struct flood *f, const char *src)
{
	char buf[64], *slash;
	struct in_addr a;
	int len;

	snprintf(buf, sizeof(buf), "%s", src ? src : "10.78.0.0/24");
	slash = strchr(buf, '/');
	len = slash ? atoi(slash + 1) : 32;
	if (slash)
		*slash = '\0';
	if (inet_pton(AF_INET, buf, &a) != 1 || len < 8 || len > 32)
		die("bad source prefix %s (want A.B.C.D/LEN, LEN 8..32)", src);
	f->src_host_mask = len == 32 ? 0 : 0xffffffffu >> len;
	f->src_net = ntohl(a.s_addr) & ~f->src_host_mask;
}

static void flood_init(struct flood *f, const char *dst, int dport,
		       const char *src, int ns)
{
	int i;

	memset(f, 0, sizeof(*f));
	if (inet_pton(AF_INET, dst, &f->dst) != 1)
		die("bad destination %s", dst);
	f->dport = dport;
	f->ns = ns;
	flood_src(f, src);
	f->nthr = llt_ncpus;
	for (i = 0; i < f->nthr; i++) {
		f->thr[i].f = f;
		f->thr[i].cpu = llt_cpus[i];
	}
}

/* One sender pinned to each CPU: the SYNs of CPU c reach c's clone. */
static void flood_start(struct flood *f, int syns, int duration_ms)
{
	int i;

	f->syns = syns;
	f->duration_ms = duration_ms;
	f->stop = 0;
	/* Past the tuples of the floods before it in this boot. */
	f->tuple_base = (unsigned int)now_ms() * 2654435761u;
	f->t0 = now_ms();
	for (i = 0; i < f->nthr; i++) {
		f->thr[i].sent = f->thr[i].errs = 0;
		if (pthread_create(&f->thr[i].th, NULL, flood_thread, &f->thr[i]))
			die("pthread_create");
	}
}

static void flood_join(struct flood *f, const char *what)
{
	long long ms;
	int i;

	f->sent = f->errs = 0;
	f->t1 = f->t0;
	for (i = 0; i < f->nthr; i++) {
		pthread_join(f->thr[i].th, NULL);
		if (f->thr[i].end_ms > f->t1)
			f->t1 = f->thr[i].end_ms;
		f->sent += f->thr[i].sent;
		f->errs += f->thr[i].errs;
		if (f->thr[i].first_err)
			note("%s: flood thread on cpu%d: %ld send errors, first %s", what,
			     f->thr[i].cpu, f->thr[i].errs, errname(f->thr[i].first_err));
	}
	ms = f->t1 - f->t0 ? f->t1 - f->t0 : 1;
	note("%s: flood sent %ld SYNs in %lld ms (%lld/s) from %d CPUs to %s:%d",
	     what, f->sent, ms, f->sent * 1000 / ms, f->nthr, inet_ntoa(f->dst), f->dport);
}

/*
 * The bounds' slack: one per clone, and clones are per online CPU (a sparse
 * boot onlines CPUs this process may not have been started on).
 */
static int clone_cpus(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	return n > 0 ? (int)n : llt_ncpus;
}

int cmd_flood(const struct llt_opts *o)
{
	struct flood f;

	if (!o->caddr)
		die("flood: -c ADDR needed");
	if (!o->syns && !o->duration_ms)
		die("flood: -k SYNS or -d MS needed");
	flood_init(&f, o->caddr, o->port, o->src, netns_open(o->peer_ns));
	flood_start(&f, o->syns, o->duration_ms);
	flood_join(&f, "flood");
	return 0;
}

/* ------------------------------------------------------------ the listener's side */

/* Sockets of this netns on local port @port in TCP state @st (/proc/net/tcp). */
static int tcp_state_count(int port, int st)
{
	unsigned int lport, state;
	char line[512];
	int n = 0;
	FILE *f;

	f = fopen("/proc/net/tcp", "r");
	if (!f)
		die("open /proc/net/tcp: %s", errname(errno));
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, " %*d: %*x:%x %*x:%*x %x", &lport, &state) == 2 &&
		    (int)lport == port && (int)state == st)
			n++;
	fclose(f);
	return n;
}

#define TCP_ST_ESTABLISHED	1
#define TCP_ST_SYN_RECV		3

static const char cookies_path[] = "/proc/sys/net/ipv4/tcp_syncookies";
static const char retries_path[] = "/proc/sys/net/ipv4/tcp_synack_retries";

struct flood_mem {
	struct llt_sockstat ss;
	long req;
};

static void mem_read(struct flood_mem *m)
{
	sockstat_read(&m->ss);
	m->req = slab_active("request_sock_TCP");
}

static void mem_print(const char *what, const struct flood_mem *m)
{
	note("%s: sockstat TCP inuse %ld orphan %ld; slab TCP %ld request_sock_TCP %ld",
	     what, m->ss.inuse, m->ss.orphan, m->ss.tcp_objs, m->req);
}

static bool mem_same(const struct flood_mem *a, const struct flood_mem *b)
{
	return a->ss.inuse == b->ss.inuse && a->ss.orphan == b->ss.orphan &&
	       a->ss.tcp_objs == b->ss.tcp_objs && a->req == b->req;
}

/*
 * Back to @base within @timeout_ms: request socks go when their SYN-ACK
 * timer fires (tcp_synack_retries is low here) and finds the listener gone.
 */
static void mem_check(const char *what, const struct flood_mem *base,
		      const struct flood_mem *peak, int timeout_ms)
{
	long long t0 = now_ms(), end = t0 + timeout_ms;
	struct flood_mem now;

	mem_print("  before", base);
	mem_print("  at the peak", peak);
	for (;;) {
		mem_read(&now);
		if (mem_same(base, &now) || now_ms() >= end)
			break;
		sleep_ms(250);
	}
	mem_print("  after", &now);
	if (mem_same(base, &now)) {
		note("%s: memory back to the baseline %lld ms after the close", what,
		     now_ms() - t0);
		return;
	}
	fail("%s: memory not back to the baseline %d s after the close", what,
	     timeout_ms / 1000);
}

struct flood_ctx {
	const struct llt_opts *o;
	const char *what;	/* "stock" or "fastsocket" */
	const char *addr;
	int peer, self;		/* netns fds */
	int backlog;
	struct flood f;
};

/*
 * A handshake split over two CPUs from an address of the flood's prefix
 * that the peer does not own either (so no RST from it undoes the
 * request): SYN on @syn_cpu, ACK on @ack_cpu, read back on an AF_PACKET
 * socket of the peer. Returns whether it was accepted here.
 */
static bool steered(struct flood_ctx *c, int lfd, int port, int sport,
		    int syn_cpu, int ack_cpu)
{
	struct tcp4_seg seg = {
		.dst = c->f.dst, .dport = port, .sport = sport,
		.seq = 0x2468ace0u ^ sport, .syn = true,
	};
	unsigned int isn;
	int raw, pkt, afd, err, in;

	/* The block after the flood's: routed to the peer as well. */
	seg.src.s_addr = htonl(c->f.src_net + c->f.src_host_mask + 1 + 1 + (sport & 0x7f));
	netns_set(c->peer);
	raw = raw_tcp4_socket();
	pkt = socket(AF_PACKET, SOCK_DGRAM | SOCK_CLOEXEC, htons(ETH_P_IP));
	netns_set(c->self);
	if (raw < 0 || pkt < 0)
		die("raw or packet socket: %s", errname(errno));
	xpin(syn_cpu);
	if (tcp4_send(raw, &seg))
		die("raw send: %s", errname(errno));
	if (!tcp4_synack(pkt, &seg, &isn, 3000)) {
		unpin();
		close(raw);
		close(pkt);
		fail("%s: no SYN-ACK for the SYN on cpu%d from %s", c->what, syn_cpu,
		     inet_ntoa(seg.src));
		return false;
	}
	close(pkt);
	xpin(ack_cpu);
	seg.seq++;
	seg.ack = isn + 1;
	seg.syn = false;
	if (tcp4_send(raw, &seg))
		die("raw send: %s", errname(errno));
	unpin();
	close(raw);
	afd = accept_wait(lfd, 3000, &err);
	if (afd < 0) {
		fail("%s: SYN on cpu%d, ACK on cpu%d: no connection to accept (%s)", c->what,
		     syn_cpu, ack_cpu, errname(err));
		return false;
	}
	in = incoming_cpu(afd);
	/*
	 * A RST, not a FIN: a FIN to the blackholed peer would keep an orphan
	 * retransmitting for minutes.
	 */
	if (setsockopt(afd, SOL_SOCKET, SO_LINGER, &(struct linger){ 1, 0 },
		       sizeof(struct linger)))
		die("SO_LINGER: %s", errname(errno));
	close(afd);
	check(in == ack_cpu, "%s: SO_INCOMING_CPU %d, the ACK came on cpu%d", c->what, in,
	      ack_cpu);
	return true;
}

struct flood_counts {
	long long insegs, overflows, cookies_sent, cookies_recv, drops;
};

static void counts_read(struct flood_counts *n)
{
	n->insegs = snmp_get("InSegs");
	n->overflows = netstat_get("ListenOverflows");
	n->cookies_sent = netstat_get("SyncookiesSent");
	n->cookies_recv = netstat_get("SyncookiesRecv");
	n->drops = netstat_get("ListenDrops");
}

static void counts_delta(struct flood_counts *d, const struct flood_counts *a,
			 const struct flood_counts *b)
{
	d->insegs = b->insegs - a->insegs;
	d->overflows = b->overflows - a->overflows;
	d->cookies_sent = b->cookies_sent - a->cookies_sent;
	d->cookies_recv = b->cookies_recv - a->cookies_recv;
	d->drops = b->drops - a->drops;
}

static void check_clones(struct flood_ctx *c, const struct llt_stats *a,
			 const struct llt_stats *b)
{
	long long d;
	int i;

	stats_print_delta(c->what, a, b);
	if (c->o->expect_stock) {
		check_stock_counters(c->what, a, b);
		return;
	}
	d = stats_delta(a, b, "listen_managed", -1);
	check(d == 1, "%s: listen_managed +%lld, expected +1", c->what, d);
	/* One flood thread per CPU: every clone takes its share. */
	for (i = 0; i < llt_ncpus; i++) {
		d = stats_delta(a, b, "listen_syn_local", llt_cpus[i]);
		check(d > 0, "%s: listen_syn_local on cpu%d +%lld: no SYN reached its clone",
		      c->what, llt_cpus[i], d);
	}
}

/*
 * tcp_syncookies=@v: a counted flood first (the bound where cookies start),
 * handshakes split over CPUs while the SYN queue is full, then a timed
 * flood with legitimate clients connecting from the peer all along.
 */
/*
 * A listener on @port with backlog @b, flooded with @syns SYNs; the memory,
 * module counters and SYN counts from before it, for the run's checks.
 */
static int flood_listener(struct flood_ctx *c, int port, int b, int syns,
			  const char *what, struct flood_mem *base, struct llt_stats *sa,
			  struct flood_counts *n0)
{
	int lfd;

	mem_read(base);
	stats_read(sa);
	lfd = listener_at(AF_INET, c->addr, port, b);
	counts_read(n0);
	flood_start(&c->f, syns, 0);
	flood_join(&c->f, what);
	return lfd;
}

static void cookies_run(struct flood_ctx *c, int v, int port)
{
	const struct llt_opts *o = c->o;
	int b = c->backlog, syns = o->syns ? o->syns : c->backlog, ms;
	struct flood_counts n0, n1, d;
	struct flood_mem base, peak;
	struct llt_traffic_sum legit;
	struct llt_stats sa, sb;
	char what[64];
	int lfd, half, dir, done = 0;
	long long lo, slack;

	snprintf(what, sizeof(what), "%s, tcp_syncookies=%d", c->what, v);
	sysctl_write(cookies_path, v);
	/* Requests outlive a slow counted flood (7 s), and go soon after. */
	sysctl_write(retries_path, 2);
	/* Counted: every SYN is one that reached the listener (InSegs). */
	lfd = flood_listener(c, port, b, syns, what, &base, &sa, &n0);
	sleep_ms(200);
	counts_read(&n1);
	counts_delta(&d, &n0, &n1);
	half = tcp_state_count(port, TCP_ST_SYN_RECV);
	note("%s: %lld SYNs received, backlog %d: %d half-open, SyncookiesSent +%lld, "
	     "ListenOverflows +%lld, ListenDrops +%lld", what, d.insegs, b, half,
	     d.cookies_sent, d.overflows, d.drops);
	printf("# result %s: counted flood %lld SYNs backlog %d half-open %d cookies %lld\n",
	       what, d.insegs, b, half, d.cookies_sent);
	if (v == 2) {
		check(half == 0, "%s: %d half-open requests, every SYN should get a cookie",
		      what, half);
		check(d.cookies_sent >= d.insegs - llt_ncpus,
		      "%s: SyncookiesSent +%lld for %lld SYNs", what, d.cookies_sent, d.insegs);
	} else {
		/* Stock holds backlog + 1 requests (the kernel's qlen > backlog). */
		lo = d.insegs - b - 1 - clone_cpus();
		check(half <= b + 1 + clone_cpus(),
		      "%s: %d half-open requests, backlog %d: stock's SYN queue holds the "
		      "backlog + 1 (slack: 1 per CPU)", what, half, b);
		check(d.cookies_sent >= lo,
		      "%s: SyncookiesSent +%lld after %lld SYNs, backlog %d: stock sends "
		      "cookies once the listener as a whole holds backlog requests, "
		      "expected >= %lld (slack: 1 per CPU)", what, d.cookies_sent, d.insegs,
		      b, lo);
	}

	/* The SYN queue is full (or every SYN gets one): cookie ACKs anywhere. */
	counts_read(&n0);
	for (dir = 0; dir < 2 && llt_ncpus >= 2; dir++)
		done += steered(c, lfd, port, 40000 + port % 1000 * 4 + dir,
				llt_cpus[dir], llt_cpus[1 - dir]);
	counts_read(&n1);
	counts_delta(&d, &n0, &n1);
	note("%s: handshakes with the ACK on another CPU than the SYN: %d of 2 accepted, "
	     "SyncookiesRecv +%lld", what, done, d.cookies_recv);
	if (v == 2)
		check(d.cookies_recv == 2, "%s: SyncookiesRecv +%lld, expected 2", what,
		      d.cookies_recv);

	/* Timed, with legitimate clients on every CPU meanwhile. */
	ms = o->duration_ms ? o->duration_ms : 3000;
	counts_read(&n0);
	flood_start(&c->f, 0, ms);
	traffic_from_netns(lfd, c->addr, port, c->peer, ms, &legit);
	flood_join(&c->f, what);
	counts_read(&n1);
	counts_delta(&d, &n0, &n1);
	half = tcp_state_count(port, TCP_ST_SYN_RECV);
	mem_read(&peak);
	stats_read(&sb);
	close(lfd);
	note("%s: legitimate clients during the flood: %ld connected, %ld failed, %ld "
	     "replies, %ld errors; the server accepted %ld, %ld server errors", what,
	     legit.connected, legit.conn_fail, legit.replies, legit.errors, legit.accepted,
	     legit.server_errors);
	note("%s: during the timed flood: ListenOverflows +%lld, SyncookiesSent +%lld, "
	     "SyncookiesRecv +%lld, ListenDrops +%lld; %d half-open at its end", what,
	     d.overflows, d.cookies_sent, d.cookies_recv, d.drops, half);
	printf("# result %s: timed flood %ld SYNs in %lld ms, legit %ld connected %ld failed, "
	       "ListenOverflows %lld SyncookiesSent %lld ListenDrops %lld\n", what,
	       c->f.sent, c->f.t1 - c->f.t0, legit.connected, legit.conn_fail,
	       d.overflows, d.cookies_sent, d.drops);
	check(legit.connected >= llt_ncpus,
	      "%s: only %ld legitimate connections during the flood", what, legit.connected);
	/*
	 * Clients only: under a heavy flood the server may accept a connection
	 * no client knows of (a late duplicate ACK with a valid cookie, as on
	 * stock), which traffic.c counts as a server error and aborts.
	 */
	check(!legit.conn_fail && !legit.errors && legit.replies == legit.connected &&
	      legit.accepted >= legit.connected,
	      "%s: legitimate clients failed during the flood", what);
	check(d.cookies_sent > 0, "%s: no SYN cookie sent during the flood", what);
	/*
	 * The acceptors keep the accept queue short: stock drops (almost) no
	 * completed handshake for a full accept queue meanwhile.
	 */
	check(d.overflows * 20 <= legit.connected,
	      "%s: ListenOverflows +%lld during the flood for %ld legitimate connections: "
	      "the accept queue was not full, stock drops none", what, d.overflows,
	      legit.connected);
	/*
	 * A legitimate connection waiting in the accept queue of a clone that
	 * holds as few requests makes a SYN there a request, where stock
	 * answers with a cookie: no limit of that clone gives the cookie
	 * without a drop. The module counts each (listen_backlog_slack).
	 */
	slack = stats_delta(&sa, &sb, "listen_backlog_slack", -1);
	note("%s: requests taken with the listener full (listen_backlog_slack): %lld", what,
	     slack);
	check(half <= b + 1 + clone_cpus() + slack,
	      "%s: %d half-open requests after the timed flood, backlog %d (stock: backlog + 1, "
	      "slack: 1 per CPU and %lld listen_backlog_slack)", what, half, b, slack);
	check_clones(c, &sa, &sb);
	mem_check(what, &base, &peak, 15000);
}

struct filler {
	struct flood_ctx *c;
	pthread_t th;
	int cpu, port, n;
	int *fds;
};

/* Non-blocking connects: one that finds the accept queue full waits on. */
static void *filler_thread(void *arg)
{
	struct filler *fl = arg;
	union sockaddr_any sa;
	socklen_t len;
	int i, fd;

	xpin(fl->cpu);
	netns_set(fl->c->peer);
	sa_make(&sa, &len, AF_INET, fl->c->addr, fl->port);
	for (i = 0; i < fl->n; i++) {
		fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (fd < 0)
			die("socket: %s", errname(errno));
		if (connect(fd, &sa.sa, len) && errno != EINPROGRESS)
			die("connect: %s", errname(errno));
		fl->fds[i] = fd;
		/* Lets each handshake finish before the next SYN. */
		poll(&(struct pollfd){ .fd = fd, .events = POLLOUT }, 1, 5);
	}
	return NULL;
}

/*
 * A listener with its accept queue full and its SYN queue full of the
 * flood's requests, closed while the flood goes on.
 */
static void close_run(struct flood_ctx *c, int port)
{
	const struct llt_opts *o = c->o;
	int b = c->backlog, syns = o->syns ? o->syns : c->backlog;
	int extra = b / 8 > 16 ? b / 8 : 16, per_cpu, i, k, lfd, half, queued;
	int ms = o->duration_ms ? o->duration_ms : 1500, connected = 0;
	struct filler fl[LLT_MAX_CPUS];
	struct flood_counts n0, n1, d;
	struct flood_mem base, peak;
	struct llt_stats sa, sb;
	struct rlimit rl;
	const char *what = c->what;

	per_cpu = (b + 1 + extra + llt_ncpus - 1) / llt_ncpus;
	rl.rlim_cur = rl.rlim_max = per_cpu * llt_ncpus + 256;
	if (setrlimit(RLIMIT_NOFILE, &rl))
		die("RLIMIT_NOFILE %ld: %s", (long)rl.rlim_cur, errname(errno));
	sysctl_write(cookies_path, 1);
	/*
	 * Requests outlive the flood and the filling (15 s, which the debug
	 * kernel's 100-200 SYNs/s need), and go at most 8 s after the close.
	 */
	sysctl_write(retries_path, 3);
	lfd = flood_listener(c, port, b, syns, what, &base, &sa, &n0);
	for (i = 0; i < llt_ncpus; i++) {
		fl[i].c = c;
		fl[i].cpu = llt_cpus[i];
		fl[i].port = port;
		fl[i].n = per_cpu;
		fl[i].fds = calloc(per_cpu, sizeof(int));
		if (!fl[i].fds || pthread_create(&fl[i].th, NULL, filler_thread, &fl[i]))
			die("filler");
	}
	for (i = 0; i < llt_ncpus; i++)
		pthread_join(fl[i].th, NULL);
	sleep_ms(300);
	for (i = 0; i < llt_ncpus; i++)
		for (k = 0; k < per_cpu; k++)
			if (xgetint(fl[i].fds[k], SOL_SOCKET, SO_ERROR, "SO_ERROR") == 0 &&
			    poll(&(struct pollfd){ .fd = fl[i].fds[k], .events = POLLOUT },
				 1, 0) == 1)
				connected++;
	counts_read(&n1);
	counts_delta(&d, &n0, &n1);
	half = tcp_state_count(port, TCP_ST_SYN_RECV);
	queued = tcp_state_count(port, TCP_ST_ESTABLISHED);
	note("%s: %ld flood SYNs then %d connects (%d connected) to a listener with backlog "
	     "%d: %d half-open, %d connections queued for accept(); ListenOverflows +%lld, "
	     "SyncookiesSent +%lld, ListenDrops +%lld", what, c->f.sent, per_cpu * llt_ncpus,
	     connected, b, half, queued, d.overflows, d.cookies_sent, d.drops);
	printf("# result %s: backlog %d half-open %d queued %d connected %d "
	       "ListenOverflows %lld SyncookiesSent %lld\n", what, b, half, queued,
	       connected, d.overflows, d.cookies_sent);
	check(queued <= b + 1 + clone_cpus(),
	      "%s: %d connections queued for accept(), backlog %d: stock queues backlog + 1 "
	      "(slack: 1 per CPU)", what, queued, b);
	check(half <= b + 1 + clone_cpus(),
	      "%s: %d half-open requests, backlog %d: stock's SYN queue holds backlog + 1 "
	      "(slack: 1 per CPU)", what, half, b);
	check(queued >= b / 2, "%s: only %d connections queued: the accept queue is not full",
	      what, queued);
	/*
	 * A full queue's old requests are pruned to 2 SYN-ACK retries (7 s),
	 * which a slow filling outlasts: a quarter of them stay, at least.
	 */
	check(half >= b / 4, "%s: only %d half-open requests: the SYN queue is not full",
	      what, half);

	/* The close, with SYNs still arriving on every CPU. */
	flood_start(&c->f, 0, ms);
	sleep_ms(ms / 2);
	mem_read(&peak);
	stats_read(&sb);
	close(lfd);
	flood_join(&c->f, what);
	for (i = 0; i < llt_ncpus; i++) {
		for (k = 0; k < per_cpu; k++)
			close(fl[i].fds[k]);
		free(fl[i].fds);
	}
	note("%s: listener closed in the middle of the flood", what);
	check_clones(c, &sa, &sb);
	mem_check(what, &base, &peak, 20000);
}

int cmd_syn_flood(const struct llt_opts *o)
{
	int saved_cookies = sysctl_read(cookies_path);
	int saved_retries = sysctl_read(retries_path);
	struct flood_ctx c = { .o = o };

	if (!o->peer_ns || !o->caddr || !o->mode)
		die("syn-flood: -m cookies|close -x NETNS -c ADDR needed");
	if (llt_ncpus < 2)
		die("syn-flood: needs 2 CPUs");
	c.what = o->expect_stock ? "stock" : "fastsocket";
	c.addr = o->caddr;
	c.peer = netns_open(o->peer_ns);
	c.self = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	if (c.self < 0)
		die("open /proc/self/ns/net: %s", errname(errno));
	flood_init(&c.f, o->caddr, o->port, o->src, c.peer);
	set_fastsocket(!o->expect_stock, 1);
	if (!strcmp(o->mode, "cookies")) {
		c.backlog = o->backlog ? o->backlog : 64;
		cookies_run(&c, 1, o->port);
		c.f.dport = o->port + 1;
		cookies_run(&c, 2, o->port + 1);
	} else if (!strcmp(o->mode, "close")) {
		/* The debug kernel takes 100-200 SYNs a second. */
		c.backlog = o->backlog ? o->backlog : llt_debug_kernel ? 256 : 1024;
		close_run(&c, o->port);
	} else {
		die("syn-flood: -m cookies|close");
	}
	sysctl_write(cookies_path, saved_cookies);
	sysctl_write(retries_path, saved_retries);
	set_fastsocket(0, 1);
	return 0;
}

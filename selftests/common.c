// SPDX-License-Identifier: GPL-2.0
/* Helpers shared by the fastsocket selftest programs. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/ip.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "common.h"

const char *errname(int err)
{
	const char *name = strerrorname_np(err);

	return name ? name : "E?";
}

void die(const char *fmt, ...)
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

long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

long long now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000LL + ts.tv_nsec / 1000;
}

void sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	/* Signals are part of some tests: sleep the full time regardless. */
	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

int pin_to_cpu(int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	return sched_setaffinity(0, sizeof(set), &set);
}

/* CPUs this process may run on, i.e. the ones a test can pin threads to. */
int allowed_cpus(int *cpus, int max)
{
	cpu_set_t set;
	int cpu, n = 0;

	if (sched_getaffinity(0, sizeof(set), &set))
		die("sched_getaffinity: %s", errname(errno));
	for (cpu = 0; cpu < CPU_SETSIZE && n < max; cpu++)
		if (CPU_ISSET(cpu, &set))
			cpus[n++] = cpu;
	return n;
}

int parse_family(const char *arg)
{
	if (!strcmp(arg, "4"))
		return AF_INET;
	if (!strcmp(arg, "6"))
		return AF_INET6;
	die("bad address family '%s' (want 4 or 6)", arg);
}

const char *family_name(int family)
{
	return family == AF_INET6 ? "v6" : "v4";
}

/* A listener on the loopback address of @family, port chosen by the kernel. */
int listen_loopback(int family, int backlog, union sockaddr_any *addr,
		    socklen_t *len)
{
	int fd, one = 1;

	memset(addr, 0, sizeof(*addr));
	if (family == AF_INET6) {
		addr->in6.sin6_family = AF_INET6;
		addr->in6.sin6_addr = in6addr_loopback;
		*len = sizeof(addr->in6);
	} else {
		addr->in4.sin_family = AF_INET;
		addr->in4.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		*len = sizeof(addr->in4);
	}
	fd = socket(family, SOCK_STREAM, 0);
	if (fd < 0)
		die("socket(%s): %s", family_name(family), errname(errno));
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)))
		die("SO_REUSEADDR: %s", errname(errno));
	if (bind(fd, &addr->sa, *len))
		die("bind(%s loopback): %s", family_name(family),
		    errname(errno));
	if (listen(fd, backlog))
		die("listen: %s", errname(errno));
	if (getsockname(fd, &addr->sa, len))
		die("getsockname: %s", errname(errno));
	return fd;
}

/* Blocking connect; returns the fd or -1 with errno set. */
int connect_to(const union sockaddr_any *addr, socklen_t len)
{
	int fd, err;

	fd = socket(addr->sa.sa_family, SOCK_STREAM, 0);
	if (fd < 0)
		return -1;
	if (connect(fd, &addr->sa, len)) {
		err = errno;
		close(fd);
		errno = err;
		return -1;
	}
	return fd;
}

unsigned int addr_port(const union sockaddr_any *addr)
{
	if (addr->sa.sa_family == AF_INET6)
		return ntohs(addr->in6.sin6_port);
	return ntohs(addr->in4.sin_port);
}

bool same_addr(const union sockaddr_any *a, const union sockaddr_any *b)
{
	if (a->sa.sa_family != b->sa.sa_family)
		return false;
	if (a->sa.sa_family == AF_INET6)
		return a->in6.sin6_port == b->in6.sin6_port &&
		       !memcmp(&a->in6.sin6_addr, &b->in6.sin6_addr,
			       sizeof(a->in6.sin6_addr));
	return a->in4.sin_port == b->in4.sin_port &&
	       a->in4.sin_addr.s_addr == b->in4.sin_addr.s_addr;
}

/*
 * Is thread @tid of this process blocked in syscall @nr1 or @nr2 now?
 * /proc/.../syscall names the syscall only while the task is blocked in it
 * ("running" otherwise), so this tells "blocked in accept" apart from "about
 * to call accept" without guessing with sleeps. -1: the thread is gone.
 */
static int in_syscall(pid_t tid, long nr1, long nr2)
{
	char path[64], buf[128];
	ssize_t n;
	long nr;
	int fd;

	snprintf(path, sizeof(path), "/proc/self/task/%d/syscall", tid);
	fd = open(path, O_RDONLY);
	if (fd < 0)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	return sscanf(buf, "%ld", &nr) == 1 && (nr == nr1 || nr == nr2);
}

/* Wait until in_syscall(); 0, or -1 on timeout. */
static int wait_in_syscall(pid_t tid, long nr1, long nr2, int timeout_ms)
{
	long long end = now_ms() + timeout_ms;
	int in;

	do {
		in = in_syscall(tid, nr1, nr2);
		if (in)
			return in > 0 ? 0 : -1;
		sleep_ms(5);
	} while (now_ms() < end);
	return -1;
}

int wait_in_poll(pid_t tid, int timeout_ms)
{
	return wait_in_syscall(tid, SYS_poll, SYS_ppoll, timeout_ms);
}

bool sleeps_in_epoll(pid_t tid)
{
	return in_syscall(tid, SYS_epoll_wait, SYS_epoll_pwait) > 0;
}

int wait_in_accept(pid_t tid, int timeout_ms)
{
	return wait_in_syscall(tid, SYS_accept, SYS_accept4, timeout_ms);
}

int wait_in_epoll(pid_t tid, int timeout_ms)
{
	return wait_in_syscall(tid, SYS_epoll_wait, SYS_epoll_pwait, timeout_ms);
}

/* Readers poll for @path: make it appear complete or not at all. */
int write_file_atomic(const char *path, const char *text)
{
	char tmp[4096];
	FILE *f;

	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	f = fopen(tmp, "w");
	if (!f)
		return -1;
	fputs(text, f);
	if (fclose(f))
		return -1;
	return rename(tmp, path);
}

/* ------------------------------------------------------------ raw TCP */

struct tcp4_pkt {
	struct iphdr ip;
	struct tcphdr th;
	unsigned char opts[4];
} __attribute__((packed));

int raw_tcp4_socket(void)
{
	int fd, one = 1;

	fd = socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_TCP);
	if (fd < 0)
		return -1;
	if (setsockopt(fd, IPPROTO_IP, IP_HDRINCL, &one, sizeof(one))) {
		close(fd);
		return -1;
	}
	return fd;
}

static unsigned short csum_fold(unsigned long sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return ~sum;
}

unsigned short tcp4_csum(struct in_addr src, struct in_addr dst,
			 const void *seg, int len)
{
	const unsigned char *p = seg;
	unsigned long sum = 0;
	int i;

	sum += (ntohl(src.s_addr) >> 16) + (ntohl(src.s_addr) & 0xffff);
	sum += (ntohl(dst.s_addr) >> 16) + (ntohl(dst.s_addr) & 0xffff);
	sum += IPPROTO_TCP + len;
	for (i = 0; i + 1 < len; i += 2)
		sum += (p[i] << 8) | p[i + 1];
	if (len & 1)
		sum += p[len - 1] << 8;
	return htons(csum_fold(sum));
}

/* 0, or -1 with errno set. */
int tcp4_send(int raw, const struct tcp4_seg *s)
{
	struct sockaddr_in dst = { .sin_family = AF_INET, .sin_addr = s->dst };
	int tcplen = s->syn ? sizeof(struct tcphdr) + 4 : sizeof(struct tcphdr);
	int len = sizeof(struct iphdr) + tcplen;
	struct tcp4_pkt p;

	memset(&p, 0, sizeof(p));
	p.ip.version = 4;
	p.ip.ihl = 5;
	p.ip.ttl = 64;
	p.ip.protocol = IPPROTO_TCP;
	p.ip.tot_len = htons(len);
	p.ip.saddr = s->src.s_addr;
	p.ip.daddr = s->dst.s_addr;
	p.th.source = htons(s->sport);
	p.th.dest = htons(s->dport);
	p.th.seq = htonl(s->seq);
	p.th.ack_seq = htonl(s->ack);
	p.th.doff = tcplen / 4;
	p.th.syn = s->syn;
	p.th.ack = !s->syn;
	p.th.window = htons(65535);
	if (s->syn) {
		/* MSS 1460: a cookie encodes it. */
		p.opts[0] = 2;
		p.opts[1] = 4;
		p.opts[2] = 1460 >> 8;
		p.opts[3] = 1460 & 0xff;
	}
	p.th.check = tcp4_csum(s->src, s->dst, &p.th, tcplen);
	if (sendto(raw, &p, len, 0, (struct sockaddr *)&dst, sizeof(dst)) != len)
		return -1;
	return 0;
}

/*
 * The SYN-ACK answering @syn, read from @fd: a raw TCP socket or an
 * AF_PACKET SOCK_DGRAM one (for a source address nothing here owns, whose
 * SYN-ACK is routed away before any raw socket sees it). Its sequence
 * number (the server's ISN: a cookie, maybe) in *isn.
 */
bool tcp4_synack(int fd, const struct tcp4_seg *syn, unsigned int *isn,
		 int timeout_ms)
{
	long long end = now_ms() + timeout_ms;
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	unsigned char buf[256];
	struct iphdr *ip = (struct iphdr *)buf;
	struct tcphdr *th;
	ssize_t n;
	int ihl;

	while (now_ms() < end) {
		if (poll(&pfd, 1, 100) <= 0)
			continue;
		n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
		if (n < (ssize_t)sizeof(*ip) || ip->version != 4 ||
		    ip->protocol != IPPROTO_TCP)
			continue;
		ihl = ip->ihl * 4;
		if (n < ihl + (ssize_t)sizeof(*th))
			continue;
		th = (struct tcphdr *)(buf + ihl);
		if (ip->saddr != syn->dst.s_addr || ip->daddr != syn->src.s_addr ||
		    ntohs(th->source) != syn->dport || ntohs(th->dest) != syn->sport ||
		    !th->syn || !th->ack || ntohl(th->ack_seq) != syn->seq + 1)
			continue;
		*isn = ntohl(th->seq);
		return true;
	}
	return false;
}

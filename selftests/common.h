/* SPDX-License-Identifier: GPL-2.0 */
/* Helpers shared by the fastsocket selftest programs (libc + pthread only). */
#ifndef FSK_SELFTEST_COMMON_H
#define FSK_SELFTEST_COMMON_H

#include <netinet/in.h>
#include <stdbool.h>
#include <sys/socket.h>
#include <sys/types.h>

union sockaddr_any {
	struct sockaddr		sa;
	struct sockaddr_in	in4;
	struct sockaddr_in6	in6;
	struct sockaddr_storage	ss;
};

#define MAX_CPUS	1024

/* "EINVAL" rather than a sentence: the runner matches on it. */
const char *errname(int err);
__attribute__((noreturn, format(printf, 1, 2)))
void die(const char *fmt, ...);
long long now_ms(void);
long long now_us(void);
void sleep_ms(int ms);
int pin_to_cpu(int cpu);
int allowed_cpus(int *cpus, int max);
int parse_family(const char *arg);
const char *family_name(int family);
int listen_loopback(int family, int backlog, union sockaddr_any *addr,
		    socklen_t *len);
int connect_to(const union sockaddr_any *addr, socklen_t len);
unsigned int addr_port(const union sockaddr_any *addr);
bool same_addr(const union sockaddr_any *a, const union sockaddr_any *b);
int wait_in_accept(pid_t tid, int timeout_ms);
int wait_in_epoll(pid_t tid, int timeout_ms);
int wait_in_poll(pid_t tid, int timeout_ms);
bool sleeps_in_epoll(pid_t tid);
int write_file_atomic(const char *path, const char *text);

/*
 * Hand-made IPv4 TCP segments (SYN floods, handshakes split over CPUs):
 * @raw is an IPPROTO_TCP raw socket with IP_HDRINCL, so the source address
 * may be one this host does not own. The kernel fills in the IP checksum.
 */
struct tcp4_seg {
	struct in_addr src, dst;
	unsigned short sport, dport;	/* host order */
	unsigned int seq, ack;
	bool syn;			/* SYN with MSS 1460, else a bare ACK */
};

int raw_tcp4_socket(void);
unsigned short tcp4_csum(struct in_addr src, struct in_addr dst,
			 const void *seg, int len);
int tcp4_send(int raw, const struct tcp4_seg *s);
bool tcp4_synack(int fd, const struct tcp4_seg *syn, unsigned int *isn,
		 int timeout_ms);

#endif

/* SPDX-License-Identifier: GPL-2.0 */
/* Local Listen Table selftest helpers, shared by the llt subcommands. */
#ifndef FSK_LLT_H
#define FSK_LLT_H

#include <stdbool.h>
#include <sys/types.h>

#include "../common.h"

#define LLT_MAX_COLS	32
#define ARRAY_LEN(a)	((int)(sizeof(a) / sizeof((a)[0])))
#define LLT_MAX_CPUS	64
#define LLT_MAX_THREADS	64

/* Options every subcommand understands (llt.c parses them). */
struct llt_opts {
	int port;		/* first port the subcommand may use */
	int conns;		/* connections per client thread (0: default) */
	int duration_ms;	/* for duration-based traffic */
	const char *ready;	/* file to create when the subcommand is ready */
	const char *mode;	/* subcommand specific: accept mode, option name, ... */
	int family;		/* AF_INET or AF_INET6 */
	const char *laddr;	/* listening address */
	const char *caddr;	/* address clients connect to */
	int v6only;		/* -1: leave alone */
	int cfamily;		/* clients' family (AF_UNSPEC: same as the listener) */
	int allow_resets;	/* resets tolerated after connect() (rmmod) */
	bool expect_stock;	/* counters must not move: fastsocket is off here */
	int cpu;		/* a CPU to use (hotplug) */
	int count;		/* number of objects (memory) */
	bool port_zero;		/* listeners bind port 0, as test servers do */
	int bound_ms;		/* a time bound (accept-courtesy) */
	const char *peer_ns;	/* the clients' network namespace (flood, ipv6) */
	const char *src;	/* source addresses, A.B.C.D/LEN (flood) */
	int backlog;		/* listen() backlog (0: the subcommand's own) */
	int syns;		/* SYNs per CPU (flood; 0: for -d MS) */
	int iterations;		/* rounds of a stress test (-I) */
};

/* /proc/net/fastsocket, by column name and CPU. */
struct llt_stats {
	int ncols;
	char col[LLT_MAX_COLS][40];
	bool has_cpu[LLT_MAX_CPUS];
	unsigned long long v[LLT_MAX_CPUS][LLT_MAX_COLS];
};

/* /proc/net/sockstat and the TCP slab caches, for leak checks. */
struct llt_sockstat {
	long inuse, orphan, tw, alloc;
	bool slab;		/* slab numbers valid */
	long tcp_objs, tcp6_objs;
};

/* A test that fails says why and carries on; the exit status says it all. */
extern int llt_failures;
extern int llt_ncpus;
/* FSK_DEBUG_KERNEL=1 (selftests/lib.sh): speed figures are scaled. */
extern bool llt_debug_kernel;
extern int llt_cpus[LLT_MAX_CPUS];

__attribute__((format(printf, 1, 2))) void note(const char *fmt, ...);
__attribute__((format(printf, 1, 2))) void fail(const char *fmt, ...);
#define check(cond, ...)			\
	do {					\
		if (!(cond))			\
			fail(__VA_ARGS__);	\
	} while (0)

/* Sysctls: die when they cannot be written. */
void fsk_sysctl_set(const char *name, int val);
int sysctl_read(const char *path);
void sysctl_write(const char *path, int val);
void set_fastsocket(int enabled, int listen);
/* Pin to @cpu or die; back to every CPU the process may use. */
void xpin(int cpu);
void unpin(void);

/* Counters. */
void stats_read(struct llt_stats *s);
bool stats_available(void);
long long stats_delta(const struct llt_stats *a, const struct llt_stats *b,
		      const char *col, int cpu);
void stats_print_delta(const char *what, const struct llt_stats *a,
		       const struct llt_stats *b);
bool stats_all_zero(const struct llt_stats *a, const struct llt_stats *b);
void check_stock_counters(const char *what, const struct llt_stats *a,
			  const struct llt_stats *b);

/* Sockets. */
void sa_make(union sockaddr_any *sa, socklen_t *len, int family,
	     const char *addr, int port);
const char *sa_str(const union sockaddr_any *sa);
int tcp_socket(int family);
void xsetint(int fd, int level, int opt, int val, const char *name);
int xgetint(int fd, int level, int opt, const char *name);
void xbind(int fd, const union sockaddr_any *sa, socklen_t len);
void xlisten(int fd, int backlog);
int listener_at(int family, const char *addr, int port, int backlog);
int accept_nb(int lfd);
int accept_wait(int lfd, int timeout_ms, int *err);
int incoming_cpu(int fd);
bool poll_readable(int fd, int timeout_ms);

/* Leak checks. */
void sockstat_read(struct llt_sockstat *s);
void sockstat_print(const char *what, const struct llt_sockstat *s);
bool sockstat_settle(const struct llt_sockstat *base, int timeout_ms,
		     struct llt_sockstat *now);

/* Netstat (TcpExt) or SNMP (Tcp, ...) counter by name, -1 if absent. */
long long netstat_get(const char *name);
long long snmp_get(const char *name);
/* Active objects of a slab cache (its per-CPU slabs flushed first), or -1. */
long slab_active(const char *cache);

/* Memory: what listen() of many listeners costs (misc.c). */
struct listen_cost {
	long objs;		/* TCP slab objects added by listen() */
	long long bytes;	/* bytes in the caches a clone allocates from */
	long kb;		/* Slab in /proc/meminfo */
	long avail_kb;		/* MemAvailable that went */
	long long managed;	/* listen_managed */
	long long listen_us, close_us, settle_us;
};
long meminfo_kb(const char *key);
long long slab_bytes(void);
long tcp_obj_bytes(long *objsize);
void listeners_open(int *fds, int nl, int port, bool managed, struct listen_cost *c);
void listeners_close(int *fds, int nl, const struct llt_sockstat *base,
		     struct listen_cost *c);
void clone_memory_check(int nl, int online, const struct listen_cost *stock,
			const struct listen_cost *fsk);

/* Shared by the subcommands' files. */
void md5_key(int fd);
void cpu_online_set(int cpu, int online);
/* /run/netns/@name, opened (-1 for no name). */
int netns_open(const char *name);
void netns_set(int fd);
pid_t fork_with_pipes(int up[2], int down[2]);
bool tfo_connect(int lfd, const union sockaddr_any *sa, socklen_t len,
		 const char *what);

/* Subcommands. */
int cmd_locality(const struct llt_opts *o);
int cmd_nostrand(const struct llt_opts *o);
int cmd_traffic(const struct llt_opts *o);
int cmd_flip(const struct llt_opts *o);
int cmd_serve(const struct llt_opts *o);
int cmd_close_queued(const struct llt_opts *o);
int cmd_shutdown(const struct llt_opts *o);
int cmd_rmmod_queued(const struct llt_opts *o);
int cmd_eligible(const struct llt_opts *o);
int cmd_reuseport(const struct llt_opts *o);
int cmd_opt(const struct llt_opts *o);
int cmd_syncookies(const struct llt_opts *o);
int cmd_cookie_steer(const struct llt_opts *o);
int cmd_hotplug(const struct llt_opts *o);
int cmd_memory(const struct llt_opts *o);
int cmd_leak(const struct llt_opts *o);
int cmd_late_opt(const struct llt_opts *o);
int cmd_late_inherit(const struct llt_opts *o);
int cmd_late_sockopt(const struct llt_opts *o);
int cmd_sockopt_churn(const struct llt_opts *o);
int cmd_accept_giveup(const struct llt_opts *o);
int cmd_fastopen_key(const struct llt_opts *o);
int cmd_accept_migrated(const struct llt_opts *o);
int cmd_accept_courtesy(const struct llt_opts *o);
int cmd_aio_poll(const struct llt_opts *o);
int cmd_uring(const struct llt_opts *o);
int cmd_md5_hotplug(const struct llt_opts *o);
int cmd_memcg(const struct llt_opts *o);
int cmd_clone_fail(const struct llt_opts *o);
int cmd_backlog_bound(const struct llt_opts *o);
int cmd_ipv6_corners(const struct llt_opts *o);
int cmd_flood(const struct llt_opts *o);
int cmd_syn_flood(const struct llt_opts *o);
int cmd_netns_churn(const struct llt_opts *o);
int cmd_many_listeners(const struct llt_opts *o);

/* Traffic from another netns (traffic.c, for flood.c). */
struct llt_traffic_sum {
	long connected, conn_fail, replies, accepted;
	long errors;		/* the clients' */
	long server_errors;
};
void traffic_from_netns(int lfd, const char *addr, int port, int client_ns,
			int duration_ms, struct llt_traffic_sum *sum);

#endif

/* SPDX-License-Identifier: GPL-2.0 */
/*
 * fsk-bench: what the server, the client and the CPU sampler share. libc and
 * pthread only, so that the binary also links statically for an initramfs.
 */
#ifndef FSK_BENCH_H
#define FSK_BENCH_H

#include <errno.h>
#include <netinet/in.h>
#include <sched.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>

/*
 * The protocol (README.md): the client sends one request of --request-bytes
 * bytes that ends with REQUEST_END, the server answers with exactly
 * REPLY_BYTES bytes and closes. Nothing else is ever sent.
 */
#define REQUEST_END		"\r\n\r\n"
#define REQUEST_END_LEN		4
#define REQUEST_MIN		8
#define REQUEST_MAX		512
#define REPLY_BYTES		64

#define NSEC_PER_SEC		1000000000ULL
#define NSEC_PER_MSEC		1000000ULL

/* One epoll_wait() returns at most this many events. */
#define EVENT_BATCH		256

#define container_of(ptr, type, member) \
	((type *)((char *)(ptr) - offsetof(type, member)))

struct bench_addr {
	union {
		struct sockaddr		sa;
		struct sockaddr_in	in4;
		struct sockaddr_in6	in6;
	};
	socklen_t len;
};

/* The CPUs of the affinity mask the process started with, in order. */
struct cpu_list {
	int count;
	int cpu[CPU_SETSIZE];
};

/*
 * Why a connection failed. The client uses all of them; the server counts
 * them once for its clients and once for its backend (proxy mode).
 */
enum err_kind {
	ERR_REFUSED,	/* ECONNREFUSED: nothing listens, or the SYN got a RST */
	ERR_RESET,	/* ECONNRESET, EPIPE: the peer reset the connection */
	ERR_TIMEOUT,	/* no reply within --timeout (or the kernel's ETIMEDOUT) */
	ERR_ADDR,	/* EADDRNOTAVAIL: no free ephemeral port for connect() */
	ERR_EOF,	/* the peer closed before the request or reply was complete */
	ERR_OTHER,	/* anything else; the last errno is shown on stderr */
	ERR_KINDS
};

extern const char *const err_kind_name[ERR_KINDS];

static inline enum err_kind err_kind_of(int err)
{
	switch (err) {
	case ECONNREFUSED:
		return ERR_REFUSED;
	case ECONNRESET:
	case EPIPE:
		return ERR_RESET;
	case ETIMEDOUT:
		return ERR_TIMEOUT;
	case EADDRNOTAVAIL:
		return ERR_ADDR;
	default:
		return ERR_OTHER;
	}
}

/*
 * Latency histogram: log-linear, 2^HIST_SUB_BITS linear buckets per power of
 * two of nanoseconds, so every value is kept within 1/32 (3%) of its size with
 * a fixed array: recording is an index computation and an increment, with no
 * allocation on the hot path. Values from 2^HIST_MAX_SHIFT ns (18 minutes) on
 * land in the last bucket; the exact maximum is kept aside.
 */
#define HIST_SUB_BITS		5
#define HIST_SUB		(1U << HIST_SUB_BITS)
#define HIST_MAX_SHIFT		40
#define HIST_BUCKETS		((HIST_MAX_SHIFT - HIST_SUB_BITS + 1) * HIST_SUB)

struct hist {
	uint64_t count;
	uint64_t sum_ns;
	uint64_t max_ns;
	uint64_t bucket[HIST_BUCKETS];
};

void hist_add(struct hist *h, uint64_t ns);
void hist_merge(struct hist *into, const struct hist *from);
/* The value (ns) below which a fraction q (0 < q <= 1) of the samples lie. */
uint64_t hist_quantile(const struct hist *h, double q);

static inline uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * NSEC_PER_SEC + (uint64_t)ts.tv_nsec;
}

__attribute__((noreturn, format(printf, 1, 2)))
void die(const char *fmt, ...);
__attribute__((format(printf, 1, 2)))
void warn(const char *fmt, ...);

long parse_long(const char *text, const char *what, long min, long max);
double parse_seconds(const char *text, const char *what);
/* "127.0.0.1:8080" or "[::1]:8080"; dies on anything else. */
void parse_addr(const char *text, const char *what, struct bench_addr *addr);
void addr_to_str(const struct bench_addr *addr, char *buf, size_t len);

void allowed_cpus(struct cpu_list *cpus);
/* Pins the calling thread to one CPU; dies if the kernel refuses. */
void pin_self(int cpu);
/* Raises RLIMIT_NOFILE to at least want, as far as the hard limit allows. */
void raise_nofile(rlim_t want);
/* User and system CPU time this process has used so far, in seconds. */
void process_cpu_time(double *user_s, double *sys_s);
/*
 * Blocks SIGINT and SIGTERM (and SIGUSR1 when also_usr1) in the calling thread
 * and the threads it creates afterwards, so that only wait_for_stop() sees
 * them, and ignores SIGPIPE.
 */
void block_stop_signals(bool also_usr1);
/*
 * Returns after seconds (0: never) or when a blocked stop signal arrives;
 * true in the second case.
 */
bool wait_for_stop(double seconds, bool also_usr1);
/* Creates (or truncates) path, to tell a driver script that we are ready. */
void touch_file(const char *path);

/*
 * The cost benchmark's measurement window (include/fastsocket/cost.h): a
 * CPUID the TCG plugin watches for; anywhere else it returns zeros.
 */
static inline void cost_window(uint32_t leaf, uint32_t tag)
{
	uint32_t a = leaf, b = tag, c = 0, d = 0;

	__asm__ volatile("cpuid" : "+a"(a), "+b"(b), "+c"(c), "+d"(d) : : "memory");
}

int cost_window_main(int argc, char **argv);
int server_main(int argc, char **argv);
int client_main(int argc, char **argv);
int cpustat_main(int argc, char **argv);

#endif

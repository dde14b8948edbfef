// SPDX-License-Identifier: GPL-2.0
/* fsk-bench: argument parsing, CPUs, limits and signals shared by all modes. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <fastsocket/cost.h>

#include "bench.h"

const char *const err_kind_name[ERR_KINDS] = {
	[ERR_REFUSED]	= "refused",
	[ERR_RESET]	= "reset",
	[ERR_TIMEOUT]	= "timeout",
	[ERR_ADDR]	= "addr",
	[ERR_EOF]	= "eof",
	[ERR_OTHER]	= "other",
};

void die(const char *fmt, ...)
{
	va_list ap;

	fputs("fsk-bench: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(2);
}

void warn(const char *fmt, ...)
{
	va_list ap;

	fputs("fsk-bench: warning: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

long parse_long(const char *text, const char *what, long min, long max)
{
	char *end;
	long value;

	errno = 0;
	value = strtol(text, &end, 10);
	if (errno || end == text || *end || value < min || value > max)
		die("%s: '%s' is not a number from %ld to %ld", what, text, min, max);
	return value;
}

double parse_seconds(const char *text, const char *what)
{
	char *end;
	double value;

	errno = 0;
	value = strtod(text, &end);
	if (errno || end == text || *end || !isfinite(value) || value < 0 || value > 86400)
		die("%s: '%s' is not a number of seconds from 0 to 86400", what, text);
	return value;
}

void parse_addr(const char *text, const char *what, struct bench_addr *addr)
{
	char host[INET6_ADDRSTRLEN + 1];
	const char *port_text;
	size_t host_len;
	long port;

	memset(addr, 0, sizeof(*addr));
	if (text[0] == '[') {
		const char *close = strchr(text, ']');

		if (!close || close[1] != ':')
			die("%s: '%s' is not [IPv6]:PORT", what, text);
		host_len = close - text - 1;
		port_text = close + 2;
		text++;
	} else {
		const char *colon = strrchr(text, ':');

		if (!colon)
			die("%s: '%s' is not IPv4:PORT or [IPv6]:PORT", what, text);
		host_len = colon - text;
		port_text = colon + 1;
	}
	if (host_len >= sizeof(host))
		die("%s: '%s': address too long", what, text);
	memcpy(host, text, host_len);
	host[host_len] = '\0';
	port = parse_long(port_text, what, 1, 65535);

	if (inet_pton(AF_INET, host, &addr->in4.sin_addr) == 1) {
		addr->in4.sin_family = AF_INET;
		addr->in4.sin_port = htons(port);
		addr->len = sizeof(addr->in4);
	} else if (inet_pton(AF_INET6, host, &addr->in6.sin6_addr) == 1) {
		addr->in6.sin6_family = AF_INET6;
		addr->in6.sin6_port = htons(port);
		addr->len = sizeof(addr->in6);
	} else {
		die("%s: '%s' is not a numeric IPv4 or IPv6 address", what, host);
	}
}

void addr_to_str(const struct bench_addr *addr, char *buf, size_t len)
{
	char host[INET6_ADDRSTRLEN];

	if (addr->sa.sa_family == AF_INET6) {
		inet_ntop(AF_INET6, &addr->in6.sin6_addr, host, sizeof(host));
		snprintf(buf, len, "[%s]:%u", host, ntohs(addr->in6.sin6_port));
	} else {
		inet_ntop(AF_INET, &addr->in4.sin_addr, host, sizeof(host));
		snprintf(buf, len, "%s:%u", host, ntohs(addr->in4.sin_port));
	}
}

void allowed_cpus(struct cpu_list *cpus)
{
	cpu_set_t set;
	int cpu;

	cpus->count = 0;
	CPU_ZERO(&set);
	if (sched_getaffinity(0, sizeof(set), &set))
		die("sched_getaffinity: %s", strerror(errno));
	for (cpu = 0; cpu < CPU_SETSIZE; cpu++)
		if (CPU_ISSET(cpu, &set))
			cpus->cpu[cpus->count++] = cpu;
	if (!cpus->count)
		die("no CPU in the affinity mask");
}

void pin_self(int cpu)
{
	cpu_set_t set;
	int err;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	err = pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
	if (err)
		die("pinning a thread to CPU %d: %s", cpu, strerror(err));
}

void raise_nofile(rlim_t want)
{
	struct rlimit lim;

	if (getrlimit(RLIMIT_NOFILE, &lim))
		return;
	if (lim.rlim_cur >= want)
		return;
	if (lim.rlim_max < want) {
		/* Root may raise the hard limit too (up to fs.nr_open). */
		struct rlimit more = { .rlim_cur = want, .rlim_max = want };

		if (!setrlimit(RLIMIT_NOFILE, &more))
			return;
		want = lim.rlim_max;
	}
	lim.rlim_cur = want;
	if (setrlimit(RLIMIT_NOFILE, &lim))
		warn("setrlimit(RLIMIT_NOFILE, %llu): %s", (unsigned long long)want,
		     strerror(errno));
}

void process_cpu_time(double *user_s, double *sys_s)
{
	struct rusage usage;

	getrusage(RUSAGE_SELF, &usage);
	*user_s = usage.ru_utime.tv_sec + usage.ru_utime.tv_usec / 1e6;
	*sys_s = usage.ru_stime.tv_sec + usage.ru_stime.tv_usec / 1e6;
}

static void stop_set(sigset_t *set, bool also_usr1)
{
	sigemptyset(set);
	sigaddset(set, SIGINT);
	sigaddset(set, SIGTERM);
	if (also_usr1)
		sigaddset(set, SIGUSR1);
}

void block_stop_signals(bool also_usr1)
{
	sigset_t set;

	/* Every write uses MSG_NOSIGNAL; this is only a safety net. */
	signal(SIGPIPE, SIG_IGN);
	stop_set(&set, also_usr1);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
}

bool wait_for_stop(double seconds, bool also_usr1)
{
	uint64_t deadline = now_ns() + (uint64_t)(seconds * NSEC_PER_SEC);
	sigset_t set;

	stop_set(&set, also_usr1);
	for (;;) {
		struct timespec left;
		uint64_t now;

		if (seconds <= 0) {
			if (sigwaitinfo(&set, NULL) >= 0)
				return true;
			continue;	/* EINTR: some other signal */
		}
		now = now_ns();
		if (now >= deadline)
			return false;
		left.tv_sec = (deadline - now) / NSEC_PER_SEC;
		left.tv_nsec = (deadline - now) % NSEC_PER_SEC;
		if (sigtimedwait(&set, NULL, &left) >= 0)
			return true;
	}
}

void touch_file(const char *path)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

	if (fd < 0)
		die("%s: %s", path, strerror(errno));
	close(fd);
}

/*
 * fsk-bench cost-window open|close TAG: a cost window around a load that
 * is not fsk-bench's own (wrk against nginx or haproxy).
 */
int cost_window_main(int argc, char **argv)
{
	char *end;
	long tag;

	if (argc != 3 || (strcmp(argv[1], "open") && strcmp(argv[1], "close"))) {
		fprintf(stderr, "usage: fsk-bench cost-window open|close TAG\n");
		return 2;
	}
	tag = strtol(argv[2], &end, 10);
	if (*end || tag < 1 || tag > 0x7fffffff) {
		fprintf(stderr, "fsk-bench cost-window: bad TAG '%s'\n", argv[2]);
		return 2;
	}
	cost_window(strcmp(argv[1], "open") ? FSK_COST_CLOSE : FSK_COST_OPEN, tag);
	return 0;
}

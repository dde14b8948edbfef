// SPDX-License-Identifier: GPL-2.0
/*
 * fsk-bench server: N worker threads, each with its own epoll set, that read a
 * request, answer with REPLY_BYTES bytes and close (the server does the active
 * close, like a web server with "Connection: close", so TIME_WAIT lands here).
 *
 * --mode shared: one listening socket, added to every worker's epoll set with
 *   EPOLLEXCLUSIVE, so that a new connection wakes one worker, which accepts
 *   until EAGAIN (nginx without reuseport and with accept_mutex off). This is
 *   what unmodified applications do, and what fastsocket speeds up.
 * --mode reuseport: one SO_REUSEPORT listener per worker, the best stock Linux
 *   offers to applications that are changed for it.
 * --proxy: instead of answering, connect to a backend, forward the request,
 *   relay the backend's reply, close both (a reverse proxy's short upstream
 *   connections: the outgoing half of fastsocket's work).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "bench.h"

enum server_mode {
	MODE_SHARED,
	MODE_REUSEPORT,
};

static struct {
	struct bench_addr listen_addr;
	struct bench_addr backend_addr;
	bool proxy;
	int workers;
	enum server_mode mode;
	bool pin;
	bool incoming_cpu;
	double duration;
	int timeout_ms;
	int backlog;
	const char *ready_file;
} opts = {
	.mode = MODE_SHARED,
	.timeout_ms = 10000,
	.backlog = 4096,
};

/*
 * Every object registered in an epoll set starts with (or embeds) an ev_src,
 * so that an event's data.ptr says what it is about.
 */
enum src_kind {
	SRC_STOP,
	SRC_LISTENER,
	SRC_CLIENT,
	SRC_BACKEND,
};

struct ev_src {
	enum src_kind kind;
};

struct listener {
	struct ev_src src;
	int fd;
};

enum conn_state {
	CS_REQUEST,		/* reading the client's request */
	CS_BACKEND_CONNECT,	/* proxy: connecting to the backend */
	CS_BACKEND_REPLY,	/* proxy: request forwarded, reading the reply */
	CS_BACKEND_EOF,		/* proxy: reply relayed, waiting for the backend's FIN */
	CS_DEAD,		/* closed; reused only after the current event batch */
};

struct conn {
	struct ev_src client_src;
	struct ev_src backend_src;
	int fd;			/* to the client, -1 once closed */
	int backend_fd;		/* proxy: to the backend, -1 if none */
	bool registered;	/* fd is in the worker's epoll set */
	enum conn_state state;
	unsigned int len;	/* bytes in buf: the request, then the backend's reply */
	uint64_t deadline_ns;
	struct conn *prev, *next;	/* the worker's live list, by deadline */
	char buf[REQUEST_MAX];
};

/* Connections are allocated in chunks and recycled, never freed while running. */
#define CONN_CHUNK	256

struct conn_chunk {
	struct conn_chunk *next;
	struct conn conn[CONN_CHUNK];
};

enum side {
	SIDE_CLIENT,
	SIDE_BACKEND,
	SIDES
};

struct worker {
	int id;
	int cpu;		/* -1: not pinned */
	pthread_t thread;
	int epfd;
	struct listener *listener;
	struct conn *free_list;
	/*
	 * A connection closed while handling an event batch may still have an
	 * event later in the same batch (client and backend fd of one proxied
	 * connection): it waits here, marked CS_DEAD, until the batch is done.
	 */
	struct conn *dead_list;
	/* Every connection has the same timeout, so the list is by deadline. */
	struct conn *oldest, *newest;
	struct conn_chunk *chunks;

	uint64_t accepted;
	uint64_t served;
	uint64_t accept_errors;	/* accept4() failed, e.g. EMFILE */
	uint64_t proto_errors;	/* request too long, or a backend reply too long */
	uint64_t errors[SIDES][ERR_KINDS];
	int last_errno;
} __attribute__((aligned(64)));

static struct ev_src stop_src = { .kind = SRC_STOP };
static int stop_fd = -1;
static char reply_text[REPLY_BYTES];

static void usage(FILE *out)
{
	fputs(
"usage: fsk-bench server --listen ADDR:PORT [options]\n"
"  --listen ADDR:PORT     127.0.0.1:8080, [::1]:8080, 0.0.0.0:8080, [::]:8080\n"
"  --workers N            worker threads (default: CPUs in the affinity mask)\n"
"  --mode shared|reuseport  one listener for all workers (EPOLLEXCLUSIVE), or\n"
"                         one SO_REUSEPORT listener per worker (default shared)\n"
"  --pin                  pin worker i to the i-th CPU of the affinity mask\n"
"  --incoming-cpu         reuseport + pin: SO_INCOMING_CPU on each listener, so\n"
"                         the kernel picks the listener of the CPU the SYN is on\n"
"  --proxy ADDR:PORT      relay each request to this backend and its reply back\n"
"  --duration S           stop after S seconds (default: at SIGTERM or SIGINT)\n"
"  --timeout MS           close connections older than MS ms (default 10000)\n"
"  --backlog N            listen() backlog, capped by net.core.somaxconn (4096)\n"
"  --ready-file PATH      create PATH once every listener is listening\n"
"Prints one line of key=value statistics on stdout when it stops.\n", out);
}

static void count_error(struct worker *w, enum side side, enum err_kind kind, int err)
{
	w->errors[side][kind]++;
	if (kind == ERR_OTHER)
		w->last_errno = err;
}

static int socket_error(int fd)
{
	int err = 0;
	socklen_t len = sizeof(err);

	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len))
		return errno;
	return err;
}

static struct conn *conn_new(struct worker *w, int fd, uint64_t now)
{
	struct conn *c = w->free_list;

	if (!c) {
		struct conn_chunk *chunk = calloc(1, sizeof(*chunk));
		int i;

		if (!chunk)
			die("out of memory for connections");
		chunk->next = w->chunks;
		w->chunks = chunk;
		for (i = 0; i < CONN_CHUNK; i++) {
			chunk->conn[i].client_src.kind = SRC_CLIENT;
			chunk->conn[i].backend_src.kind = SRC_BACKEND;
			chunk->conn[i].next = w->free_list;
			w->free_list = &chunk->conn[i];
		}
		c = w->free_list;
	}
	w->free_list = c->next;

	c->fd = fd;
	c->backend_fd = -1;
	c->registered = false;
	c->state = CS_REQUEST;
	c->len = 0;
	c->deadline_ns = now + (uint64_t)opts.timeout_ms * NSEC_PER_MSEC;
	c->next = NULL;
	c->prev = w->newest;
	if (w->newest)
		w->newest->next = c;
	else
		w->oldest = c;
	w->newest = c;
	return c;
}

/* Closes both sides; the memory is recycled by reap() after the batch. */
static void conn_close(struct worker *w, struct conn *c)
{
	if (c->fd >= 0)
		close(c->fd);
	if (c->backend_fd >= 0)
		close(c->backend_fd);
	c->fd = -1;
	c->backend_fd = -1;

	if (c->prev)
		c->prev->next = c->next;
	else
		w->oldest = c->next;
	if (c->next)
		c->next->prev = c->prev;
	else
		w->newest = c->prev;

	c->state = CS_DEAD;
	c->next = w->dead_list;
	w->dead_list = c;
}

static void conn_fail(struct worker *w, struct conn *c, enum side side, enum err_kind kind,
		      int err)
{
	count_error(w, side, kind, err);
	conn_close(w, c);
}

static void reap(struct worker *w)
{
	while (w->dead_list) {
		struct conn *c = w->dead_list;

		w->dead_list = c->next;
		c->next = w->free_list;
		w->free_list = c;
	}
}

/* Sends the reply to the client and closes that side. */
static bool reply_to_client(struct worker *w, struct conn *c, const char *reply)
{
	ssize_t n = send(c->fd, reply, REPLY_BYTES, MSG_NOSIGNAL);

	if (n != REPLY_BYTES) {
		/* 64 bytes always fit in a new socket's send buffer. */
		if (n < 0)
			conn_fail(w, c, SIDE_CLIENT, err_kind_of(errno), errno);
		else
			conn_fail(w, c, SIDE_CLIENT, ERR_OTHER, EMSGSIZE);
		return false;
	}
	w->served++;
	close(c->fd);
	c->fd = -1;
	return true;
}

static void backend_start(struct worker *w, struct conn *c)
{
	struct epoll_event ev = {
		.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET,
		.data.ptr = &c->backend_src,
	};
	int fd;

	fd = socket(opts.backend_addr.sa.sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		conn_fail(w, c, SIDE_BACKEND, ERR_OTHER, errno);
		return;
	}
	c->backend_fd = fd;
	if (connect(fd, &opts.backend_addr.sa, opts.backend_addr.len) && errno != EINPROGRESS) {
		conn_fail(w, c, SIDE_BACKEND, err_kind_of(errno), errno);
		return;
	}
	/* Edge-triggered: EPOLLOUT once connected, EPOLLIN once the reply is in. */
	if (epoll_ctl(w->epfd, EPOLL_CTL_ADD, fd, &ev)) {
		conn_fail(w, c, SIDE_BACKEND, ERR_OTHER, errno);
		return;
	}
	c->state = CS_BACKEND_CONNECT;
}

static bool request_complete(const struct conn *c)
{
	return c->len >= REQUEST_END_LEN &&
	       !memcmp(c->buf + c->len - REQUEST_END_LEN, REQUEST_END, REQUEST_END_LEN);
}

static void client_read(struct worker *w, struct conn *c)
{
	for (;;) {
		ssize_t n = recv(c->fd, c->buf + c->len, sizeof(c->buf) - c->len, 0);

		if (n > 0) {
			c->len += n;
			if (request_complete(c))
				break;
			if (c->len == sizeof(c->buf)) {
				w->proto_errors++;
				conn_close(w, c);
				return;
			}
			continue;
		}
		if (n == 0) {
			conn_fail(w, c, SIDE_CLIENT, ERR_EOF, 0);
			return;
		}
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN) {
			struct epoll_event ev = {
				.events = EPOLLIN | EPOLLRDHUP | EPOLLET,
				.data.ptr = &c->client_src,
			};

			/* Registered only now: often the request came with the accept. */
			if (!c->registered) {
				if (epoll_ctl(w->epfd, EPOLL_CTL_ADD, c->fd, &ev)) {
					conn_fail(w, c, SIDE_CLIENT, ERR_OTHER, errno);
					return;
				}
				c->registered = true;
			}
			return;
		}
		conn_fail(w, c, SIDE_CLIENT, err_kind_of(errno), errno);
		return;
	}

	if (opts.proxy) {
		backend_start(w, c);
		return;
	}
	if (reply_to_client(w, c, reply_text))
		conn_close(w, c);
}

static void client_event(struct worker *w, struct conn *c, uint32_t events)
{
	switch (c->state) {
	case CS_REQUEST:
		client_read(w, c);
		break;
	case CS_BACKEND_CONNECT:
	case CS_BACKEND_REPLY:
		/* The client has nothing more to send: only notice it leaving. */
		if (events & (EPOLLERR | EPOLLHUP)) {
			int err = socket_error(c->fd);

			conn_fail(w, c, SIDE_CLIENT, err ? err_kind_of(err) : ERR_RESET, err);
		} else if (events & EPOLLRDHUP) {
			conn_fail(w, c, SIDE_CLIENT, ERR_EOF, 0);
		}
		break;
	default:
		break;
	}
}

static void backend_read(struct worker *w, struct conn *c)
{
	char extra[64];

	for (;;) {
		bool reply = c->state == CS_BACKEND_REPLY;
		ssize_t n;

		if (reply)
			n = recv(c->backend_fd, c->buf + c->len, sizeof(c->buf) - c->len, 0);
		else
			n = recv(c->backend_fd, extra, sizeof(extra), 0);
		if (n > 0) {
			if (!reply || c->len + n > REPLY_BYTES) {
				w->proto_errors++;
				conn_close(w, c);
				return;
			}
			c->len += n;
			if (c->len == REPLY_BYTES) {
				if (!reply_to_client(w, c, c->buf))
					return;
				c->state = CS_BACKEND_EOF;
			}
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return;
		/*
		 * The backend closes after its reply, as we do: waiting for its
		 * FIN before closing our end leaves TIME_WAIT on the backend, not
		 * on our outgoing ports. After the reply, errors do not count.
		 */
		if (!reply)
			conn_close(w, c);
		else if (n == 0)
			conn_fail(w, c, SIDE_BACKEND, ERR_EOF, 0);
		else
			conn_fail(w, c, SIDE_BACKEND, err_kind_of(errno), errno);
		return;
	}
}

static void backend_event(struct worker *w, struct conn *c, uint32_t events)
{
	if (c->state == CS_BACKEND_CONNECT) {
		ssize_t n;

		if (events & (EPOLLERR | EPOLLHUP)) {
			int err = socket_error(c->backend_fd);

			conn_fail(w, c, SIDE_BACKEND, err ? err_kind_of(err) : ERR_RESET, err);
			return;
		}
		if (!(events & EPOLLOUT))
			return;
		n = send(c->backend_fd, c->buf, c->len, MSG_NOSIGNAL);
		if (n != (ssize_t)c->len) {
			if (n < 0)
				conn_fail(w, c, SIDE_BACKEND, err_kind_of(errno), errno);
			else
				conn_fail(w, c, SIDE_BACKEND, ERR_OTHER, EMSGSIZE);
			return;
		}
		c->state = CS_BACKEND_REPLY;
		c->len = 0;
		/* No reply can be there yet; the next edge will say when it is. */
		return;
	}
	if ((c->state == CS_BACKEND_REPLY || c->state == CS_BACKEND_EOF) &&
	    (events & (EPOLLIN | EPOLLRDHUP | EPOLLERR | EPOLLHUP)))
		backend_read(w, c);
}

static void accept_all(struct worker *w, struct listener *l, uint64_t now)
{
	for (;;) {
		int fd = accept4(l->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd < 0) {
			if (errno == EAGAIN)
				return;
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			w->accept_errors++;
			w->last_errno = errno;
			return;
		}
		w->accepted++;
		client_read(w, conn_new(w, fd, now));
	}
}

static void expire(struct worker *w, uint64_t now)
{
	while (w->oldest && w->oldest->deadline_ns <= now) {
		struct conn *c = w->oldest;

		if (c->state == CS_REQUEST)
			count_error(w, SIDE_CLIENT, ERR_TIMEOUT, 0);
		else if (c->state != CS_BACKEND_EOF)
			count_error(w, SIDE_BACKEND, ERR_TIMEOUT, 0);
		conn_close(w, c);
	}
}

static void *worker_main(void *arg)
{
	struct epoll_event events[EVENT_BATCH];
	struct worker *w = arg;
	bool stop = false;

	if (w->cpu >= 0)
		pin_self(w->cpu);

	while (!stop) {
		uint64_t now = now_ns();
		int timeout_ms = -1;
		int n, i;

		expire(w, now);
		reap(w);
		/* No periodic wakeups: only the oldest deadline, or the stop event. */
		if (w->oldest)
			timeout_ms = (w->oldest->deadline_ns - now + NSEC_PER_MSEC - 1) /
				     NSEC_PER_MSEC;
		n = epoll_wait(w->epfd, events, EVENT_BATCH, timeout_ms);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			die("epoll_wait: %s", strerror(errno));
		}
		now = now_ns();
		for (i = 0; i < n; i++) {
			struct ev_src *src = events[i].data.ptr;
			uint32_t ev = events[i].events;

			switch (src->kind) {
			case SRC_STOP:
				stop = true;
				break;
			case SRC_LISTENER:
				accept_all(w, container_of(src, struct listener, src), now);
				break;
			case SRC_CLIENT:
				client_event(w, container_of(src, struct conn, client_src), ev);
				break;
			case SRC_BACKEND:
				backend_event(w, container_of(src, struct conn, backend_src), ev);
				break;
			}
		}
		reap(w);
	}

	/* Whatever is still open when we stop is not an error of the run. */
	while (w->oldest)
		conn_close(w, w->oldest);
	reap(w);
	while (w->chunks) {
		struct conn_chunk *chunk = w->chunks;

		w->chunks = chunk->next;
		free(chunk);
	}
	return NULL;
}

static struct listener *listener_open(int cpu)
{
	struct listener *l = calloc(1, sizeof(*l));
	char name[64];
	int one = 1;

	if (!l)
		die("out of memory");
	l->src.kind = SRC_LISTENER;
	l->fd = socket(opts.listen_addr.sa.sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
		       0);
	if (l->fd < 0)
		die("socket: %s", strerror(errno));
	/* So that a rerun can bind while connections of the last are in TIME_WAIT. */
	if (setsockopt(l->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)))
		die("SO_REUSEADDR: %s", strerror(errno));
	if (opts.mode == MODE_REUSEPORT &&
	    setsockopt(l->fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)))
		die("SO_REUSEPORT: %s", strerror(errno));
	if (opts.incoming_cpu &&
	    setsockopt(l->fd, SOL_SOCKET, SO_INCOMING_CPU, &cpu, sizeof(cpu)))
		die("SO_INCOMING_CPU: %s", strerror(errno));
	addr_to_str(&opts.listen_addr, name, sizeof(name));
	if (bind(l->fd, &opts.listen_addr.sa, opts.listen_addr.len))
		die("bind %s: %s", name, strerror(errno));
	if (listen(l->fd, opts.backlog))
		die("listen %s: %s", name, strerror(errno));
	return l;
}

static void worker_setup(struct worker *w, struct listener *l)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = &stop_src };

	w->listener = l;
	w->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (w->epfd < 0)
		die("epoll_create1: %s", strerror(errno));
	if (epoll_ctl(w->epfd, EPOLL_CTL_ADD, stop_fd, &ev))
		die("epoll_ctl(stop): %s", strerror(errno));
	/*
	 * Level-triggered, so that a worker that stopped accepting (EMFILE) is
	 * told again. Shared: EPOLLEXCLUSIVE wakes one waiting worker per new
	 * connection instead of all of them.
	 */
	ev.events = EPOLLIN;
	if (opts.mode == MODE_SHARED)
		ev.events |= EPOLLEXCLUSIVE;
	ev.data.ptr = &l->src;
	if (epoll_ctl(w->epfd, EPOLL_CTL_ADD, l->fd, &ev))
		die("epoll_ctl(listener): %s", strerror(errno));
}

static void parse_args(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "listen",		required_argument,	NULL, 'l' },
		{ "workers",		required_argument,	NULL, 'w' },
		{ "mode",		required_argument,	NULL, 'm' },
		{ "pin",		no_argument,		NULL, 'p' },
		{ "incoming-cpu",	no_argument,		NULL, 'i' },
		{ "proxy",		required_argument,	NULL, 'P' },
		{ "duration",		required_argument,	NULL, 'd' },
		{ "timeout",		required_argument,	NULL, 't' },
		{ "backlog",		required_argument,	NULL, 'b' },
		{ "ready-file",		required_argument,	NULL, 'r' },
		{ "help",		no_argument,		NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	bool have_listen = false;
	int opt;

	while ((opt = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (opt) {
		case 'l':
			parse_addr(optarg, "--listen", &opts.listen_addr);
			have_listen = true;
			break;
		case 'w':
			opts.workers = parse_long(optarg, "--workers", 1, CPU_SETSIZE);
			break;
		case 'm':
			if (!strcmp(optarg, "shared"))
				opts.mode = MODE_SHARED;
			else if (!strcmp(optarg, "reuseport"))
				opts.mode = MODE_REUSEPORT;
			else
				die("--mode: '%s' is not shared or reuseport", optarg);
			break;
		case 'p':
			opts.pin = true;
			break;
		case 'i':
			opts.incoming_cpu = true;
			break;
		case 'P':
			parse_addr(optarg, "--proxy", &opts.backend_addr);
			opts.proxy = true;
			break;
		case 'd':
			opts.duration = parse_seconds(optarg, "--duration");
			break;
		case 't':
			opts.timeout_ms = parse_long(optarg, "--timeout", 1, 3600000);
			break;
		case 'b':
			opts.backlog = parse_long(optarg, "--backlog", 1, 1 << 30);
			break;
		case 'r':
			opts.ready_file = optarg;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			usage(stderr);
			exit(2);
		}
	}
	if (optind < argc)
		die("server: unexpected argument '%s'", argv[optind]);
	if (!have_listen) {
		usage(stderr);
		exit(2);
	}
	if (opts.incoming_cpu && !(opts.mode == MODE_REUSEPORT && opts.pin))
		die("--incoming-cpu needs --mode reuseport and --pin");
}

static void report(struct worker *workers, int count, double elapsed_s)
{
	uint64_t accepted = 0, served = 0, accept_errors = 0, proto = 0, total_errors;
	uint64_t errors[SIDES][ERR_KINDS] = { { 0 } };
	double user_s, sys_s;
	int last_errno = 0;
	int i, side, kind;
	char name[64];

	process_cpu_time(&user_s, &sys_s);
	for (i = 0; i < count; i++) {
		struct worker *w = &workers[i];

		accepted += w->accepted;
		served += w->served;
		accept_errors += w->accept_errors;
		proto += w->proto_errors;
		for (side = 0; side < SIDES; side++)
			for (kind = 0; kind < ERR_KINDS; kind++)
				errors[side][kind] += w->errors[side][kind];
		if (w->last_errno)
			last_errno = w->last_errno;
	}
	total_errors = accept_errors + proto;
	for (side = 0; side < SIDES; side++)
		for (kind = 0; kind < ERR_KINDS; kind++)
			total_errors += errors[side][kind];

	/* Refused and addr cannot happen on accepted connections: not printed. */
	printf("accepted=%llu served=%llu errors=%llu reset=%llu eof=%llu timeout=%llu "
	       "other=%llu proto=%llu accept=%llu",
	       (unsigned long long)accepted, (unsigned long long)served,
	       (unsigned long long)total_errors,
	       (unsigned long long)errors[SIDE_CLIENT][ERR_RESET],
	       (unsigned long long)errors[SIDE_CLIENT][ERR_EOF],
	       (unsigned long long)errors[SIDE_CLIENT][ERR_TIMEOUT],
	       (unsigned long long)(errors[SIDE_CLIENT][ERR_OTHER] +
				    errors[SIDE_CLIENT][ERR_REFUSED] +
				    errors[SIDE_CLIENT][ERR_ADDR]),
	       (unsigned long long)proto, (unsigned long long)accept_errors);
	for (kind = 0; kind < ERR_KINDS; kind++)
		printf(" backend_%s=%llu", err_kind_name[kind],
		       (unsigned long long)errors[SIDE_BACKEND][kind]);
	printf(" accepted_per_worker=");
	for (i = 0; i < count; i++)
		printf("%s%llu", i ? "," : "", (unsigned long long)workers[i].accepted);
	printf(" mode=%s workers=%d pin=%d proxy=%d duration_s=%.3f user_s=%.3f sys_s=%.3f\n",
	       opts.mode == MODE_SHARED ? "shared" : "reuseport", count, opts.pin,
	       opts.proxy, elapsed_s, user_s, sys_s);
	fflush(stdout);

	addr_to_str(&opts.listen_addr, name, sizeof(name));
	fprintf(stderr, "server %s: %llu accepted, %llu served in %.2f s (%.0f/s), %llu errors",
		name, (unsigned long long)accepted, (unsigned long long)served, elapsed_s,
		elapsed_s > 0 ? served / elapsed_s : 0.0, (unsigned long long)total_errors);
	if (last_errno)
		fprintf(stderr, " (last unexpected error: %s)", strerror(last_errno));
	fprintf(stderr, "; CPU %.2f s user, %.2f s sys\n", user_s, sys_s);
}

int server_main(int argc, char **argv)
{
	struct listener *shared = NULL;
	struct worker *workers;
	struct cpu_list cpus;
	uint64_t start;
	char name[64], backend[64] = "";
	int i, err;

	parse_args(argc, argv);
	allowed_cpus(&cpus);
	if (!opts.workers)
		opts.workers = cpus.count;
	/* Generous: a slow client or backend keeps many connections open. */
	raise_nofile(262144);
	for (i = 0; i < REPLY_BYTES; i++)
		reply_text[i] = 'a' + i % 26;
	memcpy(reply_text, "FSK 200 ", 8);
	memcpy(reply_text + REPLY_BYTES - 2, "\r\n", 2);

	/* Before any thread exists, so that they all inherit the mask. */
	block_stop_signals(false);
	stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (stop_fd < 0)
		die("eventfd: %s", strerror(errno));

	workers = aligned_alloc(64, sizeof(*workers) * opts.workers);
	if (!workers)
		die("out of memory");
	memset(workers, 0, sizeof(*workers) * opts.workers);
	if (opts.mode == MODE_SHARED)
		shared = listener_open(-1);
	/* Every listener listens before the first worker runs: no early refusal. */
	for (i = 0; i < opts.workers; i++) {
		struct worker *w = &workers[i];

		w->id = i;
		w->cpu = opts.pin ? cpus.cpu[i % cpus.count] : -1;
		worker_setup(w, shared ? shared : listener_open(w->cpu));
	}
	for (i = 0; i < opts.workers; i++) {
		err = pthread_create(&workers[i].thread, NULL, worker_main, &workers[i]);
		if (err)
			die("pthread_create: %s", strerror(err));
	}

	addr_to_str(&opts.listen_addr, name, sizeof(name));
	if (opts.proxy)
		addr_to_str(&opts.backend_addr, backend, sizeof(backend));
	fprintf(stderr, "server %s: %d workers, %s%s%s%s%s, ready\n", name, opts.workers,
		opts.mode == MODE_SHARED ? "shared listener" : "SO_REUSEPORT listeners",
		opts.pin ? ", pinned" : "", opts.incoming_cpu ? ", SO_INCOMING_CPU" : "",
		opts.proxy ? ", proxy to " : "", backend);
	if (opts.ready_file)
		touch_file(opts.ready_file);

	start = now_ns();
	wait_for_stop(opts.duration, false);
	if (eventfd_write(stop_fd, 1))
		die("eventfd_write: %s", strerror(errno));
	for (i = 0; i < opts.workers; i++)
		pthread_join(workers[i].thread, NULL);
	report(workers, opts.workers, (now_ns() - start) / 1e9);

	for (i = 0; i < opts.workers; i++) {
		close(workers[i].epfd);
		if (!shared) {
			close(workers[i].listener->fd);
			free(workers[i].listener);
		}
	}
	if (shared) {
		close(shared->fd);
		free(shared);
	}
	free(workers);
	close(stop_fd);
	return 0;
}

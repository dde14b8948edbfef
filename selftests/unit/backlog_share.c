// SPDX-License-Identifier: GPL-2.0
/*
 * The backlog share (include/fastsocket/backlog.h) against interleavings:
 * a model of the steps src/lookup.c takes for each SYN (fsk_backlog_syn()),
 * one shared read or write per step, run by n CPUs under a scheduler that
 * stalls CPUs at random for long stretches, as vCPUs under emulation and
 * preempted hosts do. Requests expire at random meanwhile, so the queues
 * drain and refill near the bound. Every run checks that the listener
 * never holds more than B + n requests (the header's bound).
 *
 * A negative control runs the same search against the protocol lookup.c
 * had until 2026-12-02: a flag, cleared by a clone that found no clone past
 * share + 1 and checked again after the clear. A clone stalled between its
 * reading of the others and its clear let the others take requests without
 * reading anyone (make stress saw 70 requests at backlog 64 on 4 CPUs).
 * The search must find an interleaving past the bound there, or it is too
 * weak to trust its verdict on the protocol in use.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <fastsocket/backlog.h>

#include "tap.h"

#define MAX_CPUS 16

/* lookup: src/lookup.c; before: lookup.c until 2026-12-02. */
enum protocol { PROTO_LOOKUP, PROTO_BEFORE };

/* Where a CPU is in fsk_backlog_syn() and the kernel's check after it. */
enum step {
	READ_STATE,		/* the unlocked test of the fast path */
	SCAN,			/* fsk_backlog_others(), one clone per step */
	CLEAR,			/* lookup: the compare-and-exchange; before: a write */
	RESCAN,			/* before: after smp_mb(), again one per step */
	STEP_STATE,		/* lookup: past its share, or no pressure yet */
	READ_PRESSURE,		/* before: the flag read ... */
	WRITE_PRESSURE,		/* ... and set (if clear, or seen again) */
	SET_LIMIT,		/* fsk_backlog_set(local, share or limit) */
	KERNEL_CHECK,		/* tcp_conn_request(): qlen > limit: a cookie */
};

struct cpu {
	enum step step;
	int scan;		/* next clone to read */
	__u32 state, own, others, limit;
	int over, past_share;
};

struct model {
	enum protocol proto;
	int n;
	__u32 backlog, share;
	__u32 qlen[MAX_CPUS];	/* each clone's SYN queue */
	__u32 limit[MAX_CPUS];	/* each clone's sk_max_ack_backlog */
	__u32 state;		/* lookup: the backlog state; before: the flag */
	struct cpu cpu[MAX_CPUS];
	__u32 most;		/* the most requests the listener held */
};

static __u32 total(const struct model *m)
{
	__u32 t = 0;
	int i;

	for (i = 0; i < m->n; i++)
		t += m->qlen[i];
	return t;
}

static int flag(const struct model *m)
{
	return m->proto == PROTO_BEFORE;
}

static int over(const struct model *m, __u32 qlen)
{
	if (m->proto == PROTO_BEFORE)
		return qlen > m->share + 1;
	return fsk_backlog_over(m->share, qlen, 0);
}

static int pressure(const struct model *m, __u32 state)
{
	return flag(m) ? state != 0 : fsk_backlog_pressure(state);
}

/* The next clone @c reads from @from on: itself it does not count. */
static int next_other(int c, int from)
{
	return from == c ? from + 1 : from;
}

static void start_scan(struct cpu *p, int c, enum step step)
{
	p->others = 0;
	p->over = 0;
	p->scan = next_other(c, 0);
	p->step = step;
}

/* Under pressure, the scan done: the limit from what the others hold. */
static void general(struct model *m, struct cpu *p)
{
	p->limit = fsk_backlog_limit(m->backlog, p->own, 0, p->others, 0);
	p->past_share = fsk_backlog_takes(p->own, 0, p->limit) &&
			fsk_backlog_over(m->share, p->own, 0);
	p->step = flag(m) ? READ_PRESSURE : STEP_STATE;
}

/* Below its share and no pressure, or pressure cleared: the share. */
static void to_share(const struct model *m, struct cpu *p)
{
	p->limit = m->share;
	p->step = SET_LIMIT;
}

static void step(struct model *m, int c)
{
	struct cpu *p = &m->cpu[c];
	int o;

	switch (p->step) {
	case READ_STATE:
		p->state = m->state;
		p->own = m->qlen[c];
		if (!pressure(m, p->state) && fsk_backlog_below(m->share, p->own, 0))
			to_share(m, p);
		else
			start_scan(p, c, SCAN);
		break;
	case SCAN:
	case RESCAN:
		o = p->scan;
		if (o < m->n) {
			p->others += m->qlen[o];
			p->over |= over(m, m->qlen[o]);
			p->scan = next_other(c, o + 1);
		}
		if (p->scan < m->n)
			break;
		if (p->step == RESCAN) {
			to_share(m, p);
			if (p->over)
				p->step = WRITE_PRESSURE;
		} else if (!p->over && fsk_backlog_below(m->share, p->own, 0))
			p->step = CLEAR;
		else
			general(m, p);
		break;
	case CLEAR:
		if (flag(m)) {
			m->state = 0;
			start_scan(p, c, RESCAN);
		} else if (m->state == p->state) {
			m->state = fsk_backlog_state_cleared(p->state);
			to_share(m, p);
		} else {
			general(m, p);
		}
		break;
	case STEP_STATE:
		/* A compare-and-exchange loop: atomic, one step here. */
		if (p->past_share || !fsk_backlog_pressure(m->state))
			m->state = fsk_backlog_state_stepped(m->state);
		p->step = SET_LIMIT;
		break;
	case READ_PRESSURE:
		p->step = m->state ? SET_LIMIT : WRITE_PRESSURE;
		break;
	case WRITE_PRESSURE:
		m->state = 1;
		p->step = SET_LIMIT;
		break;
	case SET_LIMIT:
		m->limit[c] = p->limit;
		p->step = KERNEL_CHECK;
		break;
	case KERNEL_CHECK:
		if (fsk_backlog_takes(m->qlen[c], 0, m->limit[c])) {
			m->qlen[c]++;
			if (total(m) > m->most)
				m->most = total(m);
		}
		p->step = READ_STATE;
		break;
	}
}

/*
 * A CPU that decided on what it read and has yet to act on it: the windows
 * the protocol must survive. The scheduler stalls CPUs there more often.
 */
static int stalls_decided(const struct cpu *p)
{
	return p->step == CLEAR || p->step == SET_LIMIT || p->step == KERNEL_CHECK;
}

static unsigned long long rng_state;

static unsigned int rnd(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return (unsigned int)(rng_state >> 11);
}

/*
 * One run: every CPU floods; each period the scheduler draws which CPUs run
 * (a stalled CPU keeps its place in the steps, as a preempted vCPU does) and
 * how often requests expire.
 */
static __u32 run(enum protocol proto, int n, __u32 backlog, long steps)
{
	struct model m;
	int running[MAX_CPUS], nrun = 0, i;
	unsigned int expire_per_1024 = 0;
	long s;

	memset(&m, 0, sizeof(m));
	m.proto = proto;
	m.n = n;
	m.backlog = backlog;
	m.share = fsk_backlog_share_of(backlog, n);
	for (i = 0; i < n; i++)
		m.limit[i] = backlog;
	for (s = 0; s < steps; s++) {
		if (s % 64 == 0) {
			nrun = 0;
			for (i = 0; i < n; i++)
				if (rnd() % 3 && !(stalls_decided(&m.cpu[i]) && rnd() % 2))
					running[nrun++] = i;
			expire_per_1024 = rnd() % 4 ? 0 : rnd() % 64;
		}
		if (expire_per_1024 && rnd() % 1024 < expire_per_1024) {
			i = rnd() % n;
			if (m.qlen[i])
				m.qlen[i]--;
		}
		if (nrun)
			step(&m, running[rnd() % nrun]);
	}
	return m.most;
}

/* The most requests in @runs runs; *@tried: the runs until one passed @stop. */
static __u32 search(enum protocol proto, int n, __u32 backlog, int runs, long steps,
		    __u32 stop, int *tried)
{
	__u32 most = 0, r;
	int i;

	for (i = 0; i < runs && most <= stop; i++) {
		r = run(proto, n, backlog, steps);
		if (r > most)
			most = r;
	}
	*tried = i;
	return most;
}

int main(int argc, char **argv)
{
	static const struct { int n; __u32 backlog; } cases[] = {
		{ 2, 8 }, { 2, 64 }, { 3, 64 }, { 4, 16 }, { 4, 64 }, { 4, 65 },
		{ 8, 64 }, { 8, 7 }, { 16, 128 },
	};
	int runs = argc > 1 ? atoi(argv[1]) : 1000, tried;
	long steps = 20000;
	__u32 most, bound;
	unsigned int i;

	rng_state = 0x9e3779b97f4a7c15ULL;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		bound = cases[i].backlog + cases[i].n;
		most = search(PROTO_LOOKUP, cases[i].n, cases[i].backlog, runs, steps, bound,
			      &tried);
		check(most <= bound, "%d CPUs, backlog %u: at most %u requests in %d runs, "
		      "bound B + n = %u", cases[i].n, cases[i].backlog, most, tried, bound);
	}
	bound = 64 + 4;
	most = search(PROTO_BEFORE, 4, 64, 20 * runs, steps, bound, &tried);
	check(most > bound, "negative control, the protocol before 2026-12-02: "
	      "%u requests at backlog 64 on 4 CPUs after %d runs, past %u", most, tried, bound);
	return tap_done();
}

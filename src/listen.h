/* SPDX-License-Identifier: GPL-2.0 */
#ifndef _FSK_LISTEN_H
#define _FSK_LISTEN_H

#include <net/sock.h>

#include "fastsocket.h"

bool fsk_listener_managed(const struct sock *sk);
void fsk_listener_options_changed(struct sock *sk, int level, int optname);
bool fsk_listener_has_queued(const struct sock *sk);
/*
 * A CPU whose own accept() caller took a connection this recently is busy
 * with it and will be back: other CPUs' sleeping callers leave its queue
 * alone, but none of its connections longer than this once queued.
 */
#define FSK_LOCAL_ACCEPT_ACTIVE	(HZ / 50 ?: 1)

enum fsk_clone_take {
	FSK_CLONE_LOCAL,		/* the caller's own CPU's clone */
	FSK_CLONE_STEAL,		/* another CPU's, unconditionally */
	FSK_CLONE_STEAL_COURTEOUS,	/* another CPU's, unless its owner is busy */
};

struct sock *fsk_listener_get_queued_clone(const struct sock *sk, int cpu,
					   enum fsk_clone_take how, long *retry_in);

struct fsk_clone_wq;
struct fsk_clone_wq *fsk_listener_wait_local(const struct sock *sk, int cpu,
					     struct wait_queue_entry *entry);
void fsk_listener_wait_local_end(struct fsk_clone_wq *cw,
				 struct wait_queue_entry *entry);
void fsk_clone_wq_put(struct fsk_clone_wq *cw);

void fsk_listen_net_init(struct fsk_net *fn);
void fsk_listen_net_exit(struct fsk_net *fn);
int fsk_listen_init(void);
void fsk_listen_dismantle(void);
void fsk_listen_exit(void);

#endif /* _FSK_LISTEN_H */

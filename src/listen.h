/* SPDX-License-Identifier: GPL-2.0 */
#ifndef _FSK_LISTEN_H
#define _FSK_LISTEN_H

#include <net/sock.h>

bool fsk_listener_managed(const struct sock *sk);
bool fsk_listener_has_queued(const struct sock *sk);
struct sock *fsk_listener_get_queued_clone(const struct sock *sk, int cpu);

int fsk_listen_hooks_register(void);
void fsk_listen_dismantle(void);
void fsk_listen_hooks_unregister(void);
void fsk_listen_exit(void);

#endif /* _FSK_LISTEN_H */

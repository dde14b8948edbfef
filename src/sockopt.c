// SPDX-License-Identifier: GPL-2.0
/*
 * Options set on a managed listener after listen(), without listen() again:
 * servers tune a listening socket, and haproxy's reload sets TCP_DEFER_ACCEPT
 * on the socket it takes over. The connections a clone makes must carry them
 * as the listener's would, so the clones copy them as the setsockopt()
 * returns, as after listen() again. State a clone cannot hold as its own
 * (MD5 and AO keys, filters, GTSM, ...) is not copied: lookup.c's
 * fsk_clone_current() hands such a listener's packets back to it.
 *
 * SOL_SOCKET options come through sock_setsockopt(), every other level of an
 * inet stream socket through sock_common_setsockopt(), the setsockopt of
 * inet_stream_ops and inet6_stream_ops (tcp_setsockopt() is not exported on
 * 6.12).
 */
#include <linux/net.h>
#include <net/sock.h>
#include <net/tcp.h>

#include "hook.h"
#include "listen.h"
#include "llt.h"

static int fsk_sock_common_setsockopt(struct socket *sock, int level, int optname,
				      sockptr_t optval, unsigned int optlen)
{
	int idx = fsk_enter();
	int err = sock_common_setsockopt(sock, level, optname, optval, optlen);

	if (!err)
		fsk_listener_options_changed(sock->sk);
	fsk_exit(idx);
	return err;
}

static int fsk_sock_setsockopt(struct socket *sock, int level, int optname,
			       sockptr_t optval, unsigned int optlen)
{
	int idx = fsk_enter();
	int err = sock_setsockopt(sock, level, optname, optval, optlen);

	if (!err)
		fsk_listener_options_changed(sock->sk);
	fsk_exit(idx);
	return err;
}

/*
 * A TCP listener of a netns with managed listeners. Kernel sockets and
 * MPTCP's subflows (set under the MPTCP socket's lock) are never managed, so
 * fsk_listener_options_changed() never takes the netns's mutex under a
 * socket lock.
 */
static bool notrace fsk_setsockopt_wanted(struct ftrace_regs *fregs)
{
	const struct socket *sock = (const void *)fsk_fregs_arg(fregs, 0);
	const struct sock *sk = sock->sk;

	if (!sk || sk->sk_type != SOCK_STREAM || sk->sk_protocol != IPPROTO_TCP ||
	    (sk->sk_family != AF_INET && sk->sk_family != AF_INET6))
		return false;
	return fsk_listening_in_managed_netns(sk);
}

static struct fsk_hook fsk_sockopt_hooks[] = {
	FSK_HOOK(sock_common_setsockopt, fsk_sock_common_setsockopt,
		 fsk_setsockopt_wanted),
	FSK_HOOK(sock_setsockopt, fsk_sock_setsockopt, fsk_setsockopt_wanted),
};

int fsk_sockopt_hooks_add(void)
{
	return fsk_hooks_add(fsk_sockopt_hooks, ARRAY_SIZE(fsk_sockopt_hooks));
}

// SPDX-License-Identifier: GPL-2.0
/*
 * Options set on a managed listener after listen(), without listen() again:
 * servers tune a listening socket, and haproxy sets TCP_QUICKACK after
 * listen() and, on reload, TCP_DEFER_ACCEPT on the socket it takes over.
 * The connections a clone makes must carry them as the listener's would.
 * So, as each setsockopt() on the listener returns, the clones copy the
 * options they can (clone.c's fsk_clone_sync_options()); state they must
 * not hold as their own (MD5 and AO keys, filters, GTSM, congestion
 * control, ...) is compared on every SYN instead (lookup.c's
 * fsk_clone_current()); and for any other option the listener takes its
 * SYNs itself from then on, as on stock Linux.
 *
 * SOL_SOCKET options come through sock_setsockopt(), every other level of an
 * inet stream socket through sock_common_setsockopt(), the setsockopt of
 * inet_stream_ops and inet6_stream_ops (tcp_setsockopt() is not exported on
 * 6.12). BPF programs' bpf_setsockopt() goes around both (README).
 */
#include <linux/in.h>
#include <linux/in6.h>
#include <linux/net.h>
#include <net/sock.h>
#include <net/tcp.h>

#include "hook.h"
#include "listen.h"
#include "llt.h"

static const int fsk_followed_sol_socket[] = {
	/* Copied. */
	SO_KEEPALIVE, SO_LINGER, SO_OOBINLINE, SO_PRIORITY, SO_MARK, SO_BINDTODEVICE,
	SO_BINDTOIFINDEX, SO_RCVBUF, SO_SNDBUF, SO_RCVBUFFORCE, SO_SNDBUFFORCE, SO_RCVLOWAT,
	SO_RCVTIMEO_OLD, SO_RCVTIMEO_NEW, SO_SNDTIMEO_OLD, SO_SNDTIMEO_NEW, SO_REUSEADDR,
	SO_LOCK_FILTER,
#ifdef SO_BUF_LOCK
	SO_BUF_LOCK,
#endif
	/* Compared per SYN. */
	SO_ATTACH_FILTER, SO_ATTACH_BPF, SO_DETACH_FILTER,
	/*
	 * No effect on the connections: UDP's, struct socket's (accept()
	 * makes a new one), the SYN's CPU.
	 */
	SO_BROADCAST, SO_PASSCRED, SO_PASSSEC, SO_INCOMING_CPU,
#ifdef SO_PASSPIDFD
	SO_PASSPIDFD,
#endif
};

static const int fsk_followed_tcp[] = {
	/* Copied. */
	TCP_NODELAY, TCP_CORK, TCP_MAXSEG, TCP_KEEPIDLE, TCP_KEEPINTVL, TCP_KEEPCNT,
	TCP_SYNCNT, TCP_LINGER2, TCP_DEFER_ACCEPT, TCP_WINDOW_CLAMP, TCP_QUICKACK,
	TCP_USER_TIMEOUT, TCP_FASTOPEN, TCP_NOTSENT_LOWAT,
	/* Compared per SYN (a congestion control the clone has: copied). */
	TCP_CONGESTION, TCP_ULP, TCP_MD5SIG, TCP_MD5SIG_EXT, TCP_FASTOPEN_KEY,
#ifdef TCP_AO_ADD_KEY
	TCP_AO_ADD_KEY, TCP_AO_DEL_KEY, TCP_AO_INFO,
#endif
	/* A no-op since 4.x. */
	TCP_THIN_DUPACK,
};

/* IP_FREEBIND: only bind() reads it, which no connection calls. */
static const int fsk_followed_ip[] = {
	IP_TOS, IP_TTL, IP_MINTTL, IP_FREEBIND, IP_BIND_ADDRESS_NO_PORT,
};

static const int fsk_followed_ipv6[] = {
	IPV6_TCLASS, IPV6_UNICAST_HOPS, IPV6_MINHOPCOUNT, IPV6_FREEBIND,
};

static bool fsk_in(const int *opts, size_t n, int optname)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (opts[i] == optname)
			return true;
	return false;
}

/* Do a managed listener's clones follow option @optname of @level? */
bool fsk_sockopt_followed(int level, int optname)
{
	switch (level) {
	case SOL_SOCKET:
		return fsk_in(fsk_followed_sol_socket, ARRAY_SIZE(fsk_followed_sol_socket),
			      optname);
	case SOL_TCP:
		return fsk_in(fsk_followed_tcp, ARRAY_SIZE(fsk_followed_tcp), optname);
	case SOL_IP:
		return fsk_in(fsk_followed_ip, ARRAY_SIZE(fsk_followed_ip), optname);
	case SOL_IPV6:
		return fsk_in(fsk_followed_ipv6, ARRAY_SIZE(fsk_followed_ipv6), optname);
	}
	return false;
}

static int fsk_sock_common_setsockopt(struct socket *sock, int level, int optname,
				      sockptr_t optval, unsigned int optlen)
{
	int idx = fsk_enter();
	int err = sock_common_setsockopt(sock, level, optname, optval, optlen);

	if (!err)
		fsk_listener_options_changed(sock->sk, level, optname);
	fsk_exit(idx);
	return err;
}

static int fsk_sock_setsockopt(struct socket *sock, int level, int optname,
			       sockptr_t optval, unsigned int optlen)
{
	int idx = fsk_enter();
	int err = sock_setsockopt(sock, level, optname, optval, optlen);

	if (!err)
		fsk_listener_options_changed(sock->sk, level, optname);
	fsk_exit(idx);
	return err;
}

/*
 * A TCP socket, listening or not yet (one that is closed may be listening by
 * the time its option is written: fsk_listener_create()), that may be
 * managed. Connected sockets, whose options are set on every accept() of a
 * busy server, run the kernel's function untouched.
 */
static bool notrace fsk_setsockopt_wanted(struct ftrace_regs *fregs)
{
	const struct socket *sock = (const void *)fsk_fregs_arg(fregs, 0);
	const struct sock *sk = READ_ONCE(sock->sk);

	if (!sk || sk->sk_type != SOCK_STREAM ||
	    (sk->sk_family != AF_INET && sk->sk_family != AF_INET6))
		return false;
	if (!((1 << inet_sk_state_load(sk)) & (TCPF_CLOSE | TCPF_LISTEN)))
		return false;
	return fsk_sock_may_be_managed(sk);
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

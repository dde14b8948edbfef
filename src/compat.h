/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Every difference between the supported kernels, in one place. Force-included
 * into each source file by src/Kbuild.
 */
#ifndef _FSK_COMPAT_H
#define _FSK_COMPAT_H

/* Force-included first, so every message of the module carries its name. */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/version.h>

#define FSK_KERNEL_MIN	KERNEL_VERSION(6, 1, 0)
#define FSK_KERNEL_END	KERNEL_VERSION(6, 13, 0)

#if LINUX_VERSION_CODE < FSK_KERNEL_MIN || LINUX_VERSION_CODE >= FSK_KERNEL_END
#error "fastsocket supports Linux 6.1 to 6.12 (Debian 12's 6.1 and bookworm-backports' 6.12)"
#endif

#ifndef CONFIG_DYNAMIC_FTRACE
#error "fastsocket needs CONFIG_DYNAMIC_FTRACE (it hooks kernel functions with ftrace)"
#endif
#ifndef CONFIG_TASKS_RCU
#error "fastsocket needs CONFIG_TASKS_RCU for safe module unload"
#endif

#include <linux/ftrace.h>

/*
 * ftrace hands callbacks a struct ftrace_regs. Where the architecture fills it
 * with the argument registers (HAVE_DYNAMIC_FTRACE_WITH_ARGS), the full pt_regs
 * need not be saved; elsewhere ask ftrace to save them.
 */
#ifdef CONFIG_HAVE_DYNAMIC_FTRACE_WITH_ARGS
#define FSK_FTRACE_OPS_SAVE_REGS	0
#else
#define FSK_FTRACE_OPS_SAVE_REGS	FTRACE_OPS_FL_SAVE_REGS
#endif

/* 6.1 names it ftrace_instruction_pointer_set; later kernels renamed it. */
#ifdef ftrace_regs_set_instruction_pointer
#define fsk_fregs_set_ip(fregs, ip)	ftrace_regs_set_instruction_pointer(fregs, ip)
#else
#define fsk_fregs_set_ip(fregs, ip)	ftrace_instruction_pointer_set(fregs, ip)
#endif

/* Argument N (0-based) of the traced function, read from the ftrace regs. */
#ifdef ftrace_regs_get_argument
#define fsk_fregs_arg(fregs, n)		ftrace_regs_get_argument(fregs, n)
#else
#define fsk_fregs_arg(fregs, n)		regs_get_kernel_argument(&(fregs)->regs, n)
#endif

/* inet_csk_accept() takes a struct proto_accept_arg since 6.10. */
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 10, 0)
#define FSK_HAVE_PROTO_ACCEPT_ARG	1
#endif

/* 6.8 made it return whether the socket has its own IP_LOCAL_PORT_RANGE. */
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 8, 0)
#define FSK_INET_SK_PORT_RANGE_RETURNS_BOOL	1
#endif

/*
 * Sysctl tables: 6.6 added register_net_sysctl_sz(); 6.11 dropped the empty
 * sentinel entry at the end of each table.
 */
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 11, 0)
#define FSK_SYSCTL_SENTINEL
#else
#define FSK_SYSCTL_SENTINEL		{ }
#endif

/* Sysctl handlers get a const table since 6.11. */
#ifdef FSK_PROC_HANDLER_TABLE_IS_CONST
#define FSK_CTL_TABLE_CONST		const
#else
#define FSK_CTL_TABLE_CONST
#endif

#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 6, 0)
#define fsk_register_net_sysctl(net, path, table, count) \
	register_net_sysctl_sz(net, path, table, count)
#else
#define fsk_register_net_sysctl(net, path, table, count) \
	register_net_sysctl(net, path, table)
#endif

/* The per-address bind bucket list node (6.1 to 6.7) is gone in 6.8. */
#ifdef FSK_HAVE_SK_BIND2_NODE
#define fsk_sk_bind2_node_init(sk)	sk_node_init(&(sk)->sk_bind2_node)
#else
#define fsk_sk_bind2_node_init(sk)	do { } while (0)
#endif

/* TCP's keepalive timer moved from sk_timer into the icsk. */
#ifdef FSK_HAVE_ICSK_KEEPALIVE_TIMER
#define fsk_keepalive_timer(sk)		(&inet_csk(sk)->icsk_keepalive_timer)
#else
#define fsk_keepalive_timer(sk)		(&(sk)->sk_timer)
#endif

/* Listener lookups take a const struct net * on newer kernels. */
#ifdef FSK_LOOKUP_NET_IS_CONST
#define FSK_LOOKUP_NET_CONST		const
#else
#define FSK_LOOKUP_NET_CONST
#endif

#ifdef CONFIG_TCP_AO
#define fsk_tcp_has_ao(sk)		(!!rcu_access_pointer(tcp_sk(sk)->ao_info))
#else
#define fsk_tcp_has_ao(sk)		false
#endif

/* IPv6 flow label lists moved from ipv6_pinfo to inet_sock. */
#ifdef FSK_HAVE_INET_IPV6_FL_LIST
#define fsk_ipv6_fl_list(sk, np)	(inet_sk(sk)->ipv6_fl_list)
#else
#define fsk_ipv6_fl_list(sk, np)	((np)->ipv6_fl_list)
#endif

/* ipv6_pinfo's hop_limit was a 9-bit field (6.1); a plain s16 since. */
#ifdef FSK_IPV6_HOP_LIMIT_BITFIELD
#define fsk_ipv6_hop_limit_copy(dst, src)	((dst)->hop_limit = (src)->hop_limit)
#else
#define fsk_ipv6_hop_limit_copy(dst, src)	\
	WRITE_ONCE((dst)->hop_limit, READ_ONCE((src)->hop_limit))
#endif

/* A TCPv6 socket's own ipv6_pinfo (the kernel's helper is static). */
#define fsk_tcp_inet6_sk(sk)	(&container_of(tcp_sk(sk), struct tcp6_sock, tcp)->inet6)

#endif /* _FSK_COMPAT_H */

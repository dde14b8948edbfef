/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Names that fastsocket shows to users, shared by the module, the tools and
 * the selftests so that each is spelled once.
 */
#ifndef _FASTSOCKET_ABI_H
#define _FASTSOCKET_ABI_H

#define FSK_MODULE_NAME		"fastsocket"

/* /proc/net/<FSK_PROC_NAME>: a header row, then one row per possible CPU. */
#define FSK_PROC_NAME		"fastsocket"

/* Per network namespace sysctls live in /proc/sys/<FSK_SYSCTL_DIR>/. */
#define FSK_SYSCTL_DIR		"net/fastsocket"

/*
 * Per-CPU counters, in the column order of /proc/net/fastsocket.
 * X(name, description); new counters are appended, never reordered.
 */
#define FSK_COUNTERS(X)							\
	X(accept_calls, "accept() calls handled by fastsocket")		\
	X(accepted, "of those, calls that returned a connection")	\
	X(accept_local, "connections accepted from this CPU's clone")	\
	X(accept_parent, "connections accepted from the listener itself") \
	X(accept_stolen, "connections accepted from another CPU's clone") \
	X(listen_syn_local, "SYNs handed to this CPU's clone")		\
	X(listen_managed, "listeners given per-CPU clones")		\
	X(listen_clone_failed, "listeners left alone: cloning failed")	\
	X(rfd_connect_local, "connect() ports chosen in this CPU's block")	\
	X(rfd_connect_unowned, "connect() with no block to use: left to the kernel") \
	X(rfd_connect_fallback, "connect() whose block was full: whole range") \
	X(listen_clone_retired, "clones taken from a CPU going offline")	\
	X(listen_option_unfollowed, "listeners handed back: an option clones cannot copy") \
	X(listen_backlog_slack, "requests taken with the listener full: no limit gave a cookie")

#endif /* _FASTSOCKET_ABI_H */

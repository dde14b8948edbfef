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
	X(accept_calls, "accept() calls on user sockets while enabled")	\
	X(accepted, "of those, calls that returned a connection")	\
	X(rfd_connect_local, "connect() ports chosen in this CPU's block")	\
	X(rfd_connect_unowned, "connect() with no block to use: left to the kernel") \
	X(rfd_connect_fallback, "connect() whose block was full: whole range")

#endif /* _FASTSOCKET_ABI_H */

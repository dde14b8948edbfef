/* SPDX-License-Identifier: GPL-2.0 */
/* What fastsocketctl reads from and asks of the system, apart from BPF. */
#ifndef FSKCTL_SYS_H
#define FSKCTL_SYS_H

#include <net/if.h>
#include <stdbool.h>
#include <linux/types.h>

/* Debian's NR_CPUS; CPU ids past it are refused when read. */
#define FSKCTL_MAX_CPUS		8192
#define FSKCTL_CPU_WORDS	(FSKCTL_MAX_CPUS / 64)

struct cpu_set64 {
	__u64 bits[FSKCTL_CPU_WORDS];
	unsigned int count;	/* CPUs set */
	unsigned int nr_ids;	/* highest CPU set + 1 */
};

static inline bool cpu_in(const struct cpu_set64 *set, unsigned int cpu)
{
	return cpu < FSKCTL_MAX_CPUS && (set->bits[cpu / 64] >> (cpu % 64) & 1);
}

/* /sys/devices/system/cpu/{possible,online}; 0 or -errno. */
int read_cpu_set(const char *path, struct cpu_set64 *set);
/* The CPU of @slot (the slot-th possible CPU), or -1. */
int cpu_of_slot(const struct cpu_set64 *possible, unsigned int slot);

/* A whole small file, NUL-terminated, trailing newline removed; -errno. */
int read_text(const char *path, char *buf, size_t size);
int read_port_range(unsigned int *low, unsigned int *high);

/* Effective capabilities of this process (CAP_* bit numbers). */
bool have_cap(int cap);

/* Link facts from rtnetlink. */
struct link_facts {
	char kind[32];		/* IFLA_INFO_KIND: "veth", ... or "" */
	int link;		/* IFLA_LINK: a veth's peer ifindex, or 0 */
	int link_netnsid;	/* IFLA_LINK_NETNSID, or -1: same netns */
};
int get_link_facts(int ifindex, struct link_facts *lf);

/*
 * A veth peer's tx checksum offload, looked up in the peer's netns (found
 * through /run/netns and /proc/<pid>/ns/net). Returns 1 on, 0 off, -errno
 * when the peer or its netns cannot be reached. @where gets a shell prefix
 * that runs a command there ("ip netns exec NAME ", "nsenter -t PID -n ",
 * or ""), @peer_name the peer's name.
 */
int veth_peer_tx_csum(const struct link_facts *lf, char *where, size_t where_size,
		      char *peer_name);

/* ethtool ioctls on @dev in the current netns; -errno on failure. */
int ethtool_driver(const char *dev, char *driver, size_t size);
int ethtool_rule_count(const char *dev, unsigned int *count);
int ethtool_ntuple_enabled(const char *dev);
int ethtool_rx_queues(const char *dev, unsigned int *count);

#endif

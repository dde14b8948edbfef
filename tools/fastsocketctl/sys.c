// SPDX-License-Identifier: GPL-2.0
/* fastsocketctl: CPU sets, sysctls, rtnetlink, ethtool ioctls, capabilities. */
#define _GNU_SOURCE
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <linux/capability.h>
#include <linux/ethtool.h>
#include <linux/if_link.h>
#include <linux/net_namespace.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/sockios.h>

#include <fastsocket/rfd.h>

#include "sys.h"

int read_text(const char *path, char *buf, size_t size)
{
	ssize_t n;
	int fd, err;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = read(fd, buf, size - 1);
	err = errno;
	close(fd);
	if (n < 0)
		return -err;
	buf[n] = '\0';
	while (n > 0 && buf[n - 1] == '\n')
		buf[--n] = '\0';
	return 0;
}

/* The kernel's cpulist format: "0-3,8,10-11". */
int read_cpu_set(const char *path, struct cpu_set64 *set)
{
	char buf[4096], *p, *end;
	unsigned long a, b, cpu;
	int err;

	memset(set, 0, sizeof(*set));
	err = read_text(path, buf, sizeof(buf));
	if (err)
		return err;
	for (p = buf; *p; p = end) {
		if (*p == ',') {
			end = p + 1;
			continue;
		}
		a = strtoul(p, &end, 10);
		if (end == p)
			return -EINVAL;
		b = a;
		if (*end == '-') {
			p = end + 1;
			b = strtoul(p, &end, 10);
			if (end == p)
				return -EINVAL;
		}
		if (b < a || b >= FSKCTL_MAX_CPUS)
			return -ERANGE;
		for (cpu = a; cpu <= b; cpu++) {
			if (!cpu_in(set, cpu))
				set->count++;
			set->bits[cpu / 64] |= 1ULL << (cpu % 64);
			if (cpu + 1 > set->nr_ids)
				set->nr_ids = cpu + 1;
		}
	}
	return set->count ? 0 : -EINVAL;
}

int cpu_of_slot(const struct cpu_set64 *possible, unsigned int slot)
{
	unsigned int cpu;

	for (cpu = 0; cpu < possible->nr_ids; cpu++)
		if (cpu_in(possible, cpu) &&
		    fsk_rfd_slot_of_cpu(possible->bits, FSKCTL_CPU_WORDS, cpu) == slot)
			return cpu;
	return -1;
}

int read_port_range(unsigned int *low, unsigned int *high)
{
	char buf[64];
	int err;

	err = read_text("/proc/sys/net/ipv4/ip_local_port_range", buf, sizeof(buf));
	if (err)
		return err;
	if (sscanf(buf, "%u %u", low, high) != 2)
		return -EINVAL;
	return 0;
}

bool have_cap(int cap)
{
	struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct data[2];

	memset(data, 0, sizeof(data));
	if (syscall(SYS_capget, &hdr, data))
		return false;
	return data[cap / 32].effective & (1U << (cap % 32));
}

/* ---------------------------------------------------------------- rtnetlink */

static int nl_open(void)
{
	int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);

	return fd < 0 ? -errno : fd;
}

/* Send one request, receive its one answer (not a dump) into @buf. */
static int nl_request(int fd, struct nlmsghdr *req, char *buf, size_t size)
{
	struct sockaddr_nl sa = { .nl_family = AF_NETLINK };
	struct nlmsghdr *nh;
	ssize_t n;

	req->nlmsg_flags |= NLM_F_REQUEST;
	req->nlmsg_seq = 1;
	if (sendto(fd, req, req->nlmsg_len, 0, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return -errno;
	n = recv(fd, buf, size, 0);
	if (n < 0)
		return -errno;
	nh = (struct nlmsghdr *)buf;
	if (!NLMSG_OK(nh, (unsigned int)n))
		return -EBADMSG;
	if (nh->nlmsg_type == NLMSG_ERROR) {
		const struct nlmsgerr *e = NLMSG_DATA(nh);

		return e->error ? e->error : -ENODATA;
	}
	return 0;
}

int get_link_facts(int ifindex, struct link_facts *lf)
{
	struct {
		struct nlmsghdr nh;
		struct ifinfomsg ifi;
	} req = {
		.nh.nlmsg_len = NLMSG_LENGTH(sizeof(struct ifinfomsg)),
		.nh.nlmsg_type = RTM_GETLINK,
		.ifi.ifi_family = AF_UNSPEC,
		.ifi.ifi_index = ifindex,
	};
	char buf[16384];
	struct nlmsghdr *nh = (struct nlmsghdr *)buf;
	struct rtattr *rta, *info;
	int fd, err, len, ilen;

	memset(lf, 0, sizeof(*lf));
	lf->link_netnsid = -1;
	fd = nl_open();
	if (fd < 0)
		return fd;
	err = nl_request(fd, &req.nh, buf, sizeof(buf));
	close(fd);
	if (err)
		return err;
	if (nh->nlmsg_type != RTM_NEWLINK)
		return -EBADMSG;
	len = IFLA_PAYLOAD(nh);
	for (rta = IFLA_RTA(NLMSG_DATA(nh)); RTA_OK(rta, len); rta = RTA_NEXT(rta, len)) {
		switch (rta->rta_type) {
		case IFLA_LINK:
			lf->link = *(int *)RTA_DATA(rta);
			break;
		case IFLA_LINK_NETNSID:
			lf->link_netnsid = *(int *)RTA_DATA(rta);
			break;
		case IFLA_LINKINFO:
			ilen = RTA_PAYLOAD(rta);
			for (info = RTA_DATA(rta); RTA_OK(info, ilen); info = RTA_NEXT(info, ilen))
				if (info->rta_type == IFLA_INFO_KIND)
					snprintf(lf->kind, sizeof(lf->kind), "%.*s",
						 (int)RTA_PAYLOAD(info), (char *)RTA_DATA(info));
			break;
		}
	}
	return 0;
}

/* The id this netns gives the netns of @nsfd, or -1. */
static int nsid_of_fd(int nl, int nsfd)
{
	struct {
		struct nlmsghdr nh;
		struct rtgenmsg g;
		char attrs[64];
	} req = {
		.nh.nlmsg_type = RTM_GETNSID,
		.g.rtgen_family = AF_UNSPEC,
	};
	char buf[1024];
	struct nlmsghdr *nh = (struct nlmsghdr *)buf;
	struct rtattr *rta = (struct rtattr *)((char *)&req + NLMSG_ALIGN(
		NLMSG_LENGTH(sizeof(struct rtgenmsg))));
	int len;

	rta->rta_type = NETNSA_FD;
	rta->rta_len = RTA_LENGTH(sizeof(__u32));
	*(__u32 *)RTA_DATA(rta) = nsfd;
	req.nh.nlmsg_len = NLMSG_ALIGN(NLMSG_LENGTH(sizeof(struct rtgenmsg))) + rta->rta_len;
	if (nl_request(nl, &req.nh, buf, sizeof(buf)) || nh->nlmsg_type != RTM_NEWNSID)
		return -1;
	len = nh->nlmsg_len - NLMSG_LENGTH(NLMSG_ALIGN(sizeof(struct rtgenmsg)));
	for (rta = (struct rtattr *)((char *)NLMSG_DATA(nh) + NLMSG_ALIGN(sizeof(struct rtgenmsg)));
	     RTA_OK(rta, len); rta = RTA_NEXT(rta, len))
		if (rta->rta_type == NETNSA_NSID)
			return *(int *)RTA_DATA(rta);
	return -1;
}

/* Open the netns this one calls @nsid; its name or pid goes to @where. */
static int open_netns_by_id(int nsid, char *where, size_t where_size)
{
	char path[PATH_MAX];
	const char *named[] = { "/run/netns", "/var/run/netns" };
	struct dirent *de;
	unsigned int i;
	int nl, fd;
	DIR *dir;

	nl = nl_open();
	if (nl < 0)
		return nl;
	for (i = 0; i < sizeof(named) / sizeof(named[0]); i++) {
		dir = opendir(named[i]);
		if (!dir)
			continue;
		while ((de = readdir(dir))) {
			if (de->d_name[0] == '.')
				continue;
			snprintf(path, sizeof(path), "%s/%s", named[i], de->d_name);
			fd = open(path, O_RDONLY | O_CLOEXEC);
			if (fd < 0)
				continue;
			if (nsid_of_fd(nl, fd) == nsid) {
				snprintf(where, where_size, "ip netns exec %s ", de->d_name);
				closedir(dir);
				close(nl);
				return fd;
			}
			close(fd);
		}
		closedir(dir);
	}
	/* A netns with no name: some process lives in it. */
	dir = opendir("/proc");
	if (dir) {
		while ((de = readdir(dir))) {
			if (!isdigit((unsigned char)de->d_name[0]))
				continue;
			snprintf(path, sizeof(path), "/proc/%s/ns/net", de->d_name);
			fd = open(path, O_RDONLY | O_CLOEXEC);
			if (fd < 0)
				continue;
			if (nsid_of_fd(nl, fd) == nsid) {
				snprintf(where, where_size, "nsenter -t %s -n ", de->d_name);
				closedir(dir);
				close(nl);
				return fd;
			}
			close(fd);
		}
		closedir(dir);
	}
	close(nl);
	return -ENOENT;
}

static int ethtool_ioctl(const char *dev, void *cmd)
{
	struct ifreq ifr;
	int fd, err = 0;

	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", dev);
	ifr.ifr_data = cmd;
	if (ioctl(fd, SIOCETHTOOL, &ifr))
		err = -errno;
	close(fd);
	return err;
}

static int tx_csum_of(int ifindex, char *name)
{
	struct ethtool_value ev = { .cmd = ETHTOOL_GTXCSUM };
	int err;

	if (!if_indextoname(ifindex, name))
		return -errno;
	err = ethtool_ioctl(name, &ev);
	return err ? err : !!ev.data;
}

int veth_peer_tx_csum(const struct link_facts *lf, char *where, size_t where_size,
		      char *peer_name)
{
	int self, peer_ns, ret, err;

	where[0] = '\0';
	strcpy(peer_name, "?");
	if (!lf->link)
		return -ENOENT;
	if (lf->link_netnsid < 0)
		return tx_csum_of(lf->link, peer_name);

	peer_ns = open_netns_by_id(lf->link_netnsid, where, where_size);
	if (peer_ns < 0)
		return peer_ns;
	self = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
	if (self < 0) {
		err = -errno;
		close(peer_ns);
		return err;
	}
	if (setns(peer_ns, CLONE_NEWNET)) {
		err = -errno;
		close(peer_ns);
		close(self);
		return err;
	}
	ret = tx_csum_of(lf->link, peer_name);
	/* Back home; staying elsewhere would misdirect every later step. */
	if (setns(self, CLONE_NEWNET)) {
		perror("fastsocketctl: setns back to our own network namespace");
		exit(1);
	}
	close(peer_ns);
	close(self);
	return ret;
}

int ethtool_driver(const char *dev, char *driver, size_t size)
{
	struct ethtool_drvinfo info = { .cmd = ETHTOOL_GDRVINFO };
	int err = ethtool_ioctl(dev, &info);

	if (!err)
		snprintf(driver, size, "%s", info.driver);
	return err;
}

int ethtool_rule_count(const char *dev, unsigned int *count)
{
	struct ethtool_rxnfc nfc = { .cmd = ETHTOOL_GRXCLSRLCNT };
	int err = ethtool_ioctl(dev, &nfc);

	if (!err)
		*count = nfc.rule_cnt;
	return err;
}

int ethtool_ntuple_enabled(const char *dev)
{
	struct ethtool_value ev = { .cmd = ETHTOOL_GFLAGS };
	int err = ethtool_ioctl(dev, &ev);

	return err ? err : !!(ev.data & ETH_FLAG_NTUPLE);
}

int ethtool_rx_queues(const char *dev, unsigned int *count)
{
	struct ethtool_channels ch = { .cmd = ETHTOOL_GCHANNELS };
	int err = ethtool_ioctl(dev, &ch);

	if (!err)
		*count = ch.rx_count + ch.combined_count;
	return err;
}

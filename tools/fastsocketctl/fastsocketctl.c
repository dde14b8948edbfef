// SPDX-License-Identifier: GPL-2.0
/*
 * fastsocketctl: attach the Receive Flow Deliver XDP program to a device,
 * detach it, show the state of the current network namespace, and print
 * (or install) the ethtool ntuple rules that do the same steering in a NIC.
 *
 * One program serves a netns: attaching to a second device of the same
 * netns reuses the program (and its maps and counters) already attached to
 * the first. The program steers by the netns's ip_local_port_range and the
 * possible and online CPUs as read at attach time; `attach` on a device that
 * already runs it re-reads them, and `status` says when they went stale.
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <linux/capability.h>
#include <linux/if_link.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <fastsocket/abi.h>
#include <fastsocket/rfd.h>
#include <fastsocket/rfd_maps.h>

#include "fsk_rfd.skel.h"
#include "sys.h"

#define EXIT_USAGE	2
#define EXIT_STALE	3

#define SYSCTL_DIR	"/proc/sys/" FSK_SYSCTL_DIR
#define PROC_STATS	"/proc/net/" FSK_PROC_NAME

static bool verbose;
static const char *prog_invocation = "fastsocketctl";

/* libbpf's warnings are kept, and shown only when something failed. */
static char bpf_log[65536];
static size_t bpf_log_len;

static int libbpf_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	int n;

	if (verbose)
		return vfprintf(stderr, fmt, ap);
	if (level == LIBBPF_DEBUG || bpf_log_len >= sizeof(bpf_log) - 1)
		return 0;
	n = vsnprintf(bpf_log + bpf_log_len, sizeof(bpf_log) - bpf_log_len, fmt, ap);
	if (n > 0)
		bpf_log_len += n < (int)(sizeof(bpf_log) - bpf_log_len) ?
			       (size_t)n : sizeof(bpf_log) - bpf_log_len - 1;
	return n;
}

__attribute__((format(printf, 1, 2)))
static void error(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", prog_invocation);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

__attribute__((format(printf, 1, 2)))
static void note(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "note: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static void dump_bpf_log(void)
{
	if (bpf_log_len)
		fprintf(stderr, "libbpf said:\n%s", bpf_log);
}

static void usage(FILE *out)
{
	fprintf(out,
		"usage: fastsocketctl [-v] COMMAND [ARGS]\n"
		"\n"
		"  attach DEV [--mode generic|native]\n"
		"        steer TCP packets arriving on DEV to the CPU owning their\n"
		"        destination port (XDP + CPUMAP). Without --mode: native when\n"
		"        the driver can, else generic. On a device that already runs\n"
		"        the program: re-read the port range and the CPUs.\n"
		"  detach DEV\n"
		"        remove the program from DEV\n"
		"  status\n"
		"        sysctls of this network namespace, devices running the\n"
		"        program, per-CPU counters; exit 3 when a program steers by a\n"
		"        port range or CPU set that changed since it was attached\n"
		"  ethtool-rules DEV [--apply] [--queue CPU=QUEUE]... [--flow tcp4|tcp6|all]\n"
		"        ntuple rules sending each CPU's port block to the RX queue\n"
		"        whose IRQ is on that CPU (from /proc/interrupts, or --queue);\n"
		"        --apply runs them through ethtool\n"
		"\n"
		"  -v, --verbose   show libbpf's messages\n"
		"\n"
		"Exit status: 0 done, 1 failed (the message says why), 2 usage, 3 stale.\n");
}

/* ------------------------------------------------------------- environment */

struct rfd_env {
	struct cpu_set64 possible;
	struct cpu_set64 online;
	unsigned int low, high;
	unsigned int nslots;
};

static int read_env(struct rfd_env *env)
{
	int err;

	err = read_cpu_set("/sys/devices/system/cpu/possible", &env->possible);
	if (err) {
		error("cannot read /sys/devices/system/cpu/possible: %s", strerror(-err));
		return -1;
	}
	err = read_cpu_set("/sys/devices/system/cpu/online", &env->online);
	if (err) {
		error("cannot read /sys/devices/system/cpu/online: %s", strerror(-err));
		return -1;
	}
	err = read_port_range(&env->low, &env->high);
	if (err) {
		error("cannot read /proc/sys/net/ipv4/ip_local_port_range: %s", strerror(-err));
		return -1;
	}
	env->nslots = env->possible.count;
	return 0;
}

/* CPU rows of /proc/net/fastsocket: the module's slot count. */
static int module_cpu_rows(void)
{
	char line[4096];
	int rows = 0;
	FILE *f;

	f = fopen(PROC_STATS, "re");
	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, "cpu", 3) && isdigit((unsigned char)line[3]))
			rows++;
	fclose(f);
	return rows;
}

static int check_module(const struct rfd_env *env)
{
	int rows;

	if (access(SYSCTL_DIR, F_OK)) {
		error(
			"the fastsocket module is not loaded (no %s): load it first: modprobe fastsocket",
			SYSCTL_DIR);
		return -1;
	}
	if (access(SYSCTL_DIR "/rfd", F_OK)) {
		error(
			"the loaded fastsocket module has no Receive Flow Deliver (no %s/rfd): install a newer one",
			SYSCTL_DIR);
		return -1;
	}
	if (!env)
		return 0;
	rows = module_cpu_rows();
	if (rows > 0 && (unsigned int)rows != env->nslots) {
		error(
			"the module counts %d CPUs but /sys/devices/system/cpu/possible lists %u: they must agree",
			rows, env->nslots);
		return -1;
	}
	return 0;
}

static int check_perm(const char *what)
{
	if (have_cap(CAP_NET_ADMIN) && have_cap(CAP_SYS_ADMIN))
		return 0;
	error("permission denied: %s needs CAP_NET_ADMIN and CAP_SYS_ADMIN (run it as root)", what);
	return -1;
}

static int sysctl_value(const char *name)
{
	char path[256], buf[64];

	snprintf(path, sizeof(path), "%s/%s", SYSCTL_DIR, name);
	if (read_text(path, buf, sizeof(buf)))
		return -1;
	return atoi(buf);
}

static int device_index(const char *dev)
{
	unsigned int ifindex = if_nametoindex(dev);

	if (!ifindex)
		error("no device '%s' in this network namespace (see: ip link)", dev);
	return ifindex;
}

/* ------------------------------------------------------- program and maps */

struct fsk_prog {
	__u32 id;
	int prog_fd;
	int config_fd;
	int slots_fd;
	int cpumap_fd;
	int stats_fd;
	int steer_fd;
};

static void fsk_prog_init(struct fsk_prog *p)
{
	p->id = 0;
	p->prog_fd = p->config_fd = p->slots_fd = -1;
	p->cpumap_fd = p->stats_fd = p->steer_fd = -1;
}

static void fsk_prog_close(struct fsk_prog *p)
{
	int *fds[] = { &p->prog_fd, &p->config_fd, &p->slots_fd,
		       &p->cpumap_fd, &p->stats_fd, &p->steer_fd };
	unsigned int i;

	for (i = 0; i < sizeof(fds) / sizeof(fds[0]); i++) {
		if (*fds[i] >= 0)
			close(*fds[i]);
		*fds[i] = -1;
	}
}

/* The name of program @id into @name (16 bytes); -errno. */
static int prog_name(__u32 id, char *name)
{
	struct bpf_prog_info info;
	__u32 len = sizeof(info);
	int fd, err;

	fd = bpf_prog_get_fd_by_id(id);
	if (fd < 0)
		return -errno;
	memset(&info, 0, sizeof(info));
	err = bpf_obj_get_info_by_fd(fd, &info, &len);
	close(fd);
	if (err)
		return -errno;
	snprintf(name, BPF_OBJ_NAME_LEN, "%s", info.name);
	return 0;
}

/*
 * Open program @id and its maps, if it is fastsocket's: 0, -ENOENT when it
 * is another program (or an incompatible version of ours), else -errno.
 */
static int fsk_prog_open(__u32 id, struct fsk_prog *p)
{
	struct bpf_prog_info info;
	struct bpf_map_info minfo;
	__u32 map_ids[16], len, i;
	int fd, err;

	fsk_prog_init(p);
	p->prog_fd = bpf_prog_get_fd_by_id(id);
	if (p->prog_fd < 0)
		return -errno;
	p->id = id;
	memset(&info, 0, sizeof(info));
	len = sizeof(info);
	info.nr_map_ids = sizeof(map_ids) / sizeof(map_ids[0]);
	info.map_ids = (__u64)(unsigned long)map_ids;
	if (bpf_obj_get_info_by_fd(p->prog_fd, &info, &len)) {
		err = -errno;
		goto fail;
	}
	err = -ENOENT;
	if (strcmp(info.name, FSK_RFD_PROG_NAME) || info.type != BPF_PROG_TYPE_XDP ||
	    info.nr_map_ids > sizeof(map_ids) / sizeof(map_ids[0]))
		goto fail;
	for (i = 0; i < info.nr_map_ids; i++) {
		int *slot = NULL;

		fd = bpf_map_get_fd_by_id(map_ids[i]);
		if (fd < 0) {
			err = -errno;
			goto fail;
		}
		memset(&minfo, 0, sizeof(minfo));
		len = sizeof(minfo);
		if (bpf_obj_get_info_by_fd(fd, &minfo, &len)) {
			err = -errno;
			close(fd);
			goto fail;
		}
		if (!strcmp(minfo.name, FSK_RFD_MAP_CONFIG) &&
		    minfo.value_size == sizeof(struct fsk_rfd_config))
			slot = &p->config_fd;
		else if (!strcmp(minfo.name, FSK_RFD_MAP_SLOTS) &&
			 minfo.value_size == sizeof(struct fsk_rfd_slot))
			slot = &p->slots_fd;
		else if (!strcmp(minfo.name, FSK_RFD_MAP_CPUMAP))
			slot = &p->cpumap_fd;
		else if (!strcmp(minfo.name, FSK_RFD_MAP_STATS) &&
			 minfo.value_size == sizeof(struct fsk_rfd_stats))
			slot = &p->stats_fd;
		else if (!strcmp(minfo.name, FSK_RFD_MAP_STEER) &&
			 minfo.value_size == sizeof(struct fsk_rfd_steer))
			slot = &p->steer_fd;
		if (slot && *slot < 0)
			*slot = fd;
		else
			close(fd);
	}
	err = -ENOENT;
	if (p->config_fd < 0 || p->slots_fd < 0 || p->cpumap_fd < 0 ||
	    p->stats_fd < 0 || p->steer_fd < 0)
		goto fail;
	return 0;
fail:
	fsk_prog_close(p);
	return err;
}

static int read_config(const struct fsk_prog *p, struct fsk_rfd_config *cfg)
{
	__u32 key = 0;

	return bpf_map_lookup_elem(p->config_fd, &key, cfg) ? -errno : 0;
}

/*
 * Make the maps match @env: the slots' CPUs, a fresh cpumap queue per
 * online CPU (none for offline ones: the program then passes their
 * packets), and the range. The config goes last: until then the program
 * uses the old one, which is only less precise, never wrong for the kernel.
 *
 * Queues are rebuilt even when present: a queue's kthread is bound to its
 * CPU, and one that went offline and came back runs anywhere since. The old
 * kthread drains its queue before it stops, so nothing is dropped.
 */
static int fill_maps(const struct fsk_prog *p, const struct rfd_env *env)
{
	struct fsk_rfd_config cfg = {
		.version = FSK_RFD_MAPS_VERSION,
		.low = env->low,
		.high = env->high,
		.nslots = env->nslots,
	};
	struct bpf_cpumap_val val;
	__u32 key, cpu;
	int c;

	for (key = 0; key < env->nslots; key++) {
		struct fsk_rfd_slot slot;

		c = cpu_of_slot(&env->possible, key);
		if (c < 0)
			return -EINVAL;
		slot.cpu = c;
		if (bpf_map_update_elem(p->slots_fd, &key, &slot, BPF_ANY)) {
			error("writing %s[%u]: %s", FSK_RFD_MAP_SLOTS, key, strerror(errno));
			return -1;
		}
	}
	for (cpu = 0; cpu < env->possible.nr_ids; cpu++) {
		if (!cpu_in(&env->possible, cpu))
			continue;
		if (!cpu_in(&env->online, cpu)) {
			if (bpf_map_delete_elem(p->cpumap_fd, &cpu) && errno != ENOENT) {
				error("removing cpu%u from %s: %s", cpu, FSK_RFD_MAP_CPUMAP,
				      strerror(errno));
				return -1;
			}
			continue;
		}
		memset(&val, 0, sizeof(val));
		val.qsize = FSK_RFD_CPUMAP_QSIZE;
		if (bpf_map_update_elem(p->cpumap_fd, &cpu, &val, BPF_ANY)) {
			error("creating the cpumap queue of cpu%u: %s", cpu, strerror(errno));
			return -1;
		}
	}
	key = 0;
	if (bpf_map_update_elem(p->config_fd, &key, &cfg, BPF_ANY)) {
		error("writing %s: %s", FSK_RFD_MAP_CONFIG, strerror(errno));
		return -1;
	}
	return 0;
}

/* Load a fresh program sized for @env; its fds go to @p. */
static int load_prog(const struct rfd_env *env, struct fsk_prog *p)
{
	struct bpf_prog_info info;
	__u32 len = sizeof(info);
	struct fsk_rfd *skel;
	unsigned int steer;
	int err;

	fsk_prog_init(p);
	skel = fsk_rfd__open();
	if (!skel) {
		error("opening the BPF object: %s", strerror(errno));
		return -1;
	}
	steer = env->nslots < FSK_RFD_STEER_SLOTS ? env->nslots : FSK_RFD_STEER_SLOTS;
	if (bpf_map__set_max_entries(skel->maps.fsk_rfd_slots, env->nslots) ||
	    bpf_map__set_max_entries(skel->maps.fsk_rfd_cpumap, env->possible.nr_ids) ||
	    bpf_map__set_max_entries(skel->maps.fsk_rfd_steer, steer)) {
		error("sizing the maps: %s", strerror(errno));
		goto fail;
	}
	err = fsk_rfd__load(skel);
	if (err) {
		dump_bpf_log();
		if (err == -EPERM)
			error("permission denied loading the XDP program (run it as root)");
		else
			error("loading the XDP program failed: %s", strerror(-err));
		goto fail;
	}
	/* Own fds, so that the skeleton can go: the kernel keeps what is attached. */
	p->prog_fd = dup(bpf_program__fd(skel->progs.fsk_rfd_xdp));
	p->config_fd = dup(bpf_map__fd(skel->maps.fsk_rfd_config));
	p->slots_fd = dup(bpf_map__fd(skel->maps.fsk_rfd_slots));
	p->cpumap_fd = dup(bpf_map__fd(skel->maps.fsk_rfd_cpumap));
	p->stats_fd = dup(bpf_map__fd(skel->maps.fsk_rfd_stats));
	p->steer_fd = dup(bpf_map__fd(skel->maps.fsk_rfd_steer));
	fsk_rfd__destroy(skel);
	memset(&info, 0, sizeof(info));
	if (p->prog_fd < 0 || p->config_fd < 0 || p->slots_fd < 0 || p->cpumap_fd < 0 ||
	    p->stats_fd < 0 || p->steer_fd < 0 ||
	    bpf_obj_get_info_by_fd(p->prog_fd, &info, &len)) {
		error("keeping the program's descriptors: %s", strerror(errno));
		fsk_prog_close(p);
		return -1;
	}
	p->id = info.id;
	return 0;
fail:
	fsk_rfd__destroy(skel);
	return -1;
}

/* ------------------------------------------------------------- XDP state */

struct xdp_state {
	__u32 id;		/* 0: nothing attached */
	__u32 mode_flags;	/* XDP_FLAGS_SKB_MODE, _DRV_MODE or _HW_MODE */
	const char *mode;
};

static int xdp_state(int ifindex, struct xdp_state *st)
{
	LIBBPF_OPTS(bpf_xdp_query_opts, q);
	int err;

	memset(st, 0, sizeof(*st));
	err = bpf_xdp_query(ifindex, 0, &q);
	if (err)
		return err;
	if (q.drv_prog_id) {
		st->id = q.drv_prog_id;
		st->mode_flags = XDP_FLAGS_DRV_MODE;
		st->mode = "native";
	} else if (q.skb_prog_id) {
		st->id = q.skb_prog_id;
		st->mode_flags = XDP_FLAGS_SKB_MODE;
		st->mode = "generic";
	} else if (q.hw_prog_id) {
		st->id = q.hw_prog_id;
		st->mode_flags = XDP_FLAGS_HW_MODE;
		st->mode = "offload";
	}
	return 0;
}

/* Our program on some device of this netns, to share; 0 if none. */
static __u32 netns_prog(int skip_ifindex)
{
	struct if_nameindex *ifs, *i;
	struct xdp_state st;
	struct fsk_prog p;
	__u32 id = 0;

	ifs = if_nameindex();
	if (!ifs)
		return 0;
	for (i = ifs; i->if_index && !id; i++) {
		if ((int)i->if_index == skip_ifindex || xdp_state(i->if_index, &st) || !st.id)
			continue;
		if (!fsk_prog_open(st.id, &p)) {
			id = st.id;
			fsk_prog_close(&p);
		}
	}
	if_freenameindex(ifs);
	return id;
}

/* ------------------------------------------------------------------ attach */

enum mode { MODE_AUTO, MODE_GENERIC, MODE_NATIVE };

static const char *mode_name(enum mode m)
{
	return m == MODE_GENERIC ? "generic" : m == MODE_NATIVE ? "native" : "auto";
}

/*
 * Native XDP on a veth: frames the peer sent with checksum offload carry
 * only a partial TCP checksum, which a cpumap redirect loses track of, so
 * the receiving CPU drops them (TcpInCsumErrors). The peer must compute
 * checksums itself. Returns the mode to use, or -1 to refuse.
 */
static int veth_mode(const char *dev, int ifindex, enum mode mode)
{
	char where[300], peer[IF_NAMESIZE + 1];
	struct link_facts lf;
	int csum;

	if (mode == MODE_GENERIC || get_link_facts(ifindex, &lf) || strcmp(lf.kind, "veth"))
		return mode;
	csum = veth_peer_tx_csum(&lf, where, sizeof(where), peer);
	if (csum == 0)
		return mode;
	if (csum > 0) {
		if (mode == MODE_NATIVE) {
			error(
				"%s is a veth whose peer %s has tx checksum offload on: with native XDP the redirected TCP packets would be dropped as bad checksums. Turn it off first (%sethtool -K %s tx off) or use --mode generic",
				dev, peer, where, peer);
			return -1;
		}
		note(
			"%s is a veth whose peer %s has tx checksum offload on: using generic XDP (native needs %sethtool -K %s tx off)",
			dev, peer, where, peer);
		return MODE_GENERIC;
	}
	if (mode == MODE_NATIVE) {
		note(
			"%s is a veth and its peer's netns cannot be reached to check it: native XDP needs tx checksum offload off on the peer (ethtool -K PEER tx off), else TCP packets are dropped as bad checksums",
			dev);
		return mode;
	}
	note(
		"%s is a veth and its peer's netns cannot be reached to check its tx checksum offload: using generic XDP",
		dev);
	return MODE_GENERIC;
}

static void print_steering(const struct rfd_env *env)
{
	__u32 span = fsk_rfd_span(env->low, env->high, env->nslots);
	unsigned int online = 0, cpu;

	for (cpu = 0; cpu < env->possible.nr_ids; cpu++)
		online += cpu_in(&env->possible, cpu) && cpu_in(&env->online, cpu);
	printf(
		"ports %u-%u in %u blocks of %u (one per possible CPU), cpumap queues on %u online CPUs\n",
		env->low, env->high, env->nslots, span, online);
}

static void warn_sysctls(void)
{
	if (sysctl_value("enabled") != 1)
		note(
			"net.fastsocket.enabled is not 1 in this netns: connect() does not pick ports by CPU yet (sysctl -w net.fastsocket.enabled=1)");
	else if (sysctl_value("rfd") != 1)
		note(
			"net.fastsocket.rfd is not 1 in this netns: connect() does not pick ports by CPU (sysctl -w net.fastsocket.rfd=1)");
}

static int cmd_attach(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "mode", required_argument, NULL, 'm' },
		{ "help", no_argument, NULL, 'h' },
		{ }
	};
	LIBBPF_OPTS(bpf_xdp_attach_opts, aopts);
	enum mode mode = MODE_AUTO;
	bool explicit_mode = false;
	struct xdp_state st;
	struct rfd_env env;
	struct fsk_prog p;
	const char *dev;
	char name[BPF_OBJ_NAME_LEN];
	__u32 shared, flags;
	int ifindex, m, c, err;

	while ((c = getopt_long(argc, argv, "m:h", opts, NULL)) != -1) {
		switch (c) {
		case 'm':
			if (!strcmp(optarg, "generic") || !strcmp(optarg, "skb")) {
				mode = MODE_GENERIC;
			} else if (!strcmp(optarg, "native") || !strcmp(optarg, "drv")) {
				mode = MODE_NATIVE;
			} else {
				error(
					"unknown mode '%s': use --mode generic or --mode native", optarg);
				return EXIT_USAGE;
			}
			explicit_mode = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (optind != argc - 1) {
		error("attach wants one device: fastsocketctl attach DEV [--mode generic|native]");
		return EXIT_USAGE;
	}
	dev = argv[optind];

	if (read_env(&env) || check_module(&env) || check_perm("attach"))
		return 1;
	ifindex = device_index(dev);
	if (!ifindex)
		return 1;
	err = xdp_state(ifindex, &st);
	if (err) {
		error("%s: cannot query its XDP state: %s", dev, strerror(-err));
		return 1;
	}

	if (st.id) {
		err = fsk_prog_open(st.id, &p);
		if (err == -ENOENT) {
			if (prog_name(st.id, name))
				strcpy(name, "?");
			error(
				"%s already has XDP program %u (%s) attached in %s mode: fastsocketctl does not replace it; detach it first (ip link set dev %s xdp off)",
				dev, st.id, name, st.mode, dev);
			return 1;
		}
		if (err) {
			error("%s: opening its XDP program %u: %s", dev, st.id, strerror(-err));
			return 1;
		}
		if (explicit_mode && strcmp(mode_name(mode), st.mode)) {
			error(
				"%s runs fastsocket in %s mode; to change the mode, detach it first (fastsocketctl detach %s)",
				dev, st.mode, dev);
			fsk_prog_close(&p);
			return 1;
		}
		err = fill_maps(&p, &env);
		fsk_prog_close(&p);
		if (err)
			return 1;
		printf("%s: fastsocket already attached (%s, program %u): re-read ", dev,
		       st.mode, st.id);
		print_steering(&env);
		warn_sysctls();
		return 0;
	}

	m = veth_mode(dev, ifindex, mode);
	if (m < 0)
		return 1;
	mode = m;

	shared = netns_prog(ifindex);
	if (shared) {
		err = fsk_prog_open(shared, &p);
		if (err) {
			error("opening program %u of this netns: %s", shared, strerror(-err));
			return 1;
		}
	} else if (load_prog(&env, &p)) {
		return 1;
	}
	if (fill_maps(&p, &env)) {
		fsk_prog_close(&p);
		return 1;
	}

	flags = XDP_FLAGS_UPDATE_IF_NOEXIST;
	flags |= mode == MODE_GENERIC ? XDP_FLAGS_SKB_MODE : XDP_FLAGS_DRV_MODE;
	err = bpf_xdp_attach(ifindex, p.prog_fd, flags, &aopts);
	if (err == -EOPNOTSUPP && mode == MODE_AUTO) {
		mode = MODE_GENERIC;
		flags = XDP_FLAGS_UPDATE_IF_NOEXIST | XDP_FLAGS_SKB_MODE;
		err = bpf_xdp_attach(ifindex, p.prog_fd, flags, &aopts);
	} else if (mode == MODE_AUTO) {
		mode = MODE_NATIVE;
	}
	fsk_prog_close(&p);
	if (err) {
		if (err == -EOPNOTSUPP)
			error("%s: its driver has no native XDP: use --mode generic", dev);
		else if (err == -EEXIST || err == -EBUSY)
			error(
				"%s got another XDP program meanwhile: detach it first (ip link set dev %s xdp off)",
				dev, dev);
		else if (err == -EPERM)
			error("permission denied attaching to %s (run it as root)", dev);
		else
			error(
				"%s: attaching in %s mode failed: %s", dev, mode_name(mode), strerror(-err));
		return 1;
	}
	printf("%s: attached fastsocket (%s, program %u%s): ", dev, mode_name(mode), p.id,
	       shared ? ", shared with this netns's other devices" : "");
	print_steering(&env);
	warn_sysctls();
	return 0;
}

/* ------------------------------------------------------------------ detach */

static int cmd_detach(int argc, char **argv)
{
	LIBBPF_OPTS(bpf_xdp_attach_opts, aopts);
	struct xdp_state st;
	struct fsk_prog p;
	char name[BPF_OBJ_NAME_LEN];
	const char *dev;
	int ifindex, err;

	if (argc != 2 || argv[1][0] == '-') {
		error("detach wants one device: fastsocketctl detach DEV");
		return EXIT_USAGE;
	}
	dev = argv[1];
	if (check_perm("detach"))
		return 1;
	ifindex = device_index(dev);
	if (!ifindex)
		return 1;
	err = xdp_state(ifindex, &st);
	if (err) {
		error("%s: cannot query its XDP state: %s", dev, strerror(-err));
		return 1;
	}
	if (!st.id) {
		error("%s has no XDP program attached: nothing to detach", dev);
		return 1;
	}
	err = fsk_prog_open(st.id, &p);
	if (err == -ENOENT) {
		if (prog_name(st.id, name))
			strcpy(name, "?");
		error("%s runs XDP program %u (%s), not fastsocket's: not detaching it", dev,
		      st.id, name);
		return 1;
	}
	if (err) {
		error("%s: opening its XDP program %u: %s", dev, st.id, strerror(-err));
		return 1;
	}
	/* Only this program: if it was replaced meanwhile, leave the new one. */
	aopts.old_prog_fd = p.prog_fd;
	err = bpf_xdp_detach(ifindex, st.mode_flags, &aopts);
	fsk_prog_close(&p);
	if (err) {
		error("%s: detaching program %u failed: %s", dev, st.id, strerror(-err));
		return 1;
	}
	printf("%s: detached fastsocket (%s, program %u)\n", dev, st.mode, st.id);
	return 0;
}

/* ------------------------------------------------------------------ status */

#define MAX_COLS	24

struct table {
	unsigned int ncols, nrows;
	char *cells[FSKCTL_MAX_CPUS + 1][MAX_COLS];
};

static void table_add(struct table *t, unsigned int row, unsigned int col, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void table_add(struct table *t, unsigned int row, unsigned int col, const char *fmt, ...)
{
	va_list ap;

	if (row > FSKCTL_MAX_CPUS || col >= MAX_COLS)
		return;
	va_start(ap, fmt);
	if (vasprintf(&t->cells[row][col], fmt, ap) < 0)
		t->cells[row][col] = NULL;
	va_end(ap);
	if (col + 1 > t->ncols)
		t->ncols = col + 1;
	if (row + 1 > t->nrows)
		t->nrows = row + 1;
}

/* Text columns left-aligned, numbers right-aligned, as `column -t` would. */
static void table_print(struct table *t, unsigned int text_cols)
{
	unsigned int width[MAX_COLS] = { 0 }, r, c;

	for (r = 0; r < t->nrows; r++)
		for (c = 0; c < t->ncols; c++)
			if (t->cells[r][c] && strlen(t->cells[r][c]) > width[c])
				width[c] = strlen(t->cells[r][c]);
	for (r = 0; r < t->nrows; r++) {
		for (c = 0; c < t->ncols; c++) {
			const char *s = t->cells[r][c] ? t->cells[r][c] : "-";

			if (c < text_cols)
				printf(
					"%s%-*s", c ? "  " : "", c + 1 < t->ncols ? (int)width[c] : 0, s);
			else
				printf("  %*s", (int)width[c], s);
			free(t->cells[r][c]);
			t->cells[r][c] = NULL;
		}
		putchar('\n');
	}
	t->nrows = t->ncols = 0;
}

/* Module counters per CPU from /proc/net/fastsocket, by column name. */
struct module_stats {
	unsigned int ncols;
	char names[16][48];
	unsigned long long (*rows)[16];		/* [cpu id][col] */
	bool *present;				/* [cpu id] */
};

static void module_stats_read(struct module_stats *ms, unsigned int nr_ids)
{
	char line[4096], *tok, *save;
	unsigned int cpu, col;
	FILE *f;

	ms->ncols = 0;
	ms->rows = calloc(nr_ids, sizeof(*ms->rows));
	ms->present = calloc(nr_ids, sizeof(*ms->present));
	f = fopen(PROC_STATS, "re");
	if (!f || !ms->rows || !ms->present) {
		if (f)
			fclose(f);
		return;
	}
	while (fgets(line, sizeof(line), f)) {
		tok = strtok_r(line, " \t\n", &save);
		if (!tok)
			continue;
		if (!strcmp(tok, "cpu")) {
			while ((tok = strtok_r(NULL, " \t\n", &save)) && ms->ncols < 16)
				snprintf(ms->names[ms->ncols++], sizeof(ms->names[0]), "%s", tok);
			continue;
		}
		if (sscanf(tok, "cpu%u", &cpu) != 1 || cpu >= nr_ids)
			continue;
		ms->present[cpu] = true;
		for (col = 0; col < ms->ncols && (tok = strtok_r(NULL, " \t\n", &save)); col++)
			ms->rows[cpu][col] = strtoull(tok, NULL, 10);
	}
	fclose(f);
}

static int module_col(const struct module_stats *ms, const char *name)
{
	unsigned int i;

	for (i = 0; i < ms->ncols; i++)
		if (!strcmp(ms->names[i], name))
			return i;
	return -1;
}

static const char *const stat_names[] = {
#define FSK_RFD_STAT_NAME(name, desc) #name,
	FSK_RFD_STATS(FSK_RFD_STAT_NAME)
#undef FSK_RFD_STAT_NAME
};
#define NR_STATS (sizeof(stat_names) / sizeof(stat_names[0]))

static const char *const module_rfd_cols[] = {
	"rfd_connect_local", "rfd_connect_unowned", "rfd_connect_fallback",
};

/* Program @p's counters, one row per possible CPU. */
static int print_counters(const struct fsk_prog *p, const struct rfd_env *env,
			  const struct fsk_rfd_config *cfg, const struct module_stats *ms)
{
	int ncpus = libbpf_num_possible_cpus();
	struct fsk_rfd_stats *stats;
	struct fsk_rfd_steer *steer;
	struct bpf_cpumap_val qv;
	static struct table t;
	unsigned long long *steered;
	unsigned int i, slot, col, row = 0;
	__u32 key = 0, bl, bh;
	int cpu, r;

	if (ncpus <= 0)
		return -1;
	stats = calloc(ncpus, sizeof(*stats));
	steer = calloc(ncpus, sizeof(*steer));
	steered = calloc(env->nslots, sizeof(*steered));
	if (!stats || !steer || !steered)
		goto fail;
	if (bpf_map_lookup_elem(p->stats_fd, &key, stats)) {
		error("reading %s: %s", FSK_RFD_MAP_STATS, strerror(errno));
		goto fail;
	}
	for (slot = 0; slot < env->nslots; slot++) {
		if (bpf_map_lookup_elem(p->steer_fd, &slot, steer))
			continue;	/* past FSK_RFD_STEER_SLOTS */
		for (r = 0; r < ncpus; r++)
			steered[slot] += steer[r].redirected;
	}

	col = 0;
	table_add(&t, 0, col++, "cpu");
	table_add(&t, 0, col++, "ports");
	table_add(&t, 0, col++, "queue");
	for (i = 0; i < NR_STATS; i++)
		table_add(&t, 0, col++, "%s", stat_names[i]);
	table_add(&t, 0, col++, "steered_in");
	for (i = 0; i < sizeof(module_rfd_cols) / sizeof(module_rfd_cols[0]); i++)
		if (module_col(ms, module_rfd_cols[i]) >= 0)
			table_add(&t, 0, col++, "%s", module_rfd_cols[i]);

	for (slot = 0; slot < env->nslots; slot++) {
		const __u64 *v;

		/* Per-CPU values come in possible-CPU order: index = slot. */
		cpu = cpu_of_slot(&env->possible, slot);
		if (cpu < 0 || slot >= (unsigned int)ncpus)
			continue;
		v = (const __u64 *)&stats[slot];
		row++;
		col = 0;
		table_add(&t, row, col++, "cpu%d", cpu);
		if (fsk_rfd_block(cfg->low, cfg->high, cfg->nslots, slot, &bl, &bh))
			table_add(&t, row, col++, "%u-%u", bl, bh);
		else
			table_add(&t, row, col++, "none");
		table_add(&t, row, col++, "%s",
			  bpf_map_lookup_elem(p->cpumap_fd, &cpu, &qv) ? "no" : "yes");
		for (i = 0; i < NR_STATS; i++)
			table_add(&t, row, col++, "%llu", (unsigned long long)v[i]);
		table_add(&t, row, col++, "%llu", steered[slot]);
		for (i = 0; i < sizeof(module_rfd_cols) / sizeof(module_rfd_cols[0]); i++) {
			int mc = module_col(ms, module_rfd_cols[i]);

			if (mc < 0)
				continue;
			if ((unsigned int)cpu < env->possible.nr_ids && ms->present[cpu])
				table_add(&t, row, col++, "%llu", ms->rows[cpu][mc]);
			else
				table_add(&t, row, col++, "-");
		}
	}
	table_print(&t, 3);
	free(stats);
	free(steer);
	free(steered);
	return 0;
fail:
	free(stats);
	free(steer);
	free(steered);
	return -1;
}

/* Reasons the program's view differs from now, printed; true if stale. */
static bool report_stale(const char *devs, const struct fsk_prog *p, const struct rfd_env *env,
			 const struct fsk_rfd_config *cfg)
{
	struct bpf_cpumap_val qv;
	bool stale = false;
	unsigned int cpu;
	bool has;

	if (cfg->version != FSK_RFD_MAPS_VERSION) {
		printf("  STALE: maps version %u, this fastsocketctl writes %u\n", cfg->version,
		       FSK_RFD_MAPS_VERSION);
		stale = true;
	}
	if (cfg->low != env->low || cfg->high != env->high) {
		printf("  STALE: steering by ports %u-%u but ip_local_port_range is now %u-%u\n",
		       cfg->low, cfg->high, env->low, env->high);
		stale = true;
	}
	if (cfg->nslots != env->nslots) {
		printf("  STALE: steering over %u slots but %u CPUs are possible now\n",
		       cfg->nslots, env->nslots);
		stale = true;
	}
	for (cpu = 0; cpu < env->possible.nr_ids; cpu++) {
		if (!cpu_in(&env->possible, cpu))
			continue;
		has = !bpf_map_lookup_elem(p->cpumap_fd, &cpu, &qv);
		if (has != cpu_in(&env->online, cpu)) {
			printf("  STALE: cpu%u is %s but has %s cpumap queue\n", cpu,
			       has ? "offline" : "online", has ? "a" : "no");
			stale = true;
		}
	}
	if (stale)
		printf(
			"  run `fastsocketctl attach %s` to re-read (packets are only steered less precisely meanwhile, never lost)\n",
			devs);
	return stale;
}

static int cmd_status(int argc, char **argv)
{
	struct if_nameindex *ifs = NULL, *i;
	struct module_stats ms = { 0 };
	struct fsk_rfd_config cfg;
	struct xdp_state st;
	struct rfd_env env;
	struct fsk_prog p;
	struct dirent **names;
	char path[300], buf[64], pname[BPF_OBJ_NAME_LEN];
	__u32 progs[64];
	char devs[64][IF_NAMESIZE * 4];
	unsigned int nprogs = 0, k;
	int n, j, ret = 0;
	bool any = false;

	(void)argv;
	if (argc != 1) {
		error("status takes no arguments");
		return EXIT_USAGE;
	}
	if (read_env(&env) || check_module(&env))
		return 1;

	printf("sysctls (this network namespace):\n");
	n = scandir(SYSCTL_DIR, &names, NULL, alphasort);
	for (j = 0; j < n; j++) {
		if (names[j]->d_name[0] != '.') {
			snprintf(path, sizeof(path), "%s/%s", SYSCTL_DIR, names[j]->d_name);
			if (read_text(path, buf, sizeof(buf)))
				snprintf(buf, sizeof(buf), "?");
			printf("  net.fastsocket.%s = %s\n", names[j]->d_name, buf);
		}
		free(names[j]);
	}
	if (n >= 0)
		free(names);
	printf("  net.ipv4.ip_local_port_range = %u %u\n", env.low, env.high);
	printf("steering rule: ");
	print_steering(&env);

	if (check_perm("status (reading the BPF programs)"))
		return 1;

	printf("devices:\n");
	ifs = if_nameindex();
	for (i = ifs; i && i->if_index; i++) {
		if (xdp_state(i->if_index, &st) || !st.id)
			continue;
		any = true;
		if (fsk_prog_open(st.id, &p)) {
			if (prog_name(st.id, pname))
				strcpy(pname, "?");
			printf("  %s: %s XDP program %u (%s), not fastsocket's\n", i->if_name,
			       st.mode, st.id, pname);
			continue;
		}
		fsk_prog_close(&p);
		printf("  %s: fastsocket, %s mode, program %u\n", i->if_name, st.mode, st.id);
		for (k = 0; k < nprogs && progs[k] != st.id; k++)
			;
		if (k == nprogs && nprogs < 64) {
			progs[nprogs] = st.id;
			snprintf(devs[nprogs], sizeof(devs[0]), "%s", i->if_name);
			nprogs++;
		}
	}
	if (!any)
		printf("  none (fastsocketctl attach DEV)\n");

	module_stats_read(&ms, env.possible.nr_ids);
	for (k = 0; k < nprogs; k++) {
		if (fsk_prog_open(progs[k], &p))
			continue;
		if (read_config(&p, &cfg)) {
			error("reading %s of program %u: %s", FSK_RFD_MAP_CONFIG, progs[k],
			      strerror(errno));
			ret = 1;
		} else {
			printf("program %u: steering ports %u-%u over %u slots\n", progs[k],
			       cfg.low, cfg.high, cfg.nslots);
			if (report_stale(devs[k], &p, &env, &cfg) && !ret)
				ret = EXIT_STALE;
			if (print_counters(&p, &env, &cfg, &ms))
				ret = 1;
		}
		fsk_prog_close(&p);
	}
	if (!nprogs && ms.present) {
		/* No program: the module's side alone still says something. */
		static struct table t;
		unsigned int slot, c, row = 0;
		__u32 bl, bh;
		int cpu;

		printf("connect() per CPU (from %s):\n", PROC_STATS);
		table_add(&t, 0, 0, "cpu");
		table_add(&t, 0, 1, "ports");
		for (c = 0; c < 3; c++)
			table_add(&t, 0, 2 + c, "%s", module_rfd_cols[c]);
		for (slot = 0; slot < env.nslots; slot++) {
			cpu = cpu_of_slot(&env.possible, slot);
			if (cpu < 0)
				continue;
			row++;
			table_add(&t, row, 0, "cpu%d", cpu);
			if (fsk_rfd_block(env.low, env.high, env.nslots, slot, &bl, &bh))
				table_add(&t, row, 1, "%u-%u", bl, bh);
			else
				table_add(&t, row, 1, "none");
			for (c = 0; c < 3; c++) {
				int mc = module_col(&ms, module_rfd_cols[c]);

				if (mc >= 0 && ms.present[cpu])
					table_add(&t, row, 2 + c, "%llu", ms.rows[cpu][mc]);
				else
					table_add(&t, row, 2 + c, "-");
			}
		}
		table_print(&t, 2);
	}
	free(ms.rows);
	free(ms.present);
	if (ifs)
		if_freenameindex(ifs);
	return ret;
}

/* ----------------------------------------------------------- ethtool-rules */

/* An IRQ name's RX queue number, or -1 for names that are not an RX queue. */
static int irq_queue(const char *action)
{
	char name[128], *at, *p;
	int q = -1;

	snprintf(name, sizeof(name), "%.127s", action);
	at = strchr(name, '@');		/* mlx5: "mlx5_comp3@pci:0000:..." */
	if (at)
		*at = '\0';
	for (p = name; *p; p++)
		*p = tolower((unsigned char)*p);
	if ((strstr(name, "tx") && !strstr(name, "rx")) || strstr(name, "output") ||
	    strstr(name, "config") || strstr(name, "ctrl") || strstr(name, "async") ||
	    strstr(name, "misc") || strstr(name, "err"))
		return -1;
	p = name + strlen(name);
	while (p > name && isdigit((unsigned char)p[-1]))
		p--;
	if (*p)
		q = atoi(p);
	return q;
}

/* First CPU of an IRQ's (effective) affinity, or -1. */
static int irq_cpu(unsigned int irq)
{
	char path[128], buf[4096];

	snprintf(path, sizeof(path), "/proc/irq/%u/effective_affinity_list", irq);
	if (read_text(path, buf, sizeof(buf)) || !isdigit((unsigned char)buf[0])) {
		snprintf(path, sizeof(path), "/proc/irq/%u/smp_affinity_list", irq);
		if (read_text(path, buf, sizeof(buf)) || !isdigit((unsigned char)buf[0]))
			return -1;
	}
	return atoi(buf);
}

/*
 * queue_of[cpu] = the RX queue whose IRQ is on that CPU, from the device's
 * MSI IRQs and their names in /proc/interrupts. Returns how many were found.
 */
static int discover_queues(const char *dev, int *queue_of, int *irq_of, unsigned int nr_ids)
{
	char path[300], line[8192], *colon, *last;
	unsigned int irq;
	struct dirent *de;
	int found = 0, q, cpu;
	FILE *f;
	DIR *dir;

	snprintf(path, sizeof(path), "/sys/class/net/%s/device/msi_irqs", dev);
	dir = opendir(path);
	if (!dir)
		return 0;
	while ((de = readdir(dir))) {
		if (!isdigit((unsigned char)de->d_name[0]))
			continue;
		irq = atoi(de->d_name);
		f = fopen("/proc/interrupts", "re");
		if (!f)
			break;
		while (fgets(line, sizeof(line), f)) {
			if (strtoul(line, &colon, 10) != irq || *colon != ':')
				continue;
			line[strcspn(line, "\n")] = '\0';
			last = strrchr(line, ' ');
			q = irq_queue(last ? last + 1 : line);
			cpu = irq_cpu(irq);
			if (q >= 0 && cpu >= 0 && (unsigned int)cpu < nr_ids &&
			    (queue_of[cpu] < 0 || q < queue_of[cpu])) {
				if (queue_of[cpu] < 0)
					found++;
				queue_of[cpu] = q;
				irq_of[cpu] = irq;
			}
			break;
		}
		fclose(f);
	}
	closedir(dir);
	return found;
}

static int run_ethtool(char *const argv[])
{
	int status;
	pid_t pid;

	fflush(stdout);
	pid = fork();
	if (pid < 0)
		return -1;
	if (!pid) {
		execvp("ethtool", argv);
		fprintf(stderr, "%s: running ethtool: %s\n", prog_invocation, strerror(errno));
		_exit(127);
	}
	if (waitpid(pid, &status, 0) < 0)
		return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

static int cmd_ethtool_rules(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "apply", no_argument, NULL, 'a' },
		{ "queue", required_argument, NULL, 'q' },
		{ "flow", required_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' },
		{ }
	};
	const char *flows[2] = { "tcp4", "tcp6" };
	unsigned int nflows = 2, rules = 0, nqueues = 0, count, fi;
	int *queue_of = NULL, *irq_of = NULL, ret = 1;
	bool apply = false, manual = false;
	struct rfd_env env;
	const char *dev;
	unsigned int slot, cpu, q;
	__u32 bl, bh, port;
	int c, ifindex, found, cpuid, err;

	if (read_env(&env))
		return 1;
	queue_of = malloc(env.possible.nr_ids * sizeof(int));
	irq_of = malloc(env.possible.nr_ids * sizeof(int));
	if (!queue_of || !irq_of)
		goto out;
	for (cpu = 0; cpu < env.possible.nr_ids; cpu++)
		queue_of[cpu] = irq_of[cpu] = -1;

	while ((c = getopt_long(argc, argv, "aq:f:h", opts, NULL)) != -1) {
		switch (c) {
		case 'a':
			apply = true;
			break;
		case 'q':
			if (sscanf(optarg, "%u=%u", &cpu, &q) != 2 || cpu >= env.possible.nr_ids ||
			    !cpu_in(&env.possible, cpu)) {
				error(
					"--queue wants CPU=QUEUE with a possible CPU, not '%s'", optarg);
				ret = EXIT_USAGE;
				goto out;
			}
			queue_of[cpu] = q;
			manual = true;
			break;
		case 'f':
			if (!strcmp(optarg, "tcp4") || !strcmp(optarg, "tcp6")) {
				flows[0] = optarg;
				nflows = 1;
			} else if (strcmp(optarg, "all")) {
				error("--flow wants tcp4, tcp6 or all, not '%s'", optarg);
				ret = EXIT_USAGE;
				goto out;
			}
			break;
		case 'h':
			usage(stdout);
			ret = 0;
			goto out;
		default:
			usage(stderr);
			ret = EXIT_USAGE;
			goto out;
		}
	}
	if (optind != argc - 1) {
		error("ethtool-rules wants one device: fastsocketctl ethtool-rules DEV [--apply]");
		ret = EXIT_USAGE;
		goto out;
	}
	dev = argv[optind];
	if (check_module(&env))
		goto out;
	ifindex = device_index(dev);
	if (!ifindex)
		goto out;

	found = manual ? 1 : discover_queues(dev, queue_of, irq_of, env.possible.nr_ids);
	if (!found) {
		error(
			"%s: no RX queue IRQs found (a virtual or single-queue device?); name the queue of each CPU with --queue CPU=QUEUE",
			dev);
		goto out;
	}
	err = ethtool_rx_queues(dev, &nqueues);
	if (err)
		nqueues = 0;

	printf("# fastsocket ntuple rules for %s: ", dev);
	print_steering(&env);
	for (slot = 0; slot < env.nslots; slot++) {
		cpuid = cpu_of_slot(&env.possible, slot);
		if (cpuid < 0)
			continue;
		if (!fsk_rfd_block(env.low, env.high, env.nslots, slot, &bl, &bh)) {
			printf("# cpu%d: owns no ports\n", cpuid);
			continue;
		}
		if (queue_of[cpuid] < 0) {
			printf(
				"# cpu%d ports %u-%u: no RX queue has its IRQ on this CPU: left to RSS\n",
				cpuid, bl, bh);
			continue;
		}
		if (nqueues && (unsigned int)queue_of[cpuid] >= nqueues) {
			error("%s has %u RX queues: queue %d for cpu%d does not exist", dev,
			      nqueues, queue_of[cpuid], cpuid);
			goto out;
		}
		if (irq_of[cpuid] >= 0)
			printf("# cpu%d ports %u-%u -> rx queue %d (irq %d)\n", cpuid, bl, bh,
			       queue_of[cpuid], irq_of[cpuid]);
		else
			printf("# cpu%d ports %u-%u -> rx queue %d\n", cpuid, bl, bh,
			       queue_of[cpuid]);
		/* ethtool's "m" marks the bits to ignore: one rule per aligned block. */
		for (fi = 0; fi < nflows; fi++) {
			for (port = bl; port <= bh; ) {
				__u32 size = 1;

				while (!(port & size) && size < 65536 && port + size * 2 - 1 <= bh)
					size *= 2;
				if (size > 1)
					printf(
						"ethtool -N %s flow-type %s dst-port %u m 0x%x action %d\n",
						dev, flows[fi], port, size - 1, queue_of[cpuid]);
				else
					printf("ethtool -N %s flow-type %s dst-port %u action %d\n",
					       dev, flows[fi], port, queue_of[cpuid]);
				rules++;
				port += size;
			}
		}
	}
	printf("# %u rules\n", rules);
	ret = 0;
	if (!apply)
		goto out;

	ret = 1;
	if (check_perm("ethtool-rules --apply"))
		goto out;
	err = ethtool_rule_count(dev, &count);
	if (err) {
		error(
			"%s has no ntuple flow steering (%s): use the XDP program instead: fastsocketctl attach %s",
			dev, strerror(-err), dev);
		goto out;
	}
	if (ethtool_ntuple_enabled(dev) != 1) {
		error("%s: ntuple filters are off: turn them on first (ethtool -K %s ntuple on)",
		      dev, dev);
		goto out;
	}
	for (slot = 0; slot < env.nslots; slot++) {
		cpuid = cpu_of_slot(&env.possible, slot);
		if (cpuid < 0 || queue_of[cpuid] < 0 ||
		    !fsk_rfd_block(env.low, env.high, env.nslots, slot, &bl, &bh))
			continue;
		for (fi = 0; fi < nflows; fi++) {
			for (port = bl; port <= bh; ) {
				char sport[16], smask[16], sq[16];
				char *args[16] = { "ethtool", "-N", (char *)dev, "flow-type",
						   (char *)flows[fi], "dst-port", sport };
				__u32 size = 1;
				int a = 7, rc;

				while (!(port & size) && size < 65536 && port + size * 2 - 1 <= bh)
					size *= 2;
				snprintf(sport, sizeof(sport), "%u", port);
				snprintf(smask, sizeof(smask), "0x%x", size - 1);
				snprintf(sq, sizeof(sq), "%d", queue_of[cpuid]);
				if (size > 1) {
					args[a++] = "m";
					args[a++] = smask;
				}
				args[a++] = "action";
				args[a++] = sq;
				args[a] = NULL;
				rc = run_ethtool(args);
				if (rc) {
					error(
						"ethtool -N %s flow-type %s dst-port %s ... failed (status %d): stopped; the rules added so far stay (list them: ethtool -n %s)",
						dev, flows[fi], sport, rc, dev);
					goto out;
				}
				port += size;
			}
		}
	}
	printf("# applied %u rules to %s\n", rules, dev);
	ret = 0;
out:
	free(queue_of);
	free(irq_of);
	return ret;
}

int main(int argc, char **argv)
{
	const char *cmd;

	while (argc > 1 && argv[1][0] == '-') {
		if (!strcmp(argv[1], "-v") || !strcmp(argv[1], "--verbose")) {
			verbose = true;
		} else if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
			usage(stdout);
			return 0;
		} else {
			error("unknown option %s", argv[1]);
			usage(stderr);
			return EXIT_USAGE;
		}
		argv++;
		argc--;
	}
	if (argc < 2) {
		usage(stderr);
		return EXIT_USAGE;
	}
	libbpf_set_print(libbpf_print);
	cmd = argv[1];
	argv++;
	argc--;
	if (!strcmp(cmd, "attach"))
		return cmd_attach(argc, argv);
	if (!strcmp(cmd, "detach"))
		return cmd_detach(argc, argv);
	if (!strcmp(cmd, "status"))
		return cmd_status(argc, argv);
	if (!strcmp(cmd, "ethtool-rules"))
		return cmd_ethtool_rules(argc, argv);
	if (!strcmp(cmd, "help")) {
		usage(stdout);
		return 0;
	}
	error("unknown command '%s'", cmd);
	usage(stderr);
	return EXIT_USAGE;
}

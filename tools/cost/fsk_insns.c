// SPDX-License-Identifier: GPL-2.0
/*
 * fsk_insns: a QEMU TCG plugin that counts the instructions each vCPU
 * executes, kernel and user apart, inside measurement windows that the
 * guest's load generator opens and closes with a magic CPUID leaf:
 *
 *   EAX = FSK_COST_OPEN   (include/fastsocket/cost.h): the counts start from here
 *   EAX = FSK_COST_CLOSE, EBX = a tag, ECX = the connections made in the
 *         window: one line is appended to out=FILE
 *
 *   close <seq> tag <EBX> conns <ECX> vcpus <N> <kernel0> <user0> <kernel1> ...
 *
 * Counting is per translation block, added as the block starts: a block
 * left early (an interrupt, a fault) counts whole, and the block holding the
 * CPUID counts on the side of the window it starts on. Build it against the
 * qemu-plugin.h of the QEMU it loads into (tools/cost/Makefile).
 */
#include <glib.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <qemu-plugin.h>

#include <fastsocket/cost.h>

QEMU_PLUGIN_EXPORT int qemu_plugin_version = QEMU_PLUGIN_VERSION;

/* x86-64 canonical kernel half. */
#define KERNEL_START	0xffff800000000000ull

struct vcpu_insns {
	uint64_t kernel, user;
};

static struct qemu_plugin_scoreboard *insns;
static qemu_plugin_u64 kernel_insns, user_insns;
static struct qemu_plugin_register *reg_rax, *reg_rbx, *reg_rcx;
static uint64_t *opened;	/* [vcpu * 2 + {0: kernel, 1: user}] at the last open */
static int nr_vcpus;
static uint64_t windows;
static FILE *out;
/* One vCPU at a time runs the callbacks under single-threaded TCG; not else. */
static GMutex lock;

static uint64_t reg_read(struct qemu_plugin_register *reg)
{
	GByteArray *buf = g_byte_array_new();
	uint64_t v = 0;
	int n = qemu_plugin_read_register(reg, buf);

	if (n > 0)
		memcpy(&v, buf->data, n < 8 ? n : 8);	/* x86 is little-endian */
	g_byte_array_free(buf, TRUE);
	return v;
}

static void snapshot(uint64_t *to)
{
	int i;

	for (i = 0; i < nr_vcpus; i++) {
		to[2 * i] = qemu_plugin_u64_get(kernel_insns, i);
		to[2 * i + 1] = qemu_plugin_u64_get(user_insns, i);
	}
}

static void cpuid_exec(unsigned int vcpu_index, void *udata)
{
	uint64_t leaf = reg_read(reg_rax) & 0xffffffffu, *now;
	int i;

	(void)vcpu_index;
	(void)udata;
	if (leaf != FSK_COST_OPEN && leaf != FSK_COST_CLOSE)
		return;
	g_mutex_lock(&lock);
	nr_vcpus = qemu_plugin_num_vcpus();
	if (leaf == FSK_COST_OPEN) {
		g_free(opened);
		opened = g_new0(uint64_t, 2 * nr_vcpus);
		snapshot(opened);
	} else if (opened && out) {
		now = g_new0(uint64_t, 2 * nr_vcpus);
		snapshot(now);
		fprintf(out, "close %" PRIu64 " tag %" PRIu64 " conns %" PRIu64 " vcpus %d",
			++windows, reg_read(reg_rbx) & 0xffffffffu,
			reg_read(reg_rcx) & 0xffffffffu, nr_vcpus);
		for (i = 0; i < 2 * nr_vcpus; i++)
			fprintf(out, " %" PRIu64, now[i] - opened[i]);
		fputc('\n', out);
		fflush(out);
		g_free(now);
		g_free(opened);
		opened = NULL;
	}
	g_mutex_unlock(&lock);
}

static void tb_exec(unsigned int vcpu_index, void *udata)
{
	uintptr_t v = (uintptr_t)udata;

	qemu_plugin_u64_add(v & 1 ? kernel_insns : user_insns, vcpu_index, v >> 1);
}

static void tb_trans(qemu_plugin_id_t id, struct qemu_plugin_tb *tb)
{
	size_t n = qemu_plugin_tb_n_insns(tb), i;
	bool kernel = qemu_plugin_tb_vaddr(tb) >= KERNEL_START;

	(void)id;
	/*
	 * A callback, not an inline add: qemu 10.0.2's inline ops crash the
	 * guest under -icount (the kernel oopses during boot).
	 */
	qemu_plugin_register_vcpu_tb_exec_cb(tb, tb_exec, QEMU_PLUGIN_CB_NO_REGS,
					     (void *)(uintptr_t)(n << 1 | kernel));
	/* The windows are opened from user space. */
	if (kernel)
		return;
	for (i = 0; i < n; i++) {
		struct qemu_plugin_insn *insn = qemu_plugin_tb_get_insn(tb, i);
		uint8_t op[2];

		if (qemu_plugin_insn_size(insn) == 2 && qemu_plugin_insn_data(insn, op, 2) == 2 &&
		    op[0] == 0x0f && op[1] == 0xa2)
			qemu_plugin_register_vcpu_insn_exec_cb(insn, cpuid_exec,
							       QEMU_PLUGIN_CB_R_REGS, NULL);
	}
}

static void vcpu_init(qemu_plugin_id_t id, unsigned int vcpu_index)
{
	GArray *regs = qemu_plugin_get_registers();
	guint i;

	(void)id;
	(void)vcpu_index;
	for (i = 0; i < regs->len; i++) {
		qemu_plugin_reg_descriptor *r = &g_array_index(regs, qemu_plugin_reg_descriptor, i);

		if (!strcmp(r->name, "rax") || (!reg_rax && !strcmp(r->name, "eax")))
			reg_rax = r->handle;
		else if (!strcmp(r->name, "rbx") || (!reg_rbx && !strcmp(r->name, "ebx")))
			reg_rbx = r->handle;
		else if (!strcmp(r->name, "rcx") || (!reg_rcx && !strcmp(r->name, "ecx")))
			reg_rcx = r->handle;
	}
	g_array_free(regs, TRUE);
	if (!reg_rax || !reg_rbx || !reg_rcx) {
		fprintf(stderr, "fsk_insns: no rax/rbx/rcx among the vCPU's registers\n");
		exit(1);
	}
}

static void plugin_exit(qemu_plugin_id_t id, void *udata)
{
	(void)id;
	(void)udata;
	if (out) {
		fprintf(out, "exit windows %" PRIu64 "\n", windows);
		fclose(out);
	}
	qemu_plugin_scoreboard_free(insns);
}

QEMU_PLUGIN_EXPORT int qemu_plugin_install(qemu_plugin_id_t id, const qemu_info_t *info,
					   int argc, char **argv)
{
	const char *path = NULL;
	int i;

	if (strcmp(info->target_name, "x86_64")) {
		fprintf(stderr, "fsk_insns: x86_64 guests only, not %s\n", info->target_name);
		return -1;
	}
	for (i = 0; i < argc; i++) {
		if (!strncmp(argv[i], "out=", 4)) {
			path = argv[i] + 4;
		} else {
			fprintf(stderr, "fsk_insns: unknown argument %s (out=FILE)\n", argv[i]);
			return -1;
		}
	}
	if (!path) {
		fprintf(stderr, "fsk_insns: out=FILE is missing\n");
		return -1;
	}
	out = fopen(path, "w");
	if (!out) {
		fprintf(stderr, "fsk_insns: cannot write %s\n", path);
		return -1;
	}
	insns = qemu_plugin_scoreboard_new(sizeof(struct vcpu_insns));
	kernel_insns = qemu_plugin_scoreboard_u64_in_struct(insns, struct vcpu_insns, kernel);
	user_insns = qemu_plugin_scoreboard_u64_in_struct(insns, struct vcpu_insns, user);
	qemu_plugin_register_vcpu_init_cb(id, vcpu_init);
	qemu_plugin_register_vcpu_tb_trans_cb(id, tb_trans);
	qemu_plugin_register_atexit_cb(id, plugin_exit, NULL);
	return 0;
}

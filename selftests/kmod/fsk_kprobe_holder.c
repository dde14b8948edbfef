// SPDX-License-Identifier: GPL-2.0
/*
 * fsk_kprobe_holder - test module for the fastsocket selftests.
 *
 * Puts a kprobe on the entry of inet_csk_accept. The probe has a
 * post_handler, and a post_handler makes kprobes arm the probe through
 * its IPMODIFY ftrace ops (it has to single-step past the probed
 * instruction, i.e. change the return ip). ftrace allows one IPMODIFY
 * owner per function, so while this module is loaded fastsocket's own
 * IPMODIFY hook on inet_csk_accept must be refused with -EBUSY, exactly
 * as it would be next to a livepatch of that function.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/kprobes.h>
#include <linux/module.h>

static void holder_post(struct kprobe *p, struct pt_regs *regs,
			unsigned long flags)
{
	/*
	 * Nothing to do: only the presence of a post_handler matters, it
	 * selects kprobes' IPMODIFY ftrace ops.
	 */
}

static struct kprobe holder_kp = {
	.symbol_name	= "inet_csk_accept",
	.post_handler	= holder_post,
};

static int __init holder_init(void)
{
	int ret;

	ret = register_kprobe(&holder_kp);
	if (ret) {
		pr_err("register_kprobe(%s) failed: %d\n",
		       holder_kp.symbol_name, ret);
		return ret;
	}
	pr_info("holding %s at %pS\n", holder_kp.symbol_name, holder_kp.addr);
	return 0;
}

static void __exit holder_exit(void)
{
	unregister_kprobe(&holder_kp);
	pr_info("released %s\n", holder_kp.symbol_name);
}

module_init(holder_init);
module_exit(holder_exit);

MODULE_DESCRIPTION("fastsocket selftest: IPMODIFY kprobe on inet_csk_accept");
MODULE_LICENSE("GPL");

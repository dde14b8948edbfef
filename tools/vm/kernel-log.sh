# SPDX-License-Identifier: GPL-2.0
#
# tools/vm/kernel-log.sh - what a kernel log must not say, for the guest's
# final check (tools/vm/guest.sh) and the per-test check of the selftest
# runners (selftests/lib.sh). Sourced, not run.
#
# Oopses and warnings; lockdep (its reports start "WARNING: possible ..." or
# "WARNING: inconsistent ..."), PROVE_RCU ("suspicious RCU usage"), KASAN and
# SLUB debugging ("BUG: KASAN:", "BUG kmalloc-64 (...): Object already
# free", "Redzone overwritten", "Poison overwritten"), DEBUG_OBJECTS
# ("ODEBUG:"), list and refcount corruption, a leaked netns device
# reference, bad pages and mm counters.
fsk_kernel_log_bad='BUG:|BUG [a-z0-9_:-]+ \(|WARNING:|Oops|general protection|soft lockup|hard LOCKUP|rcu_sched self-detected|rcu: INFO|blocked for more than|Call Trace|kernel BUG|refcount_t|UBSAN|KASAN|list_add corruption|list_del corruption|unregister_netdevice: waiting for|[Bb]ad page|Bad rss-counter|suspicious RCU usage|ODEBUG:|Redzone overwritten|Poison overwritten|Object already free|Freepointer corrupt|kmemleak: .*suspected memory leak'

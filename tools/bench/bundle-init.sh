#!/bin/busybox sh
# SPDX-License-Identifier: GPL-2.0
#
# tools/bench/bundle-init.sh - /init of the benchmark bundle's guest
# (tools/bench/bundle.sh packs it into each kernel's initramfs): mounts the
# special filesystems, loads veth, runs /fsk/guest-bench.sh with the options
# of the kernel command line (fsk.rounds= fsk.seconds= fsk.warmup=, and
# comma-separated fsk.groups= fsk.configs=, fsk.smoke=1, fsk.trace=1),
# checks the kernel (taint other than O/E, bad lines in dmesg), prints
# "BUNDLE-EXIT <status>" and powers off.
/bin/busybox --install -s /bin
# the real tools (bash, iproute2, util-linux, bpftool) before busybox's applets
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mount -t tmpfs tmpfs /tmp
mount -t tmpfs tmpfs /run
mkdir -p /sys/fs/bpf /run/netns /dev/pts
mount -t bpf bpf /sys/fs/bpf
mount -t devpts devpts /dev/pts
ln -s /proc/self/fd /dev/fd
ip link set lo up
insmod /fsk/veth.ko

rounds=3 seconds=5 warmup=1 groups="conn/lo conn/nic proxy/lo proxy/nic" smoke= configs=
trace=
for w in $(cat /proc/cmdline); do
	case $w in
	fsk.rounds=*) rounds=${w#*=} ;;
	fsk.seconds=*) seconds=${w#*=} ;;
	fsk.warmup=*) warmup=${w#*=} ;;
	fsk.groups=*) groups=$(echo "${w#*=}" | tr , ' ') ;;
	fsk.configs=*) configs=$(echo "${w#*=}" | tr , ' ') ;;
	fsk.smoke=1) smoke=--smoke ;;
	fsk.trace=1) trace=--trace ;;
	esac
done
set -- $smoke $trace --configs "$configs" --rounds "$rounds" --seconds "$seconds" \
	--warmup "$warmup" --groups "$groups" --bench /fsk/fsk-bench \
	--module /fsk/fastsocket.ko --rss-obj /fsk/fsk_rss.bpf.o
if [ -x /fsk/fastsocketctl ]; then
	set -- "$@" --fastsocketctl /fsk/fastsocketctl
else
	set -- "$@" --fastsocketctl-absent "fastsocketctl was not built into the bundle"
fi
cd /tmp
bash /fsk/guest-bench.sh "$@"
rc=$?

bad='BUG:|WARNING:|Oops|general protection|soft lockup|hard LOCKUP|rcu_sched self-detected'
bad="$bad|rcu: INFO|blocked for more than|Call Trace|kernel BUG|refcount_t|UBSAN|KASAN"
bad="$bad|list_add corruption|list_del corruption"
taint=$(cat /proc/sys/kernel/tainted)
lines=$(dmesg | grep -E "$bad")
# 12288: O and E, an out-of-tree unsigned module
if [ $((taint & ~12288)) -eq 0 ] && [ -z "$lines" ]; then
	echo "ok - kernel clean (tainted=$taint)"
else
	echo "$lines" | sed 's/^/# dmesg: /'
	echo "not ok - kernel clean (tainted=$taint)"
	[ $rc -ne 0 ] || rc=1
fi
echo "BUNDLE-EXIT $rc"
poweroff -f

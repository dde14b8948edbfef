#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# tools/vm/guest.sh - PID 1 of a tools/vm/run.sh guest. Not meant to be run by
# hand: the initramfs (tools/vm/mkinitramfs.sh) switch_roots into the host's
# root (shared read-only over 9p, tmpfs on /tmp /run /var/tmp /mnt) and execs
# this script.
#
# It makes sure proc, sysfs, devtmpfs, devpts, /dev/shm, tracefs, debugfs,
# bpf and cgroup2 are mounted, lo is up, /run/netns exists (the initramfs
# already did this with busybox; here only what is missing is redone), runs the
# command with its output on the console, checks the kernel (taint other than
# O/E from an out-of-tree unsigned module, bad lines in dmesg), prints a TAP
# line and "FSK-EXIT: <code>", and powers off.
#
# The command comes from /run/fsk/cwd and /run/fsk/argv (arguments each
# NUL-terminated), written by the initramfs from the kernel command line's
# base64 fsk.cwd= and fsk.argv=; without those files it decodes them itself.
# fsk.verbose=1 on the command line prints what is run.
#
# Every first exec of a dynamically linked host binary costs ~0.1 s under TCG
# (9p + translation), so the common path uses bash builtins only.
set -euo pipefail

export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export HOME=/root TERM=dumb FSK_VM=1

# Taint bits a loaded out-of-tree, unsigned module sets: O (12) and E (13).
readonly allowed_taint=$(((1 << 12) | (1 << 13)))
readonly taint_letters=PFSRMBUDAWCIOELKXTNJ
# shellcheck source=tools/vm/kernel-log.sh
. "$(dirname "${BASH_SOURCE[0]}")/kernel-log.sh"
readonly dmesg_pattern=$fsk_kernel_log_bad

exec </dev/null >/dev/console 2>&1

# PID 1 must not exit (the kernel would panic): power off instead. Without a
# marker line the host reports the guest as crashed and shows the message.
# shellcheck disable=SC2317 # trap handler
on_exit() {
	local status=$?
	[ "${finished:-0}" = 1 ] || echo "guest.sh: setup failed (status $status)"
	/bin/busybox poweroff -f
	while :; do /bin/busybox sleep 1; done
}
trap on_exit EXIT
trap 'echo "guest.sh: line $LINENO: command failed: $BASH_COMMAND"' ERR

mounted_dirs=" "
refresh_mounts() {
	local dir
	mounted_dirs=" "
	[ -r /proc/self/mounts ] || return 0
	while read -r _ dir _; do
		mounted_dirs+="$dir "
	done </proc/self/mounts
}

mount_once() { # TYPE DIR [OPTIONS]
	local type=$1 dir=$2 options=${3:-}
	[[ $mounted_dirs == *" $dir "* ]] && return 0
	[ -d "$dir" ] || mkdir -p "$dir" 2>/dev/null || true
	mount -t "$type" ${options:+-o "$options"} "$type" "$dir" 2>/dev/null ||
		echo "# guest: could not mount $type on $dir"
}

refresh_mounts
mount_once proc /proc
mount_once sysfs /sys
mount_once devtmpfs /dev
refresh_mounts
mount_once devpts /dev/pts "gid=5,mode=620,ptmxmode=666"
mount_once tmpfs /dev/shm "mode=1777,nosuid,nodev"
mount_once tracefs /sys/kernel/tracing
mount_once debugfs /sys/kernel/debug
mount_once bpf /sys/fs/bpf "mode=700"
mount_once cgroup2 /sys/fs/cgroup
for link in fd:/proc/self/fd stdin:/proc/self/fd/0 stdout:/proc/self/fd/1 stderr:/proc/self/fd/2; do
	[ -e "/dev/${link%%:*}" ] || ln -s "${link#*:}" "/dev/${link%%:*}"
done
[ -e /dev/ptmx ] || ln -s pts/ptmx /dev/ptmx
[ -d /run/netns ] || mkdir -p /run/netns
read -r hostname </proc/sys/kernel/hostname
[ "$hostname" = fsk-vm ] || echo fsk-vm >/proc/sys/kernel/hostname
read -r lo_flags </sys/class/net/lo/flags
(((lo_flags & 1) == 1)) || ip link set lo up || echo "# guest: could not bring lo up"

# The command.
if [ -r /run/fsk/argv ]; then
	cwd=
	[ ! -r /run/fsk/cwd ] || IFS= read -r -d '' cwd </run/fsk/cwd || true
	mapfile -d '' -t argv </run/fsk/argv
else
	cwd_b64=
	argv_b64=
	read -ra cmdline_words </proc/cmdline
	for word in "${cmdline_words[@]}"; do
		case $word in
		fsk.cwd=*) cwd_b64=${word#fsk.cwd=} ;;
		fsk.argv=*) argv_b64=${word#fsk.argv=} ;;
		esac
	done
	cwd=$(printf '%s' "$cwd_b64" | base64 -d)
	mapfile -d '' -t argv < <(printf '%s' "$argv_b64" | base64 -d)
fi
[ ${#argv[@]} -gt 0 ] || { echo "guest.sh: no command (fsk.argv=) on the kernel command line"; exit 1; }
cd -- "${cwd:-/}"
read -r FSK_VM_KVER </proc/sys/kernel/osrelease
export FSK_VM_KVER

read -ra cmdline_words </proc/cmdline
if [[ " ${cmdline_words[*]} " == *" fsk.verbose=1 "* ]]; then
	echo "# guest: $FSK_VM_KVER, cwd $PWD, running:$(printf ' %q' "${argv[@]}")"
else
	# Past the boot: warnings and level-less lines (registers and stacks
	# of a soft lockup report) reach the console, so a hang says where.
	echo 5 >/proc/sys/kernel/printk
fi

# A debug kernel says so on the console, so that its log shows which kernel
# ran; its leak detector starts from a clean slate (what boot leaked is not
# ours).
kmemleak=/sys/kernel/debug/kmemleak
kernel_log=$(dmesg 2>/dev/null) || kernel_log=
while IFS= read -r line; do
	case $line in
	*KernelAddressSanitizer*|*"Lock dependency validator"*|*"kmemleak: Kernel memory leak detector"*)
		echo "# guest: debug kernel: ${line#*] }" ;;
	esac
done <<<"$kernel_log"
if [ -w "$kmemleak" ]; then
	echo scan >"$kmemleak" 2>/dev/null || true
	echo clear >"$kmemleak" 2>/dev/null || true
fi

trap - ERR
set +e
"${argv[@]}"
command_status=$?
set -e

# kmemleak reports objects unreferenced for 5 s and seen so in a scan.
leaks=
if [ -w "$kmemleak" ]; then
	/bin/busybox sleep 6
	echo scan >"$kmemleak" 2>/dev/null || true
	leaks=$(cat "$kmemleak" 2>/dev/null) || leaks=
fi

# Kernel check.
reasons=()
read -r tainted </proc/sys/kernel/tainted
bad_taint=$((tainted & ~allowed_taint))
if [ $bad_taint -ne 0 ]; then
	bits=
	for ((bit = 0; bit < 64; bit++)); do
		((bad_taint & (1 << bit))) || continue
		letter=${taint_letters:bit:1}
		bits+="${bits:+ }$bit${letter:+($letter)}"
	done
	reasons+=("taint bits $bits")
fi
if kernel_log=$(dmesg 2>&1); then
	# One regex search over the whole log first: compiling the pattern for
	# every line costs ~1 ms each under TCG.
	bad_lines=0
	if [[ $kernel_log =~ $dmesg_pattern ]]; then
		while IFS= read -r line; do
			[[ $line =~ $dmesg_pattern ]] || continue
			echo "# dmesg: $line"
			bad_lines=$((bad_lines + 1))
		done <<<"$kernel_log"
	fi
	[ $bad_lines -eq 0 ] || reasons+=("$bad_lines bad dmesg lines")
else
	echo "# dmesg failed: $kernel_log"
	reasons+=("dmesg failed")
fi

if [ -n "$leaks" ]; then
	echo "# kmemleak: $(grep -c 'unreferenced object' <<<"$leaks") unreferenced objects; the first:"
	head -n 40 <<<"$leaks" | sed 's/^/# kmemleak: /'
	reasons+=("kmemleak found leaks")
fi

exit_code=$command_status
if [ ${#reasons[@]} -eq 0 ]; then
	echo "ok - kernel clean (tainted=$tainted)"
else
	reason_text=
	for reason in "${reasons[@]}"; do
		reason_text+=", $reason"
	done
	echo "not ok - kernel clean (tainted=$tainted$reason_text)"
	[ "$exit_code" -ne 0 ] || exit_code=1
fi
echo "FSK-EXIT: $exit_code"
finished=1
exit 0

#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# tools/vm/text-patch-stress.sh [--flips N] [--smp N] [KVER...]
#
# Does the emulator survive the kernel patching its own code under load? In a
# guest of each kernel (default: every supported one), with no module loaded,
# ftrace patches five hot TCP functions in and out N times (default 2000)
# while connections churn on every CPU. qemu 7.2's multi-threaded TCG went on
# running a stale int3 after such a patch and killed the guest within the
# first 50 flips; 10.0 survives thousands, though not always (tools/vm/README.md).
# Prints TAP, one line per kernel; exit status 1 if any guest died.
set -uo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top"

flips=2000
smp=2
if [ "${1:-}" = --in-guest ]; then
	flips=$2
	t=/sys/kernel/tracing
	[ -e $t/set_ftrace_filter ] || mount -t tracefs tracefs $t
	ip link set lo up
	build/selftests/conn_churn -t $((flips / 5 + 60)) -j "$(nproc)" >/dev/null 2>&1 &
	churn=$!
	sleep 1
	echo "inet_put_port inet_csk_accept __inet_lookup_listener inet_hash_connect tcp_v4_rcv" \
		>$t/set_ftrace_filter || exit 1
	start=$(date +%s)
	for ((i = 1; i <= flips; i++)); do
		echo function >$t/current_tracer || exit 1
		echo nop >$t/current_tracer || exit 1
		[ $((i % 500)) = 0 ] && echo "# $i flips in $(($(date +%s) - start)) s"
	done
	kill $churn 2>/dev/null
	echo "FLIPS-DONE $flips"
	exit 0
fi

while [ $# -gt 0 ]; do
	case $1 in
	--flips) flips=$2; shift 2 ;;
	--smp) smp=$2; shift 2 ;;
	-*) sed -n '4,12p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
	*) break ;;
	esac
done
kernels=${*:-$(tools/kernels.sh)}
[ -x build/selftests/conn_churn ] || make -s selftests >/dev/null || exit 2
qemu_v=$(${FSK_VM_QEMU:-qemu-system-x86_64} --version | head -n1)
echo "# $qemu_v, $smp vCPUs, $flips ftrace flips under connection churn"
n=0
failed=0
for k in $kernels; do
	n=$((n + 1))
	log=$(mktemp)
	tools/vm/run.sh --smp "$smp" --timeout $((flips / 2 + 300)) "$k" -- \
		"$top/tools/vm/text-patch-stress.sh" --in-guest "$flips" >"$log" 2>&1
	rc=$?
	sed 's/^/# /' "$log" | grep -v '^# FLIPS-DONE'
	if [ $rc = 0 ] && grep -q "^FLIPS-DONE $flips" "$log"; then
		echo "ok $n - $k: $flips flips under churn, guest alive and clean"
	else
		echo "not ok $n - $k: the guest died or failed (status $rc)"
		failed=$((failed + 1))
	fi
	rm -f "$log"
done
echo "1..$n"
[ $failed = 0 ]

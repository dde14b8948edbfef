#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# make check: the one test command. Installs what is missing (Debian 12, root),
# builds everything, lints, runs the userspace unit tests, builds the DKMS
# package into a scratch tree, then boots every supported kernel under qemu and
# runs selftests/ inside, then the benchmark's smoke version (make bench, one
# short run of each configuration, zero errors asserted) on each kernel.
# Prints TAP per stage and, last, one summary line.
# The debug kernel (KASAN, lockdep, kmemleak: tools/debug-kernel.sh) is built
# once into a cache outside the clone, then installed and tested like the
# others, except for the benchmark: FSK_CHECK_DEBUG_KERNEL=only (make
# check-debug) tests it alone, =1 with the others; the default, 0, leaves it
# out (its suites take about six times as long as a production kernel's).
# FSK_CHECK_KERNELS="kver..." limits the kernels; FSK_CHECK_SKIP_DEPS=1 skips apt.
set -uo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
start=$(date +%s)
logdir=$top/build/check
mkdir -p "$logdir"
rm -f "$logdir/reruns"

what="make check"
# shellcheck source=tools/stages.sh
. "$top/tools/stages.sh"

if [ "${FSK_CHECK_SKIP_DEPS:-0}" != 1 ]; then
	stage deps tools/install-deps.sh || summary
fi

debug=${FSK_CHECK_DEBUG_KERNEL:-0}
[[ $debug =~ ^(0|1|only)$ ]] || { echo "FSK_CHECK_DEBUG_KERNEL must be 0, 1 or only" >&2; exit 2; }
if [ "$debug" != 0 ]; then
	stage debug-kernel sh -c 'tools/debug-kernel.sh build &&
		echo "ok - debug kernel $(tools/debug-kernel.sh release) (KASAN, lockdep, kmemleak)"' ||
		summary
fi

kernels=$(echo ${FSK_CHECK_KERNELS:-$(tools/kernels.sh)})
kernels=$(for k in $kernels; do
	case $debug in
	0) is_debug_kernel "$k" || echo "$k" ;;
	only) ! is_debug_kernel "$k" || echo "$k" ;;
	1) echo "$k" ;;
	esac
done)
kernels=$(echo $kernels)
if [ -z "$kernels" ]; then
	echo "not ok - no supported kernel headers installed"
	failed=$((failed + 1))
	summary
fi
jobs=$(nproc)

build() {
	make -s -j"$jobs" KVER="$kernels" all || return
	echo "ok - build for: $(echo $kernels)"
}
stage build build || summary
stage lint make -s KVER="$kernels" lint
stage unit tools/run-unit.sh
stage dkms sh -c "tools/dkms.sh test build/dkms $(echo $kernels) && echo 'ok - dkms add/build/install for: $(echo $kernels)'"

# Every suite of one kernel in one boot. qemu's multi-threaded TCG can leave
# a vCPU running a stale int3 after the guest kernel patched its own code
# (tools/vm/README.md: 7.2 within 50 ftrace flips, 10.0 far more rarely);
# run.sh reports that death as status 126, judged from the dying CPU's own
# report. That, and only that, is rerun once with single-threaded TCG, which
# that race cannot hit. The first run's failures before the death still
# count, and the summary lists every rerun.
guest_suites() {
	local k=$1 log=$logdir/guest-$1.log rc
	local -a vm=(--timeout 1200)

	# KASAN's shadow and kmemleak's pool want memory; everything is slower.
	! is_debug_kernel "$k" || vm=(--timeout 3000 --mem 2G)
	echo "# booting $k for selftests/all.sh (follow: tail -f build/check/guest-$k.log)"
	tools/vm/run.sh "${vm[@]}" "$k" -- selftests/all.sh >"$log" 2>&1
	rc=$?
	if [ "$rc" = 126 ]; then
		echo "# guest $k died of the emulator's stale-int3 race; running its suites" \
			"again with single-threaded TCG"
		sed -n '/stale-int3 race/,$p' "$log" | sed 's/^/#   /'
		grep -E '^not ok [0-9]+ ' "$log" | sed -E 's/^not ok [0-9]+ - /not ok - first run, before the emulator died: /'
		echo "guest $k died of qemu's stale-int3 race ($(grep -m1 -E 'Oops: int3|soft lockup|self-detected stall' "$log" | sed 's/^\[[^]]*\] //')); its suites were rerun with single-threaded TCG" \
			>>"$logdir/reruns"
		mv "$log" "$log.int3"
		FSK_VM_TCG_THREAD=single tools/vm/run.sh "${vm[@]}" "$k" -- \
			selftests/all.sh 2>&1 | tee "$log"
		return "${PIPESTATUS[0]}"
	fi
	cat "$log"
	return "$rc"
}

for k in $kernels; do
	stage "selftests-$k" guest_suites "$k"
done
# The benchmark's short version: every configuration completes, zero errors.
# Not on the debug kernel, whose costs are not a kernel's anyone runs.
for k in $kernels; do
	! is_debug_kernel "$k" || continue
	stage "bench-smoke-$k" env BENCH_KERNELS="$k" tools/bench/bench.sh --smoke
done

summary

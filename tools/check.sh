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

passed=0
failed=0
skipped=0
failures=()

# shellcheck source=tools/stages.sh
. "$top/tools/stages.sh"

summary() {
	local elapsed=$(( $(date +%s) - start )) line
	echo
	for f in "${failures[@]}"; do echo "# FAILED $f"; done
	echo "# make check took ${elapsed} s; logs in build/check/"
	if [ "$skipped" -gt 0 ]; then
		echo "$passed passed, $failed failed, $skipped skipped"
	else
		echo "$passed passed, $failed failed"
	fi
	[ "$failed" -eq 0 ]
	exit
}

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

is_debug_kernel() { [[ $1 == *-fskdebug ]]; }
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

# Every suite of one kernel in one boot. A guest that dies fails the stage:
# nothing is rerun (qemu 10.0's TCG does not race the kernel's code patching
# the way 7.2's did, tools/vm/README.md).
guest_suites() {
	local k=$1 log=$logdir/guest-$1.log rc
	local -a vm=(--timeout 1200)

	# KASAN's shadow and kmemleak's pool want memory; everything is slower.
	! is_debug_kernel "$k" || vm=(--timeout 3000 --mem 2G)
	echo "# booting $k for selftests/all.sh (follow: tail -f build/check/guest-$k.log)"
	tools/vm/run.sh "${vm[@]}" "$k" -- selftests/all.sh >"$log" 2>&1
	rc=$?
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

#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# tools/bench/bench.sh [--smoke]: make bench. Boots each kernel under qemu
# (tools/vm/run.sh) and, in one boot per kernel, runs every benchmark
# configuration in turn, interleaved over the rounds (tools/bench/guest-bench.sh),
# then prints a table of medians and their ratios to the stock single
# listener, and writes BENCH_OUT/results-<kernel>.csv (every run),
# results.csv (all kernels), summary.csv, table.txt and bench.png.
#
# --smoke: the short version for make check: one 2 s run of each
# configuration (tools/bench/guest-bench.sh --smoke), TAP output
# ("ok N - <kernel> <workload>/<path>/<config>: zero errors"), exit status
# non-zero when a run failed, had errors, did not engage (NOT ENGAGED) or
# could not run (ABSENT: fastsocketctl missing or failing).
#
# Environment:
#   BENCH_KERNELS  kernels to boot (default: tools/kernels.sh, every supported
#                  kernel with headers installed)
#   BENCH_CPUS     guest vCPUs (default: the host's cores, nproc); half of them
#                  are the client's, half the server's
#   BENCH_SECONDS  measured seconds per run (default 5; smoke 1.5)
#   BENCH_ROUNDS   rounds (default 3; smoke 1)
#   BENCH_WARMUP   warmup seconds before each measurement (default 1; smoke 0.5)
#   BENCH_GROUPS   workload/path groups (default: all, see guest-bench.sh)
#   BENCH_MEM      guest memory (default 2G)
#   BENCH_OUT      output folder (default build/bench, smoke build/bench/smoke)
set -uo pipefail

top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top"
smoke=0
case ${1:-} in
--smoke) smoke=1 ;;
"") ;;
*) sed -n '4,27p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
esac

kernels=${BENCH_KERNELS:-$(tools/kernels.sh)}
cpus=${BENCH_CPUS:-$(nproc)}
mem=${BENCH_MEM:-2G}
if [ $smoke = 1 ]; then
	seconds=${BENCH_SECONDS:-1.5}
	rounds=1
	warmup=${BENCH_WARMUP:-0.5}
	out=${BENCH_OUT:-$top/build/bench/smoke}
else
	seconds=${BENCH_SECONDS:-5}
	rounds=${BENCH_ROUNDS:-3}
	warmup=${BENCH_WARMUP:-1}
	out=${BENCH_OUT:-$top/build/bench}
fi
groups=${BENCH_GROUPS:-}
host_cpu=$(sed -n 's/^model name[[:space:]]*: *//p' /proc/cpuinfo | head -n1 | tr -s ' ,' ' ')
qemu_version=$(${FSK_VM_QEMU:-qemu-system-x86_64} --version 2>/dev/null |
	sed -n 's/^QEMU emulator version \([^ ]*\).*/\1/p')
host_cores=$(nproc)

n=0
failed=0
ok() { n=$((n + 1)); echo "ok $n - $*"; }
not_ok() {
	n=$((n + 1)); failed=$((failed + 1))
	echo "not ok $n - $1"
	[ -n "${2:-}" ] && sed 's/^/#   /' <<<"$2"
}
note() { echo "# $*"; }

[ -n "$kernels" ] || { echo "not ok 1 - no supported kernel installed (make deps)"; exit 1; }
[[ $cpus =~ ^[0-9]+$ ]] && [ "$cpus" -ge 2 ] ||
	{ echo "bench: BENCH_CPUS must be 2 or more (half client, half server)" >&2; exit 2; }
mkdir -p "$out"

# ---------------------------------------------------------------- build
build_log=$out/build.log
: >"$build_log"
build() {
	local what=$1

	shift
	if ! "$@" >>"$build_log" 2>&1; then
		not_ok "bench: build $what" "$(tail -n 15 "$build_log")"
		return 1
	fi
}
bench_o=$top/build/bench
build fsk-bench make -C tools/bench O="$bench_o" || exit 1
build "fastsocket.ko" make module KVER="$(echo $kernels)" || exit 1
build "XDP programs" make -C bpf O="$top/build/bpf" || exit 1
rss_obj=$top/build/bpf/fsk_rss.bpf.o
# RFD's receive side is fastsocketctl's: without it that configuration is
# reported ABSENT, never replaced, and fails.
fskctl=$top/build/tools/fastsocketctl
fskctl_args=()
if [ ! -f tools/fastsocketctl/Makefile ]; then
	fskctl_args=(--fastsocketctl-absent "tools/fastsocketctl is not in this tree")
elif ! make -C tools/fastsocketctl >>"$build_log" 2>&1; then
	fskctl_args=(--fastsocketctl-absent "fastsocketctl did not build (see $build_log)")
	note "fastsocketctl did not build: fastsocket+rfd will be ABSENT (a failure)"
elif ! "$fskctl" --help >/dev/null 2>&1; then
	fskctl_args=(--fastsocketctl-absent "$fskctl --help failed")
else
	fskctl_args=(--fastsocketctl "$fskctl")
fi

# -------------------------------------------------------------- per kernel
guest_args=(--rounds "$rounds" --seconds "$seconds" --warmup "$warmup"
	    --bench "$bench_o/fsk-bench" --rss-obj "$rss_obj" "${fskctl_args[@]}")
[ $smoke = 1 ] && guest_args+=(--smoke)
[ -n "$groups" ] && guest_args+=(--groups "$groups")
# Upper bound on the guest's time: runs x (warmup + measured + drain + setup).
per_run=$(awk -v w="$warmup" -v s="$seconds" 'BEGIN { printf "%d", w + s + 30 }')
timeout_s=$((180 + (smoke ? 10 : 22 * rounds) * per_run))

# run_guest KVER LOG: one boot running guest-bench.sh; its "# [round/rounds]"
# progress lines and warnings pass through, CSV lines go to LOG only.
run_guest() {
	tools/vm/run.sh --smp "$cpus" --mem "$mem" --timeout "$timeout_s" "$1" -- \
		tools/bench/guest-bench.sh --module "build/$1/fastsocket.ko" \
		"${guest_args[@]}" 2>&1 |
		tee "$2" |
		grep --line-buffered -vE '^(CSV|CSVHEAD),|^BENCH-DONE|^ok - kernel clean'
	return "${PIPESTATUS[0]}"
}

results=()
for kver in $kernels; do
	log=$out/console-$kver.log
	csv=$out/results-$kver.csv
	start=$(date +%s)
	note "bench: kernel $kver, $cpus vCPUs, $rounds round(s) of ${warmup}+${seconds} s runs," \
		"qemu ${qemu_version:-?}, host CPU $host_cpu ($host_cores cores)"
	run_guest "$kver" "$log"
	rc=$?
	# qemu's multi-threaded TCG can leave a vCPU running a stale int3
	# after the guest kernel patched its own code (tools/vm/README.md):
	# run.sh says so with status 126. That, and only that, gets the boot run
	# again, and says so.
	if [ "$rc" = 126 ]; then
		note "$kver: the guest died of the emulator's stale-int3 race; booting it again"
		sed -n '/stale-int3 race/,$p' "$log" | sed 's/^/#   /'
		mv "$log" "$log.int3"
		run_guest "$kver" "$log"
		rc=$?
	fi
	secs=$(($(date +%s) - start))
	{
		sed -n 's/^CSVHEAD,\(.*\)$/\1,host_cpu,host_cores/p' "$log" | head -n1
		sed -n "s/^CSV,\\(.*\\)\$/\\1,$host_cpu,$host_cores/p" "$log"
	} >"$csv"
	rows=$(($(wc -l <"$csv") - 1))
	done_line=$(grep '^BENCH-DONE' "$log" | tail -n1)
	clean=$(grep -E '^(not )?ok - kernel clean' "$log" | tail -n1)

	if [ $smoke = 1 ]; then
		# One TAP line per run, from the CSV (columns by header name): a
		# run that could not run (ABSENT), had errors, or whose mechanism
		# did not engage (NOT ENGAGED) fails.
		while IFS=$'\t' read -r wl path cfg rate errors status note_; do
			desc="$kver $wl/$path/$cfg"
			if [ "$status" = absent ]; then
				not_ok "$desc: ran" "$note_"
			elif [ "$status" = error ] || [ -z "$rate" ] || [ "$errors" != 0 ]; then
				not_ok "$desc: zero errors" \
					"rate ${rate:-none}, errors ${errors:-?}: $note_"
			else
				ok "$desc: zero errors ($rate/s)"
				[ "$status" = warn ] && note "WARNING: $desc: $note_"
			fi
		done < <(awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) c[$i] = i; next }
			{ print $c["workload"] "\t" $c["path"] "\t" $c["config"] "\t" \
			  $c["rate"] "\t" $c["errors"] "\t" $c["status"] "\t" $c["note"] }' "$csv")
		if [ "$rc" -ne 0 ] && [ -z "$done_line" ]; then
			not_ok "$kver: the guest finished (status $rc)" "$(tail -n 20 "$log")"
		elif [ "$rows" -lt 1 ]; then
			not_ok "$kver: the guest produced results" "$(tail -n 20 "$log")"
		fi
		if [ "${clean#ok}" != "$clean" ]; then
			ok "$kver: ${clean#ok - } after the benchmark"
		else
			not_ok "$kver: kernel clean after the benchmark" "${clean:-no check line}"
		fi
		note "$kver: smoke took $secs s (boot included)"
		continue
	fi

	note "$kver: $rows runs in $secs s; ${done_line:-guest did not finish (status $rc)}; $clean"
	[ "$rows" -gt 0 ] && results+=("$csv")
	[ "$rc" -eq 0 ] || failed=$((failed + 1))
done

if [ $smoke = 1 ]; then
	echo "1..$n"
	[ "$failed" -eq 0 ]
	exit
fi

[ ${#results[@]} -gt 0 ] || { echo "bench: no results" >&2; exit 1; }
{
	head -n1 "${results[0]}"
	for f in "${results[@]}"; do tail -n +2 "$f"; done
} >"$out/results.csv"
echo
tools/bench/report.sh --out "$out" "$out/results.csv"
note "per-run results: $out/results.csv; medians: $out/summary.csv; chart: $out/bench.png"
note "under emulation (qemu TCG) absolute rates mean nothing: compare ratios within one boot"
[ "$failed" -eq 0 ]

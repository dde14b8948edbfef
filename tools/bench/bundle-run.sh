#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# run.sh of the fastsocket benchmark bundle (tools/bench/bundle.sh packs this
# file): boots each bundled kernel under the bundled qemu (TCG, no KVM
# needed, nothing installed) at each vCPU count, and runs the benchmark
# (tools/bench/guest-bench.sh) in one boot per kernel and count.
#
#   ./run.sh [--cpus "4 8 16"] [--kernels "KVER..."] [--rounds N] [--seconds S]
#            [--warmup S] [--groups "conn/lo ..."] [--configs "stock ..."] [--mem SIZE]
#            [--out DIR] [--smoke] [--trace]
#
# Writes DIR (default ./results): console-KVER-Ncpu.log, results-KVER-Ncpu.csv,
# results.csv (all runs, with the host CPU model and core count), summary.csv
# and table.txt (and bench.png where gnuplot is installed).
set -uo pipefail

d=$(cd "$(dirname "$0")" && pwd)
cpus="4 8 16"
kernels=$(ls "$d/kernels")
rounds=3
seconds=5
warmup=1
groups="conn/lo conn/nic proxy/lo proxy/nic"
mem=4G
out=$d/results
smoke=0
configs=
trace=0
while [ $# -gt 0 ]; do
	case $1 in
	--cpus) cpus=$2; shift 2 ;;
	--kernels) kernels=$2; shift 2 ;;
	--rounds) rounds=$2; shift 2 ;;
	--seconds) seconds=$2; shift 2 ;;
	--warmup) warmup=$2; shift 2 ;;
	--groups) groups=$2; shift 2 ;;
	--mem) mem=$2; shift 2 ;;
	--out) out=$2; shift 2 ;;
	--configs) configs=$2; shift 2 ;;
	--smoke) smoke=1; rounds=1; seconds=1.5; warmup=0.5; shift ;;
	--trace) trace=1; shift ;;
	*) sed -n '4,15p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
	esac
done
mkdir -p "$out"
host_cpu=$(sed -n 's/^model name[[:space:]]*: *//p' /proc/cpuinfo | head -n1 | tr -s ' ,' ' ')
host_cores=$(nproc)
# qemu through the bundled loader and libraries; firmware from -L, the TCG
# accelerator module from QEMU_MODULE_DIR.
qemu=("$d/qemu/lib/ld-linux-x86-64.so.2" --library-path "$d/qemu/lib"
	"$d/qemu/bin/qemu-system-x86_64" -L "$d/qemu/share")
export QEMU_MODULE_DIR=$d/qemu/modules

# console LOG: the guest's serial output without escape sequences and CRs
console() {
	sed -u 's/\x1b\[[0-9;?]*[A-Za-z]//g; s/\x1b[()][A-Za-z0-9]//g; s/\r//g' | tee "$1"
}

status=0
csvs=()
for kver in $kernels; do
	for n in $cpus; do
		tag=$kver-${n}cpu
		log=$out/console-$tag.log
		csv=$out/results-$tag.csv
		echo "# $tag: booting (host: $host_cpu, $host_cores cores)"
		append="console=ttyS0 panic=-1 quiet loglevel=2 tsc=unstable"
		append+=" fsk.rounds=$rounds fsk.seconds=$seconds fsk.warmup=$warmup"
		append+=" fsk.groups=$(echo $groups | tr ' ' ,) fsk.smoke=$smoke fsk.trace=$trace"
		[ -z "$configs" ] || append+=" fsk.configs=$(echo $configs | tr ' ' ,)"
		limit=$((300 + rounds * 20 * (${seconds%.*} + ${warmup%.*} + 30)))
		timeout -k 10 "$limit" "${qemu[@]}" -accel tcg,thread=multi -smp "$n" \
			-m "$mem" -nographic -no-reboot -vga none -nic none \
			-kernel "$d/kernels/$kver/vmlinuz" \
			-initrd "$d/kernels/$kver/initramfs.cpio.gz" -append "$append" \
			</dev/null 2>&1 | console "$log" |
			grep --line-buffered -E '^# |^(not )?ok '
		{
			sed -n 's/.*CSVHEAD,\(.*\)$/\1,host_cpu,host_cores/p' "$log" | head -n1
			sed -n "s/^CSV,\\(.*\\)\$/\\1,$host_cpu,$host_cores/p" "$log"
		} >"$csv"
		rc=$(sed -n 's/^BUNDLE-EXIT \([0-9]*\).*/\1/p' "$log" | tail -n1)
		if [ -z "$rc" ]; then
			echo "not ok - $tag: the guest did not finish"
			tail -n 20 "$log" | sed 's/^/# /'
			status=1
		elif [ "$rc" != 0 ]; then
			echo "# $tag: guest-bench exited $rc"
			status=1
		fi
		[ "$(wc -l <"$csv")" -gt 1 ] && csvs+=("$csv")
	done
done
[ ${#csvs[@]} -gt 0 ] || exit 1
{
	head -n1 "${csvs[0]}"
	for f in "${csvs[@]}"; do tail -n +2 "$f"; done
} >"$out/results.csv"
"$d/report.sh" --out "$out" "$out/results.csv"
exit $status

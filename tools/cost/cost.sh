#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# tools/cost/cost.sh: the cost benchmark. Boots each kernel under qemu with
# guest time counting instructions (icount) and the TCG plugin
# build/cost/fsk_insns.so, runs tools/bench/guest-bench.sh --cost (each
# run's measured seconds are a window of the plugin's), and turns the
# windows into instructions per connection, total and on the server's vCPUs,
# kernel and user, per configuration: the median over the rounds and its
# coefficient of variation. Counts, not times: emulation's times mean
# nothing, the instructions a connection costs are what the guest executed.
#
# Writes COST_OUT/cost.csv (kernel,vcpus,workload,path,config,metric,median,
# cv_pct,rounds) and cost.txt (each configuration against the stock single
# listener); prints cost.txt with the kernel, vCPUs, qemu version and host.
#
# Environment: COST_KERNELS (default tools/kernels.sh, not the debug
# kernel), COST_CPUS ("2"), COST_ROUNDS (3), COST_SECONDS (0.5, of guest
# time: 5e8 instructions at icount shift 0), COST_WARMUP (0.3),
# COST_GROUPS ("conn/lo"), COST_CONFIGS (all of a group's),
# COST_OUT (build/cost).
set -uo pipefail

top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top"
out=${COST_OUT:-$top/build/cost}
rounds=${COST_ROUNDS:-3}
seconds=${COST_SECONDS:-0.5}
warmup=${COST_WARMUP:-0.3}
groups=${COST_GROUPS:-conn/lo}
cpus_list=${COST_CPUS:-2}
plugin=$top/build/cost/fsk_insns.so
mkdir -p "$out"
[ -f "$plugin" ] || { echo "cost.sh: $plugin not built (make -C tools/cost)" >&2; exit 2; }
kernels=
for k in ${COST_KERNELS:-$(tools/kernels.sh)}; do
	[[ $k == *-fskdebug ]] || kernels+=" $k"
done
qemu_version=$(qemu-system-x86_64 --version | head -n1)
host_cpu=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)

# join WINDOWS LOG: one line per run, "kernel vcpus workload path config
# round conns total server server_kernel client".
join_runs() {
	awk -F'[ ,]' '
	FNR == NR && $1 == "close" {
		n = $8; tot = srv = srvk = cli = 0
		for (i = 0; i < n; i++) {
			k = $(9 + 2 * i); u = $(10 + 2 * i)
			if (i >= int(n / 2)) { srv += k + u; srvk += k } else cli += k + u
		}
		total[$4] = srv + cli; server[$4] = srv; server_k[$4] = srvk; client[$4] = cli
		next
	}
	FNR != NR && $1 == "COST" && ($2 in total) && $9 > 0 {
		print $3, $4, $5, $6, $7, $8, $9, total[$2], server[$2], server_k[$2], client[$2]
	}' "$1" "$2"
}

: >"$out/runs.txt"
status=0
for k in $kernels; do
	for n in $cpus_list; do
		win=$out/windows-$k-$n.txt log=$out/guest-$k-$n.log
		echo "# $k, $n vCPUs, icount shift 0: guest-bench --cost, $rounds rounds of" \
			"${warmup}+${seconds} s (guest time), groups $groups"
		FSK_VM_ICOUNT=0 FSK_VM_PLUGIN="$plugin,out=$win" \
			tools/vm/run.sh --smp "$n" --mem 2G --timeout 3000 "$k" -- \
			tools/bench/guest-bench.sh --cost --rounds "$rounds" --seconds "$seconds" \
			--warmup "$warmup" --groups "$groups" \
			${COST_CONFIGS:+--configs "$COST_CONFIGS"} >"$log" 2>&1
		rc=$?
		if [ $rc != 0 ]; then
			echo "not ok - $k $n vCPUs: the guest failed ($rc), see $log"
			grep -E '^# (WARNING|FAIL)|NOT ENGAGED|error' "$log" | head -n5 | sed 's/^/#   /'
			status=1
		fi
		join_runs "$win" "$log" >>"$out/runs.txt"
	done
done

# Median and coefficient of variation over the rounds of each configuration.
awk -v out="$out/cost.csv" '
function stats(key, v, n,   i, j, t, m, s) {
	for (i = 1; i <= n; i++)	# insertion sort
		for (j = i; j > 1 && v[j - 1] > v[j]; j--) { t = v[j]; v[j] = v[j - 1]; v[j - 1] = t }
	med = n % 2 ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
	m = 0; for (i = 1; i <= n; i++) m += v[i]; m /= n
	s = 0; for (i = 1; i <= n; i++) s += (v[i] - m) ^ 2
	cv = n > 1 && m > 0 ? 100 * sqrt(s / (n - 1)) / m : 0
	printf "%s,%.0f,%.2f,%d\n", key, med, cv, n >> out
}
{
	id = $1 "," $2 "," $3 "," $4 "," $5
	ids[id] = 1
	r = ++n[id]
	total[id, r] = $8 / $7; server[id, r] = $9 / $7; serverk[id, r] = $10 / $7
}
END {
	print "kernel,vcpus,workload,path,config,metric,median,cv_pct,rounds" > out
	for (id in ids) {
		for (r = 1; r <= n[id]; r++) a[r] = total[id, r]
		stats(id ",insns_per_conn", a, n[id])
		for (r = 1; r <= n[id]; r++) a[r] = server[id, r]
		stats(id ",server_insns_per_conn", a, n[id])
		for (r = 1; r <= n[id]; r++) a[r] = serverk[id, r]
		stats(id ",server_kernel_insns_per_conn", a, n[id])
	}
}' "$out/runs.txt"
{
	head -n1 "$out/cost.csv"
	tail -n +2 "$out/cost.csv" | sort -t, -k1,1 -k2,2n -k3,3 -k4,4 -k6,6 -k5,5
} >"$out/cost.csv.tmp" && mv "$out/cost.csv.tmp" "$out/cost.csv"

# The table: per kernel, vCPUs, workload and path, each configuration's
# medians and CVs, and its ratio to stock (module loaded, switched off).
{
	echo "# cost benchmark: instructions per connection (median of rounds, CV %)"
	echo "# qemu: $qemu_version; host: $host_cpu; icount shift 0, single-threaded TCG"
	awk -F, 'NR > 1 {
		key = $1 " " $2 " vCPUs " $3 "/" $4
		v[key, $5, $6] = $7; c[key, $5, $6] = $8; keys[key] = 1; cfgs[key, $5] = 1
		if (!(key SUBSEP $5 in seen)) { seen[key, $5] = 1; order[key] = order[key] " " $5 }
	}
	END {
		for (key in keys) {
			printf "\n%s\n%-16s %14s %7s %8s %14s %7s %8s\n", key, "config",
			       "insns/conn", "CV%", "vs stock", "server/conn", "CV%", "vs stock"
			n = split(order[key], cl, " ")
			base = v[key, "stock", "insns_per_conn"]; sbase = v[key, "stock", "server_insns_per_conn"]
			for (i = 1; i <= n; i++) {
				f = cl[i]
				t = v[key, f, "insns_per_conn"]; s = v[key, f, "server_insns_per_conn"]
				printf "%-16s %14.0f %7.2f %8s %14.0f %7.2f %8s\n", f, t,
				       c[key, f, "insns_per_conn"], base ? sprintf("%.3f", t / base) : "-",
				       s, c[key, f, "server_insns_per_conn"],
				       sbase ? sprintf("%.3f", s / sbase) : "-"
			}
		}
	}' "$out/cost.csv"
} >"$out/cost.txt"
cat "$out/cost.txt"
echo "# wrote $out/cost.csv, $out/cost.txt"
exit $status

#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# tools/bench/report.sh [--out DIR] [--title TEXT] RESULTS.csv...
#
# Summarises the per-run CSV of tools/bench/bench.sh (or of the bundle's
# run.sh): for each kernel, vCPU count, workload, path and configuration the
# median rate over the rounds, its ratio to the stock single listener of the
# same boot, the range of the per-round ratios (each run against the stock
# run of its own round), the spread of the rate ((max - min) / median), the
# errors, how busy the client and the server CPUs were (medians), and for
# fastsocket how many SYNs its per-CPU listeners took and on which side.
#
# Prints the table, and writes DIR/summary.csv, DIR/table.txt and, when
# gnuplot is installed, DIR/bench.png (ratio to stock, with the per-round
# range as error bars). DIR defaults to the first CSV's folder.
set -euo pipefail

out=
title="fastsocket bench"
while [ $# -gt 0 ]; do
	case $1 in
	--out) out=$2; shift 2 ;;
	--title) title=$2; shift 2 ;;
	-h|--help) sed -n '4,17p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) break ;;
	esac
done
[ $# -gt 0 ] || { echo "usage: report.sh [--out DIR] RESULTS.csv..." >&2; exit 2; }
out=${out:-$(dirname "$1")}
mkdir -p "$out"

# One awk program reads every CSV (by header name, so columns may be added)
# and writes the summary rows; the table is printed from them.
awk -F, -v summary="$out/summary.csv" '
function median(list,   n, v, i, j, t) {
	n = split(list, v, " ")
	for (i = 2; i <= n; i++)
		for (j = i; j > 1 && v[j - 1] + 0 > v[j] + 0; j--) {
			t = v[j]; v[j] = v[j - 1]; v[j - 1] = t
		}
	if (n == 0) return ""
	return n % 2 ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
}
function pct(v) {
	return v == "" ? "" : sprintf("%.0f", v)
}
function minmax(list,   n, v, i) {
	n = split(list, v, " ")
	lo = ""; hi = ""
	for (i = 1; i <= n; i++) {
		if (lo == "" || v[i] + 0 < lo + 0) lo = v[i]
		if (hi == "" || v[i] + 0 > hi + 0) hi = v[i]
	}
}
FNR == 1 {
	delete col
	for (i = 1; i <= NF; i++) col[$i] = i
	next
}
{
	boot = $col["kernel"] SUBSEP $col["vcpus"]
	if (!(boot in seen_boot)) {
		seen_boot[boot] = 1; boots[++nboots] = boot
		host[boot] = ("host_cpu" in col) ? $col["host_cpu"] : "?"
		cores[boot] = ("host_cores" in col) ? $col["host_cores"] : "?"
	}
	g = $col["workload"] "/" $col["path"]
	key = boot SUBSEP g SUBSEP $col["config"]
	if (!(key in seen_key)) {
		seen_key[key] = 1; keys[++nkeys] = key
		gkey = boot SUBSEP g
		if (!(gkey in seen_g)) { seen_g[gkey] = 1; groups[++ngroups] = gkey }
	}
	rounds[boot] = ($col["round"] > rounds[boot]) ? $col["round"] : rounds[boot]
	st = $col["status"]
	if (st == "absent") { absent[key] = $col["note"]; next }
	rate = $col["rate"]
	if (rate == "") { failed[key]++; notes[key] = notes[key] " | " $col["note"]; next }
	rates[key] = rates[key] " " rate
	r_of[key, $col["round"]] = rate
	errs[key] += $col["errors"]
	cb[key] = cb[key] " " $col["client_busy_pct"]
	sb[key] = sb[key] " " $col["server_busy_pct"]
	if ($col["listen_syn_local"] != "") {
		syn[key] += $col["listen_syn_local"]
		if ($col["syn_on_server_cpus_pct"] != "")
			synsrv[key] = synsrv[key] " " $col["syn_on_server_cpus_pct"]
		stolen[key] += $col["accept_stolen"]; acc[key] += $col["accept_local"] + \
			$col["accept_parent"] + $col["accept_stolen"]
	}
	if ($col["rfd_xdp_redirected"] != "")
		rfd[key] += $col["rfd_xdp_redirected"] + $col["rfd_xdp_local"]
	if (st == "warn" || st == "error") {
		warned[key]++
		if (index(notes[key], $col["note"]) == 0) notes[key] = notes[key] " | " $col["note"]
	}
}
END {
	print "kernel,vcpus,host_cpu,host_cores,workload,path,config,rounds,median,ratio," \
	      "round_ratio_min,round_ratio_max,spread_pct,errors,client_busy_pct," \
	      "server_busy_pct,listen_syn_local,syn_on_server_cpus_pct,accept_stolen_pct," \
	      "rfd_xdp_steered,warnings,note" > summary
	for (k = 1; k <= nkeys; k++) {
		key = keys[k]
		split(key, f, SUBSEP)
		boot = f[1] SUBSEP f[2]; g = f[3]; cfg = f[4]
		split(g, wp, "/")
		stock = boot SUBSEP g SUBSEP "stock"
		line = f[1] "," f[2] "," host[boot] "," cores[boot] "," wp[1] "," wp[2] "," cfg
		if (key in absent) {
			print line ",0,,,,,,,,,,,,,,ABSENT: " absent[key] > summary
			continue
		}
		n = split(rates[key], tmp, " ")
		med = median(rates[key])
		ratio = ""; rlist = ""
		if (med != "" && (stock in seen_key) && rates[stock] != "") {
			smed = median(rates[stock])
			if (smed > 0) ratio = sprintf("%.2f", med / smed)
			for (r = 1; r <= rounds[boot]; r++)
				if (((key, r) in r_of) && ((stock, r) in r_of) &&
				    r_of[stock, r] > 0)
					rlist = rlist " " r_of[key, r] / r_of[stock, r]
		}
		minmax(rlist); rlo = lo == "" ? "" : sprintf("%.2f", lo)
		rhi = hi == "" ? "" : sprintf("%.2f", hi)
		minmax(rates[key])
		spread = (med > 0) ? sprintf("%.0f", 100 * (hi - lo) / med) : ""
		sp = median(synsrv[key])
		stp = (acc[key] > 0) ? sprintf("%.0f", 100 * stolen[key] / acc[key]) : ""
		note = notes[key]; sub(/^ \| /, "", note); gsub(/,/, ";", note)
		if (failed[key]) note = failed[key] " run(s) failed: " note
		print line "," n "," (med == "" ? "" : sprintf("%.1f", med)) "," ratio "," rlo "," \
		      rhi "," spread "," errs[key] + 0 "," pct(median(cb[key])) "," \
		      pct(median(sb[key])) "," \
		      ((key in syn) ? syn[key] : "") "," sp "," stp "," \
		      ((key in rfd) ? rfd[key] : "") "," warned[key] + 0 "," note > summary
	}
}' "$@"

# The table, from the summary.
awk -F, -v title="$title" '
NR == 1 { next }
{
	boot = $1 " " $2
	if (boot != last) {
		if (last != "") print ""
		printf "%s: kernel %s, %s vCPUs, host CPU %s (%s cores), medians of %s rounds\n",
			title, $1, $2, $3, $4, $8
		printf "%-8s %-4s %-15s %10s %6s %11s %7s %6s %5s %5s  %s\n", "workload", "path",
			"config", "median/s", "ratio", "round-ratio", "spread", "errors", "cli%",
			"srv%", "fastsocket"
		last = boot
	}
	if ($22 ~ /^ABSENT/) {
		printf "%-8s %-4s %-15s %s\n", $5, $6, $7, $22
		next
	}
	fsk = ""
	if ($17 != "" && $17 > 0)
		fsk = sprintf("SYNs %s (%s%% on server CPUs), accept stolen %s%%", $17, $18, $19)
	if ($20 != "") fsk = fsk sprintf(", RFD steered %s", $20)
	if ($21 > 0) fsk = fsk (fsk == "" ? "" : " ") "WARNING (" $21 " runs): " $22
	printf "%-8s %-4s %-15s %10s %6s %11s %6s%% %6s %5s %5s  %s\n", $5, $6, $7, $9, $10,
		($11 == "" ? "" : $11 "-" $12), $13, $14, $15, $16, fsk
}' "$out/summary.csv" | tee "$out/table.txt"

command -v gnuplot >/dev/null || { echo "# gnuplot not installed: no chart"; exit 0; }

# Chart: one bar per boot (kernel, vCPUs) for each workload/path/config,
# the ratio to stock, error bars from the per-round ratios.
awk -F, '
NR == 1 { next }
$10 != "" {
	b = $1 " " $2 " vCPUs"
	if (!(b in bi)) { bi[b] = ++nb; bn[nb] = b }
	l = $5 "/" $6 " " $7
	if (!(l in li)) { li[l] = ++nl; ln[nl] = l }
	v[li[l], bi[b]] = $10 " " ($11 == "" ? $10 : $11) " " ($12 == "" ? $10 : $12)
}
END {
	printf "label"
	for (j = 1; j <= nb; j++) printf "\t\"%s\"\t-\t-", bn[j]
	print ""
	for (i = 1; i <= nl; i++) {
		printf "\"%s\"", ln[i]
		for (j = 1; j <= nb; j++) {
			split((i, j) in v ? v[i, j] : "NaN NaN NaN", x, " ")
			printf "\t%s\t%s\t%s", x[1], x[2], x[3]
		}
		print ""
	}
}' "$out/summary.csv" >"$out/chart.dat"
nseries=$(head -n1 "$out/chart.dat" | awk -F'\t' '{ print (NF - 1) / 3 }')
nbars=$(($(wc -l <"$out/chart.dat") - 1))
[ "$nbars" -gt 0 ] || { echo "# no ratios to chart"; exit 0; }
width=$((200 + 22 * nbars * (nseries + 1)))
[ "$width" -ge 800 ] || width=800
[ "$width" -le 2400 ] || width=2400
plot=
for ((s = 0; s < nseries; s++)); do
	c=$((2 + 3 * s))
	plot+="${plot:+, }'$out/chart.dat' using $c:$((c + 1)):$((c + 2))"
	[ $s = 0 ] && plot+=":xtic(1)"
	plot+=" title columnheader($c)"
done
gnuplot <<-EOF
	set terminal pngcairo size $width,640 font 'sans,10'
	set output '$out/bench.png'
	set title "$title: rate relative to the stock single listener" . \
		" (median; bars: per-round range)"
	set ylabel 'ratio to stock'
	set style data histograms
	set style histogram errorbars gap 1 lw 1
	set style fill solid 0.6 border -1
	set boxwidth 0.9
	set xtics rotate by -45 nomirror
	set yrange [0:*]
	set grid ytics
	set key inside top left
	set rmargin 10
	set arrow from graph 0, first 1 to graph 1, first 1 nohead dt 2 lc rgb 'black'
	plot $plot
EOF
echo "# wrote $out/summary.csv, $out/table.txt, $out/bench.png"

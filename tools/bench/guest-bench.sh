#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# tools/bench/guest-bench.sh - the benchmark's guest half: runs inside a
# throwaway guest (tools/vm/run.sh, or the initramfs of tools/bench/bundle.sh)
# as root, and prints one CSV line per measured run ("CSV,...", the header
# as "CSVHEAD,..."), progress lines ("# ...") and, at the end,
# "BENCH-DONE runs=N failed=N".
#
# usage: tools/bench/guest-bench.sh [--rounds N] [--seconds S] [--warmup S]
#            [--concurrency C] [--groups LIST] [--configs LIST] [--smoke]
#            [--bench PATH] [--module PATH] [--rss-obj PATH] [--fastsocketctl PATH]
#            [--fastsocketctl-absent REASON] [--sysctl net/x/y=VALUE]... [--trace]
#            [--cost]
#
# CPUs 0..N/2-1 are the client's (load generators and the proxy's backend,
# i.e. the outside world), N/2..N-1 the server's. The proxy's backend is an
# fsk-bench server with one plain listener. The load starts once every server
# of the run has created its --ready-file (after its listen()); each run
# removes the ready files of the run before, which would otherwise let the
# client start while the backend is still starting up: its SYNs answered by
# the backend netns's RST for a port nobody listens on (tcp_send_reset
# reason NO_SOCKET), "backend_refused" errors, on either kernel, with the
# module loaded or not.
# Groups (WORKLOAD/PATH):
#   conn/lo conn/nic proxy/lo proxy/nic nginx/nic haproxy/nic
# lo: client and server over loopback in one netns (the kernel processes each
# packet on the CPU that sent it, so the handshake runs on client CPUs);
# nic: client, server and backend in their own netns over veth, with
# bpf/fsk_rss.bpf.c on the server's veths spreading received packets over the
# server's CPUs by 4-tuple hash (software RSS through a CPUMAP).
# Configurations, run in turn and interleaved over the rounds:
#   nomod       module not loaded
#   stock       module loaded, net.fastsocket.enabled=0, single listener
#   reuseport   module loaded, disabled, one SO_REUSEPORT listener per worker
#   fastsocket  module loaded, enabled=1 before the server listens
#   fastsocket+rfd  the same, plus fastsocketctl's RFD XDP program on the
#               server's backend-facing veth (proxy workloads, nic path)
# --cost: each run's measured seconds are a cost window of the TCG plugin
# (tools/cost/fsk_insns.c), and a line "COST,TAG,KERNEL,VCPUS,WORKLOAD,PATH,
# CONFIG,ROUND,CONNS" follows the run (tools/cost/cost.sh reads them).
# --smoke: one 2 s run (0.5 s warmup, 1.5 s measured) of each configuration
# on proxy/nic, and of fastsocket on conn/lo, nginx/nic and haproxy/nic.
# Exits non-zero unless every run completed with zero errors: a run with
# errors, a fastsocket configuration whose mechanism did not engage (NOT
# ENGAGED) and one that could not run (ABSENT: fastsocketctl missing or
# failing) each count as failed.
set -uo pipefail

top=$(cd "$(dirname "$0")/../.." && pwd)
rounds=3
seconds=5
warmup=1
concurrency=
groups="conn/lo conn/nic proxy/lo proxy/nic nginx/nic haproxy/nic"
only_configs=
extra_sysctls=()
smoke=0
trace=0
bench=$top/build/bench/fsk-bench
module=$top/build/$(uname -r)/fastsocket.ko
rss_obj=$top/build/bpf/fsk_rss.bpf.o
fskctl=$top/build/tools/fastsocketctl
fskctl_absent=
cost=0
cost_seq=0

while [ $# -gt 0 ]; do
	case $1 in
	--smoke) smoke=1; rounds=1; seconds=1.5; warmup=0.5; shift ;;
	--rounds) rounds=$2; shift 2 ;;
	--seconds) seconds=$2; shift 2 ;;
	--warmup) warmup=$2; shift 2 ;;
	--concurrency) concurrency=$2; shift 2 ;;
	--groups) groups=$2; shift 2 ;;
	--configs) only_configs=$2; shift 2 ;;
	--sysctl) extra_sysctls+=("$2"); shift 2 ;;
	--trace) trace=1; shift ;;
	--cost) cost=1; shift ;;
	--bench) bench=$2; shift 2 ;;
	--module) module=$2; shift 2 ;;
	--rss-obj) rss_obj=$2; shift 2 ;;
	--fastsocketctl) fskctl=$2; shift 2 ;;
	--fastsocketctl-absent) fskctl_absent=$2; shift 2 ;;
	*) echo "guest-bench: unknown argument $1" >&2; exit 2 ;;
	esac
done

work=/tmp/fsk-bench
# A bpffs of our own outside /sys: "ip -n NS" remounts /sys, which would hide
# pins under /sys/fs/bpf from the xdpgeneric attach.
bpffs=/tmp/fsk-bench-bpf
rss_prog=$bpffs/prog/fsk_rss_xdp
rm -rf "$work"
mkdir -p "$work"
mkfifo "$work/nap"
exec {nap_fd}<>"$work/nap"
kver=$(uname -r)
ncpus=$(nproc)
if [ "$ncpus" -lt 2 ]; then
	echo "guest-bench: needs 2 CPUs or more (client, server), has $ncpus" >&2
	exit 2
fi
ncli=$((ncpus / 2))
nsrv=$((ncpus - ncli))
cli_cpus="0-$((ncli - 1))"
srv_cpus="$ncli-$((ncpus - 1))"
[ -n "$concurrency" ] || concurrency=$((64 * ncli))
port=8080
be_port=8081
failed=0
nruns=0

log() { echo "# $*"; }
trace_t0=$EPOCHREALTIME
trace_at() {	# --trace: seconds since the start, and where we are
	[ "$trace" = 0 ] && return
	awk -v a="$trace_t0" -v b="$EPOCHREALTIME" -v m="$*" \
		'BEGIN { printf "# trace %.2f %s\n", b - a, m }'
}
warn() { echo "# WARNING: $*"; }

# in_ns NS CMD...: CMD in netns NS, same process (no fork: $! stays its pid).
in_ns() {
	local ns=$1

	shift
	nsenter -F --net="/run/netns/$ns" "$@"
}

module_loaded() {
	local name _

	while read -r name _; do
		[ "$name" = fastsocket ] && return 0
	done </proc/modules
	return 1
}

module_state() {	# module_state on|off
	if [ "$1" = on ] && ! module_loaded; then
		insmod "$module" || { warn "insmod $module failed"; return 1; }
	elif [ "$1" = off ] && module_loaded; then
		rmmod fastsocket || { warn "rmmod fastsocket failed"; return 1; }
	fi
	return 0
}

# field LINE KEY: the value of KEY=... in a stats line.
field() {
	local w

	for w in $1; do
		[ "${w%%=*}" = "$2" ] && { echo "${w#*=}"; return; }
	done
}

# sum_btf FILE NAME...: sums of the "NAME": N fields in a bpftool BTF dump.
sum_btf() {
	local f=$1

	shift
	awk -v names="$*" '
		BEGIN { n = split(names, k, " "); for (i = 1; i <= n; i++) s[k[i]] = 0 }
		{ for (i = 1; i <= n; i++)
			if (match($0, "\"" k[i] "\": [0-9]+")) {
				v = substr($0, RSTART, RLENGTH); sub(/.*: /, "", v); s[k[i]] += v
			} }
		END { out = ""; for (i = 1; i <= n; i++) out = out (i > 1 ? " " : "") s[k[i]]
		      print out }' "$f"
}

# --------------------------------------------------------- software RSS
rss_ok=0
rss_red=0
rss_loc=0
rss_setup() {
	local cpu slot=0 b0 b1

	mkdir -p "$bpffs"
	grep -q " $bpffs bpf " /proc/mounts || mount -t bpf bpf "$bpffs" || return 1
	if [ ! -r "$rss_obj" ]; then
		warn "software RSS: $rss_obj missing"
		return 1
	fi
	if ! bpftool prog loadall "$rss_obj" "$bpffs/prog" type xdp \
		pinmaps "$bpffs/maps" >"$work/rss-load.log" 2>&1; then
		warn "software RSS: loading failed: $(tail -n5 "$work/rss-load.log")"
		return 1
	fi
	for ((cpu = ncli; cpu < ncpus; cpu++)); do
		bpftool map update pinned "$bpffs/maps/fsk_rss_cpus" \
			key $slot 0 0 0 value $((cpu & 255)) $((cpu >> 8)) 0 0 || return 1
		# struct bpf_cpumap_val: qsize 2048, no program
		bpftool map update pinned "$bpffs/maps/fsk_rss_cpumap" \
			key $((cpu & 255)) $((cpu >> 8)) 0 0 value 0 8 0 0 0 0 0 0 || return 1
		slot=$((slot + 1))
	done
	b0=$((nsrv & 255)); b1=$((nsrv >> 8))
	bpftool map update pinned "$bpffs/maps/fsk_rss_config" key 0 0 0 0 \
		value $b0 $b1 0 0 || return 1
	# Generic XDP is switched on by a static key, patched into the kernel's
	# text when the first program is attached and out when the last goes:
	# multi-threaded TCG (qemu 7.2) can die of that ("Oops: int3", see
	# tools/vm/README.md). A device of the root netns keeps the program
	# attached for the whole boot, so the runs never flip the key.
	ns_batch "" "link add fsk-keep0 type veth peer name fsk-keep1" \
		"link set dev fsk-keep0 xdpgeneric pinned $rss_prog" ||
		warn "could not pin generic XDP on: each nic run flips its static key"
	rss_ok=1
	read -r rss_red rss_loc < <(rss_stats)
}

rss_stats() {	# "redirected local" so far, all CPUs
	bpftool map dump pinned "$bpffs/maps/fsk_rss_stats" >"$work/rss-stats" 2>/dev/null
	sum_btf "$work/rss-stats" redirected local
}

# RFD: fastsocketctl's program on a device; its stats through bpftool.
rfd_stats() {	# rfd_stats NS DEV: "redirected local" of the program on DEV
	local r

	r=$(rfd_stats_once "$@")
	# once more when that found nothing (seen once, in the bundle's guest)
	if [ "$r" = "0 0" ]; then
		nap 0.2
		r=$(rfd_stats_once "$@")
	fi
	echo "$r"
}

rfd_stats_once() {
	local id maps m

	id=$(in_ns "$1" bpftool net show dev "$2" 2>/dev/null |
	     sed -n 's/.* id \([0-9]*\).*/\1/p' | head -n1)
	[ -n "$id" ] || { echo "0 0"; return; }
	maps=$(bpftool prog show id "$id" 2>/dev/null | sed -n 's/.*map_ids \([0-9,]*\).*/\1/p')
	trace_at "rfd_stats: program $id on $2, maps $maps" >&2
	for m in ${maps//,/ }; do
		if bpftool map show id "$m" 2>/dev/null | grep -q 'name fsk_rfd_stats'; then
			bpftool map dump id "$m" >"$work/rfd-stats" 2>&1
			trace_at "rfd_stats: map $m: $(head -c 200 "$work/rfd-stats" |
				tr '\n' ' ')" >&2
			sum_btf "$work/rfd-stats" redirected local
			return
		fi
	done
	echo "0 0"
}

# ----------------------------------------------------------- namespaces
# Each run gets fresh namespaces (no TIME_WAIT left from the run before),
# made with as few commands as possible: every first exec of a host binary
# costs 0.1-1 s under TCG.
netns_list=()

# ns_batch NS LINES...: ip commands in NS ("" for this netns), one ip process.
ns_batch() {
	local ns=$1

	shift
	printf '%s\n' "$@" | ip ${ns:+-n "$ns"} -batch - >>"$work/ip.log" 2>&1
}

# ns_sysctl NS SYSCTL=VALUE...: one shell in NS writes /proc/sys.
ns_sysctl() {
	local ns=$1 kv script=

	shift
	for kv in "$@"; do
		script+="echo '${kv#*=}' >/proc/sys/${kv%%=*} || exit 1;"
	done
	in_ns "$ns" bash -c "$script" >>"$work/ip.log" 2>&1
}

# setup_path PATH WITH_BACKEND CONFIG: the namespaces and devices of a run.
#   lo:  fsk-l (client and server on 127.0.0.1, backend on 127.0.0.2; with
#        fastsocket on, the backend's listener gets per-CPU clones too)
#   nic: fsk-c 10.77.1.1 eth0 <-> fsk-s eth0 10.77.1.2 (server)
#        fsk-b 10.77.2.2 eth0 <-> fsk-s eth1 10.77.2.1 (with a backend)
# software RSS on fsk-s eth0, and on eth1 unless CONFIG is fastsocket+rfd.
setup_path() {
	local path=$1 be=$2 cfg=$3 root_lines=() srv_lines=() sys=() common=()

	# A wide port range, deep queues, and room for every TIME_WAIT of a run
	# (the default, half the established hash, overflows at ~1500 conn/s).
	# (Start and end of different parity: 6.1 warns otherwise.)
	sys=("net/ipv4/ip_local_port_range=10000 64999" "net/core/somaxconn=65535"
	     "net/ipv4/tcp_max_syn_backlog=65535" "net/ipv4/tcp_max_tw_buckets=1000000")
	# The outside world's namespaces get the same room, nothing else.
	common=("${sys[@]}")
	sys+=("${extra_sysctls[@]}")
	[ "${cfg#fastsocket}" != "$cfg" ] && sys+=("net/fastsocket/enabled=1")
	if [ "$path" = lo ]; then
		netns_list=(fsk-l)
		ns_batch "" "netns add fsk-l" || return 1
		ns_batch fsk-l "link set lo up" || return 1
		ns_sysctl fsk-l "${sys[@]}" || return 1
		return 0
	fi
	netns_list=(fsk-c fsk-s)
	[ "$be" = 1 ] && netns_list+=(fsk-b)
	root_lines=("${netns_list[@]/#/netns add }"
		    "link add eth0 netns fsk-c type veth peer name eth0 netns fsk-s")
	[ "$be" = 1 ] &&
		root_lines+=("link add eth0 netns fsk-b type veth peer name eth1 netns fsk-s")
	ns_batch "" "${root_lines[@]}" || return 1
	ns_batch fsk-c "link set lo up" "addr add 10.77.1.1/24 dev eth0" "link set eth0 up" ||
		return 1
	ns_sysctl fsk-c "${common[@]}" || return 1
	srv_lines=("link set lo up" "addr add 10.77.1.2/24 dev eth0" "link set eth0 up")
	[ "$rss_ok" = 1 ] && srv_lines+=("link set dev eth0 xdpgeneric pinned $rss_prog")
	if [ "$be" = 1 ]; then
		ns_batch fsk-b "link set lo up" "addr add 10.77.2.2/24 dev eth0" \
			"link set eth0 up" || return 1
		ns_sysctl fsk-b "${common[@]}" || return 1
		srv_lines+=("addr add 10.77.2.1/24 dev eth1" "link set eth1 up")
		[ "$rss_ok" = 1 ] && [ "$cfg" != fastsocket+rfd ] &&
			srv_lines+=("link set dev eth1 xdpgeneric pinned $rss_prog")
	fi
	ns_batch fsk-s "${srv_lines[@]}" || return 1
	ns_sysctl fsk-s "${sys[@]}"
}

netns_cleanup() {
	[ ${#netns_list[@]} -gt 0 ] || return 0
	ip -force -batch - >/dev/null 2>&1 < <(printf 'netns del %s\n' "${netns_list[@]}")
	netns_list=()
}

# slab_objects CACHE: objects in a slab cache (counted by slab: an upper bound)
slab_objects() {
	local n=0

	[ -r "/sys/kernel/slab/$1/objects" ] && read -r n _ <"/sys/kernel/slab/$1/objects"
	echo "${n:-0}"
}

# settle: a deleted netns is torn down in the background (its sockets,
# thousands in TIME_WAIT, are purged by a kernel worker): wait until the
# TCP and TIME_WAIT socket caches stop shrinking (4 equal readings 0.1 s
# apart, at most 10 s), so that the next run does not share its CPUs with
# that work.
settle() {
	local i same=0 last= now

	for ((i = 0; i < 100; i++)); do
		now="$(slab_objects tw_sock_TCP) $(slab_objects TCP)"
		if [ "$now" = "$last" ]; then
			same=$((same + 1))
			[ "$same" -ge 3 ] && return 0
		else
			same=0
		fi
		last=$now
		nap 0.1
	done
}

# ------------------------------------------------------------ processes
pids=()
start_bg() {	# start_bg NAME NS CPUS CMD...: background, output in $work/NAME.*
	local name=$1 ns=$2 cpus=$3

	shift 3
	# Not through in_ns: a function in the background would be a subshell
	# whose pid is not the program's.
	nsenter -F --net="/run/netns/$ns" taskset -c "$cpus" "$@" \
		>"$work/$name.out" 2>"$work/$name.err" &
	pids+=($!)
	eval "pid_$name=$!"
}

# nap SECONDS: sleep without a process (a read that times out on a fifo
# nobody writes to); every exec is slow under TCG. Returns non-zero.
nap() { read -r -t "$1" -u "$nap_fd" _; }

wait_file() {	# wait_file PATH [TENTHS]
	local i

	for ((i = 0; i < ${2:-100}; i++)); do
		[ -e "$1" ] && return 0
		nap 0.1
	done
	return 1
}

wait_port() {	# wait_port PID ADDR PORT: until PID's netns listens on ADDR:PORT
	local i hex sl local_addr rem st a b c d

	IFS=. read -r a b c d <<<"$2"
	printf -v hex '%02X%02X%02X%02X:%04X' "$d" "$c" "$b" "$a" "$3"
	for ((i = 0; i < 150; i++)); do
		while read -r sl local_addr rem st _; do
			[ "$local_addr" = "$hex" ] && [ "$st" = 0A ] && return 0
		done <"/proc/$1/net/tcp"
		nap 0.1
	done
	return 1
}

stop_all() {	# SIGTERM every background process, wait for them
	local p

	for p in "${pids[@]}"; do
		kill -TERM "$p" 2>/dev/null
	done
	for p in "${pids[@]}"; do
		wait "$p" 2>/dev/null
	done
	pids=()
}

# fsk_counters PID: totals of /proc/PID/net/fastsocket, as name=value words,
# plus syn_srv (listen_syn_local on the server's CPUs).
fsk_counters() {
	local f=/proc/$1/net/fastsocket names row cpu i out= srv=0
	local -a tot=()

	[ -r "$f" ] || return 0
	{
		read -ra names
		while read -ra row; do
			cpu=${row[0]#cpu}
			for ((i = 1; i < ${#row[@]}; i++)); do
				tot[i]=$((${tot[i]:-0} + row[i]))
				[ "${names[i]}" = listen_syn_local ] && [ "$cpu" -ge "$ncli" ] &&
					srv=$((srv + row[i]))
			done
		done
	} <"$f"
	for ((i = 1; i < ${#names[@]}; i++)); do
		out+="${names[i]}=${tot[i]:-0} "
	done
	echo "${out}syn_srv=$srv"
}

# ------------------------------------------------------------- one run
# Results of the current run, printed by emit().
reset_result() {
	rate=; errors=; p50=; p99=; cli_busy=; srv_busy=; counters=
	steer_red=; steer_loc=; status=ok; note=
}

add_note() { note+="${note:+; }$*"; }
# problem warn|error MESSAGE: a note, and the run's status at least that bad
problem() {
	local level=$1

	shift
	[ "$status" = error ] || status=$level
	add_note "$*"
}

csv_head=kernel,vcpus,client_cpus,server_cpus,round,workload,path,config,rate,errors
csv_head+=,p50_us,p99_us,client_busy_pct,server_busy_pct,listen_syn_local
csv_head+=,syn_on_server_cpus_pct,accept_local,accept_parent,accept_stolen
csv_head+=,rfd_connect_local,rfd_xdp_redirected,rfd_xdp_local,status,note

emit() {	# emit ROUND WORKLOAD PATH CONFIG
	local syn syn_pct=

	syn=$(field "$counters" listen_syn_local)
	[ -n "$syn" ] && [ "$syn" -gt 0 ] &&
		syn_pct=$(((200 * $(field "$counters" syn_srv) + syn) / (2 * syn)))
	local f=(CSV "$kver" "$ncpus" "$cli_cpus" "$srv_cpus" "$@" "$rate" "$errors" "$p50" "$p99"
		 "$cli_busy" "$srv_busy" "$syn" "$syn_pct" "$(field "$counters" accept_local)"
		 "$(field "$counters" accept_parent)" "$(field "$counters" accept_stolen)"
		 "$(field "$counters" rfd_connect_local)" "$steer_red" "$steer_loc" "$status"
		 "${note//,/;}")

	(IFS=,; echo "${f[*]}")
}

# busy_of LINE CPUS(a-b): mean busy % of those CPUs in a sample-cpus line
busy_of() {
	local lo=${2%-*} hi=${2#*-} w c v sum=0 k=0

	for w in $1; do
		[[ $w =~ ^cpu([0-9]+)_busy=([0-9]+)\.([0-9]) ]] || continue
		c=${BASH_REMATCH[1]}
		v=$((10#${BASH_REMATCH[2]} * 10 + BASH_REMATCH[3]))
		[ "$c" -ge "$lo" ] && [ "$c" -le "$hi" ] && { sum=$((sum + v)); k=$((k + 1)); }
	done
	[ "$k" -gt 0 ] && echo $(((sum + k * 5) / (k * 10)))
}

start_sampler() {	# start_sampler DELAY DURATION
	trace_at "load starts"
	"$bench" sample-cpus --delay "$1" --duration "$2" >"$work/cpus.out" 2>/dev/null &
	sampler_pid=$!
}

finish_sampler() {
	local line

	wait "$sampler_pid"
	line=$(<"$work/cpus.out")
	cli_busy=$(busy_of "$line" "$cli_cpus")
	srv_busy=$(busy_of "$line" "$srv_cpus")
}

# fsk-bench client run in NS against ADDR:PORT; sets rate, errors, p50, p99.
run_client() {
	local out cost_args=()

	if [ "$cost" = 1 ]; then
		cost_seq=$((cost_seq + 1))
		cost_args=(--cost-tag "$cost_seq")
	fi
	start_sampler "$warmup" "$seconds"
	out=$(in_ns "$1" taskset -c "$cli_cpus" "$bench" client --connect "$2:$3" --pin \
		--threads "$ncli" --concurrency "$concurrency" --warmup "$warmup" \
		--duration "$seconds" "${cost_args[@]}" 2>"$work/client.err")
	finish_sampler
	cost_line "$(field "$out" conns)"
	if [ -z "$out" ]; then
		problem error "client failed: $(tail -n1 "$work/client.err")"
		return 1
	fi
	rate=$(field "$out" cps)
	errors=$(field "$out" errors)
	p50=$(field "$out" p50_us)
	p99=$(field "$out" p99_us)
	[ "$errors" = 0 ] || add_note "client: $(for k in refused reset timeout addr eof other; do
		echo -n "$k=$(field "$out" $k) "; done)"
	[ "$(field "$out" conns)" != 0 ] || problem error "no connection completed"
}

# Adds a server's errors (its stats line on stdout) to the run's.
server_errors() {	# server_errors NAME
	local line e

	line=$(<"$work/$1.out")
	e=$(field "$line" errors)
	if [ -z "$e" ]; then
		problem error "$1 printed no stats: $(tail -n1 "$work/$1.err" 2>/dev/null)"
		return
	fi
	if [ "$e" != 0 ]; then	# which kinds
		local w kinds=

		for w in $line; do
			case $w in
			errors=*|accepted=*|served=*|accepted_per_worker=*) ;;
			*=0|*=0.*|mode=*|workers=*|pin=*|proxy=*|*_s=*) ;;
			*) kinds+=" $w" ;;
			esac
		done
		add_note "$1 errors:$kinds"
	fi
	errors=$((${errors:-0} + e))
}

# wrk with Connection: close; sets rate, errors, p50 and p99 (us).
# --cost: the run's window tag (the plugin's "close" line), its identity
# (run_one's) and the connections it counted, for tools/cost/cost.sh.
cost_line() {	# cost_line CONNS
	[ "$cost" = 1 ] || return 0
	echo "COST,$cost_seq,$kver,$ncpus,$wl,$path,$cfg,$round,${1:-0}"
}

run_wrk() {	# run_wrk NS URL
	local out w=${warmup%.*} d=${seconds%.*} args parsed

	[ "${d:-0}" -ge 1 ] || d=1
	args=(-t "$ncli" -c "$concurrency" -H "Connection: close" --latency "$2")
	# wrk has no warmup of its own: a first run of whole seconds, if any
	[ "${w:-0}" -ge 1 ] &&
		in_ns "$1" taskset -c "$cli_cpus" wrk -d "${w}s" "${args[@]}" >/dev/null 2>&1
	start_sampler 0 "$d"
	if [ "$cost" = 1 ]; then
		cost_seq=$((cost_seq + 1))
		"$bench" cost-window open "$cost_seq"
	fi
	out=$(in_ns "$1" taskset -c "$cli_cpus" wrk -d "${d}s" "${args[@]}" 2>&1)
	[ "$cost" = 0 ] || "$bench" cost-window close "$cost_seq"
	finish_sampler
	echo "$out" >"$work/wrk.out"
	# Each request is a connection (Connection: close).
	cost_line "$(awk '/requests in/ { print $1 }' "$work/wrk.out")"
	# rate p50_us p99_us socket-errors(connect read write timeout) non2xx
	parsed=$(awk '
		function us(v) {
			if (v ~ /us$/) return v + 0
			if (v ~ /ms$/) return v * 1000
			if (v ~ /m$/) return v * 60e6
			return v * 1e6
		}
		$1 == "50%" { p50 = us($2) }
		$1 == "99%" { p99 = us($2) }
		$1 == "Requests/sec:" { rate = $2 }
		/Socket errors:/ { gsub(/,/, ""); sock = $4 + $6 + $8 + $10
				   detail = "connect " $4 " read " $6 " write " $8 " timeout " $10 }
		/Non-2xx or 3xx responses:/ { non2xx = $NF }
		END { printf "%s %.1f %.1f %d %d %s\n", rate, p50, p99, sock, non2xx, detail }
	' "$work/wrk.out")
	read -r rate p50 p99 sock non2xx detail <<<"$parsed"
	if [ -z "$rate" ] || [ "$rate" = "0.0" ]; then
		rate=
		problem error "wrk failed: $(tail -n1 "$work/wrk.out")"
		return 1
	fi
	errors=$((sock + non2xx))
	[ "$errors" = 0 ] || add_note "wrk: socket errors ${detail:-?}; non-2xx $non2xx"
}

write_nginx_conf() {	# write_nginx_conf DIR ADDR PORT NWORKERS CPUS(a-b)
	local dir=$1 mask="" c lo=${5%-*} hi=${5#*-}

	for ((c = ncpus - 1; c >= 0; c--)); do
		if [ "$c" -ge "$lo" ] && [ "$c" -le "$hi" ]; then mask+=1; else mask+=0; fi
	done
	mkdir -p "$dir/www" "$dir/tmp"
	# 64 bytes
	printf 'fastsocket bench: a 64-byte static file served by nginx ......\n' \
		>"$dir/www/index.html"
	cat >"$dir/nginx.conf" <<-EOF
	daemon off;
	master_process on;
	user root;
	worker_processes $4;
	worker_cpu_affinity auto $mask;
	worker_rlimit_nofile 65536;
	pid $dir/nginx.pid;
	error_log $dir/error.log warn;
	events {
		worker_connections 16384;
		accept_mutex off;
	}
	http {
		access_log off;
		default_type text/plain;
		keepalive_timeout 0;
		client_body_temp_path $dir/tmp/body;
		proxy_temp_path $dir/tmp/proxy;
		fastcgi_temp_path $dir/tmp/fastcgi;
		uwsgi_temp_path $dir/tmp/uwsgi;
		scgi_temp_path $dir/tmp/scgi;
		server {
			listen $2:$3 backlog=65535;
			root $dir/www;
		}
	}
	EOF
}

write_haproxy_conf() {	# write_haproxy_conf FILE ADDR PORT BACKEND:PORT
	cat >"$1" <<-EOF
	global
		nbthread $nsrv
		cpu-map auto:1/1-$nsrv $srv_cpus
		noreuseport
		maxconn 200000
	defaults
		mode http
		option httpclose
		timeout connect 5s
		timeout client 10s
		timeout server 10s
	frontend fe
		bind $2:$3
		default_backend be
	backend be
		server b1 $4 maxconn 100000
	EOF
}

# check_engaged CONFIG PATH: fastsocket configurations must show the
# mechanism at work (NOT ENGAGED fails the run); the others must not (a
# warning).
check_engaged() {
	local syn managed rfdc

	syn=$(field "$counters" listen_syn_local)
	managed=$(field "$counters" listen_managed)
	rfdc=$(field "$counters" rfd_connect_local)
	case $1 in
	fastsocket*)
		if [ -z "$counters" ]; then
			problem error "NOT ENGAGED: no /proc/net/fastsocket"
		elif [ "${managed:-0}" = 0 ] || [ "${syn:-0}" = 0 ]; then
			problem error "NOT ENGAGED: listen_managed ${managed:-0}" \
				"listen_syn_local ${syn:-0}"
		fi
		if [ "$1" = fastsocket+rfd ]; then
			[ "${rfdc:-0}" != 0 ] || problem error "RFD NOT ENGAGED: rfd_connect_local 0"
			[ "$((${steer_red:-0} + ${steer_loc:-0}))" != 0 ] ||
				problem error "RFD NOT ENGAGED: XDP program steered nothing"
		fi
		;;
	stock|reuseport)
		[ "${syn:-0}" = 0 ] || problem warn "fastsocket counted SYNs while disabled"
		;;
	esac
}

# run_one ROUND WORKLOAD PATH CONFIG
run_one() {
	local round=$1 wl=$2 path=$3 cfg=$4 mode=shared sns cns bns saddr baddr ns
	local be r1 l1

	reset_result
	nruns=$((nruns + 1))
	if [ "$cfg" = fastsocket+rfd ] && [ -n "$fskctl_absent" ]; then
		status=absent; note="ABSENT: $fskctl_absent"
		emit "$round" "$wl" "$path" "$cfg"; failed=$((failed + 1))
		log "[$round/$rounds] $wl $path $cfg: ABSENT ($fskctl_absent)"
		return
	fi
	if [ "$cfg" = nomod ]; then module_state off; else module_state on; fi || {
		status=error; note="module could not be switched"
		emit "$round" "$wl" "$path" "$cfg"; failed=$((failed + 1)); return; }
	[ "$cfg" = reuseport ] && mode=reuseport
	# The ready files of the run before: with them, wait_file returns at
	# once and the load starts while this run's servers are still starting
	# (the backend, last to listen, answers the proxy's SYNs with RSTs).
	rm -f "$work"/*.ready
	trace_at "module ready"

	be=0
	case $wl in proxy|haproxy) be=1 ;; esac
	if ! setup_path "$path" "$be" "$cfg"; then
		status=error
		note="namespace setup failed: $(tail -n2 "$work/ip.log" | tr '\n' ' ')"
		netns_cleanup
		emit "$round" "$wl" "$path" "$cfg"; failed=$((failed + 1)); return
	fi
	if [ "$path" = lo ]; then
		sns=fsk-l; cns=fsk-l; bns=fsk-l; saddr=127.0.0.1; baddr=127.0.0.2
	else
		sns=fsk-s; cns=fsk-c; bns=fsk-b; saddr=10.77.1.2; baddr=10.77.2.2
		[ "$rss_ok" = 1 ] ||
			problem warn "NO SOFTWARE RSS: handshakes ran on client CPUs"
	fi
	trace_at "netns ready"
	if [ "$cfg" = fastsocket+rfd ]; then
		if ! in_ns "$sns" "$fskctl" attach eth1 --mode generic \
			>"$work/fskctl.out" 2>&1; then
			status=absent
			note="ABSENT: fastsocketctl attach failed: $(tail -n1 "$work/fskctl.out")"
			netns_cleanup
			emit "$round" "$wl" "$path" "$cfg"; failed=$((failed + 1))
			log "[$round/$rounds] $wl $path $cfg: $note"
			return
		fi
	fi

	trace_at "configured"
	case $wl in
	conn)
		start_bg srv "$sns" "$srv_cpus" "$bench" server --listen "$saddr:$port" \
			--mode "$mode" --pin --workers "$nsrv" --ready-file "$work/srv.ready"
		if wait_file "$work/srv.ready"; then
			run_client "$cns" "$saddr" "$port"
			counters=$(fsk_counters "$pid_srv")
		else
			problem error "server did not start: $(tail -n1 "$work/srv.err")"
		fi
		stop_all
		server_errors srv
		;;
	proxy)
		start_bg be "$bns" "$cli_cpus" "$bench" server --listen "$baddr:$be_port" \
			--mode shared --pin --workers "$ncli" --ready-file "$work/be.ready"
		start_bg srv "$sns" "$srv_cpus" "$bench" server --listen "$saddr:$port" \
			--mode "$mode" --pin --workers "$nsrv" --proxy "$baddr:$be_port" \
			--ready-file "$work/srv.ready"
		if wait_file "$work/be.ready" && wait_file "$work/srv.ready"; then
			run_client "$cns" "$saddr" "$port"
			counters=$(fsk_counters "$pid_srv")
			[ "$cfg" = fastsocket+rfd ] &&
				read -r steer_red steer_loc < <(rfd_stats "$sns" eth1)
		else
			problem error "servers did not start: $(tail -qn1 "$work"/{srv,be}.err)"
		fi
		stop_all
		server_errors srv
		server_errors be
		;;
	nginx)
		write_nginx_conf "$work/nginx" "$saddr" "$port" "$nsrv" "$srv_cpus"
		start_bg nginx "$sns" "$srv_cpus" nginx -e "$work/nginx/error.log" \
			-p "$work/nginx" -c "$work/nginx/nginx.conf"
		if wait_port "$pid_nginx" "$saddr" "$port"; then
			run_wrk "$cns" "http://$saddr:$port/"
			counters=$(fsk_counters "$pid_nginx")
		else
			problem error "nginx did not start: $(tail -qn2 "$work/nginx.err" \
				"$work/nginx/error.log" 2>/dev/null | tr '\n' ' ')"
		fi
		stop_all
		;;
	haproxy)
		write_nginx_conf "$work/nginx-be" "$baddr" "$be_port" "$ncli" "$cli_cpus"
		write_haproxy_conf "$work/haproxy.cfg" "$saddr" "$port" "$baddr:$be_port"
		start_bg nginx "$bns" "$cli_cpus" nginx -e "$work/nginx-be/error.log" \
			-p "$work/nginx-be" -c "$work/nginx-be/nginx.conf"
		start_bg haproxy "$sns" "$srv_cpus" haproxy -db -f "$work/haproxy.cfg"
		if wait_port "$pid_nginx" "$baddr" "$be_port" &&
		   wait_port "$pid_haproxy" "$saddr" "$port"; then
			run_wrk "$cns" "http://$saddr:$port/"
			counters=$(fsk_counters "$pid_haproxy")
			[ "$cfg" = fastsocket+rfd ] &&
				read -r steer_red steer_loc < <(rfd_stats "$sns" eth1)
		else
			problem error "haproxy/nginx did not start: $(tail -qn2 \
				"$work"/{haproxy,nginx}.err 2>/dev/null | tr '\n' ' ')"
		fi
		stop_all
		;;
	esac

	if [ "$path" = nic ] && [ "$rss_ok" = 1 ]; then
		read -r r1 l1 < <(rss_stats)
		if [ $((r1 + l1 - rss_red - rss_loc)) -le 0 ]; then
			problem warn "software RSS saw no TCP packets"
		elif [ $((r1 - rss_red)) -le 0 ]; then
			problem warn "software RSS redirected nothing"
		fi
		rss_red=$r1; rss_loc=$l1
	fi
	trace_at "measured"
	# On errors: the server netns's reset/drop counters, for the log.
	if [ "$trace" = 1 ] && [ "${errors:-0}" != 0 ]; then
		for f in "$work"/*.err "$work"/*.out; do
			log "trace $f: $(tail -c 600 "$f" | tr '\n' '|')"
		done
	fi
	if [ "${errors:-0}" != 0 ] && command -v nstat >/dev/null; then
		for ns in "${netns_list[@]}"; do
			log "nstat $ns: $(in_ns "$ns" nstat -az 2>/dev/null | awk '$2 != 0 &&
				$1 ~ /^Tcp/ && $1 !~ /InSegs|OutSegs|Opens|Octets|Pkts|Ack|^TcpExtTCPHP/ {
					printf "%s=%s ", $1, $2 }')"
		done
	fi
	check_engaged "$cfg" "$path"
	netns_cleanup
	settle
	trace_at "cleaned up"
	[ "$status" = error ] || [ "${errors:-0}" != 0 ] && failed=$((failed + 1))
	emit "$round" "$wl" "$path" "$cfg"
	progress "$round" "$wl" "$path" "$cfg"
}

progress() {	# progress ROUND WORKLOAD PATH CONFIG: one line per run
	local unit=conn/s msg

	case $2 in nginx|haproxy) unit=req/s ;; esac
	msg="[$1/$rounds] $2 $3 $4: ${rate:-?} $unit, errors ${errors:-?}"
	msg+=", busy client ${cli_busy:-?}% server ${srv_busy:-?}%"
	[ -z "$counters" ] || msg+=", listen_syn_local $(field "$counters" listen_syn_local)"
	[ -z "$counters" ] || msg+=" accept local/parent/stolen $(field "$counters" accept_local)"
	[ -z "$counters" ] || msg+="/$(field "$counters" accept_parent)"
	[ -z "$counters" ] || msg+="/$(field "$counters" accept_stolen)"
	[ -z "$steer_red" ] || msg+=", RFD XDP redirected/local $steer_red/$steer_loc"
	log "$msg${note:+ [$note]}"
}

# ----------------------------------------------------------------- main
configs_of() {	# the configurations of a group (those in --configs)
	local c

	case $1 in
	conn/*|proxy/lo) set -- nomod stock reuseport fastsocket ;;
	proxy/nic) set -- nomod stock reuseport fastsocket fastsocket+rfd ;;
	nginx/*) set -- stock fastsocket ;;
	haproxy/*) set -- stock fastsocket fastsocket+rfd ;;
	esac
	for c in "$@"; do
		[ -z "$only_configs" ] || [[ " $only_configs " == *" $c "* ]] && echo "$c"
	done
}

cleanup() {
	stop_all
	netns_cleanup
	ip link del fsk-keep0 2>/dev/null
	rm -rf "$bpffs/prog" "$bpffs/maps"
	umount "$bpffs" 2>/dev/null
}
trap cleanup EXIT

[ -x "$bench" ] || { echo "guest-bench: $bench not built" >&2; exit 2; }
[ -r "$module" ] || { echo "guest-bench: $module not built" >&2; exit 2; }
if [ -z "$fskctl_absent" ] && [ ! -x "$fskctl" ]; then
	fskctl_absent="fastsocketctl not built ($fskctl)"
fi
# nginx and haproxy need wrk, and themselves
for g in $groups; do
	case $g in
	nginx/*|haproxy/*)
		for tool in wrk "${g%/*}"; do
			command -v "$tool" >/dev/null && continue
			log "$tool not installed: skipping $g"
			groups=${groups/$g/}
			break
		done
		;;
	esac
done
echo "CSVHEAD,$csv_head"
log "kernel $kver, $ncpus vCPUs: client CPUs $cli_cpus, server CPUs $srv_cpus;" \
	"$rounds round(s) of ${warmup}+${seconds} s runs, concurrency $concurrency;" \
	"groups: $(echo $groups)"
rss_setup || warn "software RSS unavailable: the nic path will run without it"

if [ "$smoke" = 1 ]; then
	# Every configuration once, on the path that exercises all of them
	# (proxy over the NIC-like path), then each other workload with
	# fastsocket; without the module first, so that it loads only once.
	for run in proxy/nic/nomod proxy/nic/stock proxy/nic/reuseport \
		   proxy/nic/fastsocket proxy/nic/fastsocket+rfd conn/lo/fastsocket \
		   nginx/nic/fastsocket haproxy/nic/fastsocket; do
		g=${run%/*}
		[[ " $groups " == *" $g "* ]] || continue
		[ -z "$only_configs" ] || [[ " $only_configs " == *" ${run##*/} "* ]] || continue
		run_one 1 "${g%/*}" "${g#*/}" "${run##*/}"
	done
else
	# Each round runs every configuration of every group; the order inside
	# a group rotates from round to round.
	for ((round = 1; round <= rounds; round++)); do
		for g in $groups; do
			read -ra cfgs <<<"$(configs_of "$g" | tr '\n' ' ')"
			n=${#cfgs[@]}
			for ((i = 0; i < n; i++)); do
				cfg=${cfgs[$(((i + round - 1) % n))]}
				run_one "$round" "${g%/*}" "${g#*/}" "$cfg"
			done
		done
	done
fi
module_state off
echo "BENCH-DONE runs=$nruns failed=$failed"
[ "$failed" -eq 0 ]

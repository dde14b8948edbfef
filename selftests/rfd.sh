#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# selftests/rfd.sh - Receive Flow Deliver selftests (connect side in the
# module, receive side in the XDP program, fastsocketctl), TAP 13 on stdout.
#
# usage: selftests/rfd.sh [--filter REGEX]
#
# Run as root from the repository root inside a throwaway guest with two
# CPUs or more: tools/vm/run.sh KVER -- selftests/rfd.sh. It loads
# build/$(uname -r)/fastsocket.ko itself and unloads it at the end, and uses
#   build/tools/fastsocketctl          (tools/fastsocketctl/Makefile)
#   build/selftests/rfd/*              (selftests/rfd/Makefile)
#
# Topology: netns fsk-rfd-c (client, fastsocket enabled) and fsk-rfd-s
# (server), joined by the veth pair fskc0 <-> fsks0, 10.77.0.0/24 and
# fd77::/64. The program is attached to the client's end: replies to the
# client's CPU-owned source ports arrive there. The servers run on CPU 0,
# so without the program every reply reaches the client on CPU 0, as from a
# NIC whose IRQ is on CPU 0.
#
# After setup the script re-executes itself inside the client netns. Each
# test runs in a forked subshell under a time limit; what it starts it
# stops, and a failed test's program, peer offload or offline CPU is put
# back. The servers, the namespaces (and with them the veth pair and any
# XDP attachment) and the module go at the end, also on failure.
#
# Environment: FSK_RFD_CONNS (default 1000) connections per connection
# test, FSK_RFD_FRAMES (default 100000) random frames, FSK_RFD_TRAFFIC_S
# (default 2) seconds of sysctl flips under traffic.
set -u

self=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/$(basename "${BASH_SOURCE[0]}")
top=$(cd "$(dirname "$self")/.." && pwd)
# shellcheck source=selftests/lib.sh
. "$top/selftests/lib.sh"
kver=$(uname -r)
ko=$top/build/$kver/fastsocket.ko
ctl=$top/build/tools/fastsocketctl
bin=$top/build/selftests/rfd
mod=fastsocket
cns=fsk-rfd-c
sns=fsk-rfd-s
cdev=fskc0
sdev=fsks0
c4=10.77.0.1
s4=10.77.0.2
c6=fd77::1
s6=fd77::2
conns=${FSK_RFD_CONNS:-1000}
frames=${FSK_RFD_FRAMES:-100000}
# The debug kernel takes the frames ~6 times slower: fewer.
live_frames=${FSK_RFD_LIVE_FRAMES:-$((FSK_DEBUG_KERNEL ? 3000 : 20000))}
traffic_s=${FSK_RFD_TRAFFIC_S:-2}
work=/tmp/fsk-rfd
test_timeout=150

tests=(
	ctl_without_module
	setup
	ctl_error_paths
	conn_stock
	conn_generic
	conn_native
	ports_bind_no_port
	ports_own_range
	ports_reserved
	ports_fallback
	ports_no_block
	prog_test_run_frames
	maps_have_btf
	status_and_stale_range
	ethtool_rules
	reattach_under_traffic_generic
	reattach_under_traffic_native
	bad_frames_under_traffic
	sysctl_flips_under_traffic
	range_changes_under_traffic
	cpu_offline_online
	rmmod_while_attached
	unload
)

# ---------------------------------------------------------------- helpers

fail() {
	echo "FAIL: $*"
	exit 1
}

# skip REASON: the test cannot run here; reported as a TAP SKIP, counted.
skip() {
	printf '%s\n' "$*" >"$work/skip"
	exit 4
}

say() {
	echo "# $*"
}

# Tests after setup run inside the client netns (see the runner): cn is
# then a plain call. Every exec costs ~0.1 s in an emulated guest.
if [ "${FSK_RFD_IN_CLIENT:-0}" = 1 ]; then
	cn() { "$@"; }
else
	cn() { ip netns exec $cns "$@"; }
fi
sn() { ip netns exec $sns "$@"; }

# expect_fail WANT_STATUS PATTERN CMD...: CMD must exit WANT_STATUS and say
# something matching PATTERN (a bash regex) on stderr or stdout.
expect_fail() {
	local want=$1 pattern=$2 out rc

	shift 2
	out=$("$@" 2>&1)
	rc=$?
	[ $rc = "$want" ] || fail "'$*' exited $rc, expected $want: $out"
	[[ $out =~ $pattern ]] || fail "'$*' said '$out', expected /$pattern/"
	say "$* -> $rc: ${out%%$'\n'*}"
}

# bg NAME CMD...: start CMD in the background, output in $work/NAME.out; its
# pid goes to $bg_pid and to the list the cleanup kills.
bg() {
	local name=$1

	shift
	# Not through a function (cn), or $! would be a subshell's pid.
	if [ "$1" = cn ]; then
		shift
		[ "${FSK_RFD_IN_CLIENT:-0}" = 1 ] || set -- ip netns exec $cns "$@"
	fi
	"$@" >"$work/$name.out" 2>&1 &
	bg_pid=$!
	echo "$bg_pid" >>"$work/pids"
}

# The servers run in the server netns on CPU 0 from setup to unload: one
# byte and close on port 7001 (IPv4) and 7002 (IPv6), echo on 7003.
hello4_port=7001
hello6_port=7002
echo_port=7003

server() { # FAMILY [--echo]: sets srv_addr, srv_port
	srv_addr=$s4
	srv_port=$hello4_port
	[ "$1" = 6 ] && srv_addr=$s6 && srv_port=$hello6_port
	[ "${2:-}" = --echo ] && srv_port=$echo_port
	return 0
}

start_server() { # NAME ADDR PORT [--echo]
	: >"$work/$1.out"
	ip netns exec $sns "$bin/rfd_conn" server -a "$2" -p "$3" --cpu 0 ${4:-} \
		>"$work/$1.out" 2>&1 &
	echo $! >>"$work/servers"
}

wait_server() { # NAME PORT
	local i line=

	for ((i = 0; i < 400; i++)); do
		read -r line <"$work/$1.out" || line=
		[ "$line" = "port $2" ] && return 0
		[[ $line != *FATAL* ]] || fail "server $1: $line"
		pause 0.05
	done
	fail "server $1 did not start: $(<"$work/$1.out")"
}

stop() { # PID
	kill "$1" 2>/dev/null
	wait "$1" 2>/dev/null
	return 0
}

# column_sum FILE COLUMN -> REPLY: a column of a "name name..." table summed
# over its rows (the client netns's files: we run there).
column_sum() {
	local -a row
	local i col=-1 sum=0

	{
		read -ra row
		for ((i = 0; i < ${#row[@]}; i++)); do
			[ "${row[i]}" = "$2" ] && col=$i
		done
		[ $col -ge 0 ] || fail "no column $2 in $1"
		while read -ra row; do
			[[ ${row[col]} =~ ^[0-9]+$ ]] && sum=$((sum + row[col]))
		done
	} <"$1"
	REPLY=$sum
}

module_rfd_local() { column_sum /proc/net/fastsocket rfd_connect_local; }

# csum_errors -> REPLY: TcpInCsumErrors of the netns we run in.
csum_errors() {
	local -a names vals
	local i

	{
		while read -ra names && read -ra vals; do
			[ "${names[0]}" = Tcp: ] || continue
			for ((i = 0; i < ${#names[@]}; i++)); do
				[ "${names[i]}" = InCsumErrors ] && REPLY=${vals[i]} && return 0
			done
		done
	} </proc/net/snmp
	fail "no Tcp InCsumErrors in /proc/net/snmp"
}

ctl_attach() { # MODE
	local out

	out=$(cn "$ctl" attach $cdev --mode "$1" 2>&1) || fail "attach --mode $1: $out"
	say "$out"
	[[ $out == *"attached fastsocket ($1"* || $out == *"already attached ($1"* ]] ||
		fail "attach --mode $1 did not report $1 mode: $out"
}

ctl_detach() {
	local out

	out=$(cn "$ctl" detach $cdev 2>&1) || fail "detach: $out"
}

peer_tx() { # on|off
	local out

	out=$(sn ethtool -K $sdev tx "$1" 2>&1) || fail "ethtool -K $sdev tx $1: $out"
}

# status_total COLUMN -> REPLY: a column of the program's counters in
# fastsocketctl status, summed over CPUs.
status_total() {
	local out

	out=$(cn "$ctl" status 2>&1) || fail "status: $out"
	REPLY=$(awk -v c="$1" '$1 == "cpu" && $2 == "ports" { for (i = 1; i <= NF; i++) col[$i] = i; t = 1; next }
		t && $1 ~ /^cpu[0-9]+$/ { s += $col[c] } END { print (c in col) ? s + 0 : "none" }' <<<"$out")
	[ "$REPLY" != none ] || fail "fastsocketctl status has no column $1"
}

# redirected_total -> REPLY: the program's "redirected" summed over CPUs.
redirected_total() {
	status_total redirected
}

pct() { # PART WHOLE: one decimal, without an exec
	local x=$((($1 * 1000 + $2 / 2) / $2))

	echo "$((x / 10)).$((x % 10))"
}

# conn_test FAMILY MODE: MODE stock (no program), or the mode attached.
conn_test() {
	local family=$1 mode=$2 out n blk inc err before after c0 c1 figure

	server "$family"
	module_rfd_local
	before=$REPLY
	csum_errors
	c0=$REPLY
	out=$(cn "$bin/rfd_conn" client -a "$srv_addr" -p "$srv_port" -n "$conns" 2>&1)
	local rc=$?
	echo "$out" | sed 's/^# //; s/^/# /'
	read -r _ n _ blk _ inc _ err <<<"${out##*$'\n'}"
	[ $rc = 0 ] && [ "$err" = 0 ] || fail "client failed ($rc): ${out##*$'\n'}"
	[ "$n" = "$conns" ] || fail "$n connections of $conns"
	[ "$blk" = "$n" ] || fail "only $blk of $n source ports in the connecting CPU's block"
	module_rfd_local
	after=$REPLY
	[ $((after - before)) -ge "$n" ] ||
		fail "rfd_connect_local grew by $((after - before)), expected >= $n"
	csum_errors
	c1=$REPLY
	[ "$c1" = "$c0" ] || fail "TcpInCsumErrors grew by $((c1 - c0)) in $cns"
	figure="v$family $mode: SO_INCOMING_CPU == connecting CPU for $inc/$n ($(pct "$inc" "$n")%)"
	if [ "$mode" = stock ]; then
		echo "$inc $n" >"$work/stock_v$family"
	else
		if [ -s "$work/stock_v$family" ]; then
			read -r c0 c1 <"$work/stock_v$family"
			figure+="; stock $c0/$c1 ($(pct "$c0" "$c1")%)"
		fi
		[ "$inc" = "$n" ] || fail "$figure"
	fi
	say "$figure"
}

# traffic_start: echo connections from every CPU until traffic_end (at
# most a minute): short ones in a loop, and four long ones per CPU.
traffic_start() {
	server 4 --echo
	bg traffic cn "$bin/rfd_conn" traffic -a "$srv_addr" -p "$srv_port" -s 60 -k 4
	traffic_pid=$bg_pid
	pause 0.5
}

traffic_end() {
	local rc line last

	kill -TERM $traffic_pid 2>/dev/null
	wait $traffic_pid
	rc=$?
	last=
	while read -r line; do
		say "${line#\# }"
		last=$line
	done <"$work/traffic.out"
	[ $rc = 0 ] || fail "connections lost: ${last:-no output}"
	[[ $last == "conns "[1-9]* ]] || fail "no traffic: $last"
}

# steered_under_traffic: with the program attached, new traffic is steered.
steered_under_traffic() {
	local before

	redirected_total
	before=$REPLY
	pause 1
	redirected_total
	[ "$REPLY" -gt "$before" ] || fail "no packet redirected under traffic ($before -> $REPLY)"
	say "redirected under traffic: $((REPLY - before))"
}

# Both write the client netns's files: we run there after setup.
set_range() { # LOW HIGH
	echo "$1 $2" >/proc/sys/net/ipv4/ip_local_port_range ||
		fail "setting ip_local_port_range to $1 $2"
}

cn_sysctl() { # NAME VALUE
	echo "$2" >/proc/sys/net/fastsocket/$1 || fail "net.fastsocket.$1=$2"
}

# The connect side's port choice (ports_* tests) is tested alone, on
# loopback in a netns of its own that each test makes afresh, so that what
# it sets goes with it: rfd_conn ports listens on ports_srv there (below
# every range set) and connects from one CPU, reading that netns's
# /proc/net/fastsocket before and after.
pns=fsk-rfd-p
ports_srv=5001

pn() { ip netns exec $pns "$@"; }

pn_sysctl() { # NAME=VALUE...: in $pns, one exec
	local out

	out=$(pn sysctl -q -w "$@" 2>&1) || fail "sysctl -w $* in $pns: $out"
}

# ports_ns [NAME=VALUE...]: a fresh $pns, fastsocket enabled, these set.
ports_ns() {
	[ ! -e /run/netns/$pns ] || ip netns delete $pns
	netns_add $pns
	pn_sysctl net.fastsocket.enabled=1 "$@"
}

# ports CPU COUNT [ARGS...]: rfd_conn ports in $pns, pinned to CPU; its
# summary's "key value" pairs in P (block: LOW-HIGH or none), printed.
declare -A P
ports() {
	local cpu=$1 count=$2 out rc line i
	local -a kv

	shift 2
	ports_cmd="ports --cpu $cpu -n $count${*:+ $*}"
	out=$(pn "$bin/rfd_conn" ports -p $ports_srv --cpu "$cpu" -n "$count" "$@" 2>&1)
	rc=$?
	ports_line=${out##*$'\n'}
	while read -r line; do
		[[ $line == "# "* ]] && say "${line#\# }"
	done <<<"$out"
	read -ra kv <<<"$ports_line"
	P=()
	for ((i = 0; i + 1 < ${#kv[@]}; i += 2)); do
		P[${kv[i]}]=${kv[i + 1]}
	done
	# Status 1: some connect failed, which a caller may expect (errors).
	{ [ $rc = 0 ] || { [ $rc = 1 ] && [ "${ports_errors_ok:-0}" = 1 ]; }; } &&
		[ -n "${P[conns]:-}" ] || fail "rfd_conn $ports_cmd exited $rc: $ports_line"
	say "$ports_cmd: conns ${P[conns]} block ${P[block]} in_block ${P[in_block]}" \
	    "first ${P[first]} last ${P[last]}; cpu$cpu: local ${P[local]}" \
	    "unowned ${P[unowned]} fallback ${P[fallback]}; all CPUs: local ${P[all_local]}" \
	    "unowned ${P[all_unowned]} fallback ${P[all_fallback]}"
}

# want KEY OP VALUE...: for each, the number P[KEY] OP (eq, lt, gt) VALUE.
want() {
	local v ok

	while [ $# -ge 3 ]; do
		v=${P[$1]:-}
		ok=0
		if [[ $v =~ ^[0-9]+$ ]]; then
			case $2 in
			eq) ((v == $3)) && ok=1 ;;
			lt) ((v < $3)) && ok=1 ;;
			gt) ((v > $3)) && ok=1 ;;
			*) fail "want: no operator $2" ;;
			esac
		fi
		[ $ok = 1 ] ||
			fail "rfd_conn $ports_cmd: $1 is ${v:-missing}, expected $2 $3: $ports_line"
		shift 3
	done
}

# want_counters LOCAL UNOWNED FALLBACK: the rfd_connect_* growth, all of it
# on the calling CPU.
want_counters() {
	want local eq "$1" unowned eq "$2" fallback eq "$3" \
	     all_local eq "$1" all_unowned eq "$2" all_fallback eq "$3"
}

# ---------------------------------------------------------------- cleanup

cleanup_test() {
	local pid

	if [ -s "$work/pids" ]; then
		while read -r pid; do
			kill "$pid" 2>/dev/null
			wait "$pid" 2>/dev/null
		done <"$work/pids"
		: >"$work/pids"
	fi
	# A failed test may leave the program attached or the peer's offload off.
	if [ -e /run/netns/$cns ]; then
		ip -n $cns link set dev $cdev xdpgeneric off 2>/dev/null
		ip -n $cns link set dev $cdev xdpdrv off 2>/dev/null
	fi
	[ ! -e /run/netns/$sns ] || sn ethtool -K $sdev tx on >/dev/null 2>&1
	# ... or the connect-side port tests' own netns.
	[ ! -e /run/netns/$pns ] || ip netns delete $pns
	# ... or the client netns's range or sysctls changed (we run there).
	if [ "${FSK_RFD_IN_CLIENT:-0}" = 1 ] && [ -d /proc/sys/net/fastsocket ]; then
		echo "32768 60999" >/proc/sys/net/ipv4/ip_local_port_range
		echo 1 >/proc/sys/net/fastsocket/enabled
		echo 1 >/proc/sys/net/fastsocket/rfd
	fi 2>/dev/null
	local v

	read -r v 2>/dev/null </sys/devices/system/cpu/cpu1/online
	[ "${v:-1}" = 1 ] || echo 1 >/sys/devices/system/cpu/cpu1/online
}

cleanup_all() {
	local ns pid

	cleanup_test
	if [ -s "$work/servers" ]; then
		while read -r pid; do
			kill "$pid" 2>/dev/null
			wait "$pid" 2>/dev/null
		done <"$work/servers"
		: >"$work/servers"
	fi
	for ns in $cns $sns; do
		[ -e /run/netns/$ns ] && ip netns delete $ns
	done
	if [ -d /sys/module/$mod ]; then
		rmmod $mod 2>/dev/null || { pause 0.5; rmmod $mod; } ||
			echo "# cleanup: cannot unload $mod"
	fi
}

# ---------------------------------------------------------------- tests

t_ctl_without_module() {
	need "$ctl" "make -C tools/fastsocketctl"
	[ ! -d /sys/module/$mod ] || rmmod $mod || fail "$mod was loaded and cannot be unloaded"
	expect_fail 1 'fastsocket module is not loaded.*modprobe fastsocket' "$ctl" attach lo
	expect_fail 1 'fastsocket module is not loaded' "$ctl" status
	expect_fail 1 'fastsocket module is not loaded' "$ctl" ethtool-rules lo --queue 0=0
}

lap() { # WHAT: time since t0
	ms
	say "$1: $((REPLY - t0)) ms"
}

topology() {
	printf '%s\n' "netns add $cns" "netns add $sns" \
		"link add $cdev netns $cns type veth peer name $sdev netns $sns" |
		ip -batch - || return 1
	printf '%s\n' "link set lo up" "addr add $c4/24 dev $cdev" \
		"addr add $c6/64 dev $cdev nodad" "link set $cdev up" |
		ip -n $cns -batch - || return 1
	printf '%s\n' "link set lo up" "addr add $s4/24 dev $sdev" \
		"addr add $s6/64 dev $sdev nodad" "link set $sdev up" |
		ip -n $sns -batch -
}

t_setup() {
	local out cpus t0 sysctls

	ms
	t0=$REPLY

	need "$ko" "build the module: make"
	need "$bin/rfd_conn" "make -C selftests/rfd"
	read -r cpus </sys/devices/system/cpu/online
	[ "$cpus" != 0 ] || fail "these tests need 2 CPUs or more (online: $cpus)"
	out=$(insmod "$ko" 2>&1) || fail "insmod $ko: $out"
	lap "insmod"
	out=$(topology 2>&1) || fail "topology: $out"
	lap "namespaces and veth"
	# The servers close first and keep the TIME_WAITs: tens of thousands in
	# a run. A netns's default table is small, and past it a closed socket
	# is forgotten at once, so that a late segment of the client draws a
	# reset (EPIPE in a connect() still returning).
	out=$(sn sh -c 'echo 1000000 >/proc/sys/net/ipv4/tcp_max_tw_buckets' 2>&1) ||
		fail "tcp_max_tw_buckets in $sns: $out"
	start_server hello4 $s4 $hello4_port
	start_server hello6 $s6 $hello6_port
	start_server echo4 $s4 $echo_port --echo
	sysctls=$(cn sh -c 'echo 1 >/proc/sys/net/fastsocket/enabled && cat /proc/sys/net/fastsocket/rfd
		cat /proc/sys/net/ipv4/ip_local_port_range' 2>&1) ||
		fail "enabling fastsocket in $cns: $sysctls"
	[ "${sysctls%%$'\n'*}" = 1 ] || fail "net.fastsocket.rfd is not 1 by default: $sysctls"
	# Generic XDP on a device of the server netns for the whole run: the
	# kernel then never patches its code (a static key) when tests attach
	# and detach, which costs about a second each time in an emulated guest.
	# A veth pair, not a dummy: every kernel we test has veth.
	out=$(ip -n $sns link add fskk0 type veth peer name fskk1 2>&1 &&
	      ip -n $sns link set dev fskk0 xdpgeneric obj "$bin/xdp_other.bpf.o" sec xdp 2>&1) ||
		fail "pass-through XDP program on fskk0: $out"
	lap "pass-through XDP program"
	wait_server hello4 $hello4_port
	wait_server hello6 $hello6_port
	wait_server echo4 $echo_port
	lap "servers"
	say "online CPUs $cpus; client netns: rfd ${sysctls//$'\n'/, range }"
}

t_ctl_error_paths() {
	local out

	expect_fail 2 'unknown mode' cn "$ctl" attach $cdev --mode turbo
	expect_fail 2 'usage' "$ctl" frobnicate
	expect_fail 1 "no device 'nosuch0' in this network namespace" cn "$ctl" attach nosuch0
	expect_fail 1 'permission denied.*run it as root' \
		cn setpriv --reuid=65534 --regid=65534 --clear-groups "$ctl" attach $cdev
	expect_fail 1 'permission denied' \
		cn setpriv --reuid=65534 --regid=65534 --clear-groups "$ctl" status
	expect_fail 1 "has no XDP program attached" cn "$ctl" detach $cdev

	# Somebody else's program: neither replaced nor detached.
	need "$bin/xdp_other.bpf.o"
	out=$(cn ip link set dev $cdev xdpgeneric obj "$bin/xdp_other.bpf.o" sec xdp 2>&1) ||
		fail "attaching another XDP program with ip: $out"
	expect_fail 1 "already has XDP program [0-9]+ \\(other_xdp\\).*detach it first" \
		cn "$ctl" attach $cdev
	expect_fail 1 "not fastsocket's: not detaching it" cn "$ctl" detach $cdev
	out=$(cn ip link set dev $cdev xdpgeneric off 2>&1) || fail "removing it: $out"

	# Native on a veth whose peer checksums in "hardware": refused; the
	# default mode falls back to generic and says why.
	peer_tx on
	expect_fail 1 "peer $sdev has tx checksum offload on.*ip netns exec $sns ethtool -K $sdev tx off" \
		cn "$ctl" attach $cdev --mode native
	out=$(cn "$ctl" attach $cdev 2>&1) || fail "attach without --mode: $out"
	[[ $out == *"using generic XDP"* && $out == *"attached fastsocket (generic"* ]] ||
		fail "attach without --mode did not fall back to generic: $out"
	say "${out//$'\n'/ / }"
	expect_fail 1 "runs fastsocket in generic mode.*detach it first" \
		cn "$ctl" attach $cdev --mode native
	ctl_detach

	expect_fail 1 "has no ntuple flow steering.*fastsocketctl attach $cdev" \
		cn "$ctl" ethtool-rules $cdev --queue 0=0 --apply
	expect_fail 1 "no RX queue IRQs found.*--queue CPU=QUEUE" cn "$ctl" ethtool-rules $cdev
}

t_conn_stock() {
	conn_test 4 stock
	conn_test 6 stock
}

t_conn_generic() {
	ctl_attach generic
	conn_test 4 generic
	conn_test 6 generic
	ctl_detach
}

# Native, with the peer's tx checksum offload off (see veth_mode() in
# fastsocketctl); attach without --mode must then pick native itself.
t_conn_native() {
	local out

	peer_tx off
	out=$(cn "$ctl" attach $cdev 2>&1) || fail "attach: $out"
	[[ $out == *"attached fastsocket (native"* ]] || fail "expected native mode: $out"
	say "$out"
	conn_test 4 native
	conn_test 6 native
	ctl_detach
	peer_tx on
}

# IP_BIND_ADDRESS_NO_PORT leaves the port to connect(): RFD picks it in the
# caller's block. A plain bind(port 0) picks it at bind() (any port of the
# range, the kernel's choice) and connect() keeps it: no counter moves.
t_ports_bind_no_port() {
	local cpu n=32

	ports_ns
	for cpu in 0 1; do
		ports $cpu $n -m noport
		want conns eq $n in_block eq $n in_range eq $n
		want_counters $n 0 0
	done
	ports 1 $n -m bind0
	want conns eq $n in_range eq $n in_block lt $n
	want_counters 0 0 0
	say "bind(port 0) then connect(): ${P[in_block]}/$n ports in cpu1's block ${P[block]}" \
	    "(bind()'s choice over ${P[range]}), no rfd counter moved"
	# Without RFD the same connects leave the block.
	pn_sysctl net.fastsocket.rfd=0
	ports 1 $n -m noport
	want conns eq $n in_range eq $n in_block lt $n
	want_counters 0 0 0
}

# A socket's own IP_LOCAL_PORT_RANGE: one that misses the caller's block is
# used as it is (unowned); one that overlaps it gives the intersection.
t_ports_own_range() {
	local cpu b0 b1 lo hi n=20

	ports_ns
	ports 0 0
	b0=${P[block]}
	ports 1 0
	b1=${P[block]}
	[ "${b0#*-}" -gt $((${b0%-*} + 200)) ] && [ "${b1%-*}" = $((${b0#*-} + 1)) ] ||
		fail "cpu0's block $b0 and cpu1's $b1: not big, adjacent blocks"
	# Inside the kernel's range (it ignores a socket range outside it) and
	# in cpu0's block: from cpu1 it misses the block.
	lo=$((${b0%-*} + 100))
	hi=$((lo + 99))
	ports 1 $n -r $lo-$hi
	want conns eq $n in_sk eq $n in_block eq 0
	want_counters 0 $n 0
	# Across the boundary of the blocks: each CPU gets its part of it.
	lo=$((${b0#*-} - 49))
	hi=$((${b0#*-} + 50))
	for cpu in 0 1; do
		ports $cpu $n -r $lo-$hi
		want conns eq $n in_sk eq $n inter eq $n in_block eq $n
		want_counters $n 0 0
	done
	say "socket range $lo-$hi: cpu0 got $lo-${b0#*-}, cpu1 $((${b0#*-} + 1))-$hi"
	# Without RFD: the whole socket range, from either CPU; counters still.
	pn_sysctl net.fastsocket.rfd=0
	ports 0 $n -r $lo-$hi
	want conns eq $n in_sk eq $n inter lt $n
	want_counters 0 0 0
	ports 1 $n -r $((${b0%-*} + 100))-$((${b0%-*} + 199))
	want conns eq $n in_sk eq $n
	want_counters 0 0 0
}

# ip_local_reserved_ports over part of the caller's block: never chosen,
# and the ports stay in the block.
t_ports_reserved() {
	local bl bh span res n=200

	ports_ns "net.ipv4.ip_local_port_range=40000 40063"
	ports 1 0
	[ "${P[block]}" != none ] || fail "cpu1 owns no block of ${P[range]}"
	bl=${P[block]%-*}
	bh=${P[block]#*-}
	span=$((bh - bl + 1))
	[ $span -ge 8 ] || fail "cpu1's block ${P[block]} is too small"
	res=$bl-$((bl + span / 2 - 1)),$((bl + span * 3 / 4))-$((bl + span * 3 / 4 + 1))
	# Unreserved, those ports are chosen (-x counts them) ...
	ports 1 $n -x "$res"
	want conns eq $n in_block eq $n listed gt 0
	want_counters $n 0 0
	# ... reserved, never, and no other port of the block is refused.
	pn_sysctl "net.ipv4.ip_local_reserved_ports=$res"
	ports 1 $n -x "$res"
	want conns eq $n in_block eq $n listed eq 0
	want_counters $n 0 0
	say "reserved $res of cpu1's block ${P[block]}: $n connects used ${P[distinct]}" \
	    "other ports of it, none reserved"
	pn_sysctl net.fastsocket.rfd=0
	ports 1 $n -x "$res"
	want conns eq $n listed eq 0 in_block lt $n
	want_counters 0 0 0
}

# A full block: every port of it open to one destination, then one more
# connect to it falls back to the whole range, counted once.
t_ports_fallback() {
	local bl bh span nslots

	ports_ns
	ports 1 0
	nslots=${P[nslots]}
	# Six ports a block: even, so that 6.1's parity scan reaches them all.
	pn_sysctl "net.ipv4.ip_local_port_range=40000 $((40000 + 6 * nslots - 1))"
	ports 1 0
	bl=${P[block]%-*}
	bh=${P[block]#*-}
	span=$((bh - bl + 1))
	[ $span = 6 ] || fail "cpu1's block ${P[block]} of ${P[range]} is not 6 ports"
	ports 1 $((span + 1)) -m fill
	want conns eq $((span + 1)) errors eq 0 fill eq $span in_block eq $span \
	     in_range eq $((span + 1)) distinct eq $((span + 1))
	[ "${P[last]}" -lt "$bl" ] || [ "${P[last]}" -gt "$bh" ] ||
		fail "the last connect's port ${P[last]} is in the block: $ports_line"
	want_counters $((span + 1)) 0 1
	say "cpu1's block ${P[block]} full after $span connections; connection" \
	    "$((span + 1)) got port ${P[last]} of ${P[range]}"
	# Without RFD the block does not fill first, and nothing falls back.
	pn_sysctl net.fastsocket.rfd=0
	ports 1 $((span + 1)) -m fill
	want errors eq 0 fill lt $span
	want_counters 0 0 0
}

# A range with fewer ports than possible CPUs: cpu1 (slot 1 or more) owns
# no port; its connects are left to the kernel and counted unowned.
t_ports_no_block() {
	ports_ns "net.ipv4.ip_local_port_range=40000 40000"
	ports 1 5
	[ "${P[block]}" = none ] || fail "cpu1 owns ${P[block]} of ${P[range]}"
	want conns eq 5 in_range eq 5
	want_counters 0 5 0
	# The range exhausted for one destination: the kernel's EADDRNOTAVAIL,
	# with no retry (nothing was narrowed) and no fallback counted.
	ports_errors_ok=1 ports 1 2 --same
	want conns eq 1 errors eq 1
	want_counters 0 2 0
	ports 0 5
	[ "${P[block]}" = 40000-40000 ] || fail "cpu0 owns ${P[block]} of ${P[range]}"
	want conns eq 5 in_block eq 5
	want_counters 5 0 0
	pn_sysctl net.fastsocket.rfd=0
	ports 1 5
	want conns eq 5 in_range eq 5
	want_counters 0 0 0
}

t_prog_test_run_frames() {
	local out rc

	need "$bin/rfd_frames" "make -C selftests/rfd"
	out=$("$bin/rfd_frames" --frames "$frames" --seed "$RANDOM" 2>&1)
	rc=$?
	echo "$out" | sed 's/^# //; s/^/# /'
	[ $rc = 0 ] || fail "rfd_frames: ${out##*$'\n'}"
	[[ ${out##*$'\n'} == "frames "*" failures 0" ]] || fail "no summary line"
}

t_maps_have_btf() {
	local out name field

	server 4
	ctl_attach generic
	cn "$bin/rfd_conn" client -a "$srv_addr" -p "$srv_port" -n 20 >/dev/null ||
		fail "client failed"
	for name in fsk_rfd_config:nslots fsk_rfd_slots:cpu fsk_rfd_stats:malformed \
		    fsk_rfd_steer:redirected; do
		field=${name#*:}
		name=${name%:*}
		out=$(bpftool map dump name "$name" 2>&1) || fail "bpftool map dump name $name: $out"
		[[ $out == *"\"$field\": "* ]] ||
			fail "bpftool map dump name $name shows no field $field: ${out:0:300}"
		out=${out//$'\n'/ }
		out=${out//  / }
		say "bpftool map dump name $name: ${out:0:240}"
	done
	ctl_detach
}

t_status_and_stale_range() {
	local out rc

	ctl_attach generic
	out=$(cn "$ctl" status 2>&1) || fail "status exited $?: $out"
	echo "$out" | sed 's/^/# /'
	[[ $out == *"net.fastsocket.enabled = 1"* ]] || fail "status shows no sysctls"
	[[ $out == *"net.fastsocket.rfd = 1"* ]] || fail "status shows no rfd sysctl"
	[[ $out =~ $cdev:\ fastsocket,\ generic\ mode ]] || fail "status shows no device"
	[[ $out =~ (^|$'\n')cpu0\ +[0-9]+-[0-9]+\ +yes ]] || fail "status shows no cpu0 row"
	[[ $out =~ (^|$'\n')cpu1\ +[0-9]+-[0-9]+\ +yes ]] || fail "status shows no cpu1 row"
	[[ $out == *rfd_connect_local* ]] || fail "status shows no module counters"

	set_range 40000 49999
	out=$(cn "$ctl" status 2>&1)
	rc=$?
	[ $rc = 3 ] || fail "status exited $rc after a range change, expected 3: $out"
	[[ $out == *"STALE: steering by ports 32768-60999 but ip_local_port_range is now 40000-49999"* &&
	   $out == *"run \`fastsocketctl attach $cdev\` to re-read"* ]] ||
		fail "status did not explain the stale range: $out"
	say "$(grep -m1 STALE <<<"$out")"
	out=$(cn "$ctl" attach $cdev 2>&1) || fail "re-attach: $out"
	[[ $out == *"already attached (generic"*"re-read ports 40000-49999"* ]] ||
		fail "re-attach did not re-read: $out"
	say "$out"
	out=$(cn "$ctl" status 2>&1) || fail "status after re-reading exited $?: $out"
	[[ $out == *"steering ports 40000-49999"* ]] || fail "status: $out"
	set_range 32768 60999
	out=$(cn "$ctl" attach $cdev 2>&1) || fail "re-attach: $out"
	ctl_detach
	out=$(cn "$ctl" status 2>&1) || fail "status without a program exited $?: $out"
	[[ $out == *"none (fastsocketctl attach DEV)"* ]] || fail "status after detach: $out"
}

# The printed rules must cover each CPU's block exactly, for tcp4 and tcp6.
t_ethtool_rules() {
	local out rc

	# A veth has one RX queue: a rule for queue 1 is refused.
	expect_fail 1 "$cdev has 1 RX queues: queue 1 for cpu1 does not exist" \
		cn "$ctl" ethtool-rules $cdev --queue 0=0 --queue 1=1
	# No IRQs and no ntuple in a guest: a veth with two queues shows the rules.
	out=$(cn ip link add fskq0 numrxqueues 2 numtxqueues 2 type veth peer name fskq1 2>&1) ||
		fail "ip link add fskq0 (veth, 2 queues): $out"
	out=$(cn "$ctl" ethtool-rules fskq0 --queue 0=0 --queue 1=1 2>&1)
	rc=$?
	cn ip link del fskq0
	[ $rc = 0 ] || fail "ethtool-rules: $out"
	echo "$out" | head -n 8 | sed 's/^/# /'
	say "... $(grep -c '^ethtool -N' <<<"$out") rules"
	awk -v dev=fskq0 '
		function hex(s,   i, v) {
			s = tolower(s); sub(/^0x/, "", s); v = 0
			for (i = 1; i <= length(s); i++)
				v = v * 16 + index("0123456789abcdef", substr(s, i, 1)) - 1
			return v
		}
		/^# cpu[0-9]+ ports [0-9]+-[0-9]+ -> rx queue/ {
			split($4, r, "-"); q = $8 + 0
			blocks[q] = r[1] " " r[2]; next
		}
		/^ethtool -N/ {
			if ($3 != dev || $4 != "flow-type") { print "bad rule: " $0; bad = 1; next }
			ft = $5; port = $7; mask = 0; act = $(NF)
			if ($8 == "m") mask = hex($9)
			for (size = mask + 1; size > 1 && size % 2 == 0; size /= 2)
				;
			if (size != 1 || port % (mask + 1)) { print "not an aligned block: " $0; bad = 1 }
			for (p = port; p <= port + mask; p++) {
				if (seen[ft, p]++) { print "port " p " twice"; bad = 1 }
				owner[ft, p] = act
			}
			fts[ft] = 1; next
		}
		END {
			n = 0
			for (q in blocks) {
				split(blocks[q], r, " ")
				for (ft in fts) {
					for (p = r[1]; p <= r[2]; p++) {
						if (owner[ft, p] != q) {
							printf "%s port %d -> %s, want queue %s\n", ft, p, owner[ft, p], q
							bad = 1; break
						}
						n++
					}
				}
			}
			for (k in seen) total++
			if (total != n) { print "rules cover " total " ports, blocks " n; bad = 1 }
			if (!n || length(fts) != 2) { print "no blocks or flow types"; bad = 1 }
			exit bad
		}' <<<"$out" || fail "the rules do not cover the blocks exactly"
	out=$(cn "$ctl" ethtool-rules lo --queue 1=3 --flow tcp4 2>&1) || fail "ethtool-rules: $out"
	[[ $out == *"# cpu0 ports "*"no RX queue has its IRQ on this CPU"* ]] ||
		fail "a CPU with no queue is not reported: $out"
	[[ $out != *"flow-type tcp6"* && $out == *"action 3"* ]] || fail "--flow/--queue ignored: $out"
}

# under_traffic MODE: detach and attach twice while connections run.
under_traffic() {
	local i

	[ "$1" = native ] && peer_tx off
	ctl_attach "$1"
	traffic_start
	for i in 1 2; do
		ctl_detach
		pause 0.2
		ctl_attach "$1"
		pause 0.2
	done
	steered_under_traffic
	traffic_end
	ctl_detach
	[ "$1" = native ] && peer_tx on
	return 0
}

t_reattach_under_traffic_generic() { under_traffic generic; }
t_reattach_under_traffic_native() { under_traffic native; }

# Random, mutated and truncated frames (rfd_frames' generator) sent from the
# server's end of the veth at the live program while connections run: the
# program counts the malformed ones and passes them on untouched, and no
# connection is lost.
t_bad_frames_under_traffic() {
	local out before

	ctl_attach generic
	traffic_start
	status_total malformed
	before=$REPLY
	out=$(sn "$bin/rfd_frames" --send $sdev --frames "$live_frames" --seed "$RANDOM" 2>&1) ||
		fail "rfd_frames --send: $out"
	say "$out"
	status_total malformed
	say "the program counted $((REPLY - before)) malformed frames"
	[ $((REPLY - before)) -gt 0 ] || fail "no malformed frame counted"
	# The backlog of frames drains first; then the connections' packets flow.
	pause 1
	steered_under_traffic
	traffic_end
	ctl_detach
}

t_sysctl_flips_under_traffic() {
	local end i=0

	ctl_attach generic
	traffic_start
	ms
	end=$((REPLY + traffic_s * 1000))
	while ms && [ "$REPLY" -lt $end ]; do
		cn_sysctl enabled $((i % 2))
		pause 0.05
		cn_sysctl rfd $((i % 3 != 0))
		pause 0.05
		i=$((i + 1))
	done
	cn_sysctl enabled 1
	cn_sysctl rfd 1
	say "$i rounds of flipping net.fastsocket.enabled and .rfd"
	steered_under_traffic
	traffic_end
	ctl_detach
}

# The range changes under the program; it steers by the old one (less
# precisely, never losing a packet) until attach re-reads it.
t_range_changes_under_traffic() {
	local out n blk inc err rc

	ctl_attach generic
	traffic_start
	set_range 20000 39999
	pause 0.5
	status_says 3 "STALE: steering by ports 32768-60999 but ip_local_port_range is now 20000-39999"
	ctl_attach generic
	pause 0.5
	set_range 32768 60999
	pause 0.5
	ctl_attach generic
	steered_under_traffic
	traffic_end

	# Re-read: steering is exact again.
	server 4
	out=$(cn "$bin/rfd_conn" client -a "$srv_addr" -p "$srv_port" -n 200 2>&1)
	rc=$?
	read -r _ n _ blk _ inc _ err <<<"${out##*$'\n'}"
	[ $rc = 0 ] && [ "$n" = 200 ] && [ "$blk" = 200 ] && [ "$inc" = 200 ] ||
		fail "after the range changes: ${out//$'\n'/ / }"
	say "after re-reading: ${out##*$'\n'}"
	ctl_detach
}

# client_all N: N connections from every online CPU, all steered exactly.
client_all() {
	local out rc n blk inc err

	server 4
	out=$(cn "$bin/rfd_conn" client -a "$srv_addr" -p "$srv_port" -n "$1" 2>&1)
	rc=$?
	read -r _ n _ blk _ inc _ err <<<"${out##*$'\n'}"
	[ $rc = 0 ] && [ "$n" = "$1" ] && [ "$blk" = "$1" ] && [ "$inc" = "$1" ] ||
		fail "${out//$'\n'/ / }"
	say "${out##*$'\n'}"
}

# status_says CODE TEXT: fastsocketctl status exits CODE and says TEXT.
status_says() {
	local out rc

	out=$(cn "$ctl" status 2>&1)
	rc=$?
	[ $rc = "$1" ] && [[ $out == *"$2"* ]] ||
		fail "status exited $rc (expected $1) without '$2': $out"
}

# A CPU going offline and back: status says the queues are stale, attach
# re-reads the online CPUs; the offline CPU's ports pass to the stack.
t_cpu_offline_online() {
	local f=/sys/devices/system/cpu/cpu1/online

	[ -w $f ] || skip "cpu1 cannot go offline in this guest"
	ctl_attach generic
	echo 0 >$f || fail "cannot offline cpu1"
	status_says 3 "STALE: cpu1 is offline but has a cpumap queue"
	ctl_attach generic
	status_says 0 "program "
	client_all 100
	echo 1 >$f || fail "cannot online cpu1"
	status_says 3 "STALE: cpu1 is online but has no cpumap queue"
	ctl_attach generic
	status_says 0 "program "
	client_all 200
	ctl_detach
}

# rmmod with the program attached, under traffic: the program stays and
# goes on steering by the port rule (connections the kernel now gives any
# port land on any CPU), nothing is lost; then the module is back, and
# steering exact, for the tests after.
t_rmmod_while_attached() {
	local out sysctls

	ctl_attach generic
	traffic_start
	out=$(rmmod $mod 2>&1) || fail "rmmod with the program attached: $out"
	say "rmmod under traffic with the program attached"
	pause 1
	out=$(insmod "$ko" 2>&1) || fail "insmod $ko: $out"
	sysctls=$(cn sh -c 'echo 1 >/proc/sys/net/fastsocket/enabled' 2>&1) ||
		fail "enabling fastsocket in $cns again: $sysctls"
	ctl_attach generic
	steered_under_traffic
	traffic_end
	ctl_detach
}

t_unload() {
	local out pid ns

	while read -r pid; do
		kill "$pid" 2>/dev/null
	done <"$work/servers"
	: >"$work/servers"
	for ns in $cns $sns; do
		ip netns delete $ns || fail "ip netns delete $ns"
	done
	out=$(rmmod $mod 2>&1) || fail "rmmod: $out"
	[ ! -d /sys/module/$mod ] || fail "$mod still loaded"
}

# ---------------------------------------------------------------- runner

# run_test NAME: the test in a forked subshell (an exec costs ~0.1 s in an
# emulated guest), killed after $test_timeout s; prints its TAP line.
run_test() {
	local t=$1 pid wpid rc t0 line marker taint0
	local -a why=()

	marker="fsk-rfd: $$ begin $t"
	echo "<6>$marker" >/dev/kmsg
	read -r taint0 </proc/sys/kernel/tainted
	ms
	t0=$REPLY
	(
		trap cleanup_test EXIT
		"t_$t"
	) >"$work/out" 2>&1 &
	pid=$!
	( pause $test_timeout; kill -KILL $pid 2>/dev/null ) &
	wpid=$!
	wait $pid
	rc=$?
	kill $wpid 2>/dev/null
	wait $wpid 2>/dev/null
	kernel_verdict "$marker" "$taint0" >>"$work/out"
	ms
	n=$((n + 1))
	if [ $rc = 0 ] && [ ${#why[@]} = 0 ]; then
		echo "ok $n - $t ($(((REPLY - t0) / 1000)).$(((REPLY - t0) % 1000 / 100)) s)"
		while read -r line; do
			[[ $line == "# "* ]] && echo "$line"
		done <"$work/out"
		return 0
	fi
	if [ $rc = 4 ] && [ -s "$work/skip" ] && [ ${#why[@]} = 0 ]; then
		echo "ok $n - $t # SKIP $(<"$work/skip")"
		rm -f "$work/skip"
		return 0
	fi
	failed=$((failed + 1))
	echo "not ok $n - $t"
	[ $rc != 137 ] || echo "timed out after $test_timeout s" >>"$work/out"
	for line in "${why[@]}"; do echo "$line" >>"$work/out"; done
	while read -r line; do
		echo "# ${line#\# }"
	done <"$work/out"
	cleanup_test >/dev/null 2>&1
	return 1
}

filter=
n=0
failed=0
start=0
case ${1:-} in
--filter)
	filter=${2:-}
	;;
--resume)	# START N FAILED FILTER: after setup, inside the client netns
	start=$2
	n=$3
	failed=$4
	filter=${5:-}
	;;
esac
mkdir -p "$work"
trap cleanup_all EXIT
if [ $start = 0 ]; then
	: >"$work/pids"
	: >"$work/servers"
	rm -f "$work"/stock_v*
	echo "TAP version 13"
fi

for ((i = start; i < ${#tests[@]}; i++)); do
	t=${tests[i]}
	# setup and unload run whatever the filter says: the rest needs them.
	if [ -n "$filter" ] && ! [[ $t =~ $filter ]] && [ $t != setup ] && [ $t != unload ]; then
		continue
	fi
	if ! run_test "$t" && [ $t = setup ]; then
		echo "Bail out! setup failed"
		break
	fi
	if [ $t = setup ]; then
		# The rest runs in the client netns: cn costs nothing there.
		trap - EXIT
		exec ip netns exec $cns env FSK_RFD_IN_CLIENT=1 "$self" --resume \
			$((i + 1)) $n $failed "$filter"
	fi
done
echo "1..$n"
[ $failed = 0 ]

#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# selftests/llt.sh - Local Listen Table selftests, TAP 13 on stdout.
#
# usage: selftests/llt.sh [--filter REGEX]
#
# Run as root from the repository root inside a throwaway guest with two
# CPUs or more: tools/vm/run.sh KVER -- selftests/llt.sh. It loads
# build/$(uname -r)/fastsocket.ko itself and unloads it at the end, and uses
#   build/selftests/llt/llt        (selftests/llt/Makefile)
# and the host's nginx and wrk for the real-server test.
#
# Each test is a function t_NAME that fails with a reason or returns; most
# run one llt subcommand, which does the checking and prints "# " lines. A
# test runs in a subshell in its own process group under a watchdog
# ($test_timeout s). Whatever it leaves behind (programs, nginx, namespaces,
# offline CPUs, sysctls, an unloaded module) is put back by the runner, so
# one failure does not cascade. The runner also fails a test during which the
# kernel logged a BUG/WARNING/... or got tainted.
#
# Environment: FSK_LLT_NGINX_REQUESTS (default 10000) requests nginx serves.
# FSK_LLT_FLOOD_ARGS: more arguments for the SYN flood tests' llt syn-flood
# (-b BACKLOG -k SYNS_PER_CPU -d MS: the heavier make-stress sizes).
# FSK_LLT_STOCK=1: the checks of review findings (safety) run on stock Linux
# only (net.fastsocket.enabled=0), where they must pass.
# FSK_LLT_COURTESY_BOUND_MS (default 50): accept_courtesy_bound's bound, the
# README's 20 ms and an allowance for TCG (stock's worst seen: 6 ms).
# FSK_LLT_NETNS_CHURN (default 15, 5 on the debug kernel): namespaces
# netns_churn_live_clones makes and lets die (make stress: 100).
# FSK_LLT_MANY_LISTENERS (default 1000): many_listeners's listeners.
# FSK_LLT_TEST_TIMEOUT: seconds a test may take (default 90, 300 on the
# debug kernel).
set -u

top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=selftests/lib.sh
. "$top/selftests/lib.sh"
kver=$(uname -r)
ko=$top/build/$kver/fastsocket.ko
llt=$top/build/selftests/llt/llt
mod=fastsocket
sysctl_dir=/proc/sys/net/fastsocket
procfile=/proc/net/fastsocket
netns_prefix=fsk-llt-
# The memory cgroup of memcg_charged.
memcg_dir=/sys/fs/cgroup/${netns_prefix}memcg
nginx_requests=${FSK_LLT_NGINX_REQUESTS:-$((FSK_DEBUG_KERNEL ? 2000 : 10000))}
# Seconds between the steps of nginx_lifecycle (reloads, upgrade).
nginx_phase_s=$((FSK_DEBUG_KERNEL ? 6 : 3))
stock_only=${FSK_LLT_STOCK:-0}
courtesy_bound_ms=${FSK_LLT_COURTESY_BOUND_MS:-50}
read -ra flood_args <<<"${FSK_LLT_FLOOD_ARGS:-}"
test_timeout=${FSK_LLT_TEST_TIMEOUT:-$((FSK_DEBUG_KERNEL ? 300 : 90))}
netns_churn=${FSK_LLT_NETNS_CHURN:-$((FSK_DEBUG_KERNEL ? 5 : 15))}
many_listeners=${FSK_LLT_MANY_LISTENERS:-1000}
# Below the ephemeral range and above every test's own range (20000 + n * 100).
many_listeners_port=10000
# listen_clone_failed's listeners, above many_listeners's.
clone_fail_listeners=200
clone_fail_port=12000

tests=(
	syncookies_ack_other_cpu
	eligibility
	memory
	locality
	locality_epoll
	nostrand_block
	nostrand_poll
	nostrand_epoll_lt
	nostrand_epoll_et
	nostrand_epoll_exclusive
	close_with_queued
	close_with_queued_port0
	shutdown_and_listen_again
	shutdown_and_listen_again_port0
	sysctl_flips_under_traffic
	switches_concurrent_netns
	rmmod_with_queued
	rmmod_during_setsockopt
	rmmod_under_traffic
	ipv4_wildcard
	ipv4_loopback
	ipv4_other_address
	ipv6_wildcard
	ipv6_loopback
	ipv4_mapped_ipv6
	ipv6_link_local
	ipv6_v6only
	two_netns
	reuseport_incoming_cpu
	opt_defer_accept
	opt_fastopen
	opt_rcvbuf_sndbuf
	opt_maxseg
	opt_freebind
	opt_bindtodevice
	opt_user_timeout
	opt_keepalive
	opt_misc_inherited
	opt_listen_again
	syncookies
	cpu_hotplug
	hotplug_under_traffic
	nginx
	nginx_lifecycle
	haproxy_reload
	md5_after_listen
	minttl_after_listen
	minhopcount_after_listen
	filter_after_listen
	bpf_filter_after_listen
	mark_after_listen
	bindtodevice_after_listen
	sockopts_after_listen
	sockopts_after_listen_ipv6
	fastopen_key
	accept_migrated_waiter
	epoll_migrated_waiter
	poll_other_cpu_data_first
	accept_courtesy_bound
	accept_timeout_takes_queued
	aio_poll_listener
	io_uring_poll_listener
	io_uring_multishot_accept
	backlog_bound
	netns_churn_live_clones
	many_listeners
	memcg_charged
	listen_clone_failed
	syn_flood_cookies
	close_under_pressure
	md5_hotplug_close
	unload
)

# ---------------------------------------------------------------- helpers

say() {
	printf '# %s\n' "$*"
}

fail() {
	printf '# FAIL: %s\n' "$*"
	exit 1
}

# skip REASON: the test cannot check what it is about here and now.
skip() {
	printf '%s\n' "$*" >"$work/skip"
	exit 4
}

show() { # FILE: a program's output, as diagnostics
	local line

	while IFS= read -r line; do
		[[ $line == "#"* ]] || line="# $line"
		printf '%s\n' "$line"
	done <"$1"
}

# llt SUBCOMMAND ARGS...: run the helper; its "# " lines go straight out.
llt() {
	need "$llt" "make -C selftests/llt"
	"$llt" "$@" -p "$port" 2>&1
}

# counters -> CNT[column] = sum over CPUs of /proc/net/fastsocket
counters() {
	local -a f names
	local i

	CNT=()
	{
		read -ra names
		[ "${names[0]:-}" = cpu ] || fail "bad header in $procfile"
		while read -ra f; do
			for ((i = 1; i < ${#names[@]}; i++)); do
				CNT[${names[i]}]=$((${CNT[${names[i]}]:-0} + f[i]))
			done
		done
	} <$procfile || fail "cannot read $procfile"
}

fsk_set() { # NAME VALUE (this netns)
	echo "$2" >"$sysctl_dir/$1" || fail "cannot set net.fastsocket.$1=$2"
}

# ---------------------------------------------------------------- cleanup

# Idempotent; after each test and at the end. Prints what it had to undo.
cleanup() {
	local pid ns f v

	if [ -s "$work/pids" ]; then
		while read -r pid; do
			kill -KILL "$pid" 2>/dev/null && echo "cleanup: killed pid $pid"
			wait "$pid" 2>/dev/null
		done <"$work/pids"
		: >"$work/pids"
	fi
	for f in "$work"/nginx/nginx.pid.oldbin "$work"/nginx/nginx.pid; do
		[ -s "$f" ] || continue
		# A daemon master leads a session of its own: workers, and a new
		# master from a binary upgrade, are in it. Without daemon, they
		# went with the test's process group.
		read -r pid <"$f"
		pkill -KILL -s "$pid" 2>/dev/null && echo "cleanup: killed nginx session $pid"
		kill -KILL "$pid" 2>/dev/null && echo "cleanup: killed nginx $pid"
		rm -f "$f"
	done
	for f in /sys/devices/system/cpu/cpu*/online; do
		[ -w "$f" ] || continue
		read -r v <"$f"
		[ "$v" = 0 ] && echo 1 >"$f" && echo "cleanup: ${f%/online} back online"
	done
	if [ -d "$memcg_dir" ]; then
		while read -r pid; do
			echo "$pid" >/sys/fs/cgroup/cgroup.procs 2>/dev/null
		done <"$memcg_dir/cgroup.procs"
		rmdir "$memcg_dir" 2>/dev/null || echo "cleanup: cannot remove $memcg_dir"
	fi
	for ns in /run/netns/"$netns_prefix"*; do
		[ -e "$ns" ] || continue
		ip netns delete "${ns##*/}" 2>/dev/null ||
			echo "cleanup: cannot delete netns ${ns##*/}"
	done
	for f in tcp_fastopen tcp_syncookies; do
		read -r v <"/proc/sys/net/ipv4/$f"
		[ "$v" = "${saved[$f]}" ] && continue
		echo "${saved[$f]}" >"/proc/sys/net/ipv4/$f"
		echo "cleanup: net.ipv4.$f back to ${saved[$f]}"
	done
	if [ "${want_loaded:-1}" = 1 ] && ! loaded; then
		insmod "$ko" 2>/dev/null && echo "cleanup: module loaded again"
	fi
	if loaded; then
		for f in enabled:0 listen:1 rfd:1; do
			read -r v <"$sysctl_dir/${f%:*}"
			[ "$v" = "${f#*:}" ] && continue
			echo "${f#*:}" >"$sysctl_dir/${f%:*}"
		done
	fi
	return 0
}

# ---------------------------------------------------------------- tests

t_eligibility() {
	llt eligible || fail "eligible"
}

t_locality() {
	llt locality -n 300 || fail "locality"
}

t_locality_epoll() {
	llt locality -m epoll-excl-one -n 300 || fail "locality"
}

t_nostrand_block() {
	llt nostrand -m block -n 80 || fail "nostrand"
}

t_nostrand_poll() {
	llt nostrand -m poll -n 80 || fail "nostrand"
}

t_nostrand_epoll_lt() {
	llt nostrand -m epoll-lt -n 80 || fail "nostrand"
}

t_nostrand_epoll_et() {
	llt nostrand -m epoll-et -n 80 || fail "nostrand"
}

t_nostrand_epoll_exclusive() {
	llt nostrand -m epoll-excl -n 80 || fail "nostrand"
}

t_close_with_queued() {
	llt close-queued || fail "close-queued"
}

t_shutdown_and_listen_again() {
	llt shutdown || fail "shutdown"
}

# Port 0: the kernel gives the port back before the listener stops.
t_close_with_queued_port0() {
	llt close-queued -Z || fail "close-queued -Z"
}

t_shutdown_and_listen_again_port0() {
	llt shutdown -Z || fail "shutdown -Z"
}

t_sysctl_flips_under_traffic() {
	llt flip -d 3000 || fail "flip"
}

# switch_flipper: net.fastsocket.enabled and .listen flipped in this netns
# as fast as a shell writes, until the files go (rmmod) or it is killed.
switch_flipper() {
	local d=/proc/sys/net/fastsocket i=0

	# stderr first: the redirection to a file gone must not complain.
	while echo $((i % 2)) 2>/dev/null >"$d/enabled" &&
	      echo $((i % 3 != 0)) 2>/dev/null >"$d/listen"; do
		i=$((i + 1))
	done
	echo "flips $i"
}

# Three namespaces, each with connections running on a managed listener and
# its own writer flipping its switches meanwhile: no connection is lost in
# any of them, no socket leaks. Then rmmod while the writers go on: it
# completes within the README's 7 s, and every writer stops when the files go.
t_switches_concurrent_netns() {
	local ns i rc pids=() flippers=() out line

	for i in 1 2 3; do
		ns=${netns_prefix}sw$i
		netns_add "$ns"
		bg "tr$i" ip netns exec "$ns" "$llt" traffic -p "$port" -d 4000 \
			-r "$work/ready$i" -R 0
		pids+=("$bg_pid")
	done
	for i in 1 2 3; do
		wait_file "$work/ready$i" 30 || { show "$work/tr$i.out"; fail "traffic $i never ready"; }
	done
	for i in 1 2 3; do
		bg "sw$i" ip netns exec "${netns_prefix}sw$i" bash -c "$(declare -f switch_flipper); switch_flipper"
		flippers+=("$bg_pid")
	done
	for i in 1 2 3; do
		wait "${pids[i - 1]}"
		rc=$?
		show "$work/tr$i.out"
		[ $rc = 0 ] || fail "traffic in ${netns_prefix}sw$i lost connections while its switches flipped ($rc)"
	done
	kill "${flippers[@]}" 2>/dev/null
	wait "${flippers[@]}" 2>/dev/null
	say "three namespaces' traffic through their own switch flips: nothing lost"
	flippers=()
	for i in 1 2 3; do
		bg "rm$i" ip netns exec "${netns_prefix}sw$i" bash -c "$(declare -f switch_flipper); switch_flipper"
		flippers+=("$bg_pid")
	done
	rmmod_timed
	for i in "${flippers[@]}"; do
		wait "$i"
	done
	for i in 1 2 3; do
		out=
		while IFS= read -r line; do out=$line; done <"$work/rm$i.out"
		say "writer $i until rmmod: $out"
	done
}

# rmmod while every CPU sets options on a managed listener: each
# setsockopt() succeeds, rmmod within its bound, and no sync of the clones
# runs once unload has begun (the debug kernel's KASAN sees the rest).
t_rmmod_during_setsockopt() {
	local pid rc

	bg sc "$llt" sockopt-churn -p "$port" -d 5000 -r "$work/ready"
	pid=$bg_pid
	wait_file "$work/ready" 30 || { show "$work/sc.out"; fail "never ready"; }
	pause 1
	rmmod_timed
	wait "$pid"
	rc=$?
	show "$work/sc.out"
	[ $rc = 0 ] || fail "sockopt-churn failed ($rc)"
}

t_rmmod_with_queued() {
	local pid rc

	bg rq "$llt" rmmod-queued -p "$port" -r "$work/ready"
	pid=$bg_pid
	wait_file "$work/ready" 30 || { show "$work/rq.out"; fail "never ready"; }
	unload
	say "module removed with connections queued on clones"
	wait "$pid"
	rc=$?
	show "$work/rq.out"
	[ $rc = 0 ] || fail "rmmod-queued failed ($rc)"
}

# under_traffic MS ACTION...: llt traffic for MS ms, ACTION in the middle
# of it; no connection may be lost, no socket leaked.
under_traffic() {
	local ms=$1 pid rc

	shift
	llt leak -m save -r "$work/base" >/dev/null || fail "leak baseline"
	bg tr "$llt" traffic -p "$port" -d "$ms" -r "$work/ready" -R 0
	pid=$bg_pid
	wait_file "$work/ready" 30 || { show "$work/tr.out"; fail "never ready"; }
	"$@"
	wait "$pid"
	rc=$?
	show "$work/tr.out"
	[ $rc = 0 ] || fail "traffic failed ($rc)"
	llt leak -m check -r "$work/base" || fail "sockets leaked"
}

# README: rmmod lets clones' handshakes finish (3 s at most), migrates,
# waits for stragglers (3 s at most) and unhooks: 7 s at most.
rmmod_timed() {
	local t0

	pause 0.5
	ms
	t0=$REPLY
	unload
	ms
	say "rmmod under traffic took $((REPLY - t0)) ms (from $t0 to $REPLY ms since the epoch)"
	[ $((REPLY - t0)) -le 7000 ] || fail "rmmod took $((REPLY - t0)) ms, README says 7 s at most"
}

# Handshakes in flight complete on their clone, queued connections move to
# the listener: nothing is lost.
t_rmmod_under_traffic() {
	under_traffic 3500 rmmod_timed
}

t_ipv4_wildcard() {
	llt serve -f 4 -l 0.0.0.0 -c 127.0.0.1 -n 60 || fail "serve"
}

t_ipv4_loopback() {
	llt serve -f 4 -l 127.0.0.1 -n 60 || fail "serve"
}

t_ipv4_other_address() {
	llt serve -f 4 -l 127.0.0.2 -c 127.0.0.2 -n 60 || fail "serve"
}

t_ipv6_wildcard() {
	llt serve -f 6 -l :: -6 1 -c ::1 -n 60 || fail "serve"
}

t_ipv6_loopback() {
	llt serve -f 6 -l ::1 -n 60 || fail "serve"
}

t_ipv4_mapped_ipv6() {
	llt serve -f 6 -l :: -6 0 -F 4 -c 127.0.0.1 -n 60 || fail "serve"
}

# A link of its own: fe80::1 on the server's end of a veth, fe80::2 on the
# client's; the listener binds fe80::1 with its scope.
t_ipv6_link_local() {
	local s=${netns_prefix}ll-s c=${netns_prefix}ll-c out

	netns_add "$s"
	netns_add "$c"
	out=$(ip link add fskll0 netns "$s" type veth peer name fskll1 netns "$c" 2>&1 &&
	      ip -n "$s" addr add fe80::1/64 dev fskll0 nodad 2>&1 &&
	      ip -n "$c" addr add fe80::2/64 dev fskll1 nodad 2>&1 &&
	      ip -n "$s" link set fskll0 up 2>&1 &&
	      ip -n "$c" link set fskll1 up 2>&1) || fail "veth: $out"
	need "$llt" "make -C selftests/llt"
	safety_in "$s" "$s" ipv6-corners -m linklocal -l 'fe80::1%fskll0' \
		-c 'fe80::1%fskll1' -x "$c" -n 10
}

t_ipv6_v6only() {
	safety ipv6-corners -m v6only
}

t_two_netns() {
	local on=${netns_prefix}on off=${netns_prefix}off pon poff rc1 rc2 k

	netns_add "$on"
	netns_add "$off"
	counters
	local -A init=()
	for k in "${!CNT[@]}"; do init[$k]=${CNT[$k]}; done
	# The same port in both, at the same time.
	bg on ip netns exec "$on" "$llt" serve -p "$port" -n 60
	pon=$bg_pid
	bg off ip netns exec "$off" "$llt" serve -p "$port" -n 60 -S
	poff=$bg_pid
	wait "$pon"
	rc1=$?
	wait "$poff"
	rc2=$?
	say "netns $on (enabled=1):"
	show "$work/on.out"
	say "netns $off (enabled=0):"
	show "$work/off.out"
	[ $rc1 = 0 ] || fail "serving in $on failed"
	[ $rc2 = 0 ] || fail "serving in $off failed"
	counters
	for k in "${!CNT[@]}"; do
		[ "${CNT[$k]}" = "${init[$k]:-0}" ] ||
			fail "counter $k moved in the initial netns"
	done
}

t_reuseport_incoming_cpu() {
	llt reuseport || fail "reuseport"
}

t_opt_defer_accept() {
	llt opt -m defer-accept || fail "defer-accept"
}

t_opt_fastopen() {
	llt opt -m fastopen || fail "fastopen"
}

t_opt_rcvbuf_sndbuf() {
	llt opt -m bufs || fail "bufs"
}

t_opt_maxseg() {
	llt opt -m maxseg || fail "maxseg"
}

t_opt_freebind() {
	local ns=${netns_prefix}freebind

	netns_add "$ns"
	ip netns exec "$ns" "$llt" opt -m freebind -p "$port" 2>&1 || fail "freebind"
}

t_opt_bindtodevice() {
	llt opt -m bindtodevice || fail "bindtodevice"
}

t_opt_user_timeout() {
	llt opt -m user-timeout || fail "user-timeout"
}

t_opt_keepalive() {
	llt opt -m keepalive || fail "keepalive"
}

t_opt_misc_inherited() {
	llt opt -m misc || fail "misc"
}

t_opt_listen_again() {
	llt opt -m relisten || fail "relisten"
}

t_syncookies() {
	llt syncookies || fail "syncookies"
}

# Early in the suite: see cookie_stamp0_recent() in selftests/llt/opts.c.
t_syncookies_ack_other_cpu() {
	local rc

	llt cookie-steer
	rc=$?
	[ $rc = 0 ] || fail "cookie-steer"
}

t_cpu_hotplug() {
	[ -w /sys/devices/system/cpu/cpu1/online ] || fail "cpu1 cannot go offline here"
	llt hotplug -C 1 || fail "hotplug"
}

cpu1_flips() {
	local i cpu1=/sys/devices/system/cpu/cpu1/online

	for i in 1 2; do
		pause 0.3
		echo 0 >$cpu1 || fail "cpu1 offline"
		say "cpu1 offline"
		pause 0.5
		echo 1 >$cpu1 || fail "cpu1 online"
		say "cpu1 online"
	done
}

# cpu1 goes offline and comes back twice under traffic: its clone drains or
# is retired (queue and handshakes to the listener), then made again.
t_hotplug_under_traffic() {
	[ -w /sys/devices/system/cpu/cpu1/online ] || fail "cpu1 cannot go offline here"
	under_traffic 4000 cpu1_flips
}

# wrk_parse FILE -> requests, errors, non2xx
wrk_parse() {
	local line
	local -a w

	requests='' errors=0 non2xx=0
	while IFS= read -r line; do
		read -ra w <<<"$line"
		case $line in
		*" requests in "*) requests=${w[0]} ;;
		*"Socket errors:"*)
			# Socket errors: connect A, read B, write C, timeout D
			errors=$((${w[3]%,} + ${w[5]%,} + ${w[7]%,} + w[9]))
			;;
		*"Non-2xx or 3xx responses:"*) non2xx=${w[4]} ;;
		esac
	done <"$1"
	[ -n "$requests" ] || { show "$1"; fail "cannot parse wrk's output"; }
}

# nginx_conf DIR LISTEN_OPTIONS on|off: the configuration of the nginx tests,
# listening on $port, daemon or not. One worker per CPU online now: the
# runner's cleanup brings CPUs online that were offline at boot (maxcpus=),
# after $ncpu was counted.
nginx_conf() {
	ncpu=$(nproc)
	cat >"$1/nginx.conf" <<-EOF
	worker_processes $ncpu;
	daemon $3;
	worker_cpu_affinity auto;
	user root;
	pid $1/nginx.pid;
	error_log $1/error.log warn;
	events {
		worker_connections 1024;
		accept_mutex off;
	}
	http {
		log_format st '\$status';
		access_log $1/access.log st buffer=64k flush=1s;
		client_body_temp_path $1/tmp/body;
		proxy_temp_path $1/tmp/proxy;
		fastcgi_temp_path $1/tmp/fastcgi;
		uwsgi_temp_path $1/tmp/uwsgi;
		scgi_temp_path $1/tmp/scgi;
		default_type text/plain;
		server {
			listen 127.0.0.1:$port$2;
			root $1/www;
		}
	}
	EOF
}

# listen_backlog PORT: the backlog ss shows for the listener on PORT.
listen_backlog() {
	local -a w

	REPLY=
	while read -ra w; do
		[ "${w[0]}" = LISTEN ] && [[ ${w[3]} == *:$1 ]] && REPLY=${w[2]}
	done < <(ss -Hltn "sport = :$1")
}

# nginx_pid DIR [FILE]: the master's pid from its pid file, once it is there.
nginx_pid() {
	local f=$1/${2:-nginx.pid} i

	REPLY=
	for ((i = 0; i < 100; i++)); do
		[ -s "$f" ] && read -r REPLY <"$f" && [ -n "$REPLY" ] &&
			kill -0 "$REPLY" 2>/dev/null && { echo "$REPLY" >>"$work/pids"; return 0; }
		pause 0.1
	done
	fail "no nginx master in $f"
}

# nginx's own lifecycle under wrk load, with zero errors: a reload with the
# same configuration (SIGHUP: new workers, the listening socket kept, its
# clones unchanged), a reload that changes the listener's backlog and
# receive buffer (nginx sets SO_RCVBUF and calls listen() again on the same
# socket: the clones copy both), and a binary upgrade (USR2: a new master
# inherits the listening socket; QUIT: the old master and its workers go).
# The listener is one socket throughout, managed, and its clones still take
# the connections at the end.
t_nginx_lifecycle() {
	local dir=$work/nginx master old wpid t0 k phase
	local -A before=()

	command -v nginx >/dev/null || fail "nginx is not installed"
	command -v wrk >/dev/null || fail "wrk is not installed"
	mkdir -p "$dir/www" "$dir/tmp"
	printf '%063d\n' 0 >"$dir/www/64.txt"
	nginx_conf "$dir" "" on
	fsk_set enabled 1
	counters
	for k in "${!CNT[@]}"; do before[$k]=${CNT[$k]}; done
	# By its path: a binary upgrade executes argv[0] again.
	"$(command -v nginx)" -p "$dir" -c "$dir/nginx.conf" -e "$dir/error.log" ||
		fail "nginx did not start"
	nginx_pid "$dir"
	master=$REPLY
	counters
	[ $((CNT[listen_managed] - before[listen_managed])) = 1 ] ||
		fail "listen_managed +$((CNT[listen_managed] - before[listen_managed])), expected +1"
	listen_backlog "$port"
	say "nginx master $master, listener backlog $REPLY, managed"
	bg wrk wrk -t2 -c20 -d"$((nginx_phase_s * 4 + 2))s" -H 'Connection: close' \
		"http://127.0.0.1:$port/64.txt"
	wpid=$bg_pid
	pause "$nginx_phase_s"
	kill -HUP "$master"
	say "reload (SIGHUP, same configuration)"
	pause "$nginx_phase_s"
	nginx_conf "$dir" " backlog=200 rcvbuf=96k" on
	kill -HUP "$master"
	pause "$nginx_phase_s"
	listen_backlog "$port"
	say "reload with backlog=200 rcvbuf=96k: the listener's backlog is now $REPLY"
	# ss reads the backlog through inet_diag; the debug kernel has none.
	if grep -qE '^CONFIG_INET_TCP_DIAG=(y|m)' "/boot/config-$(uname -r)" 2>/dev/null; then
		[ "$REPLY" = 200 ] || fail "the listener's backlog is $REPLY after the reload, not 200"
	else
		say "no inet_diag in $(uname -r): the backlog is not visible here, not checked"
	fi
	old=$master
	kill -USR2 "$old"
	nginx_pid "$dir" nginx.pid.oldbin
	[ "$REPLY" = "$old" ] || fail "nginx.pid.oldbin names $REPLY, not the old master $old"
	for ((k = 0; k < 50; k++)); do
		[ -s "$dir/nginx.pid" ] && read -r master <"$dir/nginx.pid" &&
			[ "$master" != "$old" ] && break
		pause 0.1
	done
	[ "$master" != "$old" ] || { show "$dir/error.log"; fail "no new master after USR2"; }
	echo "$master" >>"$work/pids"
	kill -QUIT "$old"
	say "binary upgrade: new master $master, old master $old told to quit"
	wait "$wpid" || { show "$work/wrk.out"; fail "wrk failed"; }
	show "$work/wrk.out"
	wrk_parse "$work/wrk.out"
	say "nginx through its lifecycle: $requests requests, socket errors $errors, non-2xx $non2xx"
	[ "$errors" = 0 ] && [ "$non2xx" = 0 ] ||
		fail "errors during nginx's reloads and upgrade: $errors socket errors, $non2xx non-2xx"
	kill -0 "$old" 2>/dev/null && { pause 2; kill -0 "$old" 2>/dev/null; } &&
		fail "the old master $old is still there"
	# The new master's workers on the same listener: the clones take SYNs.
	clones_still_serve "http://127.0.0.1:$port/64.txt" upgrade
	kill -QUIT "$master"
	for ((k = 0; k < 100; k++)); do
		kill -0 "$master" 2>/dev/null || break
		pause 0.1
	done
	kill -0 "$master" 2>/dev/null && fail "nginx did not quit"
	grep -E '\[(alert|emerg|crit)\]' "$dir/error.log" | sed 's/^/# /'
	! grep -qE '\[(alert|emerg|crit)\]' "$dir/error.log" || fail "nginx logged errors"
}

# clones_still_serve URL WHEN: after a server's reload or upgrade, 2 s of wrk
# on the same listener: no error, no new managed listener (the socket was
# kept), and the SYNs still go to its clones.
clones_still_serve() {
	local k
	local -A before=() delta=()

	counters
	for k in "${!CNT[@]}"; do before[$k]=${CNT[$k]}; done
	bg wrk2 wrk -t2 -c10 -d2s -H 'Connection: close' "$1"
	wait "$bg_pid" || { show "$work/wrk2.out"; fail "wrk failed"; }
	wrk_parse "$work/wrk2.out"
	counters
	for k in listen_managed listen_syn_local accept_local accepted; do
		delta[$k]=$((CNT[$k] - before[$k]))
	done
	say "after the $2: $requests requests, errors $errors; listen_managed" \
		"+${delta[listen_managed]}, listen_syn_local +${delta[listen_syn_local]}," \
		"accept_local +${delta[accept_local]} of accepted +${delta[accepted]}"
	[ "$errors" = 0 ] || fail "$errors socket errors after the $2"
	[ "${delta[listen_managed]}" = 0 ] ||
		fail "a new managed listener after the $2: the socket was not kept"
	[ "${delta[listen_syn_local]}" -gt 0 ] || fail "no SYN went to a clone after the $2"
}

# haproxy_conf DIR TIMEOUT BODY [BIND_OPTIONS]: an haproxy that answers every
# request itself.
haproxy_conf() {
	cat >"$1/haproxy.cfg" <<-EOF
	global
		nbthread $ncpu
		noreuseport
		maxconn 10000
	defaults
		mode http
		option httpclose
		timeout connect 5s
		timeout client $2
		timeout server $2
	frontend fe
		bind 127.0.0.1:$port${4:-}
		http-request return status 200 content-type text/plain string "$3"
	EOF
}

# haproxy's master-worker reload under wrk load, with zero errors: USR2 to
# the master re-executes it and the new worker takes the listening socket
# over from the old one (the master passes its fds, no SO_REUSEPORT), so the
# listener stays one managed socket with the same clones; the old worker
# finishes its connections and goes. Three times: the same configuration,
# a changed one (timeouts, the response), and changed listener options
# (backlog 200, defer-accept: the new worker sets TCP_DEFER_ACCEPT on the
# socket it was handed, without listen() again, so its backlog stays; the
# clones copy the option as it is set). haproxy answers itself, no backend.
t_haproxy_reload() {
	local dir=$work/haproxy master wpid k fd
	local -A before=()

	command -v haproxy >/dev/null || fail "haproxy is not installed"
	command -v wrk >/dev/null || fail "wrk is not installed"
	mkdir -p "$dir"
	haproxy_conf "$dir" 10s ok
	fsk_set enabled 1
	counters
	for k in "${!CNT[@]}"; do before[$k]=${CNT[$k]}; done
	bg haproxy haproxy -W -db -f "$dir/haproxy.cfg"
	master=$bg_pid
	for ((k = 0; k < 150; k++)); do
		exec {fd}<>"/dev/tcp/127.0.0.1/$port" 2>/dev/null && break
		kill -0 "$master" 2>/dev/null || { show "$work/haproxy.out"; fail "haproxy exited"; }
		pause 0.1
	done
	[ "$k" -lt 150 ] || fail "haproxy does not answer on port $port"
	exec {fd}<&-
	counters
	[ $((CNT[listen_managed] - before[listen_managed])) = 1 ] ||
		fail "listen_managed +$((CNT[listen_managed] - before[listen_managed])), expected +1"
	bg wrk wrk -t2 -c20 -d"$((nginx_phase_s * 5 + 2))s" -H 'Connection: close' \
		"http://127.0.0.1:$port/"
	wpid=$bg_pid
	pause "$nginx_phase_s"
	kill -USR2 "$master"
	say "reload (USR2, same configuration)"
	pause "$nginx_phase_s"
	haproxy_conf "$dir" 20s reloaded
	kill -USR2 "$master"
	say "reload (USR2, changed timeouts and response)"
	pause "$nginx_phase_s"
	haproxy_conf "$dir" 20s reloaded " backlog 200 defer-accept"
	kill -USR2 "$master"
	say "reload (USR2, changed listener options: backlog 200 defer-accept)"
	pause "$nginx_phase_s"
	# haproxy 2.6 does not listen() again on a socket it takes over (stock
	# keeps the old backlog too); sockopts_after_listen checks the clones
	# follow the TCP_DEFER_ACCEPT it sets.
	listen_backlog "$port"
	say "the listener's backlog is now $REPLY (haproxy keeps the taken-over socket's)"
	wait "$wpid" || { show "$work/wrk.out"; fail "wrk failed"; }
	show "$work/wrk.out"
	wrk_parse "$work/wrk.out"
	say "haproxy through three reloads: $requests requests, socket errors $errors, non-2xx $non2xx"
	[ "$errors" = 0 ] && [ "$non2xx" = 0 ] ||
		fail "errors during haproxy's reloads: $errors socket errors, $non2xx non-2xx"
	clones_still_serve "http://127.0.0.1:$port/" reloads
	kill -TERM "$master"
	wait "$master" 2>/dev/null
	pgrep -x haproxy >/dev/null && fail "haproxy processes left after the master's exit"
	return 0
}

t_nginx() {
	local dir=$work/nginx pid wpid t0 el fd bad lines k requests errors non2xx
	local -A before=() delta=()

	command -v nginx >/dev/null || fail "nginx is not installed"
	command -v wrk >/dev/null || fail "wrk is not installed"
	mkdir -p "$dir/www" "$dir/tmp"
	printf '%063d\n' 0 >"$dir/www/64.txt"
	nginx_conf "$dir" "" off
	fsk_set enabled 1
	counters
	for k in "${!CNT[@]}"; do before[$k]=${CNT[$k]}; done
	bg nginx nginx -p "$dir" -c "$dir/nginx.conf" -e "$dir/error.log"
	pid=$bg_pid
	ms
	t0=$REPLY
	until exec {fd}<>"/dev/tcp/127.0.0.1/$port"; do
		kill -0 "$pid" 2>/dev/null || { show "$work/nginx.out"; fail "nginx exited"; }
		ms
		[ $((REPLY - t0)) -lt 15000 ] || fail "nginx does not answer on port $port"
		pause 0.1
	done 2>/dev/null
	exec {fd}<&-
	# wrk runs for a time, not a count: it gets a long one and SIGINT (it
	# then stops and reports) once the module has seen enough accepts.
	ms
	t0=$REPLY
	bg wrk wrk -t2 -c20 -d300s -H 'Connection: close' "http://127.0.0.1:$port/64.txt"
	wpid=$bg_pid
	while kill -0 "$wpid" 2>/dev/null; do
		counters
		[ $((CNT[accepted] - before[accepted])) -ge $((nginx_requests + 200)) ] && break
		ms
		[ $((REPLY - t0)) -lt 150000 ] || break
		pause 0.5
	done
	kill -INT "$wpid" 2>/dev/null
	wait "$wpid" || { show "$work/wrk.out"; fail "wrk failed"; }
	ms
	el=$((REPLY - t0))
	kill -QUIT "$pid"
	wait "$pid"
	counters
	show "$work/wrk.out"
	wrk_parse "$work/wrk.out"
	say "nginx: $requests requests in $el ms ($((requests * 1000 / (el ? el : 1))) req/s)," \
		"socket errors $errors, non-2xx $non2xx"
	lines=$(grep -c . "$dir/access.log")
	bad=$(grep -vc '^200$' "$dir/access.log")
	say "nginx access log: $lines requests, $bad not 200"
	for k in listen_managed listen_syn_local accept_local accept_parent accept_stolen \
		accepted; do
		delta[$k]=$((${CNT[$k]} - ${before[$k]}))
		say "  $k +${delta[$k]}"
	done
	k=$((delta[accept_local] + delta[accept_parent] + delta[accept_stolen]))
	say "nginx accepts on the CPU of their handshake: $((delta[accept_local] * 100 / (k ? k : 1)))%"
	[ -s "$dir/error.log" ] && show "$dir/error.log"
	[ "$requests" -ge "$nginx_requests" ] || fail "only $requests requests"
	[ "$errors" = 0 ] || fail "$errors socket errors"
	[ "$non2xx" = 0 ] || fail "$non2xx non-2xx responses"
	[ "$lines" -ge "$requests" ] || fail "the access log has $lines requests"
	[ "$bad" = 0 ] || fail "$bad requests not answered 200 in the access log"
	[ "${delta[listen_managed]}" = 1 ] ||
		fail "listen_managed +${delta[listen_managed]}, expected 1"
	[ "${delta[listen_syn_local]}" -gt 0 ] || fail "no listen_syn_local"
	[ "${delta[accept_local]}" -gt 0 ] || fail "no accept_local"
	# README: at least half on the CPU of the handshake (stock: chance).
	[ $((delta[accept_local] * 100)) -ge $((k * 50)) ] ||
		fail "only $((delta[accept_local] * 100 / (k ? k : 1)))% of accepts local, README says 50% at least"
	[ "${delta[accepted]}" -ge "$requests" ] ||
		fail "accepted +${delta[accepted]} < $requests requests"
}

# safety_in NS_STOCK NS_ON SUBCOMMAND ARGS...: a check of a review finding,
# which holds on stock Linux. It runs with net.fastsocket.enabled=0 (-S) in
# NS_STOCK first, where it must pass (else the test is wrong), then with the
# module managing its listener in NS_ON; an empty NS is this one.
safety_in() {
	local ns_stock=$1 ns_on=$2 rc

	shift 2
	say "stock Linux (net.fastsocket.enabled=0):"
	in_ns "$ns_stock" "$llt" "$@" -p "$port" -S 2>&1
	rc=$?
	[ $rc = 4 ] && skip "$1 cannot run here"
	[ $rc = 0 ] || fail "$1 fails on stock Linux: the test is wrong"
	[ "$stock_only" = 1 ] && return 0
	say "fastsocket (net.fastsocket.enabled=1):"
	in_ns "$ns_on" "$llt" "$@" -p "$port" 2>&1
	rc=$?
	[ $rc = 4 ] && skip "$1 cannot run here"
	[ $rc = 0 ] || fail "$1: fastsocket differs from stock Linux"
}

safety() {
	need "$llt" "make -C selftests/llt"
	safety_in '' '' "$@"
}

t_md5_after_listen() {
	safety late-opt -m md5
}

t_minttl_after_listen() {
	safety late-opt -m minttl
}

t_minhopcount_after_listen() {
	safety late-opt -m minhopcount
}

t_filter_after_listen() {
	safety late-opt -m filter
}

t_bpf_filter_after_listen() {
	safety late-opt -m bpf
}

t_mark_after_listen() {
	safety late-inherit -m mark
}

t_bindtodevice_after_listen() {
	safety late-inherit -m bindtodevice
}

t_sockopts_after_listen() {
	safety late-sockopt
}

t_sockopts_after_listen_ipv6() {
	safety late-sockopt -f 6
}

# A netns each: the client's cookie cache and the netns key start afresh.
t_fastopen_key() {
	local stock=${netns_prefix}tfo-stock on=${netns_prefix}tfo

	netns_add "$stock"
	netns_add "$on"
	safety_in "$stock" "$on" fastopen-key
}

t_accept_migrated_waiter() {
	safety accept-migrated -n 5
}

t_epoll_migrated_waiter() {
	safety accept-migrated -m epoll-excl -n 5
}

t_poll_other_cpu_data_first() {
	safety accept-migrated -m poll -n 5
}

t_accept_courtesy_bound() {
	safety accept-courtesy -n 100 -B "$courtesy_bound_ms"
}

t_accept_timeout_takes_queued() {
	safety accept-giveup -n 20
}

t_aio_poll_listener() {
	safety aio-poll
}

t_io_uring_poll_listener() {
	safety uring -m poll
}

t_io_uring_multishot_accept() {
	safety uring -m multishot -n 20
}

t_backlog_bound() {
	safety backlog-bound
}

# memcg_setup: a memory cgroup (cgroup v2) for the test, memcg_dir, which
# the runner's cleanup removes; cgroup2 mounted on /sys/fs/cgroup if the guest has not, and +memory
# in the root's subtree_control. No memory controller is a failure: both
# Debian kernels have one.
memcg_setup() {
	local out ctl

	if ! [ -e /sys/fs/cgroup/cgroup.controllers ]; then
		out=$(mount -t cgroup2 none /sys/fs/cgroup 2>&1) || fail "mount cgroup2: $out"
	fi
	read -r ctl </sys/fs/cgroup/cgroup.controllers
	[[ " $ctl " == *" memory "* ]] || fail "no memory controller in cgroup v2 ($ctl)"
	echo +memory >/sys/fs/cgroup/cgroup.subtree_control ||
		fail "cannot enable +memory in /sys/fs/cgroup/cgroup.subtree_control"
	mkdir -p "$memcg_dir" || fail "mkdir $memcg_dir"
	[ -e "$memcg_dir/memory.stat" ] || fail "$memcg_dir has no memory.stat"
}

# memcg_run ARGS...: llt in the test's memory cgroup (this subshell's pid
# into its cgroup.procs, then exec).
memcg_run() {
	(
		echo "$BASHPID" >"$memcg_dir/cgroup.procs" || exit 2
		exec "$llt" "$@" -p "$port"
	) 2>&1
}

# Accepted connections are charged to the accepting task's memory cgroup
# (memory.stat sock), queued ones to none, as on stock Linux; once with the
# clones as listen() made them, once with cpu1's made again by the module's
# work after hotplug. The stock run's figures (-r) are the fastsocket run's
# reference.
t_memcg_charged() {
	local m rc

	need "$llt" "make -C selftests/llt"
	[ -w /sys/devices/system/cpu/cpu1/online ] || fail "cpu1 cannot go offline here"
	memcg_setup
	for m in plain hotplug; do
		local -a args=(memcg -n 200 -C 1 -r "$work/memcg-$m")
		[ $m = plain ] || args+=(-m hotplug)
		say "$m: stock Linux (net.fastsocket.enabled=0):"
		memcg_run "${args[@]}" -S
		rc=$?
		[ $rc = 0 ] || fail "memcg ($m) fails on stock Linux: the test is wrong"
		[ "$stock_only" = 1 ] && continue
		say "$m: fastsocket (net.fastsocket.enabled=1):"
		memcg_run "${args[@]}"
		rc=$?
		[ $rc = 0 ] || fail "memcg ($m): fastsocket differs from stock Linux"
	done
}

# A listener the module cannot clone (its memory cgroup at its limit: the
# clones are charged to the listen() caller) is left to the kernel and
# counted; listen() succeeds, it serves, and listen() again clones it.
t_listen_clone_failed() {
	need "$llt" "make -C selftests/llt"
	memcg_setup
	say "stock Linux (net.fastsocket.enabled=0):"
	memcg_clone_fail -S || fail "clone-fail fails on stock Linux: the test is wrong"
	[ "$stock_only" = 1 ] && return
	say "fastsocket (net.fastsocket.enabled=1):"
	memcg_clone_fail || fail "clone-fail"
}

memcg_clone_fail() {
	(
		echo "$BASHPID" >"$memcg_dir/cgroup.procs" || exit 2
		exec "$llt" clone-fail -N "$clone_fail_listeners" -p "$clone_fail_port" "$@"
	) 2>&1
}

# Last but unload: on a module that frees the key twice, the guest dies.
t_md5_hotplug_close() {
	[ -w /sys/devices/system/cpu/cpu1/online ] || fail "cpu1 cannot go offline here"
	safety md5-hotplug -C 1
}

# flood_pair: a server netns and a client netns joined by a veth pair.
# 10.78.0.0/16, the SYN flood's source addresses, is routed to the client
# netns, which owns none of it and blackholes it: the SYN-ACKs vanish
# without a RST, so the flood's requests stay half-open.
flood_srv=${netns_prefix}fsrv
flood_cli=${netns_prefix}fcli
flood_pair() {
	local out

	netns_add "$flood_srv"
	netns_add "$flood_cli"
	out=$(ip link add fskf0 netns "$flood_srv" type veth peer name fskf1 \
		netns "$flood_cli" 2>&1) || fail "veth pair: $out"
	out=$({
		ip -n "$flood_srv" addr add 10.77.0.1/24 dev fskf0 &&
		ip -n "$flood_srv" link set fskf0 up &&
		ip -n "$flood_cli" addr add 10.77.0.2/24 dev fskf1 &&
		ip -n "$flood_cli" link set fskf1 up &&
		ip -n "$flood_srv" route add 10.78.0.0/16 via 10.77.0.2 &&
		ip -n "$flood_cli" route add blackhole 10.78.0.0/16
	} 2>&1) || fail "veth addresses and routes: $out"
}

# flood_test MODE: llt syn-flood -m MODE in the server netns, first on
# stock Linux (net.fastsocket.enabled=0 there), then managed; each run's
# "# result" lines side by side at the end.
flood_test() {
	local mode=$1 rc_stock rc_on line

	need "$llt" "make -C selftests/llt"
	flood_pair
	say "stock Linux (net.fastsocket.enabled=0):"
	ip netns exec "$flood_srv" "$llt" syn-flood -m "$mode" -x "$flood_cli" \
		-c 10.77.0.1 -p "$port" -S "${flood_args[@]}" >"$work/stock.out" 2>&1
	rc_stock=$?
	show "$work/stock.out"
	[ $rc_stock = 0 ] || fail "syn-flood -m $mode fails on stock Linux: the test is wrong"
	say "fastsocket (net.fastsocket.enabled=1):"
	ip netns exec "$flood_srv" "$llt" syn-flood -m "$mode" -x "$flood_cli" \
		-c 10.77.0.1 -p $((port + 10)) "${flood_args[@]}" >"$work/on.out" 2>&1
	rc_on=$?
	show "$work/on.out"
	say "stock and fastsocket side by side:"
	while IFS= read -r line; do
		[[ $line == "# result "* ]] && say "  ${line#\# result }"
	done < <(cat "$work/stock.out" "$work/on.out")
	[ $rc_on = 0 ] || fail "syn-flood -m $mode: fastsocket differs from stock Linux"
}

# A flood at tcp_syncookies=1 then 2, with legitimate clients connecting
# meanwhile: cookies start where stock's do, every cookie ACK completes on
# whichever CPU it lands, and memory comes back after the flood.
t_syn_flood_cookies() {
	flood_test cookies
}

# A listener with a full accept queue and the flood's requests on its
# clones closed under the flood: nothing leaks.
t_close_under_pressure() {
	flood_test close
}

t_memory() {
	llt memory -N 50 || fail "memory"
}

# Namespaces with managed listeners, connections queued on their clones and
# handshakes in flight go with their last process, one after the other:
# every one must be freed (sockets, request socks and the netns objects
# back to the baseline; a leaked device reference would log "unregister_
# netdevice: waiting for", which the runner fails), and the module's state of
# each with it: rmmod, which unregisters its per-netns state, is prompt.
t_netns_churn_live_clones() {
	local t0

	[[ $netns_churn =~ ^[1-9][0-9]*$ ]] || fail "FSK_LLT_NETNS_CHURN=$netns_churn"
	llt netns-churn -I "$netns_churn" -n 2 || fail "netns-churn"
	ms
	t0=$REPLY
	unload
	ms
	say "rmmod after the churn took $((REPLY - t0)) ms"
	[ $((REPLY - t0)) -le 7000 ] || fail "rmmod took $((REPLY - t0)) ms after the churn"
	load
}

# 1,000 managed listeners in one process: listen() and close() timed against
# stock's, memory per clone within the memory test's bound, and the
# connection rate to one of them within half of its rate alone.
t_many_listeners() {
	need "$llt" "make -C selftests/llt"
	[[ $many_listeners =~ ^[1-9][0-9]*$ ]] || fail "FSK_LLT_MANY_LISTENERS=$many_listeners"
	"$llt" many-listeners -N "$many_listeners" -n $((FSK_DEBUG_KERNEL ? 50 : 200)) \
		-p "$many_listeners_port" 2>&1 || fail "many-listeners"
}

t_unload() {
	want_loaded=0
	unload
	[ ! -e $procfile ] || fail "$procfile still there"
	"$llt" leak -m check -r "$work/suite-base" 2>&1 || fail "sockets left over from the suite"
}

# ---------------------------------------------------------------- driver

run_test() { # N NAME
	local n=$1 name=$2 rc t0 marker taint0 tpid wd line v
	local -a why=()
	# cookie-steer may wait out the jiffies wrap: 2 min more.
	local limit=$test_timeout

	[ "$name" != syncookies_ack_other_cpu ] || limit=$((test_timeout + 130))
	# A netns costs about a second under TCG, six on the debug kernel.
	[ "$name" != netns_churn_live_clones ] ||
		limit=$((test_timeout + netns_churn * (FSK_DEBUG_KERNEL ? 12 : 3)))
	# Four runs, each waiting out the memcg stats flush four times.
	[ "$name" != memcg_charged ] || limit=$((test_timeout + 90))
	port=$((20000 + n * 100))
	# Files a test leaves (a ready file would end the next test's wait at
	# once, before its threads are pinned: a CPU could go offline under them).
	rm -f "$work/skip" "$work/ready"
	marker="fsk-llt: $$ begin $n $name"
	echo "<6>$marker" >/dev/kmsg
	read -r taint0 </proc/sys/kernel/tainted
	ms
	t0=$REPLY
	set -m
	(
		trap 'exit 143' TERM
		"t_$name"
	) &
	tpid=$!
	set +m
	(
		pause $limit
		echo "# timed out after $limit s"
		kill -TERM -- -$tpid 2>/dev/null
		pause 5
		kill -KILL -- -$tpid 2>/dev/null
	) &
	wd=$!
	wait $tpid
	rc=$?
	# Whatever the test left running in its process group (nginx workers).
	kill -KILL -- -$tpid 2>/dev/null
	kill $wd 2>/dev/null
	wait $wd 2>/dev/null
	case $rc in
	0) ;;
	4) [ -s "$work/skip" ] || why+=("exit status 4 without a reason to skip") ;;
	143|137) why+=("stopped after $limit s") ;;
	*) why+=("exit status $rc") ;;
	esac
	[ "$name" = unload ] && want_loaded=0
	while IFS= read -r line; do echo "# $line"; done < <(cleanup)

	kernel_verdict "$marker" "$taint0"
	if [ $rc = 4 ]; then
		tap_verdict "$n" "$name" "$t0" "$(<"$work/skip")"
	else
		tap_verdict "$n" "$name" "$t0"
	fi
}

main() {
	local filter='' t n=0 failed=0 t0 out
	local -a selected=()

	parse_filter "$@"
	[ "$(id -u)" = 0 ] || { echo "$0: must run as root (in a guest)" >&2; exit 2; }
	for t in "${tests[@]}"; do
		[ -z "$filter" ] || [[ $t =~ $filter ]] && selected+=("$t")
	done
	# The unload test checks for leaks across the whole suite: always last.
	[ ${#selected[@]} -gt 0 ] && [ "${selected[-1]}" = unload ] || selected+=(unload)

	exec {never}<> <(:)
	work=$(mktemp -d /tmp/fsk-llt.XXXXXX) || exit 2
	: >"$work/pids"
	ncpu=$(nproc)
	declare -gA saved=() CNT=()
	read -r "saved[tcp_fastopen]" </proc/sys/net/ipv4/tcp_fastopen
	read -r "saved[tcp_syncookies]" </proc/sys/net/ipv4/tcp_syncookies
	ms
	t0=$REPLY
	echo "TAP version 13"
	echo "1..${#selected[@]}"
	echo "# fastsocket Local Listen Table selftests on $kver, $ncpu CPUs"
	ip link set lo up 2>/dev/null
	if loaded; then
		echo "Bail out! $mod is loaded already"
		exit 1
	fi
	[ -x "$llt" ] || { echo "Bail out! missing $llt (make -C selftests/llt)"; exit 1; }
	"$llt" leak -m save -r "$work/suite-base" || { echo "Bail out! no baseline"; exit 1; }
	out=$(insmod "$ko" 2>&1) || { echo "Bail out! insmod $ko: $out"; exit 1; }
	want_loaded=1
	trap 'want_loaded=0; cleanup >/dev/null 2>&1; rmmod $mod 2>/dev/null' EXIT
	for t in "${selected[@]}"; do
		n=$((n + 1))
		run_test $n "$t" || failed=$((failed + 1))
	done
	rm -rf "$work"
	ms
	echo "# $((n - failed)) passed, $failed failed in $((REPLY - t0)) ms"
	[ $failed = 0 ]
}

main "$@"

#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# selftests/run.sh - fastsocket's in-guest selftests, TAP 13 on stdout.
#
# usage: selftests/run.sh [--filter REGEX]
#
# Run as root from the repository root inside a throwaway guest
# (tools/vm/run.sh KVER -- selftests/run.sh): the tests load and unload the
# module, flip ftrace_enabled and create network namespaces. They use
#   build/$(uname -r)/fastsocket.ko
#   build/$(uname -r)/kmod/fsk_kprobe_holder.ko
#   build/selftests/*              (selftests/Makefile)
# A missing one fails the tests that need it.
#
# Each test is a function t_NAME that fails with a reason or returns. It runs
# in a subshell in its own process group under a watchdog ($test_timeout s).
# Whatever it leaves behind (background programs, the module, the holder
# module, namespaces, ftrace_enabled=0) is cleaned up by the subshell on exit
# and again by the runner, so one failure does not cascade. The runner also
# fails a test during which the kernel logged a BUG/WARNING/... or got tainted.
set -u

top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=selftests/lib.sh
. "$top/selftests/lib.sh"
kver=$(uname -r)
ko=$top/build/$kver/fastsocket.ko
holder_ko=$top/build/$kver/kmod/fsk_kprobe_holder.ko
bin=$top/build/selftests
mod=fastsocket
holder=fsk_kprobe_holder
sysctl_dir=/proc/sys/net/fastsocket
enabled=$sysctl_dir/enabled
procfile=/proc/net/fastsocket
ef=/sys/kernel/tracing/enabled_functions
ftrace_enabled=/proc/sys/kernel/ftrace_enabled
netns_prefix=fsk-st-
test_timeout=150

tests=(
	load_unload_20
	enabled_functions
	ftrace_permanent
	sysctl_default_and_per_netns
	sysctl_bad_values
	sysctl_unprivileged
	accept_counter_1000
	accept_semantics_enabled
	accept_semantics_disabled
	rmmod_blocked_accept
	rmmod_inflight_churn
	load_fails_on_ipmodify_conflict
)

# ---------------------------------------------------------------- helpers
#
# Under TCG every exec costs 70-200 ms (9p root, emulated CPU), so helpers use
# builtins where they can and set REPLY instead of printing into $(...).
# Output: tests run with fd 9 on the runner's stdout; say/show/fail write
# "# " diagnostics there, live. Anything else a test prints goes to a file
# that the runner shows, prefixed, when the test is over.

# FSK_SELFTEST_TIMES=1 stamps each diagnostic with the ms since the runner
# started, to see where guest time goes.
say() {
	local t=${EPOCHREALTIME//[!0-9]/}

	# Not ms(): callers may be about to use REPLY.
	if [ "${FSK_SELFTEST_TIMES:-0}" = 1 ]; then
		printf '# [%6d] %s\n' $((t / 1000 - start_ms)) "$*" >&9
	else
		printf '# %s\n' "$*" >&9
	fi
}

# show FILE: a program's output, indented under the test's diagnostics.
show() {
	local line

	while IFS= read -r line; do
		printf '#   %s\n' "$line" >&9
	done <"$1"
}

# fail MSG: end the test (its EXIT trap cleans up).
fail() {
	printf '# FAIL: %s\n' "$*" >&9
	exit 1
}

sysctl_get() { # [NS] -> REPLY
	if [ -z "${1:-}" ]; then
		read -r REPLY <$enabled || fail "cannot read $enabled"
	else
		REPLY=$(ip netns exec "$1" cat $enabled 2>&1) ||
			fail "cannot read $enabled in $1: $REPLY"
	fi
}

expect_enabled() { # VALUE [NS]
	sysctl_get "${2:-}"
	[ "$REPLY" = "$1" ] ||
		fail "net.fastsocket.${enabled##*/}${2:+ in $2} is '$REPLY', expected $1"
}

sysctl_set() { # VALUE [NS]
	local out

	need "$bin/sysctl_write"
	out=$(in_ns "${2:-}" "$bin/sysctl_write" $enabled "$1" 2>&1) ||
		fail "write $1 to $enabled${2:+ in $2}: $out"
	expect_enabled "$1" "${2:-}"
}

# ef_read: EF = inet_csk_accept's lines in enabled_functions.
ef_read() {
	local line

	need "$ef" "tracefs"
	EF=()
	while IFS= read -r line; do
		[[ $line =~ ^inet_csk_accept[[:space:]] ]] && EF+=("$line")
	done <"$ef"
}

# has_ipmodify_flag LINE: the flags between "(refcount)" and the trampoline
# or callback part include I.
has_ipmodify_flag() {
	local -a words
	local w

	read -ra words <<<"$1"
	for w in "${words[@]:2}"; do
		[[ $w =~ ^(tramp:|-\>) ]] && break
		[ "$w" = I ] && return 0
	done
	return 1
}

# counters [NS] > FILE: "cpuN accept_calls accepted" per row of
# /proc/net/fastsocket, columns found by their header names (more will come).
procfile_raw() { # [NS] -> REPLY: /proc/net/fastsocket of that netns
	if [ -z "${1:-}" ]; then
		REPLY=$(<$procfile) || fail "cannot read $procfile"
	else
		REPLY=$(ip netns exec "$1" cat $procfile 2>&1) ||
			fail "cannot read $procfile in $1: $REPLY"
	fi
}

counters() {
	local raw

	procfile_raw "${1:-}"
	raw=$REPLY
	awk 'NR == 1 {
		if ($1 != "cpu") { print "bad header: " $0 > "/dev/stderr"; exit 1 }
		for (i = 1; i <= NF; i++) col[$i] = i
		if (!("accept_calls" in col) || !("accepted" in col)) {
			print "header lacks accept_calls/accepted: " $0 > "/dev/stderr"
			exit 1
		}
		next
	}
	$1 ~ /^cpu[0-9]+$/ { print $1, $col["accept_calls"], $col["accepted"]; next }
	{ print "bad row: " $0 > "/dev/stderr"; exit 1 }' <<<"$raw" ||
		fail "cannot parse $procfile${1:+ in $1}"
}

# deltas BEFORE AFTER EXPECTED > FILE: per-CPU counter deltas against what a
# program reported (same "cpuN calls accepted" lines; CPUs it did not report
# must not move). A line per CPU; non-zero on any mismatch.
deltas() {
	awk 'FILENAME == ARGV[1] { bc[$1] = $2; ba[$1] = $3; next }
	     FILENAME == ARGV[2] { ac[$1] = $2; aa[$1] = $3; cpus[$1] = 1; next }
	     { ec[$1] = $2; ea[$1] = $3 }
	     END {
		bad = 0
		for (c in cpus) {
			dc = ac[c] - bc[c]; da = aa[c] - ba[c]
			xc = ec[c] + 0; xa = ea[c] + 0
			ok = dc == xc && da == xa
			if (!ok) bad = 1
			printf "%s: accept_calls +%d (expected %d), accepted +%d (expected %d)%s\n",
			       c, dc, xc, da, xa, ok ? "" : "  MISMATCH"
		}
		for (c in ec) if (!(c in cpus)) {
			print c ": reported by the program, no row in /proc/net/fastsocket"
			bad = 1
		}
		exit bad
	     }' "$1" "$2" "$3"
}

# managed_total [NS] -> REPLY: listeners given clones so far (listen_managed,
# all CPUs). The accept tests listen on port 0, as test servers do: this
# checks that the Local Listen Table, not only the wait loop, was under test.
managed_total() {
	local raw

	procfile_raw "${1:-}"
	raw=$REPLY
	REPLY=$(awk 'NR == 1 { for (i = 1; i <= NF; i++) col[$i] = i; next }
		{ n += $col["listen_managed"] } END { print n + 0 }' <<<"$raw")
}

expect_managed() { # BEFORE [NS]: listen_managed went up since BEFORE
	managed_total "${2:-}"
	say "listen_managed +$((REPLY - $1))${2:+ in $2}"
	[ "$REPLY" -gt "$1" ] || fail "no listener was managed: the Local Listen Table was not tested"
}

sum_calls() { # BEFORE AFTER -> REPLY: total accept_calls delta
	local calls total=0

	while read -r _ calls _; do total=$((total - calls)); done <"$1"
	while read -r _ calls _; do total=$((total + calls)); done <"$2"
	REPLY=$total
}

ncpus_in_list() { # CPULIST like 0-3,5 -> REPLY
	local part n=0
	local -a parts

	IFS=, read -ra parts <<<"$1"
	for part in "${parts[@]}"; do
		if [[ $part == *-* ]]; then
			n=$((n + ${part#*-} - ${part%-*} + 1))
		else
			n=$((n + 1))
		fi
	done
	REPLY=$n
}

sockstat_tcp() { # [NS] -> REPLY = "inuse N orphan N tw N" of that netns
	local proto rest raw line
	local -a f

	if [ -n "${1:-}" ]; then
		raw=$(ip netns exec "$1" cat /proc/net/sockstat 2>&1) ||
			fail "cannot read /proc/net/sockstat in $1: $raw"
	else
		raw=$(</proc/net/sockstat)
	fi
	REPLY=
	while read -r proto rest; do
		[ "$proto" = TCP: ] && REPLY=$rest
	done <<<"$raw"
	read -ra f <<<"$REPLY"
	REPLY="${f[*]:0:6}"
}

# timed_rmmod: rmmod the module, duration in rmmod_ms; fail on error.
timed_rmmod() {
	local t0 out rc

	ms
	t0=$REPLY
	out=$(rmmod $mod 2>&1)
	rc=$?
	ms
	rmmod_ms=$((REPLY - t0))
	[ $rc = 0 ] || fail "rmmod failed after $rmmod_ms ms: $out"
	! loaded || fail "rmmod returned 0 but /sys/module/$mod is still there"
}

# ---------------------------------------------------------------- cleanup

# Idempotent; run by the test on exit and by the runner afterwards. Prints
# what it had to undo; returns non-zero if something stays behind.
cleanup() {
	local pid ns m v rc=0 i

	if [ -n "${work:-}" ] && [ -s "$work/pids" ]; then
		while read -r pid; do
			kill -KILL "$pid" 2>/dev/null && echo "cleanup: killed leftover pid $pid"
			# Reap it (only possible in the test that started it), so
			# its sockets are gone before the rmmod below.
			wait "$pid" 2>/dev/null
		done <"$work/pids"
		: >"$work/pids"
	fi
	[ -r $ftrace_enabled ] && read -r v <$ftrace_enabled
	if [ -n "${v:-}" ] && [ "$v" != 1 ]; then
		echo 1 >$ftrace_enabled
		echo "cleanup: ftrace_enabled set back to 1"
	fi
	for m in $mod $holder; do
		for i in 1 2 3 4 5; do
			[ -d "/sys/module/$m" ] || break
			rmmod "$m" 2>/dev/null && echo "cleanup: unloaded $m" && break
			pause 0.2
		done
		[ ! -d "/sys/module/$m" ] || { echo "cleanup: cannot unload $m"; rc=1; }
	done
	for ns in /run/netns/"$netns_prefix"*; do
		[ -e "$ns" ] || continue
		ip netns delete "${ns##*/}" 2>/dev/null ||
			{ echo "cleanup: cannot delete netns ${ns##*/}"; rc=1; }
	done
	return $rc
}

# ---------------------------------------------------------------- tests

t_load_unload_20() {
	local i t0

	need "$ko"
	ms
	t0=$REPLY
	for ((i = 1; i <= 20; i++)); do
		load
		[ -e $enabled ] || fail "cycle $i: $enabled missing while loaded"
		[ -e $procfile ] || fail "cycle $i: $procfile missing while loaded"
		unload
		[ ! -e $sysctl_dir ] || fail "cycle $i: $sysctl_dir still there after rmmod"
		[ ! -e $procfile ] || fail "cycle $i: $procfile still there after rmmod"
		! loaded || fail "cycle $i: /sys/module/$mod still there after rmmod"
	done
	ms
	say "20 load/unload cycles in $((REPLY - t0)) ms"
}

t_enabled_functions() {
	ef_read
	[ ${#EF[@]} = 0 ] || fail "inet_csk_accept in enabled_functions before insmod: ${EF[*]}"
	load
	ef_read
	say "loaded: ${EF[*]}"
	[ ${#EF[@]} = 1 ] || fail "inet_csk_accept listed ${#EF[@]} times, expected once"
	has_ipmodify_flag "${EF[0]}" || fail "no I (IPMODIFY) flag on inet_csk_accept"
	[[ ${EF[0]} == *"[$mod]"* ]] || fail "the ops on inet_csk_accept are not $mod's"
	unload
	ef_read
	[ ${#EF[@]} = 0 ] || fail "inet_csk_accept still in enabled_functions after rmmod: ${EF[*]}"
}

t_ftrace_permanent() {
	local out v

	need "$bin/sysctl_write"
	read -r v <$ftrace_enabled
	[ "$v" = 1 ] || fail "ftrace_enabled is $v before the test"
	load
	out=$("$bin/sysctl_write" $ftrace_enabled 0) &&
		fail "ftrace_enabled=0 was accepted while $mod is loaded"
	say "ftrace_enabled=0 while loaded: $out"
	[ "$out" = "write: EBUSY" ] || fail "expected 'write: EBUSY', got '$out'"
	read -r v <$ftrace_enabled
	[ "$v" = 1 ] || fail "ftrace_enabled is $v after the refused write"
	ef_read
	[ ${#EF[@]} = 1 ] || fail "the hook is gone after the refused write"
	unload
	# The refusal was the module's doing: without it the write goes through.
	out=$("$bin/sysctl_write" $ftrace_enabled 0) ||
		fail "ftrace_enabled=0 refused after rmmod too: $out"
	out=$("$bin/sysctl_write" $ftrace_enabled 1) ||
		fail "cannot set ftrace_enabled back to 1: $out"
}

t_sysctl_default_and_per_netns() {
	local pre=${netns_prefix}pre a=${netns_prefix}a

	# One namespace that exists before the module, one created after it.
	# (Reads in a namespace cost an exec each: check what matters only.)
	netns_add "$pre"
	load
	expect_enabled 0
	expect_enabled 0 "$pre"
	netns_add "$a"
	expect_enabled 0 "$a"

	sysctl_set 1
	expect_enabled 0 "$a"
	expect_enabled 0 "$pre"
	sysctl_set 0
	sysctl_set 1 "$a"
	expect_enabled 0
	expect_enabled 0 "$pre"
	say "initial, $pre (created before insmod) and $a: default 0, independent both ways"

	unload
	[ ! -e $enabled ] || fail "$enabled still there after rmmod"
	ip netns exec "$a" test ! -e $enabled ||
		fail "$enabled still there in $a after rmmod"
}

# Every switch: enabled, listen, rfd. The helpers work on $enabled.
t_sysctl_bad_values() {
	local name

	load
	for name in enabled listen rfd; do
		enabled=$sysctl_dir/$name
		say "net.fastsocket.$name:"
		sysctl_bad_values
	done
	unload
}

sysctl_bad_values() {
	local start v out shown default
	local -a bad=(2 -1 abc "" $'\n' " " 1x 4294967297 99999999999999999999)

	need "$bin/sysctl_write"
	sysctl_get
	default=$REPLY
	for start in 0 1; do
		sysctl_set $start
		for v in "${bad[@]}"; do
			printf -v shown '%q' "$v"
			out=$("$bin/sysctl_write" $enabled "$v") &&
				fail "writing $shown (from $start) was accepted: $out"
			[ "$out" = "write: EINVAL" ] ||
				fail "writing $shown (from $start): expected 'write: EINVAL', got '$out'"
			expect_enabled $start
		done
		say "from $start: ${#bad[@]} bad values refused with EINVAL, value kept"

		# Two numbers for one int: the kernel's int parser takes the first
		# and reports the rest unwritten, or a handler may refuse it all.
		out=$("$bin/sysctl_write" $enabled "1 1")
		sysctl_get
		say "from $start: '1 1' -> $out, value $REPLY"
		case $out in
		"write: EINVAL") expect_enabled $start ;;
		"ok 3"|"partial "*) expect_enabled 1 ;;
		*) fail "writing '1 1': unexpected '$out'" ;;
		esac
	done
	# Good values in the forms sysctl(8) and echo produce.
	for v in 0 1 $'0\n' $'1\n'; do
		out=$("$bin/sysctl_write" $enabled "$v") ||
			fail "writing $(printf '%q' "$v") refused: $out"
		expect_enabled "${v%$'\n'}"
	done
	sysctl_set "$default"
}

t_sysctl_unprivileged() {
	local name

	load
	for name in enabled listen rfd; do
		enabled=$sysctl_dir/$name
		say "net.fastsocket.$name:"
		sysctl_unprivileged
	done
	unload
}

# Writes the opposite of the switch's default (d) where it must be refused.
sysctl_unprivileged() {
	local sw out caps inner initfd v line d w
	local -A got=()

	need "$bin/sysctl_write"
	sysctl_get
	d=$REPLY
	w=$((1 - d))
	# A copy that uid 65534 can surely execute, wherever the tree lives.
	mkdir -p "$work/bin"
	cp "$bin/sysctl_write" "$work/bin/"
	chmod 755 "$work" "$work/bin"
	sw=$work/bin/sysctl_write

	# Unprivileged user.
	out=$(setpriv --reuid=65534 --regid=65534 --clear-groups "$sw" $enabled $w 2>&1) &&
		fail "uid 65534 could write $enabled: $out"
	say "uid 65534: $out"
	[[ $out =~ ^(open|write):\ (EACCES|EPERM)$ ]] ||
		fail "uid 65534: expected EACCES/EPERM, got '$out'"
	expect_enabled $d

	# root without CAP_NET_ADMIN (check that it is really gone).
	caps=$(setpriv --bounding-set=-net_admin --inh-caps=-net_admin \
		awk '$1 == "CapEff:" { print $2 }' /proc/self/status 2>&1)
	[[ $caps =~ ^[0-9a-f]+$ ]] || fail "setpriv --bounding-set=-net_admin: $caps"
	(( (16#$caps >> 12) & 1 )) && fail "CAP_NET_ADMIN still effective ($caps)"
	(( (16#$caps >> 21) & 1 )) || fail "CAP_SYS_ADMIN gone too ($caps): not a plain root"
	for v in 1 0; do
		sysctl_set $((1 - v))
		out=$(setpriv --bounding-set=-net_admin --inh-caps=-net_admin "$sw" $enabled $v 2>&1) &&
			fail "root without CAP_NET_ADMIN could write $v: $out"
		say "root without CAP_NET_ADMIN, writing $v: $out"
		[[ $out =~ ^(open|write):\ (EACCES|EPERM)$ ]] ||
			fail "root without CAP_NET_ADMIN: expected EACCES/EPERM, got '$out'"
		expect_enabled $((1 - v))
	done
	sysctl_set $d

	# Root of a new user namespace owns its new netns, not the initial one.
	# fd $initfd is the initial netns's file; reopening it through
	# /proc/self/fd from inside reaches that netns's sysctl.
	exec {initfd}<$enabled
	# shellcheck disable=SC2016
	inner='sw=$1 f=$2 fd=$3 w=$4
		echo "own-before $(cat $f)"
		echo "own-write $($sw $f $w)"
		echo "own-after $(cat $f)"
		echo "init-view $(cat /proc/self/fd/$fd)"
		echo "init-write $($sw /proc/self/fd/$fd $w)"'
	out=$(unshare -Urn bash -c "$inner" inner "$sw" $enabled $initfd $w 2>&1)
	exec {initfd}<&-
	while IFS= read -r line; do
		say "unshare -Urn: $line"
		got[${line%% *}]=${line#* }
	done <<<"$out"
	[ "${got[own-before]:-}" = $d ] || fail "the new netns does not start at $d"
	[ "${got[own-write]:-}" = "ok 1" ] ||
		fail "root of the new userns could not write its own netns's value"
	[ "${got[own-after]:-}" = $w ] || fail "the own netns's value did not become $w"
	[ "${got[init-view]:-}" = $d ] || fail "could not read the initial netns's value from inside"
	[[ ${got[init-write]:-} =~ ^(open|write):\ (EACCES|EPERM)$ ]] ||
		fail "root of a child userns was not refused (EACCES/EPERM) on the initial netns"
	expect_enabled $d
}

# accept_count_check RUN-NS OTHER-NS ZERO: run accept_count in RUN-NS (""
# = initial) and require its per-CPU numbers as the deltas there (or zero
# deltas if ZERO=1), and zero deltas in OTHER-NS when it differs.
accept_count_check() {
	local run_ns=$1 other_ns=$2 zero=$3 rc two=0 managed

	need "$bin/accept_count"
	[ "$run_ns" != "$other_ns" ] && two=1
	counters "$run_ns" >"$work/b.run"
	[ $two = 0 ] || counters "$other_ns" >"$work/b.other"
	managed_total "$run_ns"
	managed=$REPLY
	in_ns "$run_ns" "$bin/accept_count" -n 1000 >"$work/ac.out" 2>&1
	rc=$?
	show "$work/ac.out"
	[ $rc = 0 ] || fail "accept_count failed ($rc)"
	[ "$zero" = 1 ] || expect_managed "$managed" "$run_ns"
	counters "$run_ns" >"$work/a.run"
	[ $two = 0 ] || counters "$other_ns" >"$work/a.other"
	: >"$work/zero"
	if [ "$zero" = 1 ]; then
		cp "$work/zero" "$work/expect"
	else
		grep -E '^cpu[0-9]+ ' "$work/ac.out" >"$work/expect"
	fi
	deltas "$work/b.run" "$work/a.run" "$work/expect" >"$work/d.run"
	rc=$?
	say "deltas in ${run_ns:-the initial netns}:"
	show "$work/d.run"
	[ $rc = 0 ] || fail "counter deltas differ from what accept_count did"
	if [ $two = 1 ]; then
		deltas "$work/b.other" "$work/a.other" "$work/zero" >"$work/d.other"
		rc=$?
		say "deltas in ${other_ns:-the initial netns}:"
		show "$work/d.other"
		[ $rc = 0 ] || fail "counters moved in ${other_ns:-the initial netns}"
	fi
}

t_accept_counter_1000() {
	local ns=${netns_prefix}count possible
	local -a rows

	load
	ncpus_in_list "$(</sys/devices/system/cpu/possible)"
	possible=$REPLY
	counters >"$work/rows"
	mapfile -t rows <"$work/rows"
	[ ${#rows[@]} = "$possible" ] ||
		fail "$procfile has ${#rows[@]} CPU rows, $possible CPUs are possible"

	say "enabled=1:"
	sysctl_set 1
	accept_count_check "" "" 0
	say "enabled=0:"
	sysctl_set 0
	accept_count_check "" "" 1
	say "enabled=1 in $ns only:"
	netns_add "$ns"
	sysctl_set 1 "$ns"
	expect_enabled 0
	accept_count_check "$ns" "" 0
	unload
}

# accept_semantics_with VALUE: run accept_semantics with enabled=VALUE and
# check that the module saw the calls (1) or kept out of them (0).
accept_semantics_with() {
	local rc managed

	need "$bin/accept_semantics"
	load
	sysctl_set "$1"
	counters >"$work/before"
	managed_total
	managed=$REPLY
	"$bin/accept_semantics" >"$work/sem.out" 2>&1
	rc=$?
	counters >"$work/after"
	show "$work/sem.out"
	[ $rc = 0 ] || fail "accept_semantics failed ($rc) with enabled=$1"
	if [ "$1" = 1 ]; then
		expect_managed "$managed"
	else
		managed_total
		[ "$REPLY" = "$managed" ] || fail "listen_managed moved with enabled=0"
	fi
	sum_calls "$work/before" "$work/after"
	say "accept_calls moved by $REPLY"
	if [ "$1" = 1 ]; then
		[ "$REPLY" -gt 0 ] || fail "accept_calls did not move: the replacement was not used"
	else
		[ "$REPLY" = 0 ] || fail "accept_calls moved by $REPLY with enabled=0"
	fi
	unload
}

t_accept_semantics_enabled() {
	accept_semantics_with 1
}

t_accept_semantics_disabled() {
	accept_semantics_with 0
}

t_rmmod_blocked_accept() {
	local pid port rc result conn line idle_ms limit managed

	need "$bin/accept_blocked"
	# What an rmmod costs here with nobody in accept(): the ftrace and
	# RCU-tasks grace periods alone take 1-2 s on a busy TCG guest.
	load
	timed_rmmod
	idle_ms=$rmmod_ms
	limit=$((2 * idle_ms > 2000 ? 2 * idle_ms : 2000))
	load
	sysctl_set 1
	managed_total
	managed=$REPLY
	bg blocked "$bin/accept_blocked" -r "$work/ready" -t 15
	pid=$bg_pid
	wait_file "$work/ready" 20 ||
		{ show "$work/blocked.out"; fail "accept_blocked never got ready"; }
	read -r port <"$work/ready"
	expect_managed "$managed"
	timed_rmmod
	say "rmmod with a thread blocked in accept(): $rmmod_ms ms (idle: $idle_ms ms)"
	[ "$rmmod_ms" -lt $limit ] ||
		fail "rmmod took $rmmod_ms ms (limit $limit ms: 2 s, or twice an idle rmmod)"
	kill -0 "$pid" 2>/dev/null ||
		{ show "$work/blocked.out"; fail "accept_blocked ended before any connection"; }
	exec {conn}<>"/dev/tcp/127.0.0.1/$port" || fail "connect to port $port failed"
	wait "$pid"
	rc=$?
	exec {conn}<&-
	show "$work/blocked.out"
	result=
	while read -r line; do
		[[ $line == "result "* ]] && result=${line#result }
	done <"$work/blocked.out"
	say "the accept() blocked across rmmod: ${result:-no result}"
	[ $rc = 0 ] && [ "$result" = got ] ||
		fail "the thread blocked in accept() did not get the next connection"
}

# In a namespace of its own: a known, quiet sockstat baseline, and no
# TIME_WAIT sockets or port choices left over from other tests.
t_rmmod_inflight_churn() {
	local ns=${netns_prefix}churn base now pid rc end managed

	need "$bin/conn_churn"
	netns_add "$ns"
	sockstat_tcp "$ns"
	base=$REPLY
	say "sockstat in $ns before: $base"
	load
	sysctl_set 1 "$ns"
	managed_total "$ns"
	managed=$REPLY
	bg churn ip netns exec "$ns" "$bin/conn_churn" -t 3 -j 2 -r "$work/ready"
	pid=$bg_pid
	wait_file "$work/ready" 20 ||
		{ show "$work/churn.out"; fail "conn_churn never accepted a connection"; }
	expect_managed "$managed" "$ns"
	pause 0.5
	timed_rmmod
	say "rmmod during connect/accept/close churn: $rmmod_ms ms"
	wait "$pid"
	rc=$?
	show "$work/churn.out"
	[ $rc = 0 ] || fail "conn_churn saw errors ($rc)"
	# No hard promptness limit under load (each ftrace unregistration waits
	# for RCU-tasks grace periods, which stretch on a saturated guest), but
	# it must not wait for much longer than the load lasts.
	[ "$rmmod_ms" -lt 10000 ] || fail "rmmod took $rmmod_ms ms under load"
	# inuse and orphan come back; TIME_WAIT (tw) may stay for a while.
	ms
	end=$((REPLY + 10000))
	while :; do
		sockstat_tcp "$ns"
		now=$REPLY
		[ "${now% tw *}" = "${base% tw *}" ] && break
		ms
		[ "$REPLY" -lt "$end" ] || fail "sockstat did not settle: before '$base', now '$now'"
		pause 0.2
	done
	say "sockstat in $ns after:  $now"
}

t_load_fails_on_ipmodify_conflict() {
	local out marker line
	local -a lines=()

	need "$holder_ko" "make kmod"
	need "$ko"
	ef_read
	[ ${#EF[@]} = 0 ] || fail "inet_csk_accept already hooked: ${EF[*]}"
	out=$(insmod "$holder_ko" 2>&1) || fail "insmod $holder_ko: $out"
	ef_read
	say "holder: ${EF[*]}"
	[ ${#EF[@]} = 1 ] || fail "the kprobe holder is not in enabled_functions"
	has_ipmodify_flag "${EF[0]}" || fail "the holder's kprobe is not an IPMODIFY user"

	ms
	marker="fsk-selftest: conflict $$ $REPLY"
	echo "<6>$marker" >/dev/kmsg
	out=$(insmod "$ko" 2>&1) && fail "insmod $mod succeeded next to an IPMODIFY kprobe"
	say "insmod: $out"
	[[ $out == *"Device or resource busy"* ]] || fail "insmod did not fail with EBUSY"
	! loaded || fail "/sys/module/$mod exists after the failed load"
	[ ! -e $procfile ] || fail "$procfile left behind by the failed load"
	[ ! -e $sysctl_dir ] || fail "$sysctl_dir left behind by the failed load"
	ef_read
	[ ${#EF[@]} = 1 ] || fail "inet_csk_accept listed ${#EF[@]} times after the failed load"
	[[ ${EF[0]} != *"[$mod]"* ]] || fail "$mod's ops still on inet_csk_accept"

	kernel_log_since "$marker"
	for line in "${KLOG[@]}"; do
		[[ $line == *"$mod"* && $line == *inet_csk_accept* ]] && lines+=("$line")
	done
	say "kernel log:"
	for line in "${lines[@]}"; do
		say "  $line"
	done
	[ ${#lines[@]} = 1 ] ||
		fail "expected one line from $mod naming inet_csk_accept, found ${#lines[@]}"
	[[ ${lines[0],,} =~ busy|ipmodify|conflict|owner|in\ use ]] ||
		fail "the log line does not say what the conflict is"

	out=$(rmmod $holder 2>&1) || fail "rmmod $holder: $out"
	ef_read
	[ ${#EF[@]} = 0 ] || fail "inet_csk_accept still hooked after rmmod $holder"
	load
	ef_read
	[ ${#EF[@]} = 1 ] && [[ ${EF[0]} == *"[$mod]"* ]] ||
		fail "$mod loaded but does not hook inet_csk_accept"
	unload
}

# ---------------------------------------------------------------- driver

# run_test N NAME: run t_NAME in a subshell in its own process group (so a
# watchdog can stop it with everything it started), then clean up after it
# and look at the kernel log and taint. Prints the TAP line.
run_test() {
	local n=$1 name=$2 rc t0 marker taint0 tpid wd line v
	local -a why=()

	work=$base/$n
	mkdir -p "$work"
	marker="fsk-selftest: $$ begin $n $name"
	echo "<6>$marker" >/dev/kmsg
	read -r taint0 </proc/sys/kernel/tainted
	ms
	t0=$REPLY

	cleanup >"$work/cleanup" 2>&1
	loaded && why+=("the module was loaded before the test and could not be removed")
	while IFS= read -r line; do echo "# before: $line"; done <"$work/cleanup"
	if [ ${#why[@]} = 0 ]; then
		set -m
		(
			trap 'cleanup >"$work/cleanup" 2>&1' EXIT
			trap 'exit 143' TERM
			"t_$name"
		) 9>&1 >"$work/stray" 2>&1 &
		tpid=$!
		set +m
		(
			pause $test_timeout
			echo "# timed out after $test_timeout s"
			kill -TERM -- -$tpid 2>/dev/null
			pause 5
			kill -KILL -- -$tpid 2>/dev/null
		) &
		wd=$!
		wait $tpid
		rc=$?
		kill $wd 2>/dev/null
		wait $wd 2>/dev/null
		while IFS= read -r line; do echo "# | $line"; done <"$work/stray"
		while IFS= read -r line; do echo "# $line"; done <"$work/cleanup"
		case $rc in
		0) ;;
		143|137) why+=("stopped after $test_timeout s") ;;
		*) why+=("exit status $rc") ;;
		esac
		cleanup >"$work/cleanup" 2>&1 || why+=("cleanup failed")
		while IFS= read -r line; do echo "# after: $line"; done <"$work/cleanup"
	fi

	kernel_verdict "$marker" "$taint0"
	tap_verdict "$n" "$name" "$t0"
}

main() {
	local filter='' t n=0 failed=0 t0
	local -a selected=()

	parse_filter "$@"
	[ "$(id -u)" = 0 ] || { echo "$0: must run as root (in a guest)" >&2; exit 2; }

	for t in "${tests[@]}"; do
		[ -z "$filter" ] || [[ $t =~ $filter ]] && selected+=("$t")
	done
	# A pipe nobody writes to: "read -t" on it is a sleep without a process.
	exec {never}<> <(:)
	base=$(mktemp -d /tmp/fsk-selftests.XXXXXX) || exit 2
	ms
	t0=$REPLY
	start_ms=$REPLY
	echo "TAP version 13"
	echo "1..${#selected[@]}"
	echo "# fastsocket selftests on $kver, $(nproc) CPUs"
	# The guest should provide these; the tests need them.
	[ -e "$ef" ] || mount -t tracefs tracefs /sys/kernel/tracing 2>/dev/null
	ip link set lo up 2>/dev/null
	for t in "${selected[@]}"; do
		n=$((n + 1))
		run_test $n "$t" || failed=$((failed + 1))
	done
	rm -rf "$base"
	ms
	echo "# $((n - failed)) passed, $failed failed in $((REPLY - t0)) ms"
	[ $failed = 0 ]
}

main "$@"

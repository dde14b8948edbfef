# SPDX-License-Identifier: GPL-2.0
#
# selftests/lib.sh - what the selftest runners (run.sh, llt.sh, rfd.sh) share.
# Sourced, not run. Each runner defines say and fail (where its diagnostics
# go) and sets mod and ko before calling load/unload.
#
# Under TCG every exec costs 70-200 ms (9p root, emulated CPU), so these use
# builtins where they can and set REPLY instead of printing into $(...).

# Kernel log lines that fail the test during which they appear, and the taint
# bits an out-of-tree, unsigned module sets (O and E), which do not.
# shellcheck source=tools/vm/kernel-log.sh
. "$(dirname "${BASH_SOURCE[0]}")/../tools/vm/kernel-log.sh"
dmesg_bad=$fsk_kernel_log_bad
allowed_taint=$(((1 << 12) | (1 << 13)))

# The debug kernel (tools/debug-kernel.sh: KASAN, lockdep, kmemleak) runs
# about six times slower: correctness is checked as everywhere, but what
# measures speed (locality against a busy acceptor's 20 ms, connections per
# run, requests) is scaled, and the test programs are told so.
case $(uname -r) in
*-fskdebug) export FSK_DEBUG_KERNEL=1 ;;
*) export FSK_DEBUG_KERNEL=0 ;;
esac

ms() { # REPLY = milliseconds since the epoch
	local t=${EPOCHREALTIME//[!0-9]/}

	REPLY=$((t / 1000))
}

# pause SECONDS (fractions allowed): sleep without a process, reading a pipe
# nobody writes to.
pause() {
	[ -n "${never:-}" ] || exec {never}<> <(:)
	read -r -t "$1" -u "$never"
	return 0
}

need() { # FILE [HOW TO GET IT]
	[ -e "$1" ] || fail "missing $1${2:+ ($2)}"
}

loaded() { [ -d "/sys/module/$mod" ]; }

load() {
	local out

	need "$ko" "build the module: make"
	out=$(insmod "$ko" 2>&1) || fail "insmod $ko: $out"
}

unload() {
	local out

	out=$(rmmod "$mod" 2>&1) || fail "rmmod $mod: $out"
}

# in_ns NS CMD...: run CMD in netns NS, or in the current one if NS is empty.
in_ns() {
	local ns=$1

	shift
	if [ -n "$ns" ]; then
		ip netns exec "$ns" "$@"
	else
		"$@"
	fi
}

netns_add() { # NAME: a namespace with lo up; the runner's cleanup deletes it
	local out

	out=$(ip netns add "$1" 2>&1) || fail "ip netns add $1: $out"
	out=$(ip -n "$1" link set lo up 2>&1) || fail "lo up in $1: $out"
}

# bg NAME CMD...: CMD in the background, output in $work/NAME.out, pid in
# bg_pid and in $work/pids, which the runner's cleanup kills.
bg() {
	local name=$1

	shift
	"$@" >"$work/$name.out" 2>&1 &
	bg_pid=$!
	echo "$bg_pid" >>"$work/pids"
}

wait_file() { # FILE SECONDS: until FILE is not empty
	local end

	ms
	end=$((REPLY + $2 * 1000))
	while [ ! -s "$1" ]; do
		ms
		[ "$REPLY" -lt "$end" ] || return 1
		pause 0.05
	done
	return 0
}

# kernel_log_since MARKER: KLOG = the kernel log lines after the line MARKER.
kernel_log_since() {
	local line on=0

	KLOG=()
	while IFS= read -r line; do
		if [ $on = 1 ]; then
			KLOG+=("$line")
		elif [[ $line == *"$1" ]]; then
			on=1
		fi
	done < <(dmesg 2>/dev/null)
}

# kernel_verdict MARKER TAINT_BEFORE: the kernel's complaints since MARKER
# (bad log lines, printed; new taint) appended to the caller's why array.
kernel_verdict() {
	local line bad=0 taint

	kernel_log_since "$1"
	for line in "${KLOG[@]}"; do
		[[ $line =~ $dmesg_bad ]] || continue
		echo "# dmesg: $line"
		bad=$((bad + 1))
	done
	[ $bad = 0 ] || why+=("the kernel logged $bad bad lines")
	read -r taint </proc/sys/kernel/tainted
	if (((taint & ~allowed_taint) != ($2 & ~allowed_taint))); then
		why+=("kernel taint went from $2 to $taint")
	fi
}

# tap_verdict N NAME T0 [SKIP_REASON]: the test's time since T0 (ms) and its
# TAP line, from the caller's why array; fails if why has reasons.
tap_verdict() {
	local n=$1 name=$2 v

	ms
	echo "# $name: $((REPLY - $3)) ms"
	if [ ${#why[@]} = 0 ]; then
		echo "ok $n - $name${4:+ # SKIP $4}"
		return 0
	fi
	for v in "${why[@]}"; do echo "# $name: $v"; done
	echo "not ok $n - $name"
	return 1
}

# parse_filter ARGS...: filter = the --filter REGEX of a runner's arguments.
parse_filter() {
	filter=
	while [ $# -gt 0 ]; do
		case $1 in
		--filter) [ $# -ge 2 ] || filter_usage; filter=$2; shift 2 ;;
		--filter=*) filter=${1#*=}; shift ;;
		*) filter_usage ;;
		esac
	done
}

filter_usage() {
	echo "usage: $0 [--filter REGEX]" >&2
	exit 2
}

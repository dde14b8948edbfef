#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# tools/bench/smoke.sh [FSK_BENCH]
#
# Short loopback runs of fsk-bench (default: build/bench/fsk-bench): every
# server mode, with and without pinning, over 127.0.0.1 and [::1], the proxy in
# front of a second server, and a client with nothing to connect to. Each run
# must end on time with its stats line, no errors and some connections (the
# refused run: only refusals). Prints TAP; exits non-zero if a check fails.
# FSK_SMOKE_SECONDS sets the measured time per run (default 1).
set -uo pipefail

top=$(cd "$(dirname "$0")/../.." && pwd)
bench=${1:-$top/build/bench/fsk-bench}
seconds=${FSK_SMOKE_SECONDS:-1}
port=${FSK_SMOKE_PORT:-18461}
[ -x "$bench" ] || { echo "smoke: $bench not built (make -C tools/bench)" >&2; exit 2; }

work=$(mktemp -d "${TMPDIR:-/tmp}/fsk-bench-smoke.XXXXXX")
declare -A server_pid=()		# servers still running, by name
cleanup() {
	local name

	for name in "${!server_pid[@]}"; do
		kill "${server_pid[$name]}" 2>/dev/null
	done
	rm -rf "$work"
}
trap cleanup EXIT

n=0
failed=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
not_ok() {
	n=$((n + 1)); failed=$((failed + 1))
	echo "not ok $n - $1"
	[ -n "${2:-}" ] && sed 's/^/#   /' <<<"$2"
}

# field LINE KEY: the value of KEY=... in a stats line.
field() { sed -n "s/.* $2=\([^ ]*\).*/\1/p" <<<" $1"; }

# server NAME ARGS...: starts a server in the background, waits until it listens.
server() {
	local name=$1
	shift
	rm -f "$work/$name.ready"
	"$bench" server --ready-file "$work/$name.ready" "$@" \
		>"$work/$name.out" 2>"$work/$name.err" &
	server_pid[$name]=$!
	for _ in $(seq 100); do
		[ -e "$work/$name.ready" ] && return 0
		sleep 0.05
	done
	return 1
}

# stop NAME: SIGTERM; stop_line is the server's stats line, empty if it failed.
stop() {
	local pid=${server_pid[$1]}

	unset "server_pid[$1]"
	stop_line=
	kill -TERM "$pid" && wait "$pid" && stop_line=$(cat "$work/$1.out")
}

# client_run DESC ADDR [CLIENT ARGS...]: one client run, timed.
client_run() {
	local start end

	start=$(date +%s%N)
	client_out=$("$bench" client --connect "$2" --duration "$seconds" --warmup 0.2 \
		"${@:3}" 2>"$work/client.err")
	client_rc=$?
	end=$(date +%s%N)
	client_ms=$(((end - start) / 1000000))
}

check_run() {	# check_run DESC SERVER_LINE
	local desc=$1 srv=$2 limit_ms

	# warmup + duration + at most the client's --timeout (5 s) of drain,
	# + process start-up slack
	limit_ms=$(awk -v s="$seconds" 'BEGIN { print int((s + 0.2 + 5.5) * 1000) }')
	if [ "$client_rc" -ne 0 ] || [ -z "$client_out" ]; then
		not_ok "$desc: client ran" "rc $client_rc: $(cat "$work/client.err")"
	elif [ "$client_ms" -gt "$limit_ms" ]; then
		not_ok "$desc: client stopped on time" "took $client_ms ms"
	elif [ "$(field "$client_out" errors)" != 0 ] || [ "$(field "$client_out" conns)" = 0 ]; then
		not_ok "$desc: client saw no errors" "$client_out"
	elif [ -z "$srv" ] || [ "$(field "$srv" errors)" != 0 ]; then
		not_ok "$desc: server exited cleanly without errors" "$srv"
	else
		ok "$desc: $(field "$client_out" cps) conn/s, p99 $(field "$client_out" p99_us) us"
	fi
}

echo "TAP version 13"
for addr in 127.0.0.1 '[::1]'; do
	for mode in shared reuseport; do
		for pin in "" --pin; do
			desc="$addr $mode${pin:+ pinned}"
			if ! server srv --listen "$addr:$port" --mode "$mode" $pin; then
				not_ok "$desc: server started" "$(cat "$work/srv.err")"
				continue
			fi
			client_run "$desc" "$addr:$port" $pin
			stop srv
			check_run "$desc" "$stop_line"
		done
	done

	desc="$addr proxy"
	if server backend --listen "$addr:$((port + 1))" &&
	   server proxy --listen "$addr:$port" --proxy "$addr:$((port + 1))"; then
		client_run "$desc" "$addr:$port"
		stop proxy
		proxy_line=$stop_line
		stop backend
		backend_line=$stop_line
		check_run "$desc" "$proxy_line"
		if [ "$(field "$backend_line" errors)" = 0 ] &&
		   [ "$(field "$backend_line" served)" = "$(field "$proxy_line" served)" ]; then
			ok "$desc: the backend served every proxied request"
		else
			not_ok "$desc: the backend served every proxied request" \
				"proxy: $proxy_line"$'\n'"backend: $backend_line"
		fi
	else
		not_ok "$desc: servers started" "$(cat "$work/backend.err" "$work/proxy.err")"
	fi

	client_run "$addr refused" "$addr:$((port + 2))" --concurrency 4
	if [ "$client_rc" -eq 0 ] && [ "$(field "$client_out" conns)" = 0 ] &&
	   [ "$(field "$client_out" refused)" != 0 ] &&
	   [ "$(field "$client_out" refused)" = "$(field "$client_out" errors)" ]; then
		ok "$addr: no listener counts as refused"
	else
		not_ok "$addr: no listener counts as refused" "$client_out"
	fi
done

echo "1..$n"
[ "$failed" -eq 0 ]

# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=bash
#
# tools/stages.sh - what make check (tools/check.sh) and make stress
# (tools/stress.sh) share: stages whose TAP lines are counted, each TAP plan
# checked against the tests that ran, and the summary. Sourced, not run;
# the caller sets logdir, start (date +%s) and what ("make check").

passed=0
failed=0
skipped=0
failures=()

is_debug_kernel() { [[ $1 == *-fskdebug ]]; }

# summary: every failure and rerun ($logdir/reruns), the time, the counts
# line last; exits 0 only when nothing failed.
summary() {
	local elapsed=$(( $(date +%s) - start )) line f

	echo
	for f in "${failures[@]}"; do echo "# FAILED $f"; done
	if [ -s "$logdir/reruns" ]; then
		while IFS= read -r line; do echo "# RERUN $line"; done <"$logdir/reruns"
	fi
	echo "# $what took ${elapsed} s; logs in ${logdir#"$top"/}/"
	if [ "$skipped" -gt 0 ]; then
		echo "$passed passed, $failed failed, $skipped skipped"
	else
		echo "$passed passed, $failed failed"
	fi
	[ "$failed" -eq 0 ]
	exit
}

# Each TAP plan ("1..N", first or last) against the numbered test lines it
# covers: a suite that stops early, or runs fewer tests than it planned,
# fails even when it exits 0. Prints one line per mismatch.
tap_plan_errors() { # LOG
	awk '
	function check(plan, seen, at) {
		if (plan != seen)
			printf "plan 1..%d but %d test lines%s\n", plan, seen, at
	}
	/^# suite / { where = " (suite " $3 ")" }
	/^1\.\.[0-9]+/ {
		n = substr($1, 4) + 0
		if (open) {
			check(plan, count, plan_at)
			open = 0
			count = 0
		}
		if (count == 0) {
			open = 1
			plan = n
			plan_at = where
		} else {
			check(n, count, where)
			count = 0
		}
		next
	}
	/^(not )?ok [0-9]+/ {
		k = ($1 == "not") ? $3 : $2
		if (k + 0 == 1 && count > 0) {
			if (open)
				check(plan, count, plan_at)
			else
				printf "%d test lines without a plan%s\n", count, where
			open = 0
			count = 0
		}
		count++
	}
	END {
		if (open)
			check(plan, count, plan_at)
		else if (count > 0)
			printf "%d test lines without a plan%s\n", count, where
	}' "$1"
}

# stage NAME CMD...: run CMD, echo its output live, count its TAP lines.
stage() {
	local name=$1 log=$logdir/$1.log rc p f s t0=$(date +%s)
	shift
	echo "# === $name"
	"$@" 2>&1 | tee "$log"
	rc=${PIPESTATUS[0]}
	p=$(grep -cE '^ok\b' "$log" | head -n1)
	s=$(grep -cE '^ok\b.*# *SKIP' "$log" | head -n1)
	f=$(grep -cE '^not ok\b' "$log" | head -n1)
	p=$((p - s))
	while IFS= read -r line; do
		[ -n "$line" ] || continue
		echo "not ok - $name: $line" | tee -a "$log"
		f=$((f + 1))
	done < <(tap_plan_errors "$log")
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
		echo "not ok - $name exited with status $rc"
		f=1
	fi
	if [ "$f" -gt 0 ]; then
		failures+=("$name: $(grep -E '^not ok\b' "$log" | head -n3 | tr '\n' ';')")
	fi
	passed=$((passed + p)); failed=$((failed + f)); skipped=$((skipped + s))
	echo "# $name: $p passed, $f failed$([ "$s" -gt 0 ] && echo ", $s skipped")" \
		"($(( $(date +%s) - t0 )) s)"
	return "$rc"
}

#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Every in-guest suite, one after the other, in one boot: the foundation
# (run.sh), the Local Listen Table (llt.sh) and Receive Flow Deliver (rfd.sh).
# Each prints its own TAP; the exit status is non-zero if any suite failed.
#   selftests/all.sh [SUITE...]     e.g. selftests/all.sh llt
set -u
cd "$(dirname "$0")/.."

suites=("$@")
[ ${#suites[@]} -gt 0 ] || suites=(run llt rfd)
rc=0
for suite in "${suites[@]}"; do
	script=selftests/$suite.sh
	if [ ! -x "$script" ]; then
		echo "not ok - suite $suite: $script missing"
		rc=1
		continue
	fi
	echo "# suite $suite"
	start=$(date +%s)
	"$script" || rc=1
	echo "# suite $suite: $(( $(date +%s) - start )) s"
	# A suite that failed half-way must not leave the module for the next.
	rmmod fastsocket 2>/dev/null
done
exit $rc

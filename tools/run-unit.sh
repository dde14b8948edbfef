#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Userspace unit tests of pure logic (no kernel needed): builds selftests/unit
# into build/unit and runs every test there, printing their TAP one after the
# other. Exits non-zero if any test program fails.
set -uo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
out=$top/build/unit
rc=0

if [ -f "$top/selftests/unit/Makefile" ]; then
	make -s -C "$top/selftests/unit" O="$out" || exit 1
fi
for t in "$top"/selftests/unit/*.sh "$out"/*; do
	[ -f "$t" ] && [ -x "$t" ] || continue
	echo "# unit: $(basename "$t")"
	"$t" || rc=1
done
exit $rc

#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Print the kernel releases fastsocket supports whose headers (kbuild tree)
# are installed, one per line, oldest first. Supported: 6.1 to 6.12.
set -euo pipefail
for build in "${FSK_MODULES_DIR:-/lib/modules}"/*/build; do
	[ -f "$build/Makefile" ] || continue
	kver=$(basename "$(dirname "$build")")
	IFS=. read -r major minor _ <<<"$kver"
	minor=${minor%%[!0-9]*}
	[ "$major" = 6 ] && [ "$minor" -ge 1 ] && [ "$minor" -le 12 ] && echo "$kver"
done | sort -V

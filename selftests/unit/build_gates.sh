#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Unit tests of the build's kernel gates: which installed kernels `make` picks
# (tools/kernels.sh) and the compile-time refusal of unsupported kernels
# (src/compat.h). TAP output.
set -uo pipefail

top=$(cd "$(dirname "$0")/../.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
n=0
failed=0
result() {	# result NAME EXPECTED ACTUAL
	n=$((n + 1))
	if [ "$2" = "$3" ]; then
		echo "ok $n - $1"
	else
		failed=$((failed + 1))
		echo "not ok $n - $1"
		echo "#   expected: $2"
		echo "#   got:      $3"
	fi
}

echo "TAP version 13"

# kernels.sh: supported (6.1 .. 6.12) with a kbuild tree, sorted by version.
for k in 5.10.0-30-amd64 6.0.0-1-amd64 6.1.0-56-amd64 6.12.117+deb12-amd64 6.2.0-rc1 \
	 6.13.1-amd64 7.3.4-amd64 6.11.0-no-headers; do
	mkdir -p "$tmp/modules/$k/build"
	[ "$k" = 6.11.0-no-headers ] || touch "$tmp/modules/$k/build/Makefile"
done
got=$(FSK_MODULES_DIR=$tmp/modules "$top/tools/kernels.sh" | tr '\n' ' ')
result "kernels.sh picks supported kernels with headers, oldest first" \
	"6.1.0-56-amd64 6.2.0-rc1 6.12.117+deb12-amd64 " "$got"
got=$(FSK_MODULES_DIR=$tmp/empty "$top/tools/kernels.sh" | tr '\n' ' ')
result "kernels.sh prints nothing without kernel headers" "" "$got"

# compat.h: the version gate fires before anything else is compiled.
mkdir -p "$tmp/inc/linux"
gate() {
	cat >"$tmp/inc/linux/version.h" <<-H
		#define KERNEL_VERSION(a, b, c) (((a) << 16) + ((b) << 8) + (c))
		#define LINUX_VERSION_CODE KERNEL_VERSION($1, $2, $3)
	H
	echo 'int x;' >"$tmp/t.c"
	local out
	out=$(cc -fsyntax-only -nostdinc -I"$tmp/inc" -DKBUILD_MODNAME='"t"' \
	      -include "$top/src/compat.h" "$tmp/t.c" 2>&1)
	if grep -q 'fastsocket supports Linux 6.1 to 6.12' <<<"$out"; then
		echo refused
	else
		echo accepted
	fi
}
for v in "5 15 0" "6 0 19" "6 13 0" "7 3 4"; do
	result "compat.h refuses Linux ${v// /.} with a message naming the range" \
		refused "$(gate $v)"
done
for v in "6 1 0" "6 1 158" "6 12 117"; do
	result "compat.h accepts Linux ${v// /.}" accepted "$(gate $v)"
done

echo "1..$n"
[ "$failed" -eq 0 ]

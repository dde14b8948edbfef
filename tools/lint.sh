#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# make lint: the hooking rules that keep fastsocket safe on IBT kernels, checked
# on the built modules, and kernel coding style, checked on the sources.
# Prints TAP; exits non-zero if any check fails.
#   tools/lint.sh build/<kver>/fastsocket.ko...
set -uo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"

n=0
failed=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
not_ok() {
	n=$((n + 1)); failed=$((failed + 1))
	echo "not ok $n - $1"
	[ -n "${2:-}" ] && sed 's/^/#   /' <<<"$2"
}
check() {	# check NAME OUTPUT: passes when OUTPUT is empty
	if [ -z "$2" ]; then ok "$1"; else not_ok "$1" "$2"; fi
}

# Symbols whose use would mean calling kernel code by an address found at run
# time, or disabling the protections the rules rely on.
forbidden_syms='^(kallsyms_lookup_name|kallsyms_on_each_symbol|kallsyms_lookup|module_kallsyms_lookup_name|register_kprobe|register_kprobes|register_kretprobe|__symbol_get|symbol_get|__symbol_put)$'

# FSK_HOOK(target, replacement, gate) in the sources names every hooked function.
hooked=$(grep -ho 'FSK_HOOK([A-Za-z0-9_]*,' src/*.c | sed 's/FSK_HOOK(\(.*\),/\1/' | sort -u)

echo "TAP version 13"
[ -n "$hooked" ] && ok "hook table found: $(echo $hooked)" || not_ok "hook table found in src/"

for ko in "$@"; do
	kver=$(modinfo -F vermagic "$ko" 2>/dev/null | awk '{print $1}')
	symvers=/lib/modules/$kver/build/Module.symvers
	if [ -z "$kver" ] || [ ! -f "$symvers" ]; then
		not_ok "$ko: kernel $kver has Module.symvers"
		continue
	fi
	undef=$(nm -u "$ko" | awk '{print $2}')

	check "$kver: no run-time symbol lookup or kprobe (kallsyms, symbol_get)" \
		"$(grep -E "$forbidden_syms" <<<"$undef")"

	bad=""
	for sym in $hooked; do
		grep -qP "^0x[0-9a-f]+\t$sym\tvmlinux\tEXPORT_SYMBOL" "$symvers" ||
			bad+="$sym is not exported by $kver"$'\n'
		grep -qx "$sym" <<<"$undef" ||
			bad+="$sym is not referenced by symbol (direct relocation) in $ko"$'\n'
	done
	check "$kver: every hooked function is exported and named by symbol" "${bad%$'\n'}"

	# Every reference to a hooked function must be a plain call to its entry
	# (PLT32/PC32 with addend -4) or its address in the hook table
	# (R_X86_64_64, addend 0): no jumps into it, no entry+offset arithmetic.
	bad=""
	for sym in $hooked; do
		refs=$(readelf -rW "$ko" | awk -v s="$sym" '$5 == s {print $3, $5, $6, $7}')
		odd=$(awk 'NF && !(($1 == "R_X86_64_PLT32" || $1 == "R_X86_64_PC32") && $3 == "-" && $4 == 4) &&
			   !($1 == "R_X86_64_64" && ($3 == "+" && $4 == 0 || $3 == "")) {print "odd reference: " $0}' <<<"$refs")
		[ -z "$odd" ] || bad+="$odd"$'\n'
		calls=$(objdump -dr --no-show-raw-insn "$ko" |
			awk -v s="$sym" 'prev ~ /call/ && $0 ~ ("R_X86_64_(PLT|PC)32[ \t]+" s "-0x4$") {c++} {prev = $0} END {print c + 0}')
		[ "$calls" -gt 0 ] || bad+="no direct call to $sym: the replacement must call the original directly"$'\n'
		jumps=$(objdump -dr --no-show-raw-insn "$ko" |
			awk -v s="$sym" 'prev ~ /\tj[a-z]+ / && $0 ~ ("R_X86_64_(PLT|PC)32[ \t]+" s "-0x4$") {c++} {prev = $0} END {print c + 0}')
		[ "$jumps" -eq 0 ] || bad+="$jumps tail jump(s) to $sym: the ftrace callback would not see our return address"$'\n'
	done
	check "$kver: originals reached only by direct call" "${bad%$'\n'}"
done

# Sources: the same rules, and kernel style.
check "sources: no kallsyms/kprobe lookups or mcount offsets" \
	"$(grep -nE '\b(kallsyms_lookup_name|register_kprobe|symbol_get|MCOUNT_INSN_SIZE)\b *\(|MCOUNT_INSN_SIZE' src/*.c src/*.h)"

c_files=$(git ls-files -co --exclude-standard -- '*.c' '*.h' 2>/dev/null | grep -v '^build/')
sh_files=$(git ls-files -co --exclude-standard -- '*.sh' .ci/run 2>/dev/null | grep -v '^build/')

bad=""
for f in $c_files; do
	first=$(head -n1 "$f")
	case "$f" in
	*.c) [ "$first" = "// SPDX-License-Identifier: GPL-2.0" ] || bad+="$f: first line must be // SPDX-License-Identifier: GPL-2.0"$'\n' ;;
	*.h) [ "$first" = "/* SPDX-License-Identifier: GPL-2.0 */" ] || bad+="$f: first line must be /* SPDX-License-Identifier: GPL-2.0 */"$'\n' ;;
	esac
done
for f in $sh_files; do
	sed -n '1,2p' "$f" | grep -q '^# SPDX-License-Identifier: GPL-2.0' || bad+="$f: no SPDX line"$'\n'
done
check "style: SPDX headers" "${bad%$'\n'}"

style=$(awk '
	FNR == 1 { in_comment = 0 }
	{ line = $0; width = 0
	  for (i = 1; i <= length(line); i++) {
		c = substr(line, i, 1)
		width = (c == "\t") ? width + 8 - width % 8 : width + 1
	  } }
	# User-visible strings stay whole, so they can be grepped for.
	width > 100 && !/^[\t ]*(pr_[a-z]+\()?"/ {
		print FILENAME ":" FNR ": longer than 100 columns"
	}
	/[ \t]+$/ { print FILENAME ":" FNR ": trailing whitespace" }
	/^\t* {8}/ { print FILENAME ":" FNR ": indent with tabs, not spaces" }
	/^ +[^ *]/ { print FILENAME ":" FNR ": indent with tabs, not spaces" }
	/typedef[ \t]+struct/ { print FILENAME ":" FNR ": no typedefs for structs" }
' $c_files)
check "style: tabs, 100 columns, no trailing space, no struct typedefs" "$style"

bad=$(grep -n 'define pr_fmt' src/*.c)
grep -q '^#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt$' src/compat.h ||
	bad+=$'\n'"src/compat.h: must define pr_fmt with KBUILD_MODNAME"
check "style: one pr_fmt, with the module name" "${bad#$'\n'}"

if [ -n "${CHECKPATCH:-}" ]; then
	check "checkpatch.pl" "$("$CHECKPATCH" --no-tree --terse --quiet --file src/*.c src/*.h 2>&1)"
fi

echo "1..$n"
[ "$failed" -eq 0 ]

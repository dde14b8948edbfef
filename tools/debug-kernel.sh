#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Build (once) and install the debug kernel: Debian's own linux-source-6.12
# with KASAN, lockdep, PROVE_RCU, kmemleak, DEBUG_OBJECTS, SLUB debugging and
# list checks (tools/vm/debug.config), and just what the guests need.
#
# usage: tools/debug-kernel.sh [build|install|release|path]
#   build    build into the cache if it is not there yet, then install (default)
#   install  only link a cached build into /boot and /lib/modules (exit 1 if none)
#   release  print the kernel release of the cached build (exit 1 if none)
#   path     print the cache directory for the current source and config
#
# The cache lives outside the clone, in $FSK_CACHE (default
# /var/cache/fastsocket), keyed by the source package's version and the
# config fragment's hash: only the first run pays. Installing links
# /boot/vmlinuz-REL, /boot/config-REL and /lib/modules/REL (with its build
# tree) to the cache, so that tools/kernels.sh, make and tools/vm/run.sh see
# it like any installed kernel.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
src_pkg=${FSK_DEBUG_SRC_PKG:-linux-source-6.12}
fragment=$top/tools/vm/debug.config
cache_root=${FSK_CACHE:-/var/cache/fastsocket}

die() { echo "debug-kernel: $*" >&2; exit 1; }

src_version() {
	dpkg-query -W -f='${Version}' "$src_pkg" 2>/dev/null
}

cache_dir() {
	local ver
	ver=$(src_version) || die "$src_pkg is not installed"
	[ -n "$ver" ] || die "$src_pkg is not installed"
	echo "$cache_root/debug-kernel/$src_pkg-$ver-$(sha256sum "$fragment" | cut -c1-12)"
}

install_cached() {
	local dir=$1 rel
	[ -f "$dir/done" ] || return 1
	rel=$(cat "$dir/release")
	ln -sfn "$dir/tree/arch/x86/boot/bzImage" "/boot/vmlinuz-$rel"
	ln -sfn "$dir/tree/.config" "/boot/config-$rel"
	ln -sfn "$dir/tree/System.map" "/boot/System.map-$rel"
	ln -sfn "$dir/root/lib/modules/$rel" "/lib/modules/$rel"
	ln -sfn "$dir/tree" "$dir/root/lib/modules/$rel/build"
	echo "$rel"
}

# Every option the fragment sets must have survived olddefconfig.
check_config() {
	local config=$1 line name missing=0
	while read -r line; do
		case $line in
		CONFIG_*=*) ;;
		*) continue ;;
		esac
		name=${line%%=*}
		if ! grep -qxF "$line" "$config"; then
			echo "debug-kernel: $name: wanted ${line#*=}, got $(grep -E "^$name=|^# $name is not set" "$config" || echo nothing)" >&2
			missing=1
		fi
	done <"$fragment"
	return $missing
}

# Debian's source and what building it needs (make check-debug only).
build_deps() {
	local p need=()

	for p in "$src_pkg" bc bison flex libssl-dev libelf-dev; do
		dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed' ||
			need+=("$p")
	done
	[ ${#need[@]} -gt 0 ] || return 0
	echo "debug-kernel: installing ${need[*]}"
	apt-get update -qq >/dev/null 2>&1 || true
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
		"${need[@]}" >/dev/null
}

build() {
	local dir=$1 tarball jobs t0=$(date +%s)
	tarball=$(dpkg -L "$src_pkg" | grep -E '/linux-source-[0-9.]+\.tar\.xz$' | head -n1)
	[ -r "$tarball" ] || die "no source tarball in $src_pkg"
	jobs=$(nproc)
	rm -rf "$dir"
	mkdir -p "$dir"
	echo "debug-kernel: unpacking $tarball into $dir"
	tar -C "$dir" -xJf "$tarball"
	mv "$dir"/linux-source-* "$dir/tree"
	cd "$dir/tree"
	make -s defconfig
	scripts/kconfig/merge_config.sh -m .config kernel/configs/kvm_guest.config "$fragment" >/dev/null
	make -s olddefconfig
	check_config .config || die "the config lost options (above): fix tools/vm/debug.config"
	echo "debug-kernel: building with $jobs jobs (niced; tens of minutes on 2 cores)"
	nice -n 10 make -s -j"$jobs" bzImage modules
	make -s INSTALL_MOD_PATH="$dir/root" modules_install >/dev/null
	make -s kernelrelease >"$dir/release"
	# The external-module build needs the tree's headers and scripts, not
	# its object files (several GB with KASAN).
	find . -name '*.o' ! -path './scripts/*' ! -path './tools/objtool/*' -delete
	echo "debug-kernel: built $(cat "$dir/release") in $(( $(date +%s) - t0 )) s"
	touch "$dir/done"
}

cmd=${1:-build}
case $cmd in
path) cache_dir ;;
release)
	dir=$(cache_dir)
	[ -f "$dir/done" ] || exit 1
	cat "$dir/release" ;;
install)
	install_cached "$(cache_dir)" >/dev/null || die "no cached build in $(cache_dir)" ;;
build)
	[ "$(id -u)" = 0 ] || die "run as root (installs into /boot and /lib/modules)"
	build_deps
	dir=$(cache_dir)
	if [ ! -f "$dir/done" ]; then
		# One builder at a time; a second caller waits and uses its result.
		mkdir -p "$cache_root"
		exec {lock}>"$cache_root/.debug-kernel.lock"
		flock "$lock"
		[ -f "$dir/done" ] || (build "$dir")
	fi
	install_cached "$dir" >/dev/null
	echo "debug-kernel: $(cat "$dir/release") installed from $dir" ;;
*) echo "usage: $0 [build|install|release|path]" >&2; exit 2 ;;
esac

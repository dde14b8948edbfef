#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# tools/cost/qemu-plugin-header.sh DIR: puts the qemu-plugin.h of the
# installed qemu-system-x86 in DIR/qemu-plugin.h. A plugin must be built
# against the header of the QEMU it loads into; Debian ships none, but its
# qemu source package has it. Fetched once with apt (deb-src lines of its
# own, the system's sources untouched) into a cache outside the clone,
# keyed by the upstream version: FSK_QEMU_SRC_CACHE (default
# /var/cache/fastsocket/qemu-src). For bookworm-backports' 10.0.2 the
# archive serves the upstream tarball but not the .dsc: the tarball is all
# this needs.
set -euo pipefail

dir=${1:?usage: qemu-plugin-header.sh DIR}
cache=${FSK_QEMU_SRC_CACHE:-/var/cache/fastsocket/qemu-src}
full=$(dpkg-query -W -f='${Version}' qemu-system-x86 2>/dev/null) ||
	{ echo "qemu-plugin-header: qemu-system-x86 is not installed" >&2; exit 1; }
# 1:10.0.2+ds-2+deb13u1~bpo12+1 -> 10.0.2+ds (the orig tarball's name), 10.0.2
orig=${full#*:}
orig=${orig%%-*}
upstream=${orig%%+*}
tarball=$cache/qemu_$orig.orig.tar.xz

if [ ! -s "$tarball" ]; then
	mkdir -p "$cache/apt/lists/partial"
	cat >"$cache/apt/sources.list" <<-EOS
	deb-src http://deb.debian.org/debian bookworm main
	deb-src http://deb.debian.org/debian bookworm-backports main
	deb-src http://deb.debian.org/debian trixie main
	EOS
	apt_opts=(-o Dir::Etc::sourcelist="$cache/apt/sources.list" -o Dir::Etc::sourceparts=/dev/null
		  -o Dir::State::Lists="$cache/apt/lists" -o APT::Sandbox::User=root)
	apt-get "${apt_opts[@]}" update -qq >/dev/null ||
		{ echo "qemu-plugin-header: apt-get update of the deb-src lines failed" >&2; exit 1; }
	# The .dsc may be missing (backports): what counts is the tarball.
	(cd "$cache" && apt-get "${apt_opts[@]}" source --download-only -qq "qemu=$full" \
		>/dev/null 2>&1) || true
	[ -s "$tarball" ] || { echo "qemu-plugin-header: no $tarball from the archive" >&2; exit 1; }
fi
mkdir -p "$dir"
tar -xJf "$tarball" -O "qemu-$upstream/include/qemu/qemu-plugin.h" >"$dir/qemu-plugin.h.tmp"
mv "$dir/qemu-plugin.h.tmp" "$dir/qemu-plugin.h"
echo "$full" >"$dir/qemu-version"

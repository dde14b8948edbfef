#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Install what building and testing fastsocket needs on Debian 12 (bookworm):
# toolchain, BPF tools, qemu, the images + headers of every supported kernel
# (6.1 from bookworm, 6.12 from bookworm-backports). The debug kernel's source
# and build tools come with tools/debug-kernel.sh. Idempotent; quiet when done.
set -euo pipefail

[ "$(id -u)" = 0 ] || { echo "install-deps: run as root (apt-get)" >&2; exit 1; }

base_pkgs=(make gcc libc6-dev libelf-dev pkg-config clang llvm libbpf-dev bpftool
	   pahole busybox-static cpio zstd xz-utils kmod iproute2
	   ethtool dkms linux-image-amd64 linux-headers-amd64 gnuplot-nox nginx-light
	   haproxy wrk liburing-dev libglib2.0-dev)

missing() {
	local p
	for p in "$@"; do
		dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed' ||
			echo "$p"
	done
}

apt_updated=0
apt_update() {
	[ $apt_updated = 1 ] && return
	# Only Debian's mirror is reachable from CI; other configured sources may fail.
	apt-get update -qq >/dev/null 2>&1 || true
	apt_updated=1
}

if ! grep -rqs 'bookworm-backports' /etc/apt/sources.list /etc/apt/sources.list.d/; then
	echo 'deb http://deb.debian.org/debian bookworm-backports main' \
		>/etc/apt/sources.list.d/fastsocket-backports.list
fi

need=$(missing "${base_pkgs[@]}")
if [ -n "$need" ]; then
	apt_update
	echo "install-deps: installing $(echo $need)"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $need >/dev/null
fi

# qemu 10.0 from backports: Debian 12's qemu 7.2 races multi-threaded TCG
# against the kernel's live code patching and kills a guest now and then
# (tools/vm/README.md); 10.0 does not (tools/vm/text-patch-stress.sh).
qemu_version() {
	dpkg-query -W -f='${Version}' qemu-system-x86 2>/dev/null | sed -E 's/^[0-9]+://'
}
if ! dpkg --compare-versions "$(qemu_version)" ge 10.0; then
	apt_update
	echo "install-deps: installing qemu-system-x86 from bookworm-backports"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
		-t bookworm-backports qemu-system-x86 >/dev/null
	dpkg --compare-versions "$(qemu_version)" ge 10.0 ||
		{ echo "install-deps: qemu-system-x86 $(qemu_version) installed, 10.0 or newer needed" >&2; exit 1; }
fi

# 6.12 from backports: install the versioned names, never the meta packages with
# -t bookworm-backports (that would also upgrade linux-libc-dev, bpftool, ...).
if ! ls /lib/modules/6.12.*/build/Makefile >/dev/null 2>&1; then
	apt_update
	img=$(apt-cache search --names-only '^linux-image-6\.12\.[0-9]+\+bpo-amd64$|^linux-image-6\.12\.[0-9]+\+deb12-amd64$' |
	      awk '{print $1}' | sort -V | tail -n1)
	[ -n "$img" ] || { echo "install-deps: no 6.12 kernel image found in bookworm-backports" >&2; exit 1; }
	hdr=${img/linux-image-/linux-headers-}
	echo "install-deps: installing $img $hdr"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$img" "$hdr" >/dev/null
fi

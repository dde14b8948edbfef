#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Install or remove fastsocket through DKMS.
#   tools/dkms.sh install [KVER...]     every installed supported kernel by default
#   tools/dkms.sh uninstall
#   tools/dkms.sh test OUTDIR [KVER...] add/build/install into scratch trees under
#                                       OUTDIR, leaving the system's DKMS untouched
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
name=fastsocket
version=$(cat "$top/VERSION")

conf_version=$(sed -n 's/^PACKAGE_VERSION="\(.*\)"$/\1/p' "$top/dkms.conf")
if [ "$conf_version" != "$version" ]; then
	echo "dkms: dkms.conf says version $conf_version but VERSION says $version" >&2
	exit 1
fi

# The files DKMS needs: what src/Kbuild builds from.
stage_source() {
	local dest=$1
	rm -rf "$dest"
	mkdir -p "$dest"
	cp -r "$top/dkms.conf" "$top/VERSION" "$top/LICENSE" "$top/src" "$top/include" "$dest/"
}

kernels() {
	if [ $# -gt 0 ]; then printf '%s\n' "$@"; else "$top/tools/kernels.sh"; fi
}

cmd=${1:-}
shift || true
case "$cmd" in
install)
	[ "$(id -u)" = 0 ] || { echo "dkms: run as root" >&2; exit 1; }
	command -v dkms >/dev/null || { echo "dkms: not installed (apt-get install dkms)" >&2; exit 1; }
	stage_source "/usr/src/$name-$version"
	dkms status -m "$name" -v "$version" | grep -q . || dkms add -m "$name" -v "$version"
	for k in $(kernels "$@"); do
		dkms build -m "$name" -v "$version" -k "$k"
		dkms install -m "$name" -v "$version" -k "$k" --force
	done
	echo "installed; load with: modprobe $name"
	;;
uninstall)
	[ "$(id -u)" = 0 ] || { echo "dkms: run as root" >&2; exit 1; }
	dkms remove -m "$name" -v "$version" --all || true
	rm -rf "/usr/src/$name-$version"
	;;
test)
	out=$(realpath -m "${1:?usage: tools/dkms.sh test OUTDIR [KVER...]}")
	shift
	rm -rf "$out"
	mkdir -p "$out/source" "$out/tree" "$out/install"
	stage_source "$out/source/$name-$version"
	opts=(--sourcetree "$out/source" --dkmstree "$out/tree" --installtree "$out/install")
	dkms add "${opts[@]}" -m "$name" -v "$version" >/dev/null
	for k in $(kernels "$@"); do
		mkdir -p "$out/install/$k"
		dkms build "${opts[@]}" -m "$name" -v "$version" -k "$k" >/dev/null
		dkms install "${opts[@]}" -m "$name" -v "$version" -k "$k" \
			--no-depmod --force >/dev/null
		ko=$(find "$out/install/$k" -name "$name.ko*" | head -n1)
		[ -n "$ko" ] || { echo "dkms: no $name.ko installed for $k" >&2; exit 1; }
		echo "$k $ko"
	done
	;;
*)
	sed -n '3,8p' "$0" | sed 's/^# \{0,1\}//'
	exit 2
	;;
esac

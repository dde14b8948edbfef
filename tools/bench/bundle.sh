#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# tools/bench/bundle.sh [--kernels "KVER..."] [--out FILE.tgz]
#
# Packs the benchmark for a many-core machine that has no qemu and no
# internet: qemu-system-x86_64 with every library ldd lists (the loader
# included), its TCG accelerator module and the firmware it needs, and for
# each kernel its bzImage and an initramfs holding busybox, bash, iproute2,
# bpftool, nsenter/taskset, the module, veth, the static fsk-bench, the
# software RSS XDP program, fastsocketctl (when it builds) and
# tools/bench/guest-bench.sh. Default kernels: every supported one installed;
# default output: build/bench/fsk-bench-bundle.tgz (must stay under 64 MiB).
#
# On the target machine:
#   tar xzf fsk-bench-bundle.tgz && cd fsk-bench-bundle
#   ./run.sh                          # 4, 8 and 16 vCPUs, 3 rounds of 5 s
#   ./run.sh --cpus "16" --rounds 5 --seconds 10
# It writes results/results.csv (every run), summary.csv and table.txt
# (and bench.png if gnuplot is there); bring results/ back and commit it
# under results/, or rerun tools/bench/report.sh on it for the chart.
set -euo pipefail

top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top"
kernels=$(tools/kernels.sh)
out=$top/build/bench/fsk-bench-bundle.tgz
while [ $# -gt 0 ]; do
	case $1 in
	--kernels) kernels=$2; shift 2 ;;
	--out) out=$(realpath -m "$2"); shift 2 ;;
	*) sed -n '4,22p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
	esac
done
[ -n "$kernels" ] || { echo "bundle: no supported kernel installed" >&2; exit 1; }

qemu=$(command -v qemu-system-x86_64) || { echo "bundle: no qemu-system-x86_64" >&2; exit 1; }
qemu_mods=/usr/lib/x86_64-linux-gnu/qemu
firmware="bios-256k.bin linuxboot_dma.bin kvmvapic.bin pvh.bin"
stage=$top/build/bundle
root=$stage/fsk-bench-bundle
rm -rf "$stage"
mkdir -p "$root/qemu/bin" "$root/qemu/lib" "$root/qemu/modules" "$root/qemu/share" "$out.d"
rmdir "$out.d"

# copy_libs DESTDIR BINARY...: every library ldd lists, and the loader.
copy_libs() {
	local dest=$1 lib

	shift
	for lib in $(ldd "$@" 2>/dev/null |
		     awk '/=> \// { print $3 } /^\t\/.*ld-linux/ { print $1 }' | sort -u); do
		cp -L "$lib" "$dest/"
	done
}

# ----------------------------------------------------------------- qemu
cp -L "$qemu" "$root/qemu/bin/"
copy_libs "$root/qemu/lib" "$qemu"
cp -L /lib64/ld-linux-x86-64.so.2 "$root/qemu/lib/"
# qemu 7.2 built TCG as a module; 10.0 has it built in.
if [ -e "$qemu_mods/accel-tcg-x86_64.so" ]; then
	cp -L "$qemu_mods/accel-tcg-x86_64.so" "$root/qemu/modules/"
	copy_libs "$root/qemu/lib" "$qemu_mods/accel-tcg-x86_64.so"
fi
for f in $firmware; do
	cp -L "/usr/share/qemu/$f" "$root/qemu/share/" 2>/dev/null ||
		cp -L "/usr/share/seabios/$f" "$root/qemu/share/"
done

# ---------------------------------------------------- guest programs
make -s module KVER="$(echo $kernels)"
make -s -C tools/bench O="$stage/static" static
make -s -C bpf O="$top/build/bpf"
cp build/bpf/fsk_rss.bpf.o "$stage/"
fskctl=
if make -s -C tools/fastsocketctl >/dev/null 2>&1 &&
	build/tools/fastsocketctl --help >/dev/null 2>&1; then
	fskctl=$top/build/tools/fastsocketctl
else
	echo "bundle: fastsocketctl did not build: fastsocket+rfd will be ABSENT in its runs" >&2
fi

# Dynamically linked tools the guest script uses, with their libraries.
dyn_tools="/bin/bash /usr/sbin/ip /usr/sbin/bpftool /usr/bin/nsenter /usr/bin/taskset"

for kver in $kernels; do
	ir=$stage/initramfs-$kver
	mkdir -p "$ir"/{bin,sbin,usr/bin,usr/sbin,lib/x86_64-linux-gnu,lib64,fsk}
	mkdir -p "$ir"/{proc,sys,dev,tmp,run,etc,root,var/run}
	cp /bin/busybox "$ir/bin/busybox"
	for t in $dyn_tools; do
		cp -L "$t" "$ir$t"
	done
	copy_libs "$ir/lib/x86_64-linux-gnu" $dyn_tools ${fskctl:+"$fskctl"}
	mv "$ir/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2" "$ir/lib64/"
	cp "build/$kver/fastsocket.ko" "$stage/static/fsk-bench" "$stage/fsk_rss.bpf.o" \
		tools/bench/guest-bench.sh "$ir/fsk/"
	[ -z "$fskctl" ] || cp "$fskctl" "$ir/fsk/"
	veth=$(modprobe -S "$kver" --show-depends veth | awk '/veth/ { print $2 }')
	case $veth in
	*.xz) xz -dc "$veth" >"$ir/fsk/veth.ko" ;;
	*.zst) zstd -dcq "$veth" >"$ir/fsk/veth.ko" ;;
	*) cp "$veth" "$ir/fsk/veth.ko" ;;
	esac
	echo "root:x:0:0:root:/root:/bin/bash" >"$ir/etc/passwd"
	echo "root:x:0:" >"$ir/etc/group"
	cp tools/bench/bundle-init.sh "$ir/init"
	chmod +x "$ir/init"
	mkdir -p "$root/kernels/$kver"
	cp "/boot/vmlinuz-$kver" "$root/kernels/$kver/vmlinuz"
	(cd "$ir" && find . | LC_ALL=C sort | cpio -o -H newc --quiet | gzip -9) \
		>"$root/kernels/$kver/initramfs.cpio.gz"
done

cp tools/bench/report.sh "$root/"
cp tools/bench/bundle-run.sh "$root/run.sh"
chmod +x "$root/run.sh" "$root/report.sh"
{
	echo "fastsocket benchmark bundle, made $(date -u +%Y-%m-%dT%H:%MZ) from commit" \
		"$(git rev-parse --short HEAD 2>/dev/null || echo ?) and the working tree"
	echo "kernels: $(echo $kernels)"
	echo "qemu: $("$qemu" --version | head -n1)"
	echo "fastsocketctl: $([ -n "$fskctl" ] && echo included || echo "not built")"
} >"$root/MANIFEST"

tar -C "$stage" -czf "$out" fsk-bench-bundle
size=$(stat -c %s "$out")
echo "bundle: $out, $((size / 1024 / 1024)) MiB ($(du -sh "$root" | cut -f1) unpacked)"
if [ "$size" -ge $((64 * 1024 * 1024)) ]; then
	echo "bundle: over 64 MiB: pass fewer --kernels" >&2
	exit 1
fi

#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# tools/vm/run.sh - run one command as root inside a throwaway qemu guest
# (TCG, no KVM needed) booted from an installed Debian kernel, on the host's
# own root filesystem shared read-only over virtio-9p.
#
# usage: tools/vm/run.sh [--smp N] [--mem SIZE] [--timeout SECONDS] KVER -- COMMAND [ARGS...]
#
#   KVER        a kernel with /boot/vmlinuz-KVER and /lib/modules/KVER
#   --smp N     guest CPUs (default: host cores, nproc)
#   --mem SIZE  guest memory, qemu syntax (default: 1G)
#   --timeout S seconds for boot + command + checks (default: 300)
#
# The command runs in the current directory (same path in the guest), with
# stdout and stderr on the console, which is streamed here live. The host root
# is read-only; /tmp, /run, /var/tmp and /mnt are empty tmpfs in the guest
# (a current directory below them is brought back, read-only). Afterwards the
# guest checks the kernel and prints a TAP line, "ok - kernel clean" or
# "not ok - kernel clean (...)": taint other than O/E (out-of-tree, unsigned
# module), or BUG/WARNING/Oops/lockup/... lines in dmesg, fail it.
#
# Exit codes:
#   0-255  the command's exit code, except:
#   1      the command exited 0 but the kernel check failed
#   2      usage error, or the host lacks the kernel/qemu/busybox
#   124    the guest did not finish within --timeout (hang)
#   125    the guest died without reporting (panic, crash, boot failure)
#   126    the guest died of qemu's stale-int3 race (see README): the
#          emulator's fault, not the guest's code; callers may boot again
#   130    interrupted (SIGINT/SIGTERM/SIGHUP) on the host
#
# Environment:
#   FSK_VM_VERBOSE=1    boot without "quiet": show the kernel's messages
#   FSK_VM_APPEND="..." extra kernel command line
#   FSK_VM_QEMU=...     qemu binary (default: qemu-system-x86_64), 10.0 or
#                       newer: 7.2's multi-threaded TCG races the kernel's
#                       live code patching and kills guests (see README)
#   FSK_VM_TCG_THREAD=single  one host thread for all vCPUs instead of one
#                       each (multi, the default): slower with --smp > 1, but
#                       immune to the stale-int3 race (exit code 126)
#   FSK_VM_ICOUNT=SHIFT guest time counts executed instructions (qemu's
#                       -icount shift=SHIFT,sleep=off; single-threaded TCG):
#                       a run's cost becomes a count, the same every time
#   FSK_VM_PLUGIN="SO[,ARG=VALUE...]"  a TCG plugin (qemu's -plugin), e.g.
#                       build/cost/fsk_insns.so,out=FILE (tools/cost)
#
# Caches (per kernel, rebuilt when their inputs change) live in
# build/vm/KVER/ of the repository: initramfs.cpio, and the ELF vmlinux
# extracted from the bzImage, booted directly via PVH (decompressing the
# bzImage under TCG costs ~2 s per boot for xz, ~0.7 s for zstd).
set -euo pipefail

script_dir=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd -P)
repo_root=$(cd -- "$script_dir/../.." && pwd -P)

usage() {
	# The header comment above, without the SPDX line.
	awk 'NR > 2 && !/^#/ { exit } NR > 3 { sub(/^# ?/, ""); print }' "${BASH_SOURCE[0]}" >&2
	exit 2
}

die() {
	echo "run.sh: $*" >&2
	exit 2
}

smp=$(nproc)
mem=1G
timeout_s=300
kver=
while [ $# -gt 0 ]; do
	case $1 in
	--smp) [ $# -ge 2 ] || usage; smp=$2; shift 2 ;;
	--smp=*) smp=${1#*=}; shift ;;
	--mem) [ $# -ge 2 ] || usage; mem=$2; shift 2 ;;
	--mem=*) mem=${1#*=}; shift ;;
	--timeout) [ $# -ge 2 ] || usage; timeout_s=$2; shift 2 ;;
	--timeout=*) timeout_s=${1#*=}; shift ;;
	-h|--help) usage ;;
	--) shift; break ;;
	-*) echo "run.sh: unknown option $1" >&2; usage ;;
	*) [ -z "$kver" ] || usage; kver=$1; shift ;;
	esac
done
if [ -z "$kver" ] || [ $# -eq 0 ]; then
	usage
fi
[[ $smp =~ ^[1-9][0-9]*$ ]] || die "--smp wants a positive number, not '$smp'"
[[ $timeout_s =~ ^[1-9][0-9]*$ ]] || die "--timeout wants seconds, not '$timeout_s'"
[[ $mem =~ ^[1-9][0-9]*[KMGT]?$ ]] || die "--mem wants a size like 1G or 512M, not '$mem'"

bz_image=/boot/vmlinuz-$kver
[ -r "$bz_image" ] || die "no kernel image $bz_image"
[ -d "/lib/modules/$kver" ] || die "no modules in /lib/modules/$kver"
qemu=${FSK_VM_QEMU:-qemu-system-x86_64}
tcg_thread=${FSK_VM_TCG_THREAD:-multi}
[[ $tcg_thread =~ ^(single|multi)$ ]] || die "FSK_VM_TCG_THREAD must be single or multi, not '$tcg_thread'"
extra_qemu=()
if [ -n "${FSK_VM_ICOUNT:-}" ]; then
	[[ $FSK_VM_ICOUNT =~ ^[0-9]$|^10$ ]] || die "FSK_VM_ICOUNT must be a shift of 0 to 10, not '$FSK_VM_ICOUNT'"
	# icount needs one TCG thread for all vCPUs.
	tcg_thread=single
	extra_qemu+=(-icount "shift=$FSK_VM_ICOUNT,sleep=off")
fi
if [ -n "${FSK_VM_PLUGIN:-}" ]; then
	[ -f "${FSK_VM_PLUGIN%%,*}" ] || die "FSK_VM_PLUGIN: no plugin ${FSK_VM_PLUGIN%%,*}"
	extra_qemu+=(-plugin "$FSK_VM_PLUGIN")
fi
command -v "$qemu" >/dev/null || die "$qemu not found (tools/install-deps.sh installs it)"
qemu_version=$("$qemu" --version 2>/dev/null | sed -n 's/^QEMU emulator version \([0-9][0-9.]*\).*/\1/p')
[ "${qemu_version%%.*}" -ge 10 ] 2>/dev/null ||
	die "$qemu is version ${qemu_version:-unknown}; 10.0 or newer is needed (tools/install-deps.sh installs it from bookworm-backports): older multi-threaded TCG runs stale code after the kernel patches it (tools/vm/README.md)"

cache_dir=$repo_root/build/vm/$kver
mkdir -p "$cache_dir"

# Unpack the ELF vmlinux from a bzImage (what the kernel's
# scripts/extract-vmlinux does): try each magic of the kernel's compression,
# keep the first result that is an ELF file.
extract_vmlinux() { # BZIMAGE OUT MAGIC DECOMPRESSOR...
	local image=$1 out=$2 magic_re=$3 offset tmp magic
	shift 3
	tmp=$(mktemp "$cache_dir/.vmlinux.XXXXXX")
	while read -r offset; do
		# The decompressor complains about the data after the stream; the ELF
		# check decides.
		tail -c "+$((offset + 1))" "$image" | "$@" >"$tmp" 2>/dev/null || true
		magic=$(od -An -c -N4 "$tmp" | tr -d ' ')
		if [ "$magic" = '177ELF' ]; then
			chmod 644 "$tmp"
			mv -f "$tmp" "$out"
			return 0
		fi
	done < <(LC_ALL=C grep -aboP "$magic_re" "$image" | cut -d: -f1)
	rm -f "$tmp"
	return 1
}

# Pick what to boot: the extracted vmlinux (PVH entry) when the kernel has
# PVH and a compression we can undo, else the bzImage.
kernel=$bz_image
prepare_caches() {
	local vmlinux=$cache_dir/vmlinux failed=$cache_dir/vmlinux.failed
	local initramfs=$cache_dir/initramfs.cpio
	local mkinitramfs=$script_dir/mkinitramfs.sh
	local config=/boot/config-$kver
	local -a unpack=()

	if grep -qx 'CONFIG_PVH=y' "$config" 2>/dev/null; then
		if grep -qx 'CONFIG_KERNEL_XZ=y' "$config"; then
			unpack=('\xfd7zXZ\x00' xz -dcq)
		elif grep -qx 'CONFIG_KERNEL_ZSTD=y' "$config"; then
			unpack=('\x28\xb5\x2f\xfd' zstd -dcq)
		elif grep -qx 'CONFIG_KERNEL_GZIP=y' "$config"; then
			unpack=('\x1f\x8b\x08' gzip -dcq)
		fi
	fi
	if [ ${#unpack[@]} -gt 0 ] && command -v "${unpack[1]}" >/dev/null; then
		if [ ! -s "$vmlinux" ] || [ "$bz_image" -nt "$vmlinux" ]; then
			if [ ! -e "$failed" ] || [ "$bz_image" -nt "$failed" ]; then
				rm -f "$failed"
				extract_vmlinux "$bz_image" "$vmlinux" "${unpack[@]}" || {
					echo "run.sh: could not extract vmlinux from $bz_image, booting the bzImage" >&2
					touch "$failed"
				}
			fi
		fi
		[ ! -s "$vmlinux" ] || [ "$bz_image" -nt "$vmlinux" ] || kernel=$vmlinux
	fi

	if [ ! -s "$initramfs" ] || [ "$mkinitramfs" -nt "$initramfs" ] ||
	   [ /bin/busybox -nt "$initramfs" ] ||
	   [ "/lib/modules/$kver/modules.dep" -nt "$initramfs" ]; then
		"$mkinitramfs" "$kver" "$initramfs" || die "building the initramfs failed"
	fi
}
# Serialise cache updates per kernel; parallel runs of other kernels are free.
exec {lock_fd}>"$cache_dir/.lock"
flock "$lock_fd"
prepare_caches
flock -u "$lock_fd"
exec {lock_fd}>&-

b64() { base64 -w0; }
cwd=$(pwd -P)
# tsc=unstable: otherwise 6.12 marks sched_clock stable after SMP bring-up
# and flips a static key in live code, which multi-threaded TCG can turn into
# an "Oops: int3" (6.1 finds the TSCs unsynchronized by itself).
# softlockup_panic: a CPU stuck for 20 s ends the guest at once, with every
# CPU's backtrace, instead of at --timeout.
append="console=ttyS0 panic=-1 rdinit=/init tsc=unstable"
append+=" softlockup_panic=1 softlockup_all_cpu_backtrace=1"
if [ "${FSK_VM_VERBOSE:-0}" = 1 ]; then
	append+=" fsk.verbose=1"
else
	append+=" quiet loglevel=2"
fi
append+=" fsk.guest=$(printf '%s' "$script_dir/guest.sh" | b64)"
append+=" fsk.cwd=$(printf '%s' "$cwd" | b64)"
append+=" fsk.argv=$(printf '%s\0' "$@" | b64)"
[ -z "${FSK_VM_APPEND:-}" ] || append+=" $FSK_VM_APPEND"
# x86 COMMAND_LINE_SIZE is 2048 with the NUL; longer is silently truncated.
[ ${#append} -le 2047 ] ||
	die "command too long for the kernel command line (${#append} > 2047 bytes): put it in a script"

tmp_dir=$(mktemp -d "${TMPDIR:-/tmp}/fsk-vm.XXXXXX")
vm_pid=
filter_pid=
interrupted=0
# shellcheck disable=SC2317 # trap handlers
cleanup() {
	[ -z "$vm_pid" ] || kill -TERM "$vm_pid" 2>/dev/null || true
	rm -rf "$tmp_dir"
}
trap cleanup EXIT
# shellcheck disable=SC2317 # trap handler
on_signal() {
	interrupted=1
	[ -z "$vm_pid" ] || kill -TERM "$vm_pid" 2>/dev/null || true
}
trap on_signal INT TERM HUP

console_log=$tmp_dir/console.log
exit_file=$tmp_dir/exit
mkfifo "$tmp_dir/console"

# Console filter: drop escape sequences and CRs, pass lines through live, keep
# a copy for the failure report, and swallow the exit marker (into exit_file).
perl -e '
	use strict; use warnings;
	my ($log_path, $exit_path) = @ARGV;
	open(my $log, ">", $log_path) or die "$log_path: $!";
	$log->autoflush(1);
	STDOUT->autoflush(1);
	while (my $line = <STDIN>) {
		$line =~ s/\e\[[0-?]*[ -\/]*[@-~]//g;	# CSI sequences
		$line =~ s/\e[()*+][ -~]//g;		# charset selection
		$line =~ s/\e[ -~]//g;			# other two-byte escapes
		$line =~ s/[\e\r]//g;
		# Firmware and power-off noise around the guest output.
		next if $line =~ /^SeaBIOS \(version /;
		next if $line =~ s/^Booting from ROM\.*// && $line eq "\n";
		next if $line =~ /^\[ *[0-9.]+\] reboot: Power down$/;
		if ($line =~ /^FSK-EXIT: (\d+)$/) {
			open(my $out, ">", $exit_path) or die "$exit_path: $!";
			print $out "$1\n";
			close($out);
			next;
		}
		print $line;
		print $log $line;
	}
' "$console_log" "$exit_file" <"$tmp_dir/console" &
filter_pid=$!

# --foreground: keep qemu in our process group; the signal trap stops it.
timeout --foreground -k 5 "$timeout_s" \
	"$qemu" -accel "tcg,thread=$tcg_thread" -smp "$smp" -m "$mem" "${extra_qemu[@]}" \
	-nographic -no-reboot -vga none -nic none \
	-kernel "$kernel" -initrd "$cache_dir/initramfs.cpio" -append "$append" \
	-virtfs local,path=/,mount_tag=root,security_model=none,readonly=on,multidevs=remap \
	</dev/null >"$tmp_dir/console" 2>&1 &
vm_pid=$!

set +e
wait "$vm_pid"
vm_status=$?
while kill -0 "$vm_pid" 2>/dev/null; do
	wait "$vm_pid"
	vm_status=$?
done
vm_pid=
wait "$filter_pid"
set -e

if [ $interrupted = 1 ]; then
	echo "not ok - guest $kver interrupted"
	exit 130
fi
if [ -s "$exit_file" ]; then
	exit "$(cat "$exit_file")"
fi
# qemu's multi-threaded TCG can leave a vCPU running a stale int3 after the
# kernel patched it out (README: 7.2 often, 10.0 rarely): it dies of "Oops:
# int3", or, where kprobes "back up over the missing int3", takes the same
# trap forever until the soft lockup or RCU stall detector panics the guest.
# Only the dying CPU's own report counts: an int3 Oops whose Code: line shows
# that the byte before the trapping RIP is no int3 (0xcc) any more, or a
# lockup or stall whose stuck CPU's own RIP is the int3 handler. A genuine
# int3 (a BUG or a real breakpoint still in memory) is a crash like any other.
stale_int3() { # CONSOLE_LOG
	perl -e '
		my ($mode, $code) = ("", "");
		while (my $line = <STDIN>) {
			if ($mode eq "" && $line =~ /Oops: int3/) {
				$mode = "oops";
			} elsif ($mode eq "" && $line =~ /soft lockup - CPU#|self-detected stall on CPU/) {
				$mode = "lockup";
			} elsif ($mode eq "oops" && $line =~ /\bCode: (.*)/) {
				my @b = split " ", $1;
				for my $i (1 .. $#b) {
					exit($b[$i - 1] eq "cc" ? 1 : 0) if $b[$i] =~ /^<[0-9a-f]{2}>$/;
				}
				exit 1;
			} elsif ($mode eq "lockup" && $line =~ /RIP: 0010:(\S+)/) {
				exit($1 =~ /^asm_exc_int3\+/ ? 0 : 1);
			}
		}
		exit 1;' <"$1"
}
if stale_int3 "$console_log"; then
	echo "not ok - guest $kver died of qemu's stale-int3 race (emulator fault, see tools/vm/README.md)"
	grep -m1 -B2 -A14 -E 'Oops: int3|soft lockup|self-detected stall' "$console_log" | sed 's/^/# /'
	exit 126
fi
if [ $vm_status = 124 ] || [ $vm_status = 137 ]; then
	reason=timeout
	code=124
else
	reason=crash
	code=125
fi
echo "not ok - guest $kver did not finish ($reason)"
# A log that shows only its tail loses the report that matters: the first.
. "$script_dir/kernel-log.sh"
first_report="$fsk_kernel_log_bad|Kernel panic"
first=$(grep -m1 -n -E "$first_report" "$console_log" | cut -d: -f1)
if [ -n "$first" ]; then
	echo "# the first report, console line $first:"
	sed -n "${first},$((first + 60))p" "$console_log" | sed 's/^/# /'
fi
echo "# last console lines:"
tail -n 30 "$console_log" | sed 's/^/# /'
exit $code

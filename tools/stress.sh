#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# make stress: the heavy variants, outside make check's budget. Builds, then
# boots every supported kernel (not the debug kernel unless
# FSK_STRESS_DEBUG=1) under qemu, one guest at a time, for:
#   heavy-KVER    2 vCPUs: netns_churn_live_clones with 100 namespaces and
#                 many_listeners with 1,000 listeners (selftests/llt.sh)
#   flood-heavy-KVER  syn_flood_cookies and close_under_pressure at backlog
#                 4,096, 4,096 SYNs per CPU and an 8 s flood
#   smp4-KVER     4 vCPUs: the whole Local Listen Table suite
#   sparse-KVER   4 vCPUs of 8 possible, 2 online at boot
#                 (possible_cpus=8 maxcpus=2): the same suite, whose cleanup
#                 brings CPUs 2 and 3 online after the first test
# and last tools/vm/text-patch-stress.sh (ftrace flips under connection
# churn: does the emulator survive the kernel patching its own code).
# Prints TAP per stage and, last, one summary line; logs in build/stress/.
# The guest does not see this environment: parameters go on its command line.
# FSK_STRESS_KERNELS="kver..." limits the kernels; FSK_STRESS_NETNS (100),
# FSK_STRESS_LISTENERS (1000), FSK_STRESS_FLIPS (2000) size the runs.
set -uo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top" || exit 2
start=$(date +%s)
logdir=$top/build/stress
mkdir -p "$logdir"

what="make stress"
# shellcheck source=tools/stages.sh
. "$top/tools/stages.sh"

netns=${FSK_STRESS_NETNS:-100}
listeners=${FSK_STRESS_LISTENERS:-1000}
flips=${FSK_STRESS_FLIPS:-2000}
for v in netns listeners flips; do
	[[ ${!v} =~ ^[1-9][0-9]*$ ]] || { echo "stress.sh: bad $v '${!v}'" >&2; exit 2; }
done

kernels=
for k in ${FSK_STRESS_KERNELS:-$(tools/kernels.sh)}; do
	! is_debug_kernel "$k" || [ "${FSK_STRESS_DEBUG:-0}" = 1 ] || continue
	kernels+=" $k"
done
kernels=${kernels# }
if [ -z "$kernels" ]; then
	echo "not ok - no supported kernel headers installed"
	failed=$((failed + 1))
	summary
fi

build() {
	make -s -j"$(nproc)" KVER="$kernels" all || return
	echo "ok - build for: $kernels"
}
stage build build || summary

# guest KVER SMP TIMEOUT CMD...: one boot, with $append on the kernel
# command line; the debug kernel gets memory and six times the time.
append=
guest() {
	local k=$1 smp=$2 limit=$3 mem=1G

	shift 3
	if is_debug_kernel "$k"; then
		mem=2G
		limit=$((limit * 6))
	fi
	FSK_VM_APPEND="$append" tools/vm/run.sh --smp "$smp" --mem "$mem" \
		--timeout "$limit" "$k" -- "$@"
}

sparse() { # KVER CMD...: CPUs possible but not present, present but offline
	local k=$1

	shift
	append="possible_cpus=8 maxcpus=2" guest "$k" 4 1800 "$@"
}

for k in $kernels; do
	stage "heavy-$k" guest "$k" 2 1800 env FSK_LLT_NETNS_CHURN="$netns" \
		FSK_LLT_MANY_LISTENERS="$listeners" selftests/llt.sh \
		--filter '^(netns_churn_live_clones|many_listeners)$'
	stage "flood-heavy-$k" guest "$k" 2 1800 env FSK_LLT_TEST_TIMEOUT=180 \
		FSK_LLT_FLOOD_ARGS="-b 4096 -k 4096 -d 8000" selftests/llt.sh \
		--filter '^(syn_flood_cookies|close_under_pressure)$'
	stage "smp4-$k" guest "$k" 4 1800 selftests/all.sh llt
	stage "sparse-$k" sparse "$k" selftests/all.sh llt
done
if [ -x tools/vm/text-patch-stress.sh ]; then
	# shellcheck disable=SC2086 # one argument per kernel
	stage text-patch tools/vm/text-patch-stress.sh --flips "$flips" $kernels
fi

summary

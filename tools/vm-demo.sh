#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# make vm-demo: boot a kernel under qemu, load fastsocket, switch it on in one
# of two network namespaces, make a few loopback connections in each and show
# /proc/net/fastsocket of both.
#   tools/vm-demo.sh [KVER]       (default: the first supported kernel installed)
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)

if [ "${1:-}" != --guest ]; then
	kver=${1:-$("$top/tools/kernels.sh" | head -n1)}
	[ -n "$kver" ] || { echo "vm-demo: no supported kernel installed (make deps)" >&2; exit 1; }
	cd "$top"
	exec tools/vm/run.sh "$kver" -- tools/vm-demo.sh --guest
fi

# In the guest, from the repo root.
show() { echo "\$ $*"; "$@"; }
ko=build/$(uname -r)/fastsocket.ko
echo "# kernel $(uname -r), $(nproc) CPUs"
show insmod "$ko"
show sysctl net.fastsocket.enabled
ip netns add demo
ip -n demo link set lo up
show sysctl -w net.fastsocket.enabled=1
show ip netns exec demo sysctl net.fastsocket.enabled
echo "# 200 connections in each namespace"
build/selftests/accept_count -n 200 >/dev/null
ip netns exec demo build/selftests/accept_count -n 200 >/dev/null
echo "# init netns (enabled=1):"
show cat /proc/net/fastsocket
echo "# netns demo (enabled=0): the hooks pass its sockets through"
show ip netns exec demo cat /proc/net/fastsocket
show ip netns exec demo sysctl -w net.fastsocket.enabled=1
ip netns exec demo build/selftests/accept_count -n 200 >/dev/null
show ip netns exec demo cat /proc/net/fastsocket
ip netns del demo
show rmmod fastsocket

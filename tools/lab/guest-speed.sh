#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# What common steps cost in a lab guest (a command, not a test): run inside a VM to compare two
# kernels' or two boot options' overhead under TCG, as the README's figures for the test
# kernel's unwinder were made.
#   tools/lab/vm.sh --name speed --cpus 1 -- "sh $PWD/tools/lab/guest-speed.sh"
# Prints "speed: WHAT: N ms" lines (wall-clock in the guest: run each side more than once).
set -u
modprobe xpu || { echo "speed: cannot load xpu"; exit 1; }
ms() { # ms CMD...: CMD's wall-clock time in ms, its output dropped
	s=$(date +%s%N)
	"$@" >/dev/null 2>&1
	echo $((($(date +%s%N) - s) / 1000000))
}
ten() { # ten CMD...: the sum of ten runs of CMD, in ms
	sum=0
	for _ in 1 2 3 4 5 6 7 8 9 10; do sum=$((sum + $(ms "$@"))); done
	echo "$sum"
}
echo "speed: python3 start, x10: $(ten python3 -c pass) ms"
ip link add xpu0 type xpu || { echo "speed: cannot add a pair"; exit 1; }
echo "speed: ethtool -i, x10: $(ten ethtool -i xpu0) ms"
ip link del xpu0
echo "speed: pair add, up, delete, x10: $(ten sh -c 'ip link add xpu0 type xpu && ip link set xpu0 up && ip link del xpu0') ms"
ip netns add speed-a && ip netns add speed-b || exit 1
ip link add xpu0 type xpu &&
	ip link set xpu0 netns speed-a && ip link set xpu1 netns speed-b || exit 1
ip -n speed-a addr add 10.9.0.1/24 dev xpu0 && ip -n speed-b addr add 10.9.0.2/24 dev xpu1
ip -n speed-a link set xpu0 up && ip -n speed-b link set xpu1 up
i=0
until ip netns exec speed-a ping -q -c 1 -W 1 10.9.0.2 >/dev/null; do
	i=$((i + 1)); [ $i -lt 10 ] || { echo "speed: no ping across the pair"; exit 1; }
done
echo "speed: 300 pings of 1000 bytes, flood: $(ms ip netns exec speed-a ping -q -f -c 300 -s 1000 10.9.0.2) ms"
ip netns exec speed-b iperf3 -s -1 -D >/dev/null
sleep 1
ip netns exec speed-a iperf3 -c 10.9.0.2 -t 5 -J | python3 -c '
import json, sys
print("speed: iperf3 TCP over the pair, 5 s:", round(json.load(sys.stdin)["end"]["sum_received"]["bits_per_second"] / 1e6), "Mbit/s")'
ip netns del speed-a
ip netns del speed-b

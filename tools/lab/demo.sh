#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# The README's main job: a host VM and a DPU VM (QEMU, TCG), joined by the xpu fabric (one
# shared window, doorbells). `modprobe xpu` on each side; the two netdevs connect; ping and
# iperf3 cross from host to DPU; ethtool -S shows the rings' counters.
#
# Then the mission: one pod whose network namespace is split across the two, the DPU half its
# edge. Each side moves xpu0 into a "pod" namespace and splits it with --edge (xpuctl splitns
# create), with the ownership agent in each half (xpuctl splitns agent), so that nobody
# registers a port. The DPU half holds the pod's uplink (a veth to the DPU VM's own namespace,
# the node's network, with a service "outside the pod" on 198.51.100.7); the host half has only
# the link. The application (python3 -m http.server) runs on the host half; an Envoy sidecar
# runs on the DPU half behind Istio's interception rules (xpuctl splitns intercept). A client
# outside the pod reaches the application through Envoy, and the application reaches the
# outside service through Envoy, both transparently.
#
# The link's figures come with virtio-net's between the same two VMs (QEMU's socket netdev), so
# a reader can judge them: both VMs run on emulated CPUs (TCG), and only the ratio carries over.
#
# The host VM joins the fabric first, so it gets id 0 (the host side); the DPU VM gets id 1.
#
# XPU_MEDIUM=cxl (make demo XPU_MEDIUM=cxl): the window is CXL memory both VMs share, each VM's
# CXL memory device backed by the same file; the fabric carries the doorbells only.
set -euo pipefail
. "$(dirname "$0")/common.sh"
# The benchmark's kernel (tools/lab/kernel.sh's perf flavour), not the test kernel: the test
# kernel's lock, object and allocation tracking cost per packet, and virtio-net over a socket
# netdev has no offloads (1500-byte frames, where xpu carries 64 KiB ones), so on it the
# comparison would show the debugging options more than the links.
export XPU_KERNEL_FLAVOR=${XPU_KERNEL_FLAVOR:-perf}
"$XPU_ROOT/tools/lab/deps.sh"
"$XPU_ROOT/tools/lab/module.sh" >/dev/null
(cd "$XPU_ROOT" && cargo build -q -p xpuctl -p xpu-fabric)

logdir=$XPU_CACHE/vm-logs
mkdir -p "$logdir"
sock=$logdir/demo.fabric.sock
flog=$logdir/demo.fabric.log
: >"$flog"
# A free TCP port on the loopback for the virtio-net socket netdev.
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
pids=()
cleanup() {
	kill "${pids[@]}" 2>/dev/null || true
	[ -z "${cxl_file:-}" ] || rm -f "$cxl_file"
}
trap cleanup EXIT INT TERM

medium=${XPU_MEDIUM:-bar} cxl=() fabric_cxl=() load='modprobe xpu'
case $medium in
bar) ;;
cxl)
	# The CXL memory both VMs map: their cxl-type3 devices' volatile memory (tools/lab/vm.sh).
	cxl_file=/dev/shm/xpu-demo.$$.cxl
	truncate -s 256M "$cxl_file"
	cxl=(--cxl "$cxl_file") fabric_cxl=(--cxl "$cxl_file")
	load='modprobe xpu $(xpuctl cxl window)' ;;
*) die "XPU_MEDIUM=$medium: the media are bar (the default: the ivshmem BAR) and cxl" ;;
esac
log "starting the fabric: xpu-fabric -S $sock -l 8M -n 5 ${fabric_cxl[*]}"
"$XPU_ROOT/target/debug/xpu-fabric" -S "$sock" -l 8M -n 5 -v "${fabric_cxl[@]}" 2>>"$flog" &
pids+=($!)
for _ in $(seq 50); do [ -S "$sock" ] && break; sleep 0.1; done
[ -S "$sock" ] || die "xpu-fabric did not start (see $flog)"

# Each VM gets one CPU: two TCG guests share this machine's two cores. NETDEV is the
# virtio-net socket netdev's end: the host VM listens, the DPU VM connects.
vm() { # vm NAME NETDEV SCRIPT
	"$XPU_ROOT/tools/lab/vm.sh" --name "xpu-demo-$1" --cpus 1 --timeout 600 \
		--fabric "$sock" --ivshmem 1 "${cxl[@]}" \
		--qemu-opts "-netdev socket,id=vn0,$2 -device virtio-net-pci,netdev=vn0" -- "$3" 2>&1 |
		sed -u "s/^/[$1] /"
}

# Both sides split a pod namespace alike: xpu0 moves in, splits with the DPU half as the edge,
# and the ownership agent follows the sockets. Each side's pod_net sets up what differs
# (addresses, the uplink) before the split.
POD=10.244.1.5
pod_up=$(cat <<'GUEST'
echo '--- one pod, split across host and DPU, the DPU half its edge ---'
echo '$ ip netns add pod && ip link set xpu0 netns pod'
ip netns add pod; ip link set xpu0 netns pod
ip -n pod link set lo up; ip -n pod link set xpu0 up
pod() { ip netns exec pod "$@"; }
pod_net
echo "\$ xpuctl splitns create web --dev xpu0 --addr $POD --edge   # the half follows the link role"
pod xpuctl splitns create web --dev xpu0 --addr $POD --edge
# The ownership agent: ports follow sockets, nobody registers one. Its cgroup BPF programs
# attach to the cgroup v2 root, mounted outside /sys (ip netns exec mounts a fresh sysfs).
mkdir -p /tmp/cgroup2; mount -t cgroup2 none /tmp/cgroup2
echo '$ xpuctl splitns agent --cgroup /tmp/cgroup2 &   # a port is owned by the half whose socket binds it'
pod xpuctl splitns agent --cgroup /tmp/cgroup2 >/tmp/agent.log 2>&1 &
i=0; until grep -q 'follow its sockets' /tmp/agent.log; do
	i=$((i + 1)); [ $i -lt 120 ] || { echo "the agent did not start"; cat /tmp/agent.log; exit 1; }
	sleep 0.5
done
GUEST
)

# Both sides start alike: load xpu, name the function's netdev xpu0, address it ($ADDR), up;
# and the virtio-net NIC, the comparison, as vnet0 ($VADDR).
side_up=$(cat <<'GUEST'
set -e
for d in /sys/class/net/*; do
	[ "$(basename "$(readlink "$d/device/driver" 2>/dev/null)")" = virtio_net ] || continue
	ip link set "${d##*/}" name vnet0; ip addr add "$VADDR/24" dev vnet0; ip link set vnet0 up
done
if [ "$MEDIUM" = cxl ]; then
	echo '$ xpuctl cxl window   # the CXL memory device'"'"'s region, as the module'"'"'s parameters'
	xpuctl cxl window
fi
echo "\$ $LOAD"; eval "$LOAD"
dev=$(ls /sys/bus/pci/drivers/xpu/*/net)
echo "$ ip link set $dev name xpu0"; ip link set "$dev" name xpu0
# udev gives the renamed device its lasting MAC address a moment later (MACAddressPolicy):
# the address is settled before the link carries anything.
udevadm settle
echo '$ ethtool -i xpu0'; ethtool -i xpu0 | grep -E 'driver|firmware|bus-info'
echo "$ ip addr add $ADDR/24 dev xpu0 && ip link set xpu0 up"
ip addr add "$ADDR/24" dev xpu0; ip link set xpu0 up
GUEST
)

vm host "listen=127.0.0.1:$port" "ADDR=10.0.0.1 VADDR=10.1.0.1 POD=$POD MEDIUM=$medium LOAD='$load'
$side_up
$(cat <<'GUEST'
echo '(waiting for the DPU side to come up)'
i=0; until [ "$(cat /sys/class/net/xpu0/carrier)" = 1 ]; do
	i=$((i + 1)); [ $i -lt 1200 ] || { echo "no carrier after 240 s"; xpuctl link show xpu0; exit 1; }
	sleep 0.2
done
echo '$ ip -d link show xpu0'; ip -d link show xpu0
echo '$ xpuctl link show xpu0'; xpuctl link show xpu0
echo '$ ping -c 3 10.0.0.2'; ping -c 3 -i 0.2 10.0.0.2
echo '--- the link next to virtio-net between the same two VMs (vnet0, 10.1.0.0/24) ---'
echo '$ demo-link-speed.py 10.0.0.2 10.1.0.2   # ping and iperf3 over each, alternating'
python3 "$XPU_ROOT/tools/lab/demo-link-speed.py" 10.0.0.2 10.1.0.2
# Done with both links: the DPU VM may move xpu0 into the pod now.
i=0; until socat -u OPEN:/dev/null TCP:10.1.0.2:7777 2>/dev/null; do
	i=$((i + 1)); [ $i -lt 60 ] || { echo "the DPU VM does not answer on 7777"; exit 1; }; sleep 0.5
done
echo '$ ip -s link show xpu0'; ip -s link show xpu0
echo '$ ethtool -S xpu0 | grep -v ": 0$"'; ethtool -S xpu0 | grep -v ': 0$'
echo '$ grep xpu /proc/interrupts'; grep xpu /proc/interrupts
GUEST
)
$(cat <<'GUEST'
pod_net() {
	echo "\$ ip addr add $POD/32 dev xpu0   # the host half has only the link"
	ip -n pod addr add "$POD/32" dev xpu0
}
GUEST
)
$pod_up
$(cat <<'GUEST'
echo '$ ip route   # the way out of the pod is the link, through the DPU half'; pod ip route
mkdir -p /tmp/www; echo "hello from the application on the host" >/tmp/www/index.html
echo '$ python3 -m http.server 8080 &   # the application, unmodified'
pod python3 -m http.server 8080 --directory /tmp/www 2>/tmp/app.log &
i=0; until pod ss -Htln 'sport = :8080' | grep -q .; do
	i=$((i + 1)); [ $i -lt 120 ] || { echo "the application did not start"; exit 1; }; sleep 0.5
done
echo '(waiting for the sidecar on the DPU half: Envoy binds 15001)'
i=0; until pod xpuctl port list | grep -q '^15001 dpu$'; do
	i=$((i + 1)); [ $i -lt 900 ] || { echo "no sidecar after 450 s"; pod xpuctl splitns show; exit 1; }
	sleep 0.5
done
echo '$ curl http://198.51.100.7:9090/   # the application calls a service outside the pod'
out=$(pod curl -sS --retry 5 --retry-all-errors --max-time 30 http://198.51.100.7:9090/) ||
	{ echo "curl failed"; exit 1; }
echo "$out"
[ "$out" = "hello from a service outside the pod" ] || { echo "wrong answer"; exit 1; }
echo '(waiting for a client outside the pod to call the application)'
i=0; until grep -q 'GET /' /tmp/app.log; do
	i=$((i + 1)); [ $i -lt 600 ] || { echo "no client came"; exit 1; }; sleep 0.5
done
echo '$ cat app.log   # the client, as the application saw it: Envoy inbound, from 127.0.0.6'
cat /tmp/app.log
echo '$ xpuctl splitns show'; pod xpuctl splitns show
echo '$ dmesg | grep -E "xpu[ :]|WARNING|BUG"'; dmesg | grep -E 'xpu[ :]|WARNING|BUG' || true
GUEST
)" &
pids+=($!)
host=$!
# The host VM takes fabric id 0: wait for it to join before starting the DPU VM.
for _ in $(seq 600); do grep -q 'peer 0 connected' "$flog" && break; sleep 0.2; done
grep -q 'peer 0 connected' "$flog" || die "the host VM did not join the fabric (see $flog)"

vm dpu "connect=127.0.0.1:$port" "ADDR=10.0.0.2 VADDR=10.1.0.2 POD=$POD MEDIUM=$medium LOAD='$load'
$side_up
$(cat <<'GUEST'
echo '$ iperf3 -s -D   # on both links'; iperf3 -s -D
# The host VM says when it is done measuring the links (on vnet0): xpu0 stays here until then.
socat -u TCP-LISTEN:7777,bind=10.1.0.2 OPEN:/dev/null
echo '$ ethtool -S xpu0 | grep -E "rx[0-9]+_(packets|napi)"'; ethtool -S xpu0 | grep -E 'rx[0-9]+_(packets|napi)'
GUEST
)
$(cat <<'GUEST'
pod_net() {
	echo '$ ip link add pod0 type veth peer name eth0 netns pod   # the pod'"'"'s uplink is the DPU half'"'"'s'
	ip link add pod0 type veth peer name eth0 netns pod
	ip addr add 10.244.1.1/24 dev pod0; ip link set pod0 up
	ip -n pod addr add "$POD/24" dev eth0; ip -n pod link set eth0 up
	ip -n pod route add default via 10.244.1.1
	# A service outside the pod, beyond the node's router (here, this VM's own namespace).
	ip addr add 198.51.100.7/32 dev lo
	mkdir -p /tmp/svc; echo "hello from a service outside the pod" >/tmp/svc/index.html
	python3 -m http.server 9090 --bind 198.51.100.7 --directory /tmp/svc 2>/dev/null &
}
GUEST
)
$pod_up
$(cat <<'GUEST'
echo '$ xpuctl splitns intercept | iptables-restore --noflush   # Istio'"'"'s rules, for the DPU half'
pod xpuctl splitns intercept | tee /tmp/rules
pod iptables-restore --noflush </tmp/rules
echo '$ envoy -c xpu_envoy.yaml &   # the sidecar, in group 1337 (exempt from capture)'
pod setpriv --regid 1337 --clear-groups envoy -c "$XPU_ROOT/kselftest/xpu_envoy.yaml" \
	--concurrency 1 --disable-hot-restart --log-path /tmp/envoy.log >/dev/null 2>&1 &
i=0; until pod curl -sf http://127.0.0.1:15000/ready 2>/dev/null | grep -q LIVE; do
	i=$((i + 1)); [ $i -lt 600 ] || { echo "Envoy did not start"; tail -20 /tmp/envoy.log; exit 1; }
	sleep 0.5
done
echo '(waiting for the application on the host half to bind 8080)'
i=0; until pod xpuctl port list | grep -q '^8080 host$'; do
	i=$((i + 1)); [ $i -lt 600 ] || { echo "no application after 300 s"; exit 1; }; sleep 0.5
done
echo '$ curl http://10.244.1.5:8080/   # a client outside the pod, on the node'
out=$(curl -sS --retry 5 --retry-all-errors --max-time 30 "http://$POD:8080/index.html") ||
	{ echo "curl failed"; exit 1; }
echo "$out"
[ "$out" = "hello from the application on the host" ] || { echo "wrong answer"; exit 1; }
echo '$ curl 127.0.0.1:15000/stats | grep passthrough.downstream_cx_total   # Envoy carried both'
i=0; until pod curl -s http://127.0.0.1:15000/stats | grep -q 'outbound_passthrough.downstream_cx_total: [1-9]'; do
	i=$((i + 1)); [ $i -lt 600 ] || { echo "Envoy carried no outbound connection"; exit 1; }; sleep 0.5
done
pod curl -s http://127.0.0.1:15000/stats | grep 'passthrough.downstream_cx_total'
# Serve until the host side is done and leaves the fabric: the link's carrier drops, and the
# split forgets the peer.
i=0; until [ "$(pod cat /sys/class/net/xpu0/carrier)" = 0 ]; do
	i=$((i + 1)); [ $i -lt 240 ] || break; sleep 0.5
done
echo '$ xpuctl splitns show'; pod xpuctl splitns show
pod xpuctl splitns show --json | grep -q '"peer":"unknown"' || {
	echo "the host half did not leave: carrier $(pod cat /sys/class/net/xpu0/carrier)"
	pod xpuctl link show xpu0
	dmesg | tail -20
	exit 1
}
GUEST
)" &
pids+=($!)
dpu=$!
rc=0
wait "$host" || rc=$?
wait "$dpu" || rc=$?
[ "$rc" = 0 ] && log "demo done: host and DPU talked over the xpu fabric" || log "demo failed (exit $rc); logs in $logdir"
exit "$rc"

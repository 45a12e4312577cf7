#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# The DPU VM's side of tools/bench/link_vs_virtio.py: address both links (xpu and virtio-net),
# serve iperf3 and sockperf on each, and stay up until the host VM says it is done.
set -e
modprobe xpu
for d in /sys/class/net/*; do
	drv=$(basename "$(readlink "$d/device/driver" 2>/dev/null)" 2>/dev/null) || continue
	case "$drv" in
	xpu) addr=10.0.0.2 ;;
	virtio_net) addr=10.1.0.2 ;;
	*) continue ;;
	esac
	# IPv4 only, as on the client: an idle link stays silent.
	sysctl -qw "net.ipv6.conf.${d##*/}.disable_ipv6=1"
	ip addr add "$addr/24" dev "${d##*/}"
	ip link set "${d##*/}" up
done
iperf3 -s -D
sockperf sr -i 10.0.0.2 -p 11111 >/dev/null 2>&1 &
sockperf sr -i 10.1.0.2 -p 11111 >/dev/null 2>&1 &
# This VM's CPU time (busy seconds, from /proc/stat) for whoever connects to port 7778: the
# client reads it around each latency run, to split a round trip between the two guests' work
# and the time spent outside them.
python3 -c "
import os, socket
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(('0.0.0.0', 7778))
s.listen(4)
while True:
    c, _ = s.accept()
    v = [int(x) for x in open('/proc/stat').readline().split()[1:]]
    c.sendall(str((sum(v[:8]) - v[3] - v[4]) / os.sysconf('SC_CLK_TCK')).encode())
    c.close()
" &
echo "link_server: serving on 10.0.0.2 (xpu) and 10.1.0.2 (virtio-net)"
# Wait for the client's "done" over the xpu link (or give up after an hour).
python3 -c "
import socket
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(('0.0.0.0', 7777))
s.listen(1)
s.settimeout(3600)
s.accept()
"
echo "link_server: done"

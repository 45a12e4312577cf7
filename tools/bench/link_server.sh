#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# The DPU VM's side of tools/bench/link_vs_virtio.py: address both links (xpu and virtio-net),
# serve iperf3 and sockperf on each, move xpu's window to CXL memory when the client asks, and
# stay up until the client says it is done. The client's orders (the move, done) come over
# virtio-net, which stays up throughout; its CPU-time queries over whichever xpu link is up.
#   link_server.sh cxl: the move itself (run by the server when asked; exit status 0 or 1).
set -e
links() { # links DRIVER...: address and bring up the netdevs of those drivers
	for d in /sys/class/net/*; do
		drv=$(basename "$(readlink "$d/device/driver" 2>/dev/null)" 2>/dev/null) || continue
		case "$drv" in
		xpu) addr=10.0.0.2 ;;
		virtio_net) addr=10.1.0.2 ;;
		*) continue ;;
		esac
		case " $* " in *" $drv "*) ;; *) continue ;; esac
		# IPv4 only, as on the client: an idle link stays silent.
		sysctl -qw "net.ipv6.conf.${d##*/}.disable_ipv6=1"
		ip addr add "$addr/24" dev "${d##*/}"
		ip link set "${d##*/}" up
	done
}
accept() { # accept PORT: waits (an hour at most) for one connection on PORT
	python3 -c "
import socket
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(('0.0.0.0', $1))
s.listen(1)
s.settimeout(3600)
s.accept()
"
}
if [ "${1:-}" = cxl ]; then
	# xpu loaded again with its window in the CXL memory device's region (the client does the
	# same on its side, and the link comes back only if both sides did), and its sockperf
	# server started again.
	pkill -f 'sockperf sr -i 10.0.0.2' || true
	rmmod xpu && modprobe xpu $(xpuctl cxl window) && links xpu &&
		dmesg | grep -q "xpu: CXL mode, window" ||
		{ echo "xpu did not come back in CXL mode: $(dmesg | grep 'xpu' | tail -n 3)"; exit 1; }
	setsid sockperf sr -i 10.0.0.2 -p 11111 >/dev/null 2>&1 </dev/null &
	echo "link_server: xpu's window is CXL memory now"
	exit 0
fi
modprobe xpu
links xpu virtio_net
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
# The CXL rows: asked on port 7779, this script's cxl mode moves xpu's window, and the asker
# gets "ok" or what went wrong.
python3 -c "
import socket, subprocess
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(('10.1.0.2', 7779))
s.listen(1)
c, _ = s.accept()
r = subprocess.run(['sh', '$0', 'cxl'], capture_output=True, text=True)
print(r.stdout, end='', flush=True)
c.sendall(b'ok' if r.returncode == 0 else (r.stdout + r.stderr)[-400:].encode())
c.close()
" &
echo "link_server: serving on 10.0.0.2 (xpu) and 10.1.0.2 (virtio-net)"
accept 7777
echo "link_server: done"

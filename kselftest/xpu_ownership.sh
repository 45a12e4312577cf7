#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Automatic port ownership in a split namespace (pair link: $H the host half, $D the DPU
# half). Each half runs its ownership agent (xpuctl splitns agent) and nobody registers a
# port: a socket that binds a port owns it for its half, the other half's bind of it gets
# EADDRINUSE, and closing the last socket frees it on both halves. Also: a listener's accepted
# connections keep its port, UDP (a DNS-style query over localhost), a peer that was away, an
# agent restart, a bind storm of thousands of ports, a forged snapshot claiming every port, and
# IPv6 (::1 and the pod's IPv6 address) as IPv4.

. "$(dirname "$(readlink -f "$0")")/xpu_lib.sh"

H= D=
POD=10.78.0.5
POD6=fd00:78::5
# How long a claim or a release may take to reach the other half (the agent reacts to the
# BPF program's event at once; the rest is a snapshot over the link): generous for TCG, where
# with KASAN and a second VM on the same two cores a claim once took just over 5 s.
BOUND=10

h() { ip netns exec "$H" "$@"; }
d() { ip netns exec "$D" "$@"; }
# ns SIDE: the namespace of h or d. Background programs run as `ip netns exec "$(ns h)" ...`,
# not through h(), so that $! is the program's pid (ip netns exec execs it) and kill reaches it.
ns() { if [ "$1" = h ]; then echo "$H"; else echo "$D"; fi; }

setup_split() {
	H=$(xpu_netns host) && D=$(xpu_netns dpu) || fail "cannot create namespaces"
	h xpuctl link add xpu0 --peer xpu1 --peer-netns "$D" || fail "xpuctl link add failed"
	ip -n "$H" addr add $POD/24 dev xpu0
	ip -n "$D" addr add $POD/24 dev xpu1
	ip -n "$H" addr add $POD6/64 dev xpu0 nodad
	ip -n "$D" addr add $POD6/64 dev xpu1 nodad
	ip -n "$H" link set xpu0 up
	ip -n "$D" link set xpu1 up
	h xpuctl splitns create web --dev xpu0 --addr $POD --addr6 $POD6 --half host ||
		fail "host half: create failed"
	d xpuctl splitns create web --dev xpu1 --addr $POD --addr6 $POD6 --half dpu ||
		fail "DPU half: create failed"
	slowwait 10 sh -c "ip netns exec $H xpuctl splitns show --json | grep -q '\"peer\":\"split\"' &&
		ip netns exec $D xpuctl splitns show --json | grep -q '\"peer\":\"split\"'" ||
		fail "the halves did not pair"
	start_agent h
	start_agent d
}

# start_agent SIDE: the half's ownership agent, in the background, until it says it is ready.
start_agent() {
	local log=/tmp/xpu-agent-$$-$1.log
	ip netns exec "$(ns "$1")" xpuctl splitns agent --cgroup "$CGROUP" >"$log" 2>&1 &
	eval "AGENT_$1=$!"
	slowwait 60 grep -q "follow its sockets" "$log" || { cat "$log"; fail "the $1 agent did not start"; }
}

stop_agent() {
	local pid
	eval "pid=\$AGENT_$1"
	kill "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	return 0
}

# knows NS PORT HALF: NS lists PORT as HALF's within BOUND seconds.
knows() {
	slowwait $BOUND sh -c "ip netns exec $1 xpuctl port list | grep -q '^$2 $3\$'"
}

# unknown NS PORT: NS lists PORT as nobody's within BOUND seconds.
unknown() {
	slowwait $BOUND sh -c "! ip netns exec $1 xpuctl port list | grep -q '^$2 '"
}

# try_bind SIDE PROTO PORT [ADDR]: binds ADDR (127.0.0.1; IPv6 if it is) once; prints "ok" or
# the errno's name.
try_bind() {
	"$1" python3 -c '
import errno, socket, sys
t = socket.SOCK_STREAM if sys.argv[1] == "tcp" else socket.SOCK_DGRAM
s = socket.socket(socket.AF_INET6 if ":" in sys.argv[3] else socket.AF_INET, t)
try:
    s.bind((sys.argv[3], int(sys.argv[2])))
    print("ok")
except OSError as e:
    print(errno.errorcode.get(e.errno, e.errno))
' "$2" "$3" "${4:-127.0.0.1}"
}

# bind_ok SIDE PROTO PORT: a bind of PORT in SIDE's half succeeds.
bind_ok() {
	[ "$(try_bind "$@")" = ok ]
}

# serve SIDE PORT: a TCP server on 127.0.0.1:PORT that answers each connection with its half's
# name; prints its pid.
serve() {
	ip netns exec "$(ns "$1")" python3 -c '
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1])))
s.listen(16)
while True:
    c, _ = s.accept()
    c.sendall(sys.argv[2].encode())
    c.close()
' "$2" "$1" >/dev/null 2>&1 &
	echo $!
}

# wait_listen SIDE PORT [udp]
wait_listen() {
	local flag=-Htln
	[ "${3:-}" = udp ] && flag=-Huln
	slowwait 60 sh -c "ip netns exec $(ns "$1") ss $flag 'sport = :$2' | grep -q ." ||
		fail "nothing listens on port $2"
}

# serve6 SIDE PROTO PORT: a dual-stack server on [::]:PORT, TCP or UDP, that answers each
# connection or datagram with its half's name and the client's address as it saw it; prints
# its pid.
serve6() {
	ip netns exec "$(ns "$1")" python3 -c '
import socket, sys
proto, port, tag = sys.argv[1], int(sys.argv[2]), sys.argv[3]
s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM if proto == "tcp" else socket.SOCK_DGRAM)
s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("::", port))
if proto == "tcp":
    s.listen(16)
    while True:
        c, a = s.accept()
        c.sendall(f"{tag} {a[0]}".encode())
        c.close()
while True:
    q, a = s.recvfrom(512)
    s.sendto(f"{tag} {a[0]}".encode(), a)
' "$2" "$3" "$1" >/dev/null 2>&1 &
	echo $!
}

# ask SIDE PROTO ADDR PORT: one question to ADDR:PORT (IPv4 or IPv6); prints the answer or the
# error.
ask() {
	"$1" timeout 10 python3 -c '
import socket, sys
proto, addr, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
if proto == "tcp":
    c = socket.create_connection((addr, port), timeout=5)
else:
    c = socket.socket(socket.AF_INET6 if ":" in addr else socket.AF_INET, socket.SOCK_DGRAM)
    c.settimeout(5)
    c.sendto(b"question", (addr, port))
print(c.recv(128).decode())
' "$2" "$3" "$4" 2>&1
}

# split_counter NS NAME: the split's steered, delivered or refused count in NS.
split_counter() {
	ip netns exec "$1" xpuctl splitns show --json | sed -n "s/.*\"$2\":\([0-9]*\).*/\1/p"
}

fetch() {
	"$1" timeout 10 python3 -c '
import socket, sys
c = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5)
print(c.recv(64).decode())
' "$2" 2>&1
}

test_bind_listen_close_rebind() {
	local pid got out
	setup_split
	pid=$(serve h 8080)
	wait_listen h 8080
	knows "$D" 8080 host || fail "the DPU half did not learn that the host's socket owns 8080"
	out=$(h xpuctl splitns show)
	echo "$out"
	echo "$out" | grep -q "8080 host (socket)" || fail "splitns show does not say 8080 is held by a socket"
	got=$(fetch d 8080)
	[ "$got" = h ] || fail "a DPU client of 127.0.0.1:8080 got '$got', not the host's server"
	got=$(try_bind d tcp 8080)
	[ "$got" = EADDRINUSE ] || fail "the DPU half's bind of the host's port gave '$got'"
	got=$(try_bind d udp 8080)
	[ "$got" = EADDRINUSE ] || fail "UDP: the DPU half's bind of the host's port gave '$got'"
	kill $pid
	wait $pid 2>/dev/null
	unknown "$D" 8080 || fail "closing the host's server did not free 8080 on the DPU half"
	unknown "$H" 8080 || fail "closing the host's server did not free 8080 on the host half"
	# Now the DPU half takes it, and the host half is the one refused.
	pid=$(serve d 8080)
	wait_listen d 8080
	knows "$H" 8080 dpu || fail "the host half did not learn that the DPU owns 8080 now"
	got=$(try_bind h tcp 8080)
	[ "$got" = EADDRINUSE ] || fail "the host half's bind of the DPU's port gave '$got'"
	got=$(fetch h 8080)
	[ "$got" = d ] || fail "a host client of 127.0.0.1:8080 got '$got', not the DPU's server"
	kill $pid
	# A bind in the other half's ephemeral range is refused too: its clients' replies go there.
	got=$(try_bind h tcp 50000)
	[ "$got" = EADDRINUSE ] || fail "a host bind in the DPU's ephemeral range gave '$got'"
}

test_accepted_connection_keeps_port() {
	local pid out
	setup_split
	out=/tmp/xpu-own-$$.out
	# A server that takes one connection, closes its listener, and talks on the connection.
	ip netns exec "$H" python3 -c '
import socket, time
s = socket.socket()
s.bind(("127.0.0.1", 8081))
s.listen(1)
c, _ = s.accept()
s.close()
time.sleep(4)
c.sendall(b"still here")
c.close()
' >/dev/null 2>&1 &	# not on the case's output: a failed case would wait for it to close
	pid=$!
	wait_listen h 8081
	knows "$D" 8081 host || fail "the DPU half did not learn 8081"
	ip netns exec "$D" timeout 20 python3 -c '
import socket
c = socket.create_connection(("127.0.0.1", 8081), timeout=15)
print(c.recv(64).decode())
' >$out 2>&1 &
	local client=$!
	sleep 2
	# The listener is gone, its connection is not: the port is still the host half's.
	d xpuctl port list | grep -q '^8081 host$' ||
		fail "the port was freed while a connection still used it"
	wait $client
	grep -q "still here" $out || fail "the connection broke: $(cat $out)"
	wait $pid
	unknown "$D" 8081 || fail "the port stayed claimed after its last socket closed"
	rm -f $out
}

test_udp_resolver_on_dpu() {
	local pid got
	setup_split
	# A DNS-style resolver on the DPU half: one question, one answer, over localhost UDP.
	ip netns exec "$D" python3 -c '
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", 5353))
q, a = s.recvfrom(512)
s.sendto(b"answer:" + q, a)
' >/dev/null 2>&1 &	# not on the case's output: a failed case would wait for it to close
	pid=$!
	# Python starts slowly on an emulated CPU: the claim follows its bind.
	wait_listen d 5353 udp
	knows "$H" 5353 dpu || fail "the host half did not learn the resolver's port"
	got=$(h timeout 10 python3 -c '
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(5)
s.sendto(b"example.com", ("127.0.0.1", 5353))
print(s.recv(512).decode())
' 2>&1)
	[ "$got" = "answer:example.com" ] || fail "the host's query got '$got'"
	wait $pid
	unknown "$H" 5353 || fail "the resolver's port stayed claimed"
	# A port the DPU half holds with no socket on it: the host's query crosses, and the DPU
	# half's "port unreachable" crosses back to the host's socket, as in one namespace.
	d xpuctl port add 5354 || fail "DPU half: port add failed"
	knows "$H" 5354 dpu || fail "the host half did not learn the registered port"
	got=$(h timeout 10 python3 -c '
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(5)
s.connect(("127.0.0.1", 5354))
s.send(b"example.com")
try:
    print(s.recv(512).decode())
except ConnectionRefusedError:
    print("refused")
' 2>&1)
	[ "$got" = refused ] || fail "the host's query to a port nobody serves got '$got', not refused"
}

test_peer_away() {
	local pid got
	setup_split
	stop_agent d
	d xpuctl splitns delete || fail "DPU half: delete failed"
	# A bind while the other half is away is kept, and told when it is back.
	pid=$(serve h 9090)
	wait_listen h 9090
	# The agent claims the port once it hears of the bind: within the bound, not at once.
	slowwait $BOUND sh -c "ip netns exec $H xpuctl splitns show | grep -q '9090 host (socket)'" ||
		fail "the host half did not claim 9090: $(h xpuctl splitns show)"
	d xpuctl splitns create web --dev xpu1 --addr $POD --addr6 $POD6 --half dpu ||
		fail "DPU half: re-create failed"
	start_agent d
	knows "$D" 9090 host || fail "the DPU half did not learn 9090 after coming back"
	got=$(try_bind d tcp 9090)
	[ "$got" = EADDRINUSE ] || fail "after the peer came back, its bind of 9090 gave '$got'"
	got=$(fetch d 9090)
	[ "$got" = h ] || fail "the DPU client got '$got'"
	kill $pid
	unknown "$D" 9090 || fail "9090 not freed"
}

test_agent_restart() {
	local pid
	setup_split
	pid=$(serve h 7070)
	wait_listen h 7070
	knows "$D" 7070 host || fail "the DPU half did not learn 7070"
	stop_agent h
	# Its claims stay while it is away; it reconciles with the socket tables when back.
	kill $pid
	wait $pid 2>/dev/null
	d xpuctl port list | grep -q '^7070 host$' || fail "the claim went with the agent"
	pid=$(serve h 7071)
	wait_listen h 7071
	start_agent h
	unknown "$D" 7070 || fail "the restarted agent did not free the port closed meanwhile"
	knows "$D" 7071 host || fail "the restarted agent did not claim the port bound meanwhile"
	kill $pid
}

# peer_owned NS: how many ports NS's split says the other half owns.
peer_owned() {
	ip netns exec "$1" xpuctl splitns show --json | sed -n 's/.*"peer_owned":\([0-9]*\).*/\1/p'
}

test_bind_storm() {
	local pid n log=/tmp/xpu-storm-$$.out
	setup_split
	# 2000 ports bound in a burst and held until the process is told to go.
	ip netns exec "$H" python3 -c '
import resource, signal, socket
resource.setrlimit(resource.RLIMIT_NOFILE, (4096, 4096))
socks = []
for p in range(20000, 22000):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", p))
    socks.append(s)
print("bound", flush=True)
signal.pause()
' >$log 2>&1 &
	pid=$!
	# Python's start and 2000 binds share one CPU with the agent, which claims each bind as it
	# comes: on an emulated CPU that is most of a minute.
	slowwait 120 grep -q bound $log || fail "the storm did not bind: $(cat $log)"
	# The agent claims, and later frees, the 2000 ports one request each: on one emulated CPU
	# shared with the storm, that takes minutes; the waits end as soon as the count is reached.
	slowwait 240 sh -c "[ \"\$(ip netns exec $D xpuctl splitns show --json |
		sed -n 's/.*\"peer_owned\":\([0-9]*\).*/\1/p')\" = 2000 ]" ||
		fail "the DPU half knows $(peer_owned "$D") of the 2000 ports"
	[ "$(try_bind d udp 21999)" = EADDRINUSE ] || fail "the last port of the storm is not refused"
	kill $pid
	wait $pid 2>/dev/null
	slowwait 240 sh -c "[ \"\$(ip netns exec $D xpuctl splitns show --json |
		sed -n 's/.*\"peer_owned\":\([0-9]*\).*/\1/p')\" = 0 ]" ||
		fail "after the storm closed, the DPU half still knows $(peer_owned "$D") ports"
	kill -0 "$AGENT_h" 2>/dev/null || fail "the host's agent died in the storm"
	[ "$(try_bind d udp 20000)" = ok ] || fail "the storm's first port is still refused"
	rm -f $log
}

# A hostile or broken other half that claims every port: this half refuses binds outside its
# own ports and ephemeral range (clearly: EADDRINUSE), keeps what it holds, and returns to
# normal with the other half's next real snapshot.
test_peer_claims_every_port() {
	local pid got
	setup_split
	pid=$(serve h 8080)
	wait_listen h 8080
	knows "$D" 8080 host || fail "the DPU half did not learn 8080"
	ip -n "$D" link set xpu1 mtu 9000
	d python3 "$XPU_DIR/xpu_split_inject.py" xpu1 claim-all 1 $POD $POD6 || fail "inject failed"
	slowwait $BOUND sh -c "[ \"\$(ip netns exec $H xpuctl splitns show --json |
		sed -n 's/.*\"peer_owned\":\([0-9]*\).*/\1/p')\" -gt 40000 ]" ||
		fail "the host half did not take the forged snapshot ($(peer_owned "$H") ports)"
	got=$(try_bind h tcp 9000)
	[ "$got" = EADDRINUSE ] || fail "a bind against the forged claims gave '$got'"
	got=$(h xpuctl splitns show)
	echo "$got" | grep -q "8080 host (socket)" || fail "the host half lost its own port: $got"
	[ "$(fetch d 8080)" = h ] || fail "the host's server is no longer reachable"
	kill -0 "$AGENT_h" || fail "the host's agent died"
	# The real DPU half's next snapshot (a bind there) puts things right.
	pid=$(serve d 6060)
	knows "$H" 6060 dpu || fail "the host half did not take the real DPU's snapshot"
	[ "$(peer_owned "$H")" = 1 ] || fail "the forged claims stayed: $(peer_owned "$H") ports"
	# The kernel took it; the agent's BPF program follows within the bound.
	slowwait $BOUND bind_ok h tcp 9000 ||
		fail "after the real snapshot, a bind of a free port gave '$(try_bind h tcp 9000)'"
	kill $pid
}

# IPv6 behaves as IPv4: ::1 and the pod's IPv6 address cross to the half that owns the port,
# an IPv6 bind of the other half's port gets EADDRINUSE, and a forged IPv6 frame from outside
# the pod for ::1 or a stranger address is dropped.
test_ipv6_both_ways() {
	local got out before
	setup_split
	out=$(h xpuctl splitns show)
	echo "$out" | head -n1
	echo "$out" | grep -q "addr $POD $POD6," || fail "splitns show does not give the IPv6 address"
	serve6 h tcp 8080 >/dev/null
	wait_listen h 8080
	knows "$D" 8080 host || fail "the DPU half did not learn the host's IPv6 socket's port"
	for a in ::1 $POD6; do
		got=$(ask d tcp $a 8080)
		echo "DPU -> [$a]:8080: $got"
		[ "$got" = "h $a" ] || fail "a DPU client of [$a]:8080 got '$got'"
	done
	# The dual-stack server's IPv4 clients still cross, as IPv4.
	got=$(ask d tcp 127.0.0.1 8080)
	[ "$got" = "h ::ffff:127.0.0.1" ] || fail "a DPU client of 127.0.0.1:8080 got '$got'"
	got=$(try_bind d tcp 8080 ::1)
	[ "$got" = EADDRINUSE ] || fail "the DPU half's IPv6 bind of the host's port gave '$got'"
	got=$(try_bind d udp 8080 ::)
	[ "$got" = EADDRINUSE ] || fail "the DPU half's UDP [::] bind of the host's port gave '$got'"
	# UDP the other way: a DNS-style resolver on the DPU half, asked by the host.
	serve6 d udp 5353 >/dev/null
	wait_listen d 5353 udp
	knows "$H" 5353 dpu || fail "the host half did not learn the resolver's port"
	for a in ::1 $POD6; do
		got=$(ask h udp $a 5353)
		[ "$got" = "d $a" ] || fail "the host's query to [$a]:5353 got '$got'"
	done
	# A hostile other half: IPv6 frames from outside the pod for ::1 (a martian) or for an
	# address that is not the pod's are dropped, as for IPv4.
	before=$(split_counter "$H" delivered)
	refused=$(split_counter "$H" refused)
	d python3 "$XPU_DIR/xpu_split_inject.py" xpu1 syn 8080 2001:db8::9 ::1 || fail "inject failed"
	d python3 "$XPU_DIR/xpu_split_inject.py" xpu1 syn 8080 2001:db8::9 fd00:78::99 ||
		fail "inject failed"
	sleep 1
	[ "$(split_counter "$H" delivered)" = "$before" ] || fail "the host half delivered a forged frame"
	[ "$(split_counter "$H" refused)" = $((refused + 2)) ] ||
		fail "the host half counted $(($(split_counter "$H" refused) - refused)) refused, not 2"
	# One from the DPU half's own address to ::1, as its lo would send: delivered.
	d python3 "$XPU_DIR/xpu_split_inject.py" xpu1 syn 8080 ::1 ::1 || fail "inject failed"
	slowwait 5 sh -c "[ \"\$(ip netns exec $H xpuctl splitns show --json |
		sed -n 's/.*\"delivered\":\([0-9]*\).*/\1/p')\" -gt $before ]" ||
		fail "the host half dropped a well-formed IPv6 frame"
	# Bad input: ::1 is no pod address. Refused with a reason, and nothing is split.
	d xpuctl splitns delete || fail "DPU half: delete failed"
	out=$(d xpuctl splitns create web --dev xpu1 --addr $POD --addr6 ::1 --half dpu 2>&1) &&
		fail "create with --addr6 ::1 succeeded"
	echo "$out"
	echo "$out" | grep -q "must be unicast, .* or v4-mapped: " || fail "the refusal does not say why: $out"
	d xpuctl splitns show | grep -q "not split" || fail "the refused create split the namespace"
}

xpu_require
command -v python3 >/dev/null || { ktap_skip_all "python3 not installed"; exit "$KSFT_SKIP"; }
# The agents attach to the root of the cgroup v2 hierarchy, mounted here outside /sys: `ip
# netns exec` mounts a fresh sysfs, without /sys/fs/cgroup's mount, for what it runs.
CGROUP=$(mktemp -d /tmp/xpu-cgroup.XXXXXX)
mount -t cgroup2 none "$CGROUP" || { ktap_skip_all "no cgroup v2 hierarchy"; exit "$KSFT_SKIP"; }
cleanup() {
	xpu_cleanup
	umount "$CGROUP" && rmdir "$CGROUP"
	rm -f /tmp/xpu-agent-$$-*.log
}
trap cleanup EXIT
modprobe xpu || { ktap_skip_all "modprobe xpu failed"; exit "$KSFT_SKIP"; }

ktap_print_header
ktap_set_plan 8
xpu_case "bind, listen, close, rebind: ownership follows sockets" test_bind_listen_close_rebind
xpu_case "a listener's accepted connection keeps its port" test_accepted_connection_keeps_port
xpu_case "UDP: a resolver on the DPU half answers the host over localhost; a closed port refuses" test_udp_resolver_on_dpu
xpu_case "a bind while the peer is away reaches it when it returns" test_peer_away
xpu_case "a restarted agent reconciles with the sockets" test_agent_restart
xpu_case "a bind storm of 2000 ports is claimed and freed" test_bind_storm
xpu_case "an other half that claims every port is refused, then corrected" test_peer_claims_every_port
xpu_case "IPv6: ::1 and the pod's IPv6 address, both ways" test_ipv6_both_ways
ktap_finished

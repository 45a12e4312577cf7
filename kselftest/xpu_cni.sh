#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# xpu-cni, the CNI plugin of split pods, driven directly as a runtime drives it (CNI_* in the
# environment, the network configuration on stdin, the result or the error object on stdout),
# as CNI's own plugin tests do, on the single-VM loop (tools/lab/vm.sh --ivshmem 2): the host
# side's function is the host node's pool, the DPU side's the DPU node's. A pod's host half and
# DPU half are two namespaces here, each made by the plugin of its half; the address comes from
# CNI's static IPAM plugin (Debian's containernetworking-plugins), as a node's IPAM would give it.

. "$(dirname "$(readlink -f "$0")")/xpu_lib.sh"

CNI_DIR=/usr/lib/cni
POD_ADDR=10.244.1.5
POD_GW=10.244.1.1	# chained after ptp: the DPU node's end of the pod's uplink
BIN= DATA=
HDEV= DDEV=

# conf HALF [EXTRA_JSON]: the network configuration of HALF's node, primary with static IPAM,
# its records in a directory of this run per node (two machines would each have their own; the
# guest's /var/lib is the host's, read-only).
conf() {
	printf '{"cniVersion":"1.0.0","name":"xpu-pods","type":"xpu-cni","half":"%s","dataDir":"%s/%s",%s"ipam":{"type":"static","addresses":[{"address":"%s/24"}]}}' \
		"$1" "$DATA" "$1" "${2:-}" "$POD_ADDR"
}

# conf_hl HALF [EXTRA_JSON]: the same with CNI's host-local IPAM, its leases in a directory of
# this run, and conf_hl11 at CNI 1.1.
conf_hl() {
	printf '{"cniVersion":"1.0.0","name":"xpu-pods","type":"xpu-cni","half":"%s","dataDir":"%s/%s",%s"ipam":{"type":"host-local","ranges":[[{"subnet":"10.244.2.0/24"}]],"dataDir":"%s/leases"}}' \
		"$1" "$DATA" "$1" "${2:-}" "$DATA"
}
conf_hl11() {
	conf_hl "$@" | sed 's/"cniVersion":"1.0.0"/"cniVersion":"1.1.0"/'
}

# ptp_conf: the DPU node's uplink plugin, CNI's ptp (a veth from the DPU half to the node's
# namespace, which routes for the pod; no masquerade), with static IPAM: the pod's address and
# the node's end as its gateway.
ptp_conf() {
	printf '{"cniVersion":"1.0.0","name":"xpu-edge","type":"ptp","ipam":{"type":"static","addresses":[{"address":"%s/24","gateway":"%s"}],"routes":[{"dst":"0.0.0.0/0"}]}}' \
		"$POD_ADDR" "$POD_GW"
}

# chained_conf PREV_RESULT: xpu-cni chained after ptp on the DPU node, with ptp's result.
chained_conf() {
	printf '{"cniVersion":"1.0.0","name":"xpu-edge","type":"xpu-cni","half":"dpu","dataDir":"%s/dpu","prevResult":%s}' \
		"$DATA" "$1"
}

# python3 -c "$SERVE_ONCE" ADDR PORT FILE WORD: takes one TCP connection on ADDR:PORT (60 s at
# most), writes the client's address to FILE and sends WORD.
SERVE_ONCE='
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], int(sys.argv[2])))
s.listen(1)
s.settimeout(60)
c, peer = s.accept()
open(sys.argv[3], "w").write(peer[0])
c.sendall(sys.argv[4].encode() + b"\n")
c.close()'

# cni COMMAND ID NETNS IFNAME CONF: runs the plugin; its stdout, and its exit status.
cni() {
	printf '%s' "$5" | env CNI_COMMAND="$1" CNI_CONTAINERID="$2" CNI_NETNS="$3" CNI_IFNAME="$4" \
		CNI_PATH="$CNI_DIR" "$BIN"
}

# json EXPR: evaluates a Python expression over the JSON on stdin (as `j`).
json() {
	python3 -c "import json, sys; j = json.load(sys.stdin); print($1)"
}

# conf11 HALF [EXTRA_JSON]: the same at CNI 1.1, which STATUS and GC need (a runtime sends
# neither below it).
conf11() {
	conf "$@" | sed 's/"cniVersion":"1.0.0"/"cniVersion":"1.1.0"/'
}

# cni_ok COMMAND ID NETNS IFNAME CONF: whether the plugin succeeds (for slowwait).
cni_ok() {
	cni "$@" >/dev/null
}

# error_code OUTPUT: the error object's code, or "none".
error_code() {
	printf '%s' "$1" | json 'j.get("code", "none")' 2>/dev/null || echo none
}

setup_cni() {
	pci_sides
	# The pool is the links no one uses: down (a case before may have left them up).
	ip link set "$HDEV" down && ip link set "$DDEV" down || fail "cannot set the pool's links down"
	[ -x "$CNI_DIR/static" ] || skip "CNI's static IPAM plugin is not installed ($CNI_DIR/static: containernetworking-plugins)"
	DATA=$(mktemp -d /tmp/xpu-cni.XXXXXX)
	BIN=$DATA/xpu-cni
	ln -s "$(command -v xpuctl)" "$BIN" || fail "cannot link xpu-cni to xpuctl"
}

test_version_and_bad_input() {
	local out
	setup_cni
	out=$(echo '{"cniVersion":"1.0.0"}' | CNI_COMMAND=VERSION "$BIN") || fail "VERSION failed: $out"
	[ "$(echo "$out" | json '",".join(j["supportedVersions"])')" = "1.0.0,1.1.0" ] ||
		fail "VERSION: $out"
	# No CNI_COMMAND: not run by a runtime (4, invalid environment).
	out=$(echo '{}' | "$BIN") && fail "ran without CNI_COMMAND"
	[ "$(error_code "$out")" = 4 ] || fail "no CNI_COMMAND: $out"
	out=$(cni ADD c1 /run/netns/none eth0 '{"cniVersion":"1.0.0",') && fail "took broken JSON"
	[ "$(error_code "$out")" = 6 ] || fail "broken JSON: $out"
	out=$(cni ADD c1 /run/netns/none eth0 '{"cniVersion":"0.3.1","name":"n","type":"xpu-cni"}') &&
		fail "took cniVersion 0.3.1"
	[ "$(error_code "$out")" = 1 ] || fail "cniVersion 0.3.1: $out"
	out=$(cni ADD 'c/1' /run/netns/none eth0 "$(conf host)") && fail "took a container ID with /"
	[ "$(error_code "$out")" = 4 ] || fail "container ID with /: $out"
	# Nothing was taken from the pool.
	link_exists "$HDEV" && link_exists "$DDEV" || fail "a refused call moved a link"
}

# The pod's two halves, each made by its node's plugin; then CHECK, the pool, DEL.
test_add_check_del() {
	local h d out added other hcheck dcheck hid oid
	setup_cni
	h=$(xpu_netns podh) && d=$(xpu_netns podd) || fail "cannot create namespaces"
	# A link the node uses (up: its control link, say) is not the pool's (100).
	ip link set "$HDEV" up || fail "cannot set $HDEV up"
	out=$(cni ADD pod1 "/run/netns/$h" eth0 "$(conf host)") && fail "ADD took a link that is up"
	[ "$(error_code "$out")" = 100 ] || fail "ADD with the only host link up: $out"
	ip link set "$HDEV" down || fail "cannot set $HDEV down"
	out=$(cni ADD pod1 "/run/netns/$h" eth0 "$(conf host)") || fail "host ADD: $out"
	echo "host ADD: $out"
	added=$out
	# CHECK's input: the configuration with the result of the ADD it checks (prevResult), as
	# a runtime passes it.
	hcheck=$(conf host "\"prevResult\":$added,")
	[ "$(echo "$out" | json 'j["interfaces"][0]["name"] + " " + j["interfaces"][0]["sandbox"]')" = "eth0 /run/netns/$h" ] ||
		fail "host ADD: interfaces: $out"
	[ "$(echo "$out" | json 'j["ips"][0]["address"] + " " + j["routes"][0]["dst"] + " " + j["routes"][0]["gw"]')" = "$POD_ADDR/32 0.0.0.0/0 169.254.1.1" ] ||
		fail "host ADD: ips and routes: $out"
	link_exists "$HDEV" && fail "the host function's netdev is still in the runtime's namespace"
	ip -n "$h" -d link show eth0 | grep -q 'portname host' || fail "eth0 in the pod is not the host function"
	ip -n "$h" addr show eth0 | grep -q "inet $POD_ADDR/32" || fail "eth0 has not the pod address"
	# A second pod: the pool has no host link left (100), and STATUS says so (50).
	out=$(cni ADD pod2 "/run/netns/$d" eth0 "$(conf host)") && fail "a second pod got a link"
	[ "$(error_code "$out")" = 100 ] || fail "second pod: $out"
	out=$(cni STATUS "" "" "" "$(conf11 host)") && fail "STATUS: ready with an empty pool"
	[ "$(error_code "$out")" = 50 ] || fail "STATUS with an empty pool: $out"
	# The same attachment again is refused, and changes nothing.
	out=$(cni ADD pod1 "/run/netns/$h" eth0 "$(conf host)") && fail "ADD twice"
	[ "$(error_code "$out")" = 7 ] || fail "ADD twice: $out"
	# Alone, the host half is not paired: CHECK fails.
	# Without the result of its ADD, CHECK is refused (7), as CNI's own plugins refuse it.
	out=$(cni CHECK pod1 "/run/netns/$h" eth0 "$(conf host)") && fail "CHECK passed without prevResult"
	[ "$(error_code "$out")" = 7 ] && echo "$out" | grep -q prevResult ||
		fail "CHECK without prevResult: $out"
	out=$(cni CHECK pod1 "/run/netns/$h" eth0 "$hcheck") && fail "CHECK passed with no DPU half"
	[ "$(error_code "$out")" = 101 ] && echo "$out" | grep -q "not paired" ||
		fail "CHECK with no DPU half: $out"
	# The DPU node's plugin makes the other half, on the other end of the host half's link:
	# the link of the number the runtime names (the DPU's agent names the host half's), and no
	# other.
	hid=$(ip netns exec "$h" xpuctl splitns show --json | json 'j["link_id"] or sys.exit(1)') ||
		fail "splitns show in the host half gives no link number: $(ip netns exec "$h" xpuctl splitns show --json)"
	oid=$(printf '%08x' $((0x$hid ^ 1)))
	out=$(CNI_ARGS="IgnoreUnknown=1;XPU_LINK_ID=$oid" cni ADD pod1 "/run/netns/$d" eth0 "$(conf dpu)") &&
		fail "DPU ADD took link $hid for link $oid"
	[ "$(error_code "$out")" = 100 ] && echo "$out" | grep -q "$oid" || fail "DPU ADD for another link: $out"
	out=$(CNI_ARGS="IgnoreUnknown=1;XPU_LINK_ID=$DDEV" cni ADD pod1 "/run/netns/$d" eth0 "$(conf dpu)") &&
		fail "DPU ADD took a link's name for its number"
	[ "$(error_code "$out")" = 4 ] || fail "DPU ADD with XPU_LINK_ID=$DDEV: $out"
	link_exists "$DDEV" || fail "a refused DPU ADD moved the DPU link"
	out=$(CNI_ARGS="IgnoreUnknown=1;XPU_LINK_ID=$hid" cni ADD pod1 "/run/netns/$d" eth0 "$(conf dpu)") ||
		fail "DPU ADD: $out"
	dcheck=$(conf dpu "\"prevResult\":$out,")
	ip -n "$d" -d link show eth0 | grep -q 'portname dpu' || fail "eth0 in the DPU half is not the DPU function"
	# Paired; CHECK passes the static IPAM plugin's CHECK too (delegated).
	slowwait 15 cni_ok CHECK pod1 "/run/netns/$h" eth0 "$hcheck" ||
		fail "CHECK (host) after both halves: $(cni CHECK pod1 "/run/netns/$h" eth0 "$hcheck")"
	slowwait 15 cni_ok CHECK pod1 "/run/netns/$d" eth0 "$dcheck" ||
		fail "CHECK (DPU): $(cni CHECK pod1 "/run/netns/$d" eth0 "$dcheck")"
	# CHECK holds the attachment to the result of its ADD: one with another address is
	# refused (102).
	other=$(printf '%s' "$added" | sed "s|\"$POD_ADDR/32\"|\"10.244.1.99/32\"|")
	[ "$other" != "$added" ] || fail "no address to change in $added"
	out=$(cni CHECK pod1 "/run/netns/$h" eth0 "$(conf host "\"prevResult\":$other,")") &&
		fail "CHECK passed against a result with another address"
	[ "$(error_code "$out")" = 102 ] || fail "CHECK against a result with another address: $out"
	# Split and paired: a program on the host half reaches one on the DPU half over localhost.
	ip netns exec "$d" xpuctl port add 9090 || fail "port add"
	ip netns exec "$d" sh -c 'echo dpu-half | timeout 30 nc -N -l 127.0.0.1 9090 >/dev/null 2>&1' &
	slowwait 10 sh -c "ip netns exec $d ss -Htln 'sport = :9090' | grep -q ." || fail "no listener"
	out=$(ip netns exec "$h" nc -w 10 127.0.0.1 9090 </dev/null)
	[ "$out" = dpu-half ] || fail "host half to DPU half over localhost: '$out'"
	wait
	# DEL: the split goes, the link returns under its own name; DEL again is fine.
	out=$(cni DEL pod1 "/run/netns/$h" eth0 "$(conf host)") || fail "host DEL: $out"
	slowwait 5 link_exists "$HDEV" || fail "the host function did not return as $HDEV"
	[ "$(ip netns exec "$h" xpuctl splitns show)" = "not split" ] ||
		fail "the host half is still split after DEL: $(ip netns exec "$h" xpuctl splitns show)"
	cni DEL pod1 "/run/netns/$h" eth0 "$(conf host)" >/dev/null || fail "DEL twice"
	out=$(cni CHECK pod1 "/run/netns/$h" eth0 "$hcheck") && fail "CHECK after DEL"
	[ "$(error_code "$out")" = 3 ] || fail "CHECK after DEL: $out"
	# The DPU half's namespace goes first (a runtime may do that): the kernel hands the link
	# back to this namespace, and DEL gives it its name again.
	ip netns del "$d"
	out=$(cni DEL pod1 "/run/netns/$d" eth0 "$(conf dpu)") || fail "DPU DEL without its namespace: $out"
	slowwait 5 link_exists "$DDEV" || fail "the DPU function did not return as $DDEV"
	out=$(cni STATUS "" "" "" "$(conf11 host)") || fail "STATUS with the link back: $out"
}

# GC removes what the runtime no longer lists, and has IPAM release its addresses; it keeps
# what the runtime lists.
test_gc() {
	local h d l out valid gone lost
	setup_cni
	[ -x "$CNI_DIR/host-local" ] || skip "CNI's host-local IPAM plugin is not installed"
	h=$(xpu_netns podh) && d=$(xpu_netns podd) || fail "cannot create namespaces"
	cni ADD keep "/run/netns/$h" eth0 "$(conf host)" >/dev/null || fail "ADD keep"
	gone=$(cni ADD gone "/run/netns/$d" eth0 "$(conf_hl dpu)") || fail "ADD gone: $gone"
	# host-local leased it an address: a file named by the address names the attachment.
	grep -rqs gone "$DATA/leases" || fail "host-local leased gone no address"
	# Without the list of what is valid, GC refuses rather than remove everything.
	out=$(cni GC "" "" "" "$(conf11 host)") && fail "GC without valid-attachments"
	[ "$(error_code "$out")" = 7 ] || fail "GC without valid-attachments: $out"
	valid='"cni.dev/valid-attachments":[{"containerID":"keep","ifname":"eth0"}],'
	out=$(cni GC "" "" "" "$(conf11 host "$valid")") || fail "GC (host): $out"
	out=$(cni GC "" "" "" "$(conf_hl11 dpu "$valid")") || fail "GC (DPU): $out"
	slowwait 5 link_exists "$DDEV" || fail "GC left the DPU link of the unlisted pod"
	link_exists "$HDEV" && fail "GC took the host link of a listed pod"
	# Debian's host-local speaks CNI 1.0, older than GC: the plugin had it DEL gone's address.
	grep -rqs gone "$DATA/leases" && fail "GC left gone's address leased: $(grep -rl gone "$DATA/leases")"
	out=$(cni CHECK gone "/run/netns/$d" eth0 "$(conf_hl dpu "\"prevResult\":$gone,")") &&
		fail "CHECK passed for a pod GC removed"
	[ "$(error_code "$out")" = 3 ] || fail "CHECK of a pod GC removed: $out"
	# A DEL that finds no record (its dataDir lost) has IPAM release the address all the same,
	# given the result of ADD as prevResult, as a runtime gives it to every plugin's DEL.
	l=$(xpu_netns podl) || fail "cannot create a namespace"
	lost=$(cni ADD lost "/run/netns/$l" eth0 "$(conf_hl dpu '"ownershipAgent":false,')") ||
		fail "ADD lost: $lost"
	grep -rqs lost "$DATA/leases" || fail "host-local leased lost no address"
	rm "$DATA/dpu/xpu-pods/lost:eth0.json" || fail "ADD wrote no record for lost"
	out=$(cni DEL lost "/run/netns/$l" eth0 \
		"$(conf_hl dpu "\"ownershipAgent\":false,\"prevResult\":$lost,")") ||
		fail "DEL without a record: $out"
	grep -rqs lost "$DATA/leases" && fail "a DEL without a record left lost's address leased"
	# Without a record, nothing took the link home: its namespace's end gives it back.
	ip netns del "$l"
	slowwait 5 role_dev "" dpu >/dev/null || fail "the DPU function did not come back"
	[ "$(role_dev "" dpu)" = "$DDEV" ] || ip link set "$(role_dev "" dpu)" name "$DDEV" ||
		fail "cannot give the DPU function its name back"
	cni DEL keep "/run/netns/$h" eth0 "$(conf host)" >/dev/null || fail "DEL keep"
	slowwait 5 link_exists "$HDEV" || fail "DEL did not return the host link"
}

# Chained on the DPU node after CNI's ptp, which gives the DPU half its uplink (a veth to the
# node's namespace, here this one) and the pod's address, as a runtime runs a network of the
# two: the DPU half is the pod's edge. A client outside the pod (this namespace) reaches the
# application on the host half at the pod address, and the application sees the client's
# address; the application reaches a server outside, which sees the pod address. No port is
# registered by hand (each half's ownership agent, which ADD starts, claims them). DEL in
# reverse leaves nothing.
test_chained_edge() {
	local h d out prev chained hid seen uplink server
	setup_cni
	[ -x "$CNI_DIR/ptp" ] || skip "CNI's ptp plugin is not installed ($CNI_DIR/ptp)"
	h=$(xpu_netns podh) && d=$(xpu_netns podd) || fail "cannot create namespaces"
	out=$(cni ADD edge "/run/netns/$h" eth0 "$(conf host)") || fail "host ADD: $out"
	hid=$(ip netns exec "$h" xpuctl splitns show --json | json 'j["link_id"] or sys.exit(1)') ||
		fail "no link number in the host half"
	prev=$(BIN=$CNI_DIR/ptp cni ADD edge "/run/netns/$d" eth0 "$(ptp_conf)") || fail "ptp ADD: $prev"
	# ptp's end in this namespace, which DEL must take away.
	uplink=$(echo "$prev" | json 'j["interfaces"][0]["name"]')
	ip link show "$uplink" >/dev/null 2>&1 || fail "ptp made no uplink here: $prev"
	chained=$(chained_conf "$prev")
	out=$(CNI_ARGS="IgnoreUnknown=1;XPU_LINK_ID=$hid" cni ADD edge "/run/netns/$d" eth0 "$chained") ||
		fail "xpu-cni ADD after ptp: $out"
	# The result is ptp's with the link added: ptp's two interfaces, the link, ptp's address.
	[ "$(echo "$out" | json '" ".join(i["name"] for i in j["interfaces"][1:])')" = "eth0 xpu0" ] &&
		[ "$(echo "$out" | json 'j["ips"][0]["address"]')" = "$POD_ADDR/24" ] ||
		fail "the chained result: $out"
	ip -n "$d" -d link show xpu0 | grep -q 'portname dpu' || fail "the DPU half has no link xpu0"
	# Outside to the application: its port is the host half's once it listens.
	ip netns exec "$h" python3 -c "$SERVE_ONCE" 0.0.0.0 8080 "$DATA/seen-in" host-half &
	server=$!
	slowwait 20 sh -c "ip netns exec $d xpuctl splitns show | grep -Eq '^ +8080 host'" ||
		fail "8080 is not the host half's on the DPU half: $(ip netns exec "$d" xpuctl splitns show)"
	out=$(nc -w 10 "$POD_ADDR" 8080 </dev/null)
	wait "$server"
	[ "$out" = host-half ] || fail "outside to the application at $POD_ADDR:8080: '$out'"
	seen=$(cat "$DATA/seen-in" 2>/dev/null)
	[ "$seen" = "$POD_GW" ] || fail "the application saw the client as '$seen', not $POD_GW"
	# The application to a server outside, which sees the pod address.
	python3 -c "$SERVE_ONCE" "$POD_GW" 9999 "$DATA/seen-out" outside &
	server=$!
	slowwait 10 sh -c "ss -Htln 'sport = :9999' | grep -q ." || fail "no server outside"
	out=$(ip netns exec "$h" nc -w 10 "$POD_GW" 9999 </dev/null)
	wait "$server"
	[ "$out" = outside ] || fail "the application to a server outside: '$out'"
	seen=$(cat "$DATA/seen-out" 2>/dev/null)
	[ "$seen" = "$POD_ADDR" ] || fail "the server outside saw the pod as '$seen', not $POD_ADDR"
	# DEL in reverse order of the chain, then the host's.
	out=$(cni DEL edge "/run/netns/$d" eth0 "$chained") || fail "xpu-cni DEL after ptp: $out"
	out=$(BIN=$CNI_DIR/ptp cni DEL edge "/run/netns/$d" eth0 "$(ptp_conf)") || fail "ptp DEL: $out"
	out=$(cni DEL edge "/run/netns/$h" eth0 "$(conf host)") || fail "host DEL: $out"
	slowwait 5 link_exists "$DDEV" && slowwait 5 link_exists "$HDEV" || fail "a link did not return"
	[ -z "$(ip -n "$d" -o link show type veth)" ] && ! ip link show "$uplink" >/dev/null 2>&1 ||
		fail "ptp's uplink is left: $(ip -o link show type veth) $(ip -n "$d" -o link show type veth)"
	[ -z "$(find "$DATA/host" "$DATA/dpu" -name '*.json' 2>/dev/null)" ] ||
		fail "records left: $(find "$DATA/host" "$DATA/dpu" -name '*.json')"
}

xpu_begin 5
command -v python3 >/dev/null && command -v xpuctl >/dev/null && command -v nc >/dev/null ||
	{ ktap_skip_all "python3, xpuctl and nc are needed"; exit "$KSFT_SKIP"; }
xpu_case "xpu-cni: VERSION, and bad environments, JSON and versions get CNI error objects" test_version_and_bad_input
xpu_case "xpu-cni: a pod's halves by each node's ADD, CHECK paired, the pool, DEL idempotent" test_add_check_del
xpu_case "xpu-cni: GC undoes the attachments the runtime does not list; DEL without a record frees the address" test_gc
xpu_case "xpu-cni: chained after ptp on the DPU, the DPU half is the pod's edge, both ways" test_chained_edge
xpu_end

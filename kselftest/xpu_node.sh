#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# The node kernel does what pods and their sidecars need (issue 12, "a node kernel"). A pod
# namespace $P is joined to an "outside" namespace $O by a veth pair (in the last case, an xpu
# pair link). In the pod, Istio's interception rules as its init container writes them
# (iptables-restore, nft backend) send inbound TCP to a proxy on 15006 and outbound to 15001,
# for IPv4 and IPv6; the proxy (xpu_sidecar.py, running as the sidecar's UID 1337) recovers the
# original destination with SO_ORIGINAL_DST / IP6T_SO_ORIGINAL_DST and connects to it, and its
# own traffic is not intercepted again. Then TPROXY as Istio's TPROXY mode writes it (mangle
# table, a policy route, an IP_TRANSPARENT listener), and the nftables form of the redirect
# rules (one inet table for both families).
#
# Every case asserts the addresses the programs actually saw, so a missing rule fails it:
# XPU_NODE_OMIT=REGEX leaves out the rule lines (and policy-route commands) that match REGEX,
# e.g. XPU_NODE_OMIT='uid-owner 1337 -j RETURN' shows the proxy looping on its own traffic.
# A missing tool or kernel feature fails the case with a message: the lab is meant to have them.

. "$(dirname "$(readlink -f "$0")")/xpu_lib.sh"

P="" O=""
DEV_P=eth0 DEV_O=eth0
LINK=veth
SIDECAR=$XPU_DIR/xpu_sidecar.py
WORK=
POD4=10.88.0.2 OUT4=10.88.0.1
POD6=fd00:88::2 OUT6=fd00:88::1
APP=8080 SVC=9090
UID_PROXY=1337

p() { ip netns exec "$P" "$@"; }
o() { ip netns exec "$O" "$@"; }

# omit: stdin to stdout without the lines that match $XPU_NODE_OMIT (nothing left out if unset).
omit() {
	if [ -n "${XPU_NODE_OMIT:-}" ]; then grep -vE -- "$XPU_NODE_OMIT" || true; else cat; fi
}

# hp HOST PORT: an endpoint as the proxy logs it ([v6]:port, v4:port).
hp() {
	case $1 in *:*) echo "[$1]:$2" ;; *) echo "$1:$2" ;; esac
}

# nlines FILE: lines in FILE, 0 if there is none.
nlines() {
	if [ -f "$1" ]; then wc -l <"$1"; else echo 0; fi
}

# field FILE N KEY: KEY of the Nth JSON line of FILE.
field() {
	python3 -c 'import json, sys
lines = open(sys.argv[1]).read().splitlines()
print(json.loads(lines[int(sys.argv[2]) - 1]).get(sys.argv[3], ""))' "$@" 2>/dev/null
}

# need CMD...: each CMD must be installed; the lab installs them (tools/lab/deps.sh).
need() {
	local c
	for c in "$@"; do
		command -v "$c" >/dev/null ||
			fail "$c is not installed: tools/lab/deps.sh installs it on the host the VM sees"
	done
}

# setup_pod: $P and $O joined by $LINK, both families addressed, and Istio's ::6 on the pod's lo.
setup_pod() {
	P=$(xpu_netns pod) && O=$(xpu_netns out) || fail "cannot create namespaces"
	case $LINK in
	veth)
		ip -n "$P" link add $DEV_P type veth peer name $DEV_O netns "$O" ||
			fail "cannot create the veth pair"
		;;
	xpu)
		p xpuctl link add $DEV_P --peer $DEV_O --peer-netns "$O" ||
			fail "cannot create the xpu pair link"
		;;
	esac
	ip -n "$P" addr add $POD4/24 dev $DEV_P
	ip -n "$O" addr add $OUT4/24 dev $DEV_O
	# nodad: usable at once, not after duplicate address detection's second or two
	ip -n "$P" addr add $POD6/64 dev $DEV_P nodad
	ip -n "$O" addr add $OUT6/64 dev $DEV_O nodad
	ip -n "$P" link set $DEV_P up
	ip -n "$O" link set $DEV_O up
	# Istio's inbound passthrough connects from ::6 (127.0.0.6 for IPv4, which lo's /8 has);
	# its init container adds it, as IPv6's loopback is only ::1/128.
	ip -n "$P" -6 addr add ::6/128 dev lo nodad
	rm -f "$WORK"/*
}

# wait_listen NS PORT 4|6 [LOG]: until something listens on TCP PORT in NS, that family.
wait_listen() {
	slowwait 60 sh -c "ip netns exec $1 ss -Htln$3 'sport = :$2' | grep -q ." && return 0
	[ -n "${4:-}" ] && cat "$4"
	fail "nothing listens on IPv$3 port $2 in $1"
}

# Background programs write to files: they must not hold the case's output pipe.
# proxy NAME ARGS...: the sidecar in the pod, logging to $WORK/NAME.log.
proxy() {
	local name=$1
	shift
	p python3 "$SIDECAR" proxy --log "$WORK/$name.log" "$@" >"$WORK/$name.err" 2>&1 &
}

# server NS NAME FAMILY PORT: a service in NS that answers with the addresses it sees.
server() {
	ip netns exec "$1" python3 "$SIDECAR" server --family "$3" --port "$4" --log "$WORK/$2.log" \
		>"$WORK/$2.err" 2>&1 &
}

# istio_iptables 4|6: the nat rules of Istio's REDIRECT mode, as `istio-iptables -p 15001
# -z 15006 -u 1337 -m REDIRECT -i '*' -b '*' -d 15090,15021,15020` writes them (its
# testdata/*.golden), through iptables-restore or ip6tables-restore. One addition: packets
# marked 1337 are exempt as in Istio's TPROXY mode (Envoy's original_src marks its upstream).
istio_iptables() {
	local restore=iptables-restore lo=127.0.0.1/32 six=127.0.0.6/32
	[ "$1" = 6 ] && restore=ip6tables-restore lo=::1/128 six=::6/128
	need $restore
	omit <<-EOF | p $restore --noflush || fail "$restore refused Istio's nat rules"
		*nat
		:ISTIO_INBOUND - [0:0]
		:ISTIO_IN_REDIRECT - [0:0]
		:ISTIO_OUTPUT - [0:0]
		:ISTIO_REDIRECT - [0:0]
		-A PREROUTING -p tcp -j ISTIO_INBOUND
		-A OUTPUT -p tcp -j ISTIO_OUTPUT
		-A ISTIO_INBOUND -p tcp --dport 15008 -j RETURN
		-A ISTIO_INBOUND -p tcp -m multiport --dports 15090,15021,15020 -m comment --comment "istio: the sidecar's own ports" -j RETURN
		-A ISTIO_INBOUND -p tcp -j ISTIO_IN_REDIRECT
		-A ISTIO_IN_REDIRECT -p tcp -j REDIRECT --to-ports 15006
		-A ISTIO_REDIRECT -p tcp -j REDIRECT --to-ports 15001
		-A ISTIO_OUTPUT -s $six -o lo -j RETURN
		-A ISTIO_OUTPUT ! -d $lo -o lo -p tcp ! --dport 15008 -m owner --uid-owner 1337 -j ISTIO_IN_REDIRECT
		-A ISTIO_OUTPUT -o lo -m owner ! --uid-owner 1337 -j RETURN
		-A ISTIO_OUTPUT -m owner --uid-owner 1337 -j RETURN
		-A ISTIO_OUTPUT ! -d $lo -o lo -p tcp ! --dport 15008 -m owner --gid-owner 1337 -j ISTIO_IN_REDIRECT
		-A ISTIO_OUTPUT -o lo -m owner ! --gid-owner 1337 -j RETURN
		-A ISTIO_OUTPUT -m owner --gid-owner 1337 -j RETURN
		-A ISTIO_OUTPUT -m mark --mark 1337 -j RETURN
		-A ISTIO_OUTPUT -d $lo -j RETURN
		-A ISTIO_OUTPUT -j ISTIO_REDIRECT
		COMMIT
	EOF
}

# check_inbound 4|6: a client outside connects to the pod's application port; the proxy on
# 15006 gets it with the original destination and the client's address, and reaches the
# application from Istio's passthrough source (127.0.0.6 / ::6) without being redirected again.
check_inbound() {
	local pod=$POD4 out=$OUT4 six=127.0.0.6 reply want
	[ "$1" = 6 ] && pod=$POD6 out=$OUT6 six=::6
	server "$P" "app$1" "$1" $APP
	proxy "in$1" --family "$1" --port 15006 --uid $UID_PROXY --bind-src $six
	wait_listen "$P" $APP "$1" "$WORK/app$1.err"
	wait_listen "$P" 15006 "$1" "$WORK/in$1.err"
	reply=$(o python3 "$SIDECAR" client --dst $pod --port $APP 2>&1) ||
		fail "the client outside could not reach $(hp $pod $APP): $reply"
	echo "client: $reply"
	[ "$(nlines "$WORK/in$1.log")" = 1 ] ||
		fail "the proxy on 15006 accepted $(nlines "$WORK/in$1.log") connections, not 1 (no inbound interception, or a loop): $(cat "$WORK/in$1.log" 2>/dev/null)"
	want=$(hp $pod $APP)
	[ "$(field "$WORK/in$1.log" 1 orig)" = "$want" ] ||
		fail "SO_ORIGINAL_DST gave '$(field "$WORK/in$1.log" 1 orig)$(field "$WORK/in$1.log" 1 orig_error)', not $want"
	case $(field "$WORK/in$1.log" 1 peer) in
	"$(hp $out '')"*) ;;
	*) fail "the proxy saw the connection from $(field "$WORK/in$1.log" 1 peer), not from the client at $out" ;;
	esac
	[ "$(nlines "$WORK/app$1.log")" = 1 ] ||
		fail "the application accepted $(nlines "$WORK/app$1.log") connections, not 1"
	case $(field "$WORK/app$1.log" 1 peer) in
	"$(hp $six '')"*) ;;
	*) fail "the application saw $(field "$WORK/app$1.log" 1 peer), not the proxy's passthrough source $six" ;;
	esac
	case $reply in
	*"proxy orig=$want upstream=server peer=$(hp $six '')"*) ;;
	*) fail "the reply did not come from the application through the proxy: $reply" ;;
	esac
}

# check_outbound 4|6: the application in the pod connects to a service outside; the proxy on
# 15001 gets it with the original destination, connects there itself as UID 1337, and the
# service sees one connection, from the pod's address (the proxy's own traffic is not looped
# back to 15001). A client running as 1337, or marking its packets 1337, is not intercepted.
check_outbound() {
	local pod=$POD4 out=$OUT4 reply want
	[ "$1" = 6 ] && pod=$POD6 out=$OUT6
	server "$O" "svc$1" "$1" $SVC
	proxy "out$1" --family "$1" --port 15001 --uid $UID_PROXY
	wait_listen "$O" $SVC "$1" "$WORK/svc$1.err"
	wait_listen "$P" 15001 "$1" "$WORK/out$1.err"
	reply=$(p python3 "$SIDECAR" client --dst $out --port $SVC 2>&1) ||
		fail "the application could not reach $(hp $out $SVC): $reply"
	echo "application: $reply"
	want=$(hp $out $SVC)
	[ "$(nlines "$WORK/out$1.log")" -ge 1 ] ||
		fail "the proxy on 15001 saw no connection: outbound was not intercepted"
	[ "$(nlines "$WORK/out$1.log")" = 1 ] ||
		fail "the proxy accepted $(nlines "$WORK/out$1.log") connections, not 1: its own traffic (UID 1337) came back to it: $(head -n3 "$WORK/out$1.log")"
	[ "$(field "$WORK/out$1.log" 1 orig)" = "$want" ] ||
		fail "SO_ORIGINAL_DST gave '$(field "$WORK/out$1.log" 1 orig)$(field "$WORK/out$1.log" 1 orig_error)', not $want"
	case $(field "$WORK/out$1.log" 1 peer) in
	"$(hp $pod '')"*) ;;
	*) fail "the proxy saw the application at $(field "$WORK/out$1.log" 1 peer), not at $pod" ;;
	esac
	[ "$(nlines "$WORK/svc$1.log")" = 1 ] ||
		fail "the service accepted $(nlines "$WORK/svc$1.log") connections, not 1"
	case $reply in
	*"proxy orig=$want upstream=server peer=$(hp $pod '')"*) ;;
	*) fail "the reply did not come from the service through the proxy: $reply" ;;
	esac
	# The exemptions: the sidecar's UID, and the mark.
	reply=$(p python3 "$SIDECAR" client --dst $out --port $SVC --uid $UID_PROXY 2>&1) ||
		fail "a client with UID $UID_PROXY could not reach the service: $reply"
	echo "UID $UID_PROXY: $reply"
	case $reply in
	*"server peer=$(hp $pod '')"*) ;;
	*) fail "UID $UID_PROXY's connection was intercepted: $reply" ;;
	esac
	reply=$(p python3 "$SIDECAR" client --dst $out --port $SVC --mark 1337 2>&1) ||
		fail "a client marking 1337 could not reach the service: $reply"
	echo "mark 1337: $reply"
	case $reply in
	*"server peer=$(hp $pod '')"*) ;;
	*) fail "the connection marked 1337 was intercepted: $reply" ;;
	esac
	[ "$(nlines "$WORK/out$1.log")" = 1 ] || fail "the proxy saw an exempt connection"
}

test_tools() {
	local v
	need iptables ip6tables iptables-restore ip6tables-restore nft python3 ss
	for t in iptables ip6tables; do
		v=$($t -V) || fail "$t -V failed"
		echo "$v"
		case $v in
		*nf_tables*) ;;
		*) fail "$t is '$v', not the nft backend (the lab kernel has no legacy tables): update-alternatives --set $t /usr/sbin/$t-nft" ;;
		esac
	done
	nft --version
	P=$(xpu_netns tools) || fail "cannot create a namespace"
	# iptables-nft programs nf_tables: its nat chain is an nft chain the kernel lists.
	p iptables -t nat -N XPU_PROBE || fail "iptables cannot make a nat chain: no NF_NAT/NFT_NAT/NFT_COMPAT?"
	p ip6tables -t nat -N XPU_PROBE || fail "ip6tables cannot make a nat chain (IPv6 NAT)"
	p nft list table ip nat | grep -q 'chain XPU_PROBE' || fail "nft does not list iptables' chain"
	p nft add table inet xpu_probe || fail "nft cannot make an inet table: no NF_TABLES_INET?"
	p nft list tables | grep -qx 'table inet xpu_probe' || fail "nft does not list its inet table"
}

test_istio_inbound4() {
	setup_pod
	istio_iptables 4
	check_inbound 4
}

test_istio_outbound4() {
	setup_pod
	istio_iptables 4
	check_outbound 4
}

test_istio_inbound6() {
	setup_pod
	istio_iptables 6
	check_inbound 6
}

test_istio_outbound6() {
	setup_pod
	istio_iptables 6
	check_outbound 6
}

# TPROXY as Istio's TPROXY mode writes inbound capture (mangle; its tproxy.golden), both
# families. The outside routes a service prefix via the pod, so the destination is not an
# address of the pod: only TPROXY with the policy route delivers it, to the IP_TRANSPARENT
# listener on 15006, and the packet is not rewritten (the accepted socket's own address is the
# original destination).
test_tproxy() {
	local fam restore lo svc pod out dst reply n
	setup_pod
	ip -n "$O" route add 10.99.0.0/24 via $POD4
	ip -n "$O" -6 route add fd00:99::/64 via $POD6
	for fam in 4 6; do
		restore=iptables-restore lo=127.0.0.1/32
		[ $fam = 6 ] && restore=ip6tables-restore lo=::1/128
		need $restore
		omit <<-EOF | p $restore --noflush || fail "$restore refused the TPROXY rules"
			*mangle
			:ISTIO_DIVERT - [0:0]
			:ISTIO_TPROXY - [0:0]
			:ISTIO_INBOUND - [0:0]
			-A PREROUTING -p tcp -j ISTIO_INBOUND
			-A PREROUTING -p tcp -m mark --mark 1337 -j CONNMARK --save-mark
			-A OUTPUT -p tcp -m connmark --mark 1337 -j CONNMARK --restore-mark
			-A ISTIO_INBOUND -p tcp -m mark --mark 1337 -j RETURN
			-A ISTIO_INBOUND -p tcp -i lo -j RETURN
			-A ISTIO_INBOUND -p tcp -m socket --transparent -j ISTIO_DIVERT
			-A ISTIO_INBOUND -p tcp -m conntrack --ctstate RELATED,ESTABLISHED -j ISTIO_DIVERT
			-A ISTIO_INBOUND -p tcp -j ISTIO_TPROXY
			-A ISTIO_DIVERT -j MARK --set-mark 1337
			-A ISTIO_DIVERT -j ACCEPT
			-A ISTIO_TPROXY ! -d $lo -p tcp -j TPROXY --tproxy-mark 1337/0xffffffff --on-port 15006
			COMMIT
		EOF
		# Marked packets are delivered locally (Istio's table 133).
		omit <<-EOF | p ip -$fam -batch - || fail "cannot add the IPv$fam policy route"
			rule add fwmark 1337 lookup 133
			route add local default dev lo table 133
		EOF
		# Istio runs the proxy as root in this mode: IP_TRANSPARENT needs CAP_NET_ADMIN.
		proxy tp$fam --family $fam --port 15006 --transparent --no-upstream
	done
	wait_listen "$P" 15006 4 "$WORK/tp4.err"
	wait_listen "$P" 15006 6 "$WORK/tp6.err"
	for fam in 4 6; do
		n=0
		svc=10.99.0.7 pod=$POD4 out=$OUT4
		[ $fam = 6 ] && svc=fd00:99::7 pod=$POD6 out=$OUT6
		# a destination routed via the pod, and the pod's own address at a port nothing serves
		for dst in "$(hp $svc 80)" "$(hp $pod $APP)"; do
			n=$((n + 1))
			reply=$(o timeout 20 python3 "$SIDECAR" client --dst "$(echo "${dst%:*}" | tr -d '[]')" \
				--port "${dst##*:}" 2>&1) ||
				fail "IPv$fam: the client could not connect to $dst: $reply"
			echo "IPv$fam to $dst: $reply"
			[ "$(nlines "$WORK/tp$fam.log")" = $n ] ||
				fail "IPv$fam: the transparent listener accepted $(nlines "$WORK/tp$fam.log") connections, not $n"
			[ "$(field "$WORK/tp$fam.log" $n local)" = "$dst" ] ||
				fail "IPv$fam: the accepted socket's address is $(field "$WORK/tp$fam.log" $n local), not the original destination $dst"
			case $(field "$WORK/tp$fam.log" $n peer) in
			"$(hp $out '')"*) ;;
			*) fail "IPv$fam: the listener saw $(field "$WORK/tp$fam.log" $n peer), not the client at $out" ;;
			esac
			case $reply in
			*"proxy orig=$dst upstream=none"*) ;;
			*) fail "IPv$fam: the reply is not the transparent listener's: $reply" ;;
			esac
		done
	done
}

# The nftables form (Istio's tools/istio-nftables): one inet table intercepts both families,
# with nat chains at Istio's priorities, the hairpin to inbound capture, meta skuid and meta
# mark exemptions, a ct expression, redirect to 15001 outbound and to 15006 inbound.
test_nft_redirect() {
	need nft
	setup_pod
	omit <<-'EOF' | p nft -f - || fail "nft refused the inet table"
		table inet istio-proxy-nat {
			chain prerouting {
				type nat hook prerouting priority dstnat; policy accept;
				meta l4proto tcp ct state new jump istio-inbound
			}
			chain output {
				type nat hook output priority -100; policy accept;
				meta l4proto tcp ct state new jump istio-output
			}
			chain istio-inbound {
				tcp dport { 15008, 15090, 15021, 15020 } return
				meta l4proto tcp jump istio-in-redirect
			}
			chain istio-in-redirect {
				meta l4proto tcp redirect to :15006
			}
			chain istio-redirect {
				meta l4proto tcp redirect to :15001
			}
			chain istio-output {
				oifname "lo" ip saddr 127.0.0.6 return
				oifname "lo" ip6 saddr ::6 return
				oifname "lo" ip daddr != 127.0.0.1 tcp dport != 15008 meta skuid 1337 jump istio-in-redirect
				oifname "lo" ip6 daddr != ::1 tcp dport != 15008 meta skuid 1337 jump istio-in-redirect
				oifname "lo" meta skuid != 1337 return
				meta skuid 1337 return
				meta mark 1337 return
				ip daddr 127.0.0.1 return
				ip6 daddr ::1 return
				jump istio-redirect
			}
		}
	EOF
	p nft list table inet istio-proxy-nat
	check_outbound 4
	check_outbound 6
	check_inbound 4
	check_inbound 6
}

# The same interception with the pod's link an xpu pair (xpu0 in the pod, xpu1 outside).
test_istio_xpu() {
	need xpuctl
	LINK=xpu DEV_P=xpu0 DEV_O=xpu1
	setup_pod
	istio_iptables 4
	istio_iptables 6
	check_inbound 4
	check_outbound 6
}

# The module unloads cleanly (the case's kernel log is checked), then kmemleak finds nothing.
leak_check() {
	modprobe -r xpu || fail "xpu did not unload"
	xpu_kmemleak_clean
}

xpu_require
trap 'xpu_cleanup; rm -rf "$WORK"' EXIT
WORK=$(mktemp -d)
# the proxy writes its log as UID 1337
chmod 1777 "$WORK"
modprobe xpu || { ktap_skip_all "cannot load xpu"; exit "$KSFT_SKIP"; }
xpu_kmemleak_clear
ktap_print_header
ktap_set_plan 9
xpu_case "iptables is the nft backend; iptables, ip6tables and nft drive this kernel" test_tools
xpu_case "Istio REDIRECT, IPv4 inbound: 15006 gets the original destination and the client" test_istio_inbound4
xpu_case "Istio REDIRECT, IPv4 outbound: 15001 gets the original destination; UID and mark 1337 exempt" test_istio_outbound4
xpu_case "Istio REDIRECT, IPv6 inbound (ip6tables, IP6T_SO_ORIGINAL_DST)" test_istio_inbound6
xpu_case "Istio REDIRECT, IPv6 outbound (ip6tables, IP6T_SO_ORIGINAL_DST); exemptions" test_istio_outbound6
xpu_case "Istio TPROXY, IPv4 and IPv6: a policy route and an IP_TRANSPARENT listener" test_tproxy
xpu_case "nftables: one inet table redirects both families, both ways" test_nft_redirect
xpu_case "Istio REDIRECT over an xpu pair link" test_istio_xpu
xpu_case "no leaks" leak_check
ktap_finished

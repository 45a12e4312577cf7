#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# A Kubernetes pod split across a host VM and a DPU VM by podman (HeteroK8s, issue 17): the
# README's manifest-to-pod path, as a test.
#
# The two VMs are joined by three xpu links, each its own fabric: two pod links, which xpu-cni
# gives to pods (the node's pool, xpu0 and xpu1), and the node's control link (the DPU's
# management interface over PCIe: 192.168.100.1 the host, .2 the DPU), on which the DPU agent
# (dpu-fw/agent) listens. The pod links sit at crossed PCI slots on the two sides, so that
# each side's xpu0 is the other's xpu1: a pod's halves take the two ends of one link only by
# its number (xpu-cni's XPU_LINK_ID), not by their order. Each VM is a podman node (tools/lab/podman-setup.sh: Debian's podman
# with its CNI backend): the host's network xpu-host is xpu-cni's host half with host-local
# IPAM, the DPU's xpu-dpu CNI's ptp (the DPU half's uplink) chained before xpu-cni's DPU half,
# with static IPAM, the address coming from the host.
#
# The host applies tools/lab/pod-web.yaml (`xpuctl pod apply`): the application stays on the
# host, Envoy and Prometheus go to the DPU. Then, with no port registered by hand: the
# application reaches Envoy's port over localhost and Envoy the application's (both ways
# across the link), Prometheus on the DPU scrapes the application on the host, `xpuctl pod
# list` shows each container's side. A second pod (tools/lab/pod-echo.yaml) takes the other
# link pair beside it, the same ports in each, each pod's halves reaching their own other
# half; deleting it leaves the first as it was. The DPU's side restarts (its agent, with its state kept,
# and the runtime without the pod): the host lists the DPU half lost, then, the agent
# restarted with --restore, the half is back and the ports with it. The host's runtime removes
# the host half (podman pod rm): the DPU's agent removes the DPU half. `xpuctl pod delete`
# leaves nothing on either side.
#
# Prints KTAP; exits non-zero on a failure.
set -uo pipefail
. "$(dirname "$0")/common.sh"

run=podvms
logdir=$XPU_CACHE/vm-logs
mkdir -p "$logdir"
psock=$logdir/$run.pod.sock psock2=$logdir/$run.pod2.sock ctlsock=$logdir/$run.ctl.sock
pflog=$logdir/$run.pod.fabric.log pflog2=$logdir/$run.pod2.fabric.log
ctlflog=$logdir/$run.ctl.fabric.log
hlog=$logdir/$run.host.out dlog=$logdir/$run.dpu.out
: >"$pflog"; : >"$pflog2"; : >"$ctlflog"; : >"$hlog"; : >"$dlog"
# The node's key, which the host's requests to the DPU agent prove they come from: each VM
# installs it as /etc/xpu/node.key, the default of xpuctl and the agent.
key=$logdir/$run.key
(umask 077 && head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$key")
pids=()
cleanup() {
	kill "${pids[@]}" 2>/dev/null || true
	wait "${pids[@]}" 2>/dev/null || true
}
trap cleanup EXIT INT TERM

# The cases, in order, as each VM reports them ("podvms: ok NAME" or "podvms: FAIL NAME: why").
cases=(
	"host: pod apply splits the manifest, the application here, Envoy and Prometheus on the DPU"
	"host: a second apply of the pod is refused, and the pod is untouched"
	"host: localhost across the halves, the application to Envoy (DPU) to the application (host)"
	"host: ports follow sockets, none registered by hand (8080 host, 9080 and 9090 DPU)"
	"host: a second pod takes the other link pair, each pod's localhost its own, the same ports in both"
	"host: deleting the second pod leaves the first as it was"
	"host: the application reaches a server outside the pod through the DPU half, the pod's edge"
	"dpu: a client outside the pod (the DPU's namespace) reaches the application on the host at the pod address"
	"dpu: Prometheus on the DPU scrapes the application on the host over localhost"
	"dpu: pod measure reads the half's use from its cgroups, pod plan --usage plans from it"
	"host: pod list shows each container's side and state, the DPU's unknown when it does not answer"
	"host: the DPU agent takes no request without the node's key (a forged delete leaves the pod)"
	"host: after a DPU restart that lost the pod, pod list shows its DPU half lost"
	"host: a DPU restart with --restore makes the DPU half again, localhost across it again"
	"host: the runtime removes the host half (podman pod rm), and the DPU's agent the DPU half"
	"host: pod delete leaves nothing (containers, namespace, link, records, agents)"
	"dpu: pod delete leaves nothing (containers, namespace, link, records, agents)"
)
report() { # report: the KTAP of what the VMs said; 0 if every case passed
	local i=0 rc=0 c line
	echo "TAP version 13"
	echo "1..${#cases[@]}"
	for c in "${cases[@]}"; do
		i=$((i + 1))
		if grep -qxF "podvms: ok $c" "$hlog" "$dlog"; then
			echo "ok $i $c"
		else
			line=$(grep -hF "podvms: FAIL $c" "$hlog" "$dlog" | head -n1)
			echo "# ${line:-no word from the VM (logs: $logdir/$run.*)}"
			echo "not ok $i $c"
			rc=1
		fi
	done
	return $rc
}

(cd "$XPU_ROOT" && cargo build -q -p xpuctl -p xpu-fabric -p xpu-dpu-agent) ||
	{ echo "# cannot build the tools"; report; exit 1; }
for f in "$psock:$pflog" "$psock2:$pflog2" "$ctlsock:$ctlflog"; do
	"$XPU_ROOT/target/debug/xpu-fabric" -S "${f%%:*}" -l 8M -n 5 -v 2>>"${f#*:}" &
	pids+=($!)
done
for _ in $(seq 50); do [ -S "$psock" ] && [ -S "$psock2" ] && [ -S "$ctlsock" ] && break; sleep 0.1; done
# A fabric left by another run would serve the socket in this one's place (and refuse this
# one's daemon): each of this run's must still be there.
for p in "${pids[@]}"; do
	kill -0 "$p" 2>/dev/null ||
		{ echo "# an xpu-fabric did not start: $(cat "$pflog" "$pflog2" "$ctlflog")"; report; exit 1; }
done

envoy_dir=$(dirname "$(readlink -f "$XPU_TOOLS/bin/envoy")")
# Each VM gets one CPU: two TCG guests share this machine's two cores. The control link's
# function sits at slot 0x10, where the guest finds it by its PCI address; the pod links at
# 0x11 and 0x12, crossed: the host has the first fabric's at 0x11, the DPU at 0x12.
# kmemleak=off: these VMs check how the pieces work together and never ask kmemleak, whose
# stack trace at every allocation made each VM's work take about 1.5 times as long (KASAN and
# lockdep stay); the kernel paths they take are those of xpu's suites, which check for leaks.
vm() { # vm NAME FIRST_SLOT SECOND_SLOT SCRIPT
	local dev="ivshmem-doorbell,bus=pcie.0,vectors=5"
	exec "$XPU_ROOT/tools/lab/vm.sh" --name "xpu-$run-$1" --cpus 1 --timeout 1200 \
		--append kmemleak=off --qemu-opts \
		"-chardev socket,path=$ctlsock,id=xpuctl -device $dev,addr=0x10,chardev=xpuctl \
		 -chardev socket,path=$psock,id=xpup1 -device $dev,addr=$2,chardev=xpup1 \
		 -chardev socket,path=$psock2,id=xpup2 -device $dev,addr=$3,chardev=xpup2" \
		-- "$4"
}

# Both sides: xpu loaded, the control link addressed, the pod links (xpu0 and xpu1, in the
# order of their PCI slots) left in the pool, podman set up with the side's CNI network.
node_up=$(cat <<'GUEST'
ok() { echo "podvms: ok $1"; }
bad() { echo "podvms: FAIL $1: $2"; }
wait_for() { # wait_for SECONDS CMD...: until CMD succeeds, SECONDS at most (CMD's own time counts)
	local end=$(($(date +%s) + $1)); shift
	until "$@" >/dev/null 2>&1; do [ "$(date +%s)" -lt "$end" ] || return 1; sleep 0.5; done
}
modprobe xpu || { echo "podvms: cannot load xpu"; exit 1; }
ctl=$(ls /sys/bus/pci/devices/0000:00:10.0/net 2>/dev/null)
[ -n "$ctl" ] || { echo "podvms: no control link at 0000:00:10.0"; exit 1; }
ip link set "$ctl" name xpum0
# By way of names of their own, so that no rename takes a name another link still has.
i=0
for d in /sys/bus/pci/drivers/xpu/*/net/*; do
	[ "${d##*/}" = xpum0 ] && continue
	ip link set "${d##*/}" name "xpupool$i" || { echo "podvms: cannot rename ${d##*/}"; exit 1; }
	i=$((i + 1))
done
for j in $(seq 0 $((i - 1))); do
	ip link set "xpupool$j" name "xpu$j" || { echo "podvms: cannot rename xpupool$j"; exit 1; }
done
[ "$i" = 2 ] || { echo "podvms: $i pod links, not 2"; exit 1; }
udevadm settle
ip addr add "$CTL/30" dev xpum0 && ip link set xpum0 up
mkdir -p /etc/xpu && install -m 600 "$KEY" /etc/xpu/node.key || { echo "podvms: cannot install the node's key"; exit 1; }
sh "$XPU_ROOT/tools/lab/podman-setup.sh" || { echo "podvms: podman setup failed"; exit 1; }
mkdir -p /run/xpu-cni /run/cni-ipam
printf '%s\n' "$CONFLIST" >/etc/cni/net.d/$NET.conflist
wait_for 300 sh -c '[ "$(cat /sys/class/net/xpum0/carrier)" = 1 ]' ||
	{ echo "podvms: the control link has no carrier"; exit 1; }
# nothing_left: what a deleted pod must not leave (containers, namespaces, the link gone
# from the pool, CNI records, ownership agents): empty if nothing.
nothing_left() {
	[ -z "$(podman ps -aq)" ] || echo "containers: $(podman ps -a --format '{{.Names}}' | tr '\n' ' ')"
	[ -z "$(podman pod ps -q)" ] || echo "pods: $(podman pod ps --format '{{.Name}}' | tr '\n' ' ')"
	[ -z "$(ls /run/netns 2>/dev/null)" ] || echo "namespaces: $(ls /run/netns | tr '\n' ' ')"
	[ -e /sys/class/net/xpu0 ] && [ -e /sys/class/net/xpu1 ] || echo "a pod link is not back in the pool"
	[ -z "$(find /run/xpu-cni -name '*.json' 2>/dev/null)" ] || echo "records: $(find /run/xpu-cni -name '*.json')"
	! pgrep -f 'splitns agent' >/dev/null || echo "ownership agents: $(pgrep -af 'splitns agent')"
	[ -z "$(ip -o link show type veth)" ] || echo "uplinks: $(ip -o link show type veth | cut -d: -f2 | tr '\n' ' ')"
}
GUEST
)

host_conf='{"cniVersion":"1.0.0","name":"xpu-host","plugins":[{"type":"xpu-cni","half":"host","links":["xpu0","xpu1"],"dataDir":"/run/xpu-cni","ipam":{"type":"host-local","ranges":[[{"subnet":"10.244.1.0/24"}]],"dataDir":"/run/cni-ipam"}}]}'
# The DPU's network chains CNI's ptp before xpu-cni: the DPU half's uplink, a veth to the DPU's
# namespace (its gateway 10.244.1.1, which the agent's --gateway names), so the DPU half is the
# pod's edge; ptp's static IPAM takes the pod's address from the agent.
dpu_conf='{"cniVersion":"1.0.0","name":"xpu-dpu","plugins":[{"type":"ptp","ipam":{"type":"static","routes":[{"dst":"0.0.0.0/0"}]}},{"type":"xpu-cni","half":"dpu","links":["xpu0","xpu1"],"dataDir":"/run/xpu-cni"}]}'

vm host 0x11 0x12 "CTL=192.168.100.1 KEY='$key' NET=xpu-host CONFLIST='$host_conf'
$node_up
sed -e 's|@XPU_ROOT@|$XPU_ROOT|g' -e 's|@ENVOY_DIR@|$envoy_dir|g' \"\$XPU_ROOT/tools/lab/pod-web.yaml\" >/tmp/pod-web.yaml
$(cat <<'GUEST'
wait_for 600 xpuctl pod list || { echo "podvms: the DPU agent does not answer"; exit 1; }
c="host: pod apply splits the manifest, the application here, Envoy and Prometheus on the DPU"
if out=$(xpuctl pod apply /tmp/pod-web.yaml 2>&1); then
	echo "$out"
	case "$out" in
	*"host app; DPU istio-proxy, metrics"*) ok "$c" ;;
	*) bad "$c" "placed otherwise: $out" ;;
	esac
else
	bad "$c" "$out"
	exit 1
fi
c="host: a second apply of the pod is refused, and the pod is untouched"
# The same containers before and after, on both sides (their states may still settle).
pod_now() { podman ps -q | sort; xpuctl pod list | awk '{ print $1, $2, $4 }'; }
before=$(pod_now)
if out=$(xpuctl pod apply /tmp/pod-web.yaml 2>&1); then
	bad "$c" "taken: $out"
elif ! echo "$out" | grep -q 'already on this host'; then
	bad "$c" "refused for another reason: $out"
elif [ "$(pod_now)" != "$before" ]; then
	bad "$c" "the pod changed: $before"
else
	ok "$c"
fi
netns=$(podman inspect --format '{{.NetworkSettings.SandboxKey}}' "$(podman pod inspect --format '{{.InfraContainerID}}' web)")
inpod() { nsenter --net="$netns" "$@"; }
c="host: localhost across the halves, the application to Envoy (DPU) to the application (host)"
# Envoy starts in seconds on an emulated CPU: the page comes once it serves 9080.
if wait_for 180 sh -c 'podman exec web-app wget -qO- http://127.0.0.1:9080/ | grep -q "hello from the application"'; then
	ok "$c"
else
	bad "$c" "no page through Envoy: $(podman exec web-app wget -qO- http://127.0.0.1:9080/ 2>&1 | tail -1); ports: $(inpod xpuctl port list | tr '\n' ' ')"
fi
c="host: ports follow sockets, none registered by hand (8080 host, 9080 and 9090 DPU)"
# Prometheus may still be starting.
wait_for 180 sh -c "nsenter --net='$netns' xpuctl splitns show | grep -Eqx ' +9090 dpu'"
ports=$(inpod xpuctl splitns show 2>&1)
echo "$ports"
# This half's claims say how they are held; the other half's are only its.
if echo "$ports" | grep -Eqx ' +8080 host \(socket\)' && echo "$ports" | grep -Eqx ' +9080 dpu' &&
	echo "$ports" | grep -Eqx ' +9090 dpu' && ! echo "$ports" | grep -q registered; then
	ok "$c"
else
	bad "$c" "$(echo "$ports" | tr '\n' ' ')"
fi
c="host: a second pod takes the other link pair, each pod's localhost its own, the same ports in both"
# echo's application serves 8080 here and its sidecar 9080 on the DPU, as web's do: each
# application reaches its own pod's 9080, and Envoy web's 8080.
link_of() { nsenter --net="$1" xpuctl splitns show --json | sed -n 's/.*"link_id":"\([0-9a-f]*\)".*/\1/p'; }
if ! out=$(xpuctl pod apply "$XPU_ROOT/tools/lab/pod-echo.yaml" 2>&1); then
	bad "$c" "$out"
else
	echo "$out"
	enetns=$(podman inspect --format '{{.NetworkSettings.SandboxKey}}' "$(podman pod inspect --format '{{.InfraContainerID}}' echo)")
	wid=$(link_of "$netns") eid=$(link_of "$enetns")
	if ! wait_for 180 sh -c 'podman exec echo-app wget -qO- http://127.0.0.1:9080/ | grep -qx "hello from the echo sidecar"'; then
		bad "$c" "echo's application to its sidecar: $(podman exec echo-app wget -qO- http://127.0.0.1:9080/ 2>&1 | tail -1); $(xpuctl pod list 2>&1 | tr '\n' ' ')"
	elif ! out=$(podman exec web-app wget -qO- http://127.0.0.1:9080/ 2>&1) ||
		[ "$out" != "hello from the application" ]; then
		bad "$c" "web's application through Envoy: $out"
	elif [ -z "$wid" ] || [ -z "$eid" ] || [ "$wid" = "$eid" ]; then
		bad "$c" "the pods' links: web '$wid', echo '$eid'"
	else
		echo "links: web $wid, echo $eid"
		ok "$c"
	fi
fi
c="host: deleting the second pod leaves the first as it was"
if ! out=$(xpuctl pod delete echo 2>&1); then
	bad "$c" "$out"
elif podman pod exists echo || xpuctl pod list 2>&1 | grep -q '^echo '; then
	bad "$c" "echo is still there: $(xpuctl pod list 2>&1 | tr '\n' ' ')"
elif ! [ -e /sys/class/net/xpu1 ]; then
	bad "$c" "echo's link (xpu1: web has xpu0, the first) is not back in the pool"
elif ! out=$(podman exec web-app wget -qO- http://127.0.0.1:9080/ 2>&1) ||
	[ "$out" != "hello from the application" ]; then
	bad "$c" "web's application through Envoy: $out"
else
	ok "$c"
fi
c="host: the application reaches a server outside the pod through the DPU half, the pod's edge"
# The DPU's own namespace serves a page on its end of the uplink (ptp's gateway).
if out=$(timeout 30 podman exec web-app wget -qO- http://10.244.1.1:8000/ 2>&1) &&
	[ "$out" = "hello from outside the pod" ]; then
	ok "$c"
else
	bad "$c" "$out; routes: $(inpod ip route | tr '\n' ' ')"
fi
c="host: pod list shows each container's side and state, the DPU's unknown when it does not answer"
# Prometheus may take a while to start: the list is read once everything runs.
wait_for 180 sh -c '[ "$(xpuctl pod list --json | grep -o "\"state\":\"running\"" | wc -l)" = 3 ]'
list=$(xpuctl pod list 2>&1)
echo "$list"
if echo "$list" | grep -Eq '^web +host +running +app +running' &&
	echo "$list" | grep -Eq '^web +dpu +running +istio-proxy +running' &&
	echo "$list" | grep -Eq '^web +dpu +running +metrics +running'; then
	# An agent that does not answer (nothing on that port): the host's half all the same, the
	# DPU's unknown, and a failure that says why.
	if list=$(xpuctl pod list --agent 192.168.100.2:7799 2>&1); then
		bad "$c" "pod list passed without the DPU: $(echo "$list" | tr '\n' ' ')"
	elif echo "$list" | grep -Eq '^web +host +running +app +running' &&
		echo "$list" | grep -Eq '^web +dpu +unknown ' && echo "$list" | grep -q 'cannot connect'; then
		ok "$c"
	else
		bad "$c" "without the DPU: $(echo "$list" | tr '\n' ' ')"
	fi
else
	bad "$c" "$(echo "$list" | tr '\n' ' ')"
fi
c="host: the DPU agent takes no request without the node's key (a forged delete leaves the pod)"
(umask 077 && echo 'not-the-node-key-0123456789abcdef' >/tmp/other.key)
# A delete with a proof that is not the key's, as anyone on the link could send it.
forged=$(printf '{"op":"delete","pod":"web"}\n{"mac":"%064d"}\n' 0 | timeout 20 socat -t 15 - TCP:192.168.100.2:7780 2>&1)
if out=$(xpuctl pod list --key /tmp/other.key 2>&1); then
	bad "$c" "answered with another key: $(echo "$out" | tr '\n' ' ')"
elif ! echo "$out" | grep -q 'does not hold'; then
	bad "$c" "refused otherwise with another key: $(echo "$out" | tr '\n' ' ')"
elif ! echo "$forged" | grep -q 'does not hold'; then
	bad "$c" "a forged delete: $(echo "$forged" | tr '\n' ' ')"
elif ! xpuctl pod list | grep -Eq '^web +dpu +running '; then
	bad "$c" "the pod after a forged delete: $(xpuctl pod list 2>&1 | tr '\n' ' ')"
else
	ok "$c"
fi
c="host: after a DPU restart that lost the pod, pod list shows its DPU half lost"
# The DPU, done with its scrapes, restarts when told (7781).
lost=
if ! wait_for 420 socat -u OPEN:/dev/null TCP:192.168.100.2:7781; then
	bad "$c" "the DPU did not take the word to restart"
elif wait_for 180 sh -c 'xpuctl pod list | grep -Eq "^web +dpu +lost "'; then
	ok "$c"
	lost=1
else
	bad "$c" "$(xpuctl pod list 2>&1 | tr '\n' ' ')"
fi
c="host: a DPU restart with --restore makes the DPU half again, localhost across it again"
# The DPU restarts its agent with --restore when told (7783). Only a half seen lost tells
# that it came back.
if ! wait_for 60 socat -u OPEN:/dev/null TCP:192.168.100.2:7783; then
	bad "$c" "the DPU did not take the word to restore"
elif [ -z "$lost" ]; then
	bad "$c" "no half seen lost, none to see made again"
elif ! wait_for 600 sh -c '[ "$(xpuctl pod list --json | grep -o "\"state\":\"running\"" | wc -l)" = 3 ]'; then
	bad "$c" "not back: $(xpuctl pod list 2>&1 | tr '\n' ' ')"
elif ! wait_for 240 sh -c 'podman exec web-app wget -qO- http://127.0.0.1:9080/ | grep -q "hello from the application"'; then
	bad "$c" "no page through Envoy: $(podman exec web-app wget -qO- http://127.0.0.1:9080/ 2>&1 | tail -1); ports: $(inpod xpuctl port list | tr '\n' ' ')"
else
	ok "$c"
fi
c="host: the runtime removes the host half (podman pod rm), and the DPU's agent the DPU half"
# As a runtime would, behind xpuctl's back: the DPU half's peer is split no more.
if ! out=$(podman pod rm --force --time 0 web 2>&1); then
	bad "$c" "podman pod rm: $out"
elif wait_for 180 sh -c 'xpuctl pod list >/tmp/list 2>&1 && ! grep -q "^web " /tmp/list'; then
	ok "$c"
else
	bad "$c" "$(xpuctl pod list 2>&1 | tr '\n' ' ')"
fi
c="host: pod delete leaves nothing (containers, namespace, link, records, agents)"
# The pod again, whole, for pod delete to remove: this time with Envoy's requests from a trial
# run's use (pod apply --usage).
echo '{"pod":"web","seconds":5,"containers":[{"name":"istio-proxy","cpu":"12m","memory":"78Mi"}]}' >/tmp/usage.json
if ! out=$(xpuctl pod apply /tmp/pod-web.yaml --usage /tmp/usage.json 2>&1); then
	bad "$c" "applied again: $out"
elif ! echo "$out" | grep -q 'requests from the measured use: istio-proxy$'; then
	bad "$c" "applied again without the measured use: $(echo "$out" | tr '\n' ' ')"
elif ! out=$(xpuctl pod delete web 2>&1); then
	bad "$c" "$out"
elif ! out=$(xpuctl pod delete web 2>&1); then
	bad "$c" "a second delete failed: $out"
else
	left=$(nothing_left)
	[ -z "$left" ] && ok "$c" || bad "$c" "$(echo "$left" | tr '\n' ' ')"
fi
# The DPU looks at what is left when told (7784), and serves until the host is done (7782).
wait_for 60 socat -u OPEN:/dev/null TCP:192.168.100.2:7784
wait_for 120 socat -u OPEN:/dev/null TCP:192.168.100.2:7782
dmesg | grep -E 'WARNING|BUG|Oops|Call Trace' && echo "podvms: the host kernel complained"
echo "podvms: host done"
GUEST
)" >"$hlog" 2>&1 &
pids+=($!)
host=$!
# The host VM takes fabric id 0 on every fabric: it joins them all before the DPU VM starts.
for _ in $(seq 600); do
	grep -q 'peer 0 connected' "$pflog" && grep -q 'peer 0 connected' "$pflog2" &&
		grep -q 'peer 0 connected' "$ctlflog" && break
	sleep 0.2
done

vm dpu 0x12 0x11 "CTL=192.168.100.2 KEY='$key' NET=xpu-dpu CONFLIST='$dpu_conf' ENVOY_DIR=$envoy_dir
$node_up
$(cat <<'GUEST'
# The halves may mount the sidecars' binaries and their configurations, nothing else.
# Outside the pods: a server in the DPU's namespace, on every address (ptp's gateway among them).
mkdir -p /tmp/outside && echo 'hello from outside the pod' >/tmp/outside/index.html
python3 -m http.server 8000 --directory /tmp/outside >/tmp/outside.log 2>&1 &
agent() { # agent [--restore]: the DPU agent, in the background
	xpu-dpu-agent --listen 192.168.100.2:7780 --network xpu-dpu --state /run/xpu-agent \
		--gateway 10.244.1.1/24 \
		--allow-host-path "$ENVOY_DIR" --allow-host-path /usr/bin/prometheus \
		--allow-host-path "$XPU_ROOT/tools/lab" --allow-host-path "$XPU_ROOT/kselftest" \
		--reap-after 10 "$@" >>/tmp/agent.log 2>&1 &
	agent_pid=$!
}
agent
wait_for 900 podman pod exists web || { echo "podvms: no pod came"; cat /tmp/agent.log; exit 1; }
c="dpu: Prometheus on the DPU scrapes the application on the host over localhost"
query() { podman exec web-metrics wget -qO- "http://127.0.0.1:9090/api/v1/query?query=$1"; }
if wait_for 240 sh -c "podman exec web-metrics wget -qO- 'http://127.0.0.1:9090/api/v1/query?query=app_requests_total' | grep -q '\"7\"'"; then
	ok "$c"
else
	bad "$c" "up: $(query up 2>&1 | tail -1); $(podman logs --tail 3 web-metrics 2>&1 | tr '\n' ' ')"
fi
c="dpu: a client outside the pod (the DPU's namespace) reaches the application on the host at the pod address"
podip=$(sed -n 's/.*"address":"\([0-9.]*\)\/.*/\1/p' /run/xpu-agent/web.json)
if [ -z "$podip" ]; then
	bad "$c" "no address in the agent's record: $(cat /run/xpu-agent/web.json)"
elif out=$(curl -sS -m 20 "http://$podip:8080/" 2>&1) && [ "$out" = "hello from the application" ]; then
	ok "$c"
else
	bad "$c" "http://$podip:8080/: $out; routes: $(ip route | tr '\n' ' ')"
fi
c="dpu: pod measure reads the half's use from its cgroups, pod plan --usage plans from it"
sed -e "s|@XPU_ROOT@|$XPU_ROOT|g" -e "s|@ENVOY_DIR@|$ENVOY_DIR|g" "$XPU_ROOT/tools/lab/pod-web.yaml" >/tmp/pod-web.yaml
if ! xpuctl pod measure web --seconds 5 --json >/tmp/usage.json 2>/tmp/measure.err; then
	bad "$c" "$(cat /tmp/measure.err)"
elif ! grep -Eq '"name":"istio-proxy","cpu":"[0-9]+m","memory":"[1-9][0-9]*Mi"' /tmp/usage.json ||
	! grep -Eq '"name":"metrics","cpu":"[0-9]+m","memory":"[1-9][0-9]*Mi"' /tmp/usage.json; then
	bad "$c" "measured: $(cat /tmp/usage.json)"
elif ! plan=$(xpuctl pod plan /tmp/pod-web.yaml --usage /tmp/usage.json --dpu-cpu 2 --dpu-memory 1Gi 2>&1); then
	bad "$c" "$plan"
else
	cat /tmp/usage.json; echo "$plan"
	echo "$plan" | grep -Eq '^istio-proxy +[a-z]+ .* measured ' &&
		echo "$plan" | grep -Eq '^metrics +[a-z]+ .* measured ' &&
		echo "$plan" | grep -Eq '^app +host .* requests ' && ok "$c" || bad "$c" "$(echo "$plan" | tr '\n' ' ')"
fi
# When the host says (7781), a restart: the agent stops, the runtime loses the pod (removed,
# its CNI DEL run), the agent comes back with its records and reports the half lost.
timeout 900 socat -u TCP-LISTEN:7781,bind=192.168.100.2 OPEN:/dev/null
kill "$agent_pid"; wait "$agent_pid"
podman pod rm --force --time 0 web >/dev/null
agent
# Then, when the host has seen it lost (7783), a restart that makes the half again.
timeout 300 socat -u TCP-LISTEN:7783,bind=192.168.100.2 OPEN:/dev/null
kill "$agent_pid"; wait "$agent_pid"
agent --restore
wait_for 600 podman pod exists web || echo "podvms: the agent did not make the pod again"
# The host removes its half by the runtime (the agent removes this one), applies the pod
# again and deletes it; then it says so (7784).
timeout 900 socat -u TCP-LISTEN:7784,bind=192.168.100.2 OPEN:/dev/null
c="dpu: pod delete leaves nothing (containers, namespace, link, records, agents)"
wait_for 60 sh -c '! podman pod exists web' || { bad "$c" "the pod is still here"; exit 1; }
left=$(nothing_left)
[ -z "$(ls /run/xpu-agent)" ] || left="$left agent records: $(ls /run/xpu-agent)"
[ -z "$left" ] && ok "$c" || bad "$c" "$(echo "$left" | tr '\n' ' ')"
# The agent stays until the host is done.
timeout 300 socat -u TCP-LISTEN:7782,bind=192.168.100.2 OPEN:/dev/null
cat /tmp/agent.log
dmesg | grep -E 'WARNING|BUG|Oops|Call Trace' && echo "podvms: the DPU kernel complained"
echo "podvms: dpu done"
GUEST
)" >"$dlog" 2>&1 &
pids+=($!)
dpu=$!
wait "$host"
wait "$dpu"
report

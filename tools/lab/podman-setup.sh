#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# Makes a lab VM a podman node (run inside the VM): Debian's podman with its CNI backend, crun,
# storage on the guest's tmpfs (the root is the machine's, read-only to the guest), xpu-cni in
# a CNI plugin directory of its own next to Debian's plugins, and the lab's image
# (localhost/xpu-lab: busybox and the C library, so that the lab's binaries run in it from a
# hostPath volume). No image can be pulled here; this one is made from what the machine has.
# usage: podman-setup.sh; prints nothing when all went well.
set -e
state=/tmp/xpu-podman
# A tmpfs of its own: the guest's /tmp is an overlay, which overlay storage cannot sit on.
mkdir -p "$state"
mountpoint -q "$state" || mount -t tmpfs xpu-podman "$state"
mkdir -p /etc/containers "$state/cni-bin" "$state/image/bin" /etc/cni/net.d
ln -sf "$(command -v xpuctl)" "$state/cni-bin/xpu-cni"
cat >/etc/containers/storage.conf <<CONF
[storage]
driver = "overlay"
runroot = "/run/containers/storage"
graphroot = "$state/storage"
CONF
cat >/etc/containers/containers.conf <<CONF
[containers]
log_driver = "k8s-file"

[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
# crun, through the lab's shim below.
runtime = "xpu-crun"
[engine.runtimes]
xpu-crun = ["$state/xpu-crun"]
[network]
network_backend = "cni"
cni_plugin_dirs = ["$state/cni-bin", "/usr/lib/cni"]
network_config_dir = "/etc/cni/net.d"
CONF
# The shim: Debian's podman 4.3, with the cgroupfs manager on cgroup v2 (the lab's VMs have no
# systemd for the systemd manager), gives each pod's cgroup a device filter made from an empty
# rule list (runc's cgroup code, which it uses to make the pod's cgroup), and that filter
# denies every device: no container of a pod could open /dev/null (crun: mknod /dev/null:
# EPERM). Before crun creates a container, the shim takes that filter off the container's
# parent cgroup, the pod's; each container keeps the filter crun gives its own cgroup, made
# from the container's device list, as with the systemd manager.
cat >"$state/xpu-crun" <<'SHIM'
#!/bin/sh
bundle=
prev=
for a in "$@"; do
	case $prev in --bundle | -b) bundle=$a ;; esac
	case $a in --bundle=*) bundle=${a#--bundle=} ;; esac
	prev=$a
done
if [ -n "$bundle" ] && [ -f "$bundle/config.json" ]; then
	cg=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["linux"].get("cgroupsPath", ""))' "$bundle/config.json" 2>/dev/null)
	pod=/sys/fs/cgroup${cg%/*}
	case $cg in
	/libpod_parent/*/*)
		bpftool cgroup show "$pod" 2>/dev/null | awk '$2 == "cgroup_device" { print $1 }' |
			while read -r id; do bpftool cgroup detach "$pod" device id "$id"; done ;;
	esac
fi
exec crun "$@"
SHIM
chmod +x "$state/xpu-crun"
mountpoint -q /sys/fs/cgroup || mount -t cgroup2 none /sys/fs/cgroup
# The image: busybox's applets, and the dynamic loader and C library for glibc binaries.
img=$state/image
cp /bin/busybox "$img/bin/busybox"
for a in $("$img/bin/busybox" --list); do
	[ "$a" = busybox ] || ln -sf busybox "$img/bin/$a"
done
mkdir -p "$img/lib64" "$img/lib/x86_64-linux-gnu" "$img/etc" "$img/tmp"
cp -L /lib64/ld-linux-x86-64.so.2 "$img/lib64/"
for l in libc.so.6 libm.so.6 librt.so.1 libdl.so.2 libpthread.so.0; do
	cp -L "/lib/x86_64-linux-gnu/$l" "$img/lib/x86_64-linux-gnu/"
done
echo 'root:x:0:0:root:/:/bin/sh' >"$img/etc/passwd"
echo 'root:x:0:' >"$img/etc/group"
tar -C "$img" -cf "$state/image.tar" .
podman import -q --change "ENV PATH=/bin" --change "CMD [\"sh\"]" "$state/image.tar" localhost/xpu-lab:latest >/dev/null

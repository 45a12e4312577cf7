#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Boot the xpu test kernel in a QEMU VM (TCG) with the host's root visible read-only and this
# checkout at the same path, run one command as root, and return its output and exit status.
#
#   tools/lab/vm.sh [--timeout S] [--cpus N] [--mem M] [--name N] [--qemu-opts OPTS]
#                   [--append KERNEL_ARGS] [--ivshmem N [--fabric SOCKET]] [--cxl FILE] -- CMD
#
# --append adds to the guest kernel's command line (kmemleak=off: see tools/lab/check.sh).
#
# --ivshmem N gives the VM N ivshmem-doorbell devices on one fabric (N=2 is PCI mode's
# single-VM loop: xpu binds both, one host side and one DPU side). The fabric is the daemon at
# SOCKET, or one started here for the VM's life (XPU_FABRIC_SIZE, XPU_FABRIC_VECTORS).
#
# --cxl FILE gives the VM a CXL memory device (QEMU's volatile cxl-type3, behind a CXL host
# bridge and root port, with a fixed memory window) whose memory is FILE, shared: VMs given the
# same FILE share its bytes, as hosts share a CXL memory pool. FILE is made, of XPU_CXL_SIZE
# bytes (256M, the smallest region a CXL decoder maps), if it is not there. A fabric started
# here (--ivshmem without --fabric) is told the window is there (xpu-fabric --cxl).
# In the guest, `xpuctl cxl window` makes the region (and prints xpu's parameters for it).
#
# KVM is not used: on these machines /dev/kvm is PVM and normal guests hang silently. A boot
# that dies before the command starts (multi-threaded TCG panics early about once in 45 boots)
# is retried; a command that fails is not. On timeout the whole process group is killed.
set -euo pipefail
. "$(dirname "$0")/common.sh"

timeout=600 cpus=2 mem=2G name=xpu qemu_opts="" append="" verbose=${XPU_VM_VERBOSE:-0} ivshmem=0 fabric="" cxl=""
while [ $# -gt 0 ]; do
	case "$1" in
	--timeout) timeout=$2; shift 2 ;;
	--cpus) cpus=$2; shift 2 ;;
	--mem) mem=$2; shift 2 ;;
	--name) name=$2; shift 2 ;;
	--qemu-opts) qemu_opts=$2; shift 2 ;;
	--append) append=$2; shift 2 ;;
	--ivshmem) ivshmem=$2; shift 2 ;;
	--fabric) fabric=$2; shift 2 ;;
	--cxl) cxl=$2; shift 2 ;;
	-v|--verbose) verbose=1; shift ;;
	--) shift; break ;;
	*) die "vm.sh: unknown option '$1' (usage: vm.sh [--timeout S] [--cpus N] [--mem M] [--qemu-opts O] [--append A] [--ivshmem N [--fabric SOCKET]] [--cxl FILE] -- CMD)" ;;
	esac
done
[ $# -gt 0 ] || die "vm.sh: no command given (usage: vm.sh [options] -- CMD)"
cmd="$*"

command -v vng >/dev/null || die "virtme-ng not found: run 'make deps'"
command -v qemu-system-x86_64 >/dev/null || die "qemu-system-x86_64 not found: run 'make deps'"
kdir=$("$XPU_ROOT/tools/lab/kernel.sh")
bzimage=$kdir/arch/x86/boot/bzImage
# The module to install in the guest: the one module.sh built for this kernel.
ko=${XPU_KO:-$(module_dir "$kdir")/driver/xpu.ko}
[ -f "$bzimage" ] || die "no kernel image at $bzimage"

logdir=$XPU_CACHE/vm-logs
mkdir -p "$logdir"

fabric_args=()
if [ -n "$cxl" ]; then
	[ -f "$cxl" ] || truncate -s "${XPU_CXL_SIZE:-256M}" "$cxl" || die "cannot make the CXL medium $cxl"
	fabric_args=(--cxl "$cxl")
	# The machine's CXL: host bridge (pxb-cxl) on the root complex, a root port, the memory
	# device behind it with FILE as volatile memory, and a 4G fixed memory window (ACPI CEDT)
	# that the host bridge decodes. slots/maxmem: the window is placed after the space
	# reserved for hotplugged memory, which QEMU lays out only with them.
	qemu_opts+=" -M cxl=on -M cxl-fmw.0.targets.0=xpu_cxl_hb,cxl-fmw.0.size=4G -m slots=2,maxmem=8G"
	qemu_opts+=" -object memory-backend-file,id=xpu_cxl_mem,share=on,mem-path=$cxl,size=$(stat -c %s "$cxl")"
	# (Devices after it name their bus, pcie.0: QEMU puts a device without one on the last bus
	# made, the CXL host bridge, which takes only root ports.)
	qemu_opts+=" -device pxb-cxl,bus_nr=12,bus=pcie.0,id=xpu_cxl_hb"
	qemu_opts+=" -device cxl-rp,port=0,bus=xpu_cxl_hb,id=xpu_cxl_rp,chassis=0,slot=2"
	qemu_opts+=" -device cxl-type3,bus=xpu_cxl_rp,volatile-memdev=xpu_cxl_mem,id=xpu_cxl_dev"
fi

fabric_pid=""
if [ "$ivshmem" -gt 0 ]; then
	vectors=${XPU_FABRIC_VECTORS:-5}
	if [ -z "$fabric" ]; then
		fabric=$logdir/$name.fabric.sock
		bin=$XPU_ROOT/target/debug/xpu-fabric
		# Always through cargo (a no-op when up to date): a stale binary would lack fixes.
		(cd "$XPU_ROOT" && cargo build -q -p xpu-fabric) || die "cannot build xpu-fabric"
		"$bin" -S "$fabric" -l "${XPU_FABRIC_SIZE:-8M}" -n "$vectors" -v "${fabric_args[@]}" \
			2>>"$logdir/$name.fabric.log" &
		fabric_pid=$!
		for _ in $(seq 50); do [ -S "$fabric" ] && break; sleep 0.1; done
		[ -S "$fabric" ] || die "xpu-fabric did not start (see $logdir/$name.fabric.log)"
	fi
	for i in $(seq 0 $((ivshmem - 1))); do
		qemu_opts+=" -chardev socket,path=$fabric,id=xpuf$i"
		qemu_opts+=" -device ivshmem-doorbell,bus=pcie.0,chardev=xpuf$i,vectors=$vectors"
	done
fi
# The root is mounted as virtme-ng does, with cache=loose added (the last rootflags= wins): the
# guest keeps what it read from the host in its page cache, so a program run a hundred times
# (xpuctl, ip, python3 and their libraries) is read over 9p once, not at every exec. Under TCG
# the suites took 30 to 60% less time with it (xpuctl's exec: 2.8 s without, 0.4 s with). No guest relies on seeing a host file change while it
# runs (the root is read-only to it, and the VMs talk to the machine over sockets and their
# console).
vng_args=(--run "$bzimage" --disable-kvm --force-9p --user root --name "$name"
	--cpus "$cpus" --memory "$mem" --cwd "$XPU_ROOT"
	--append "panic=-1 oops=panic softlockup_panic=0 rootflags=version=9p2000.L,trans=virtio,access=any,msize=524288,cache=loose${append:+ $append}")
[ -n "$qemu_opts" ] && vng_args+=("--qemu-opts=$qemu_opts")
[ "$verbose" = 1 ] && vng_args+=(-v)

# The guest sees the host's root, so the command travels as a file: no quoting to get wrong.
cmdfile=$logdir/$name.cmd
printf '%s\n' "$cmd" >"$cmdfile"

pgid=""
cleanup() {
	[ -n "$pgid" ] && kill -KILL -- "-$pgid" 2>/dev/null
	[ -n "$fabric_pid" ] && kill "$fabric_pid" 2>/dev/null
	true
}
trap cleanup EXIT INT TERM

for attempt in 1 2 3; do
	log="$logdir/$name.$attempt.log"
	: >"$log"
	# setsid: vng and the QEMU it starts get their own process group, which we can kill whole.
	setsid vng "${vng_args[@]}" \
		--exec "sh $XPU_ROOT/tools/lab/guest-setup.sh $XPU_ROOT $kdir $cmdfile $ko $cpus $XPU_TOOLS" \
		</dev/null > >(grep --line-buffered -v "terminating on signal" | tee -a "$log") 2>&1 &
	pgid=$!
	# The guest prints a last line with the command's status. Once it is there, the VM has
	# nothing more to say: give it a moment, then stop it rather than wait for the guest's
	# own shutdown.
	deadline=$((SECONDS + timeout)) timed_out=0
	while kill -0 "$pgid" 2>/dev/null; do
		if grep -q '^xpu-vm: command exited with' "$log"; then
			for _ in $(seq 4); do kill -0 "$pgid" 2>/dev/null || break; sleep 0.5; done
			break
		fi
		if [ "$SECONDS" -ge "$deadline" ]; then
			timed_out=1
			break
		fi
		sleep 0.5
	done
	kill -TERM -- "-$pgid" 2>/dev/null || true
	sleep 1
	kill -KILL -- "-$pgid" 2>/dev/null || true
	wait "$pgid" 2>/dev/null || true
	pgid=""
	sleep 0.2 # let tee flush
	if grep -q '^xpu-vm: guest up' "$log"; then
		rc=$(sed -n 's/^xpu-vm: command exited with \([0-9]*\).*/\1/p' "$log" | tail -n1)
		if [ -z "$rc" ]; then
			[ $timed_out = 1 ] && log "timed out after ${timeout}s; log: $log" ||
				log "the VM died while running the command; log: $log"
			exit 124
		fi
		exit "$rc"
	fi
	[ $timed_out = 1 ] && log "VM boot $attempt timed out after ${timeout}s; log: $log" ||
		log "VM boot $attempt failed before the command started; log: $log"
done
die "VM failed to boot 3 times; see $logdir/$name.*.log"

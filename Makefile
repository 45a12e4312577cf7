# SPDX-License-Identifier: GPL-2.0
# Entry points. A newcomer needs two: `make demo` (the main job) and `make check` (all tests).
# Everything installs what it needs on first use; builds are cached in ~/.cache/xpu.
# The kernel module itself is built by Kbuild (see ./Kbuild): `make -C $KDIR M=$PWD`.

LAB := tools/lab

.PHONY: all deps kernel module vm check demo bench bench-link bench-sidecar bench-scale bench-cost clean help
all: module

help:
	@echo "make demo    boot a host VM and a DPU VM on one fabric, link them with xpu (next to virtio-net), split a pod across them"
	@echo "make check   run every test (cargo + kselftests in a VM); ends with 'N passed, N failed'"
	@echo "make bench   xpu pair against veth in one VM: throughput, CPU/GB, latency ratios"
	@echo "make bench-link  host VM and DPU VM: xpu against virtio-net, same ratios plus idle cost"
	@echo "make bench-sidecar  a pod's Envoy on the host half, the DPU half (xpu), the DPU VM (virtio-net)"
	@echo "make bench-scale  1 to 16 pods: elastic xpu against polling and busy polling (target/bench/scale.*)"
	@echo "make bench-cost   instructions per packet: xpu pair vs veth, xpu PCI loop vs virtio-net (target/bench/cost.*)"
	@echo "make deps | kernel | module | clean"
	@echo "make vm CMD='...'   run a command in a VM with xpu installed"

deps:
	@$(LAB)/deps.sh

kernel: deps
	@$(LAB)/kernel.sh

module: deps
	@$(LAB)/module.sh

vm: module
	@$(LAB)/vm.sh -- $(or $(CMD),sh -c 'modprobe xpu && lsmod')

check:
	@$(LAB)/check.sh

demo:
	@$(LAB)/demo.sh

bench:
	@$(LAB)/bench.sh $(BENCH_ARGS)

bench-link:
	@$(LAB)/bench-vms.sh link $(BENCH_ARGS)

bench-sidecar:
	@$(LAB)/bench-vms.sh sidecar $(BENCH_ARGS)

bench-scale:
	@$(LAB)/bench-scale.sh $(BENCH_ARGS)

bench-cost:
	@$(LAB)/bench-cost.sh $(BENCH_ARGS)

clean:
	@kdir=$$($(LAB)/kernel.sh 2>/dev/null) && $(MAKE) -s -C $$kdir M=$(CURDIR) clean || true
	@cargo clean -q

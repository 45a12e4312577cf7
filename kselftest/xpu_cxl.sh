#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# CXL mode on the single-VM loop: xpu_pci.sh's cases (traffic, XDP, ring depths, peer loss and
# return, hostile peer, version and configuration mismatch, unload; not the two about the
# functions' interrupts and teardown, which the window does not change) with the window in CXL
# memory, a region of the VM's CXL memory device (tools/lab/vm.sh --ivshmem 2 --cxl FILE), and
# the ivshmem functions for the doorbells only; then windows xpu must refuse, both sides
# flushing (cxl_coherent=0), and a peer that takes the medium otherwise.

XPU_MEDIUM=cxl exec "$(dirname "$(readlink -f "$0")")/xpu_pci.sh"

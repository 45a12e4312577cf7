#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Install the xpu kselftests the way an in-tree target would be: kselftest/ is laid over a copy
# of the kernel's selftest framework as tools/testing/selftests/drivers/net/xpu, then
# `make install` produces a run_kselftest.sh tree. Prints the install directory.
set -euo pipefail
. "$(dirname "$0")/common.sh"

kdir=$("$XPU_ROOT/tools/lab/kernel.sh")
src=$(readlink -f "$kdir/source")
tree=$XPU_CACHE/ksft/tree
inst=$XPU_CACHE/ksft/install
rm -rf "$tree" "$inst"
mkdir -p "$tree/tools/testing/selftests/drivers/net" "$tree/scripts" "$inst"
st=$src/tools/testing/selftests
cp -r "$st/Makefile" "$st/lib.mk" "$st/kselftest" "$st/kselftest.h" "$st/run_kselftest.sh" \
	"$tree/tools/testing/selftests/"
cp "$src/scripts/subarch.include" "$tree/scripts/"
cp -r "$XPU_ROOT/kselftest" "$tree/tools/testing/selftests/drivers/net/xpu"
if ! make -s -C "$tree/tools/testing/selftests" TARGETS=drivers/net/xpu \
	INSTALL_PATH="$inst" install >"$XPU_CACHE/ksft/install.log" 2>&1; then
	cat "$XPU_CACHE/ksft/install.log" >&2
	die "installing the kselftests failed"
fi
echo "$inst"

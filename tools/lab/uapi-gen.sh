#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Generate the C that follows from the netlink spec uapi/xpu.yaml, with the kernel's own
# generator (tools/net/ynl/pyynl/ynl_gen_c.py), which first validates the spec against the
# kernel's genetlink schema:
#   uapi/linux/xpu.h              the uapi header (link attributes and the xpu family)
#   driver/xpu_nl.h, xpu_nl.c     the family's policies and ops table, for the module
#
#   tools/lab/uapi-gen.sh          regenerate the three files
#   tools/lab/uapi-gen.sh --check  regenerate into a scratch directory and fail if the committed
#                                  files differ (the spec and the header must agree)
set -euo pipefail
. "$(dirname "$0")/common.sh"

check=0
[ "${1:-}" = "--check" ] && check=1

kdir=$("$XPU_ROOT/tools/lab/kernel.sh")
src=$(readlink -f "$kdir/source")
gen=$src/tools/net/ynl/pyynl/ynl_gen_c.py
[ -f "$gen" ] || die "$gen is missing: the kernel source has no YNL generator"

# ynl_gen_c.py expects a kernel tree around the spec: the schema next to the spec's parent
# directory (Documentation/netlink/genetlink.yaml), and a MAINTAINERS file at the root.
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/Documentation/netlink/specs" "$work/out"
touch "$work/MAINTAINERS"
cp "$src"/Documentation/netlink/*.yaml "$work/Documentation/netlink/"
cp "$XPU_ROOT/uapi/xpu.yaml" "$work/Documentation/netlink/specs/xpu.yaml"
spec=$work/Documentation/netlink/specs/xpu.yaml

run() {
	(cd "$work/out" && timeout 120 python3 "$gen" --spec "$spec" "$@") ||
		die "ynl_gen_c.py $* failed on uapi/xpu.yaml"
}
# The generated files name their source as the kernel tree would; say where ours is.
fix() { sed -i 's|Documentation/netlink/specs/xpu.yaml|uapi/xpu.yaml|' "$1"; }

run --mode uapi --header -o "$work/out/xpu.h"
run --mode kernel --header -o "$work/out/xpu_nl.h"
run --mode kernel --source -o "$work/out/xpu_nl.c"
for f in xpu.h xpu_nl.h xpu_nl.c; do fix "$work/out/$f"; done
# The kernel tree names these files xpu-nl.{c,h}; ours keep the module's underscores.
sed -i 's|#include "xpu-nl.h"|#include "xpu_nl.h"|' "$work/out/xpu_nl.c"

declare -A dest=([xpu.h]=uapi/linux/xpu.h [xpu_nl.h]=driver/xpu_nl.h [xpu_nl.c]=driver/xpu_nl.c)
status=0
for f in "${!dest[@]}"; do
	if [ $check = 1 ]; then
		if ! diff -u "$XPU_ROOT/${dest[$f]}" "$work/out/$f"; then
			log "${dest[$f]} is not what uapi/xpu.yaml generates: run tools/lab/uapi-gen.sh"
			status=1
		fi
	else
		cp "$work/out/$f" "$XPU_ROOT/${dest[$f]}"
	fi
done
exit $status

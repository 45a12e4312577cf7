#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Generate the Rust side of the C shim's contract from driver/xpu_shim.h, with bindgen and the
# C flags the kernel in $1 generated its own bindings with (its rust/bindings command line), into
# the file $2. driver/net/sys.rs includes it: every prototype and struct that crosses between
# xpu's C and Rust is written once, in the header, and a Rust caller or definition that disagrees
# with it does not compile.
#
# Only the header's own items are generated (xpu_*, not recursively): the kernel's types they
# name (struct net_device, struct sk_buff, u32, ...) resolve to the kernel crate's bindings,
# which came from the same headers. The few kernel types those bindings lack are generated
# here, opaque: xpu only passes their addresses.
#
#   tools/lab/shim-bindings.sh KDIR OUT
set -euo pipefail
. "$(dirname "$0")/common.sh"
kdir=$1 out=$2

cmdfile=$kdir/rust/bindings/.bindings_generated.rs.cmd
[ -f "$cmdfile" ] || die "$cmdfile not found: the kernel in $kdir was built without Rust bindings"
cmd=$(sed -n 's/^savedcmd_[^ ]* := //p' "$cmdfile")
# The Rust version the kernel's bindgen targets, and its C flags (after "--", before the sed
# that follows), less the dependency file and the object names of the kernel's own build: ours
# are given below. Split on spaces: the kernel quotes only the KBUILD_ names dropped here.
rust_target=$(grep -o -- '--rust-target [^ ]*' <<<"$cmd" | head -n1 | cut -d' ' -f2)
cflags=${cmd#* -- }
cflags=${cflags%%;*}
read -ra cflags <<<"$(tr ' ' '\n' <<<"$cflags" | grep -v -e '^-Wp,-MMD' -e '^-DKBUILD_' -e '^-D__KBUILD_' | tr '\n' ' ')"

lc=$(libclang_path) || true
[ -n "$lc" ] || die "libclang (PyPI wheel) not found in $XPU_VENV: run 'make deps'"
export LIBCLANG_PATH=$lc

mkdir -p "$(dirname "$out")"
tmp=$out.tmp
# What is generated, besides the header's own xpu_* functions and types:
items=(
	# the kernel types of the header's prototypes that the kernel crate's bindings lack
	--allowlist-type 'virtio_net_hdr|__virtio16|netdev_tx_t|netdev_tx|rtnl_link_stats64'
	--allowlist-type 'netdev_queue_stats_(rx|tx)'
	--allowlist-type 'packet_type' --opaque-type 'packet_type'
	--allowlist-var 'VIRTIO_NET_HDR_.*'
	--allowlist-type 'xdp_frame' --opaque-type 'xdp_frame'
	--allowlist-type 'xdp_rss_hash_type'
	# the header's own enums
	--allowlist-type 'xpu_rx_verdict'
	# exported kernel functions Rust calls directly, and what they take
	--allowlist-function 'rtnl_lock|rtnl_unlock|synchronize_net|dst_release'
	--allowlist-function 'netdev_rx_handler_(un)?register'
	--allowlist-type 'rx_handler_func_t|rx_handler_result_t|rx_handler_result'
	--allowlist-function 'nf_(un)?register_net_hooks'
	--allowlist-type 'nf_hook_state|nf_hook_ops|nf_hookfn|nf_hook_ops_type'
	--allowlist-type 'nf_inet_hooks|nf_ip_hook_priorities|nf_ip6_hook_priorities'
	--allowlist-function 'napi_complete_done|(un)?register_netdev|free_netdev'
	--allowlist-function 'netif_carrier_(on|off)|skb_copy_bits|netif_set_real_num_queues|netif_set_xps_queue'
	--allowlist-function 'net_dim|net_dim_get_rx_moderation'
	--allowlist-function 'netdev_rss_key_fill|netif_is_rxfh_configured'
	--allowlist-function 'rtnl_create_link|rtnl_configure_link|rtnl_nla_parse_ifinfomsg'
	--allowlist-function 'register_netdevice|unregister_netdevice_queue|__dev_get_by_name'
	--allowlist-function 'netif_inherit_tso_max|dev_kfree_skb_any_reason|netif_get_flags|__dev_get_by_index'
	--allowlist-function 'rtnl_link_(un)?register' --allowlist-var 'xpu_nl_family'
	--allowlist-type 'rtnl_link_ops' --opaque-type 'rtnl_link_ops'
	--allowlist-type 'rtnl_newlink_params|ifinfomsg' --allowlist-var 'IFLA_IFNAME|__IFLA_MAX|NET_NAME_(ENUM|USER)'
	--allowlist-type 'dim|dim_stats|dim_sample|dim_cq_moder|dim_state|dim_cq_period_mode'
)
# Run where the kernel's build ran: its -I./include and the like are relative to it.
(cd "$kdir" && bindgen "$XPU_ROOT/driver/xpu_shim.h" \
	--rust-target "$rust_target" --use-core --ctypes-prefix ffi --no-layout-tests \
	--no-doc-comments --no-recursive-allowlist --no-default '.*' --no-debug '.*' \
	--allowlist-function 'xpu_.*' --allowlist-type 'xpu_packet_rcv_t' \
	"${items[@]}" \
	-o "$tmp" -- "${cflags[@]}" -DKBUILD_MODNAME='"xpu"' \
	-I"$XPU_ROOT/driver" -I"$XPU_ROOT/uapi" -I"$XPU_ROOT") ||
	die "bindgen failed on driver/xpu_shim.h"
# Only a change rebuilds the module (rustc's dependency on the included file).
if cmp -s "$tmp" "$out"; then rm -f "$tmp"; else mv "$tmp" "$out"; fi

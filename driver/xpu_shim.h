/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The boundary between xpu's C shim and its Rust code.
 *
 * Linux 7.3 has no Rust abstractions for net_device, sk_buff, NAPI or rtnl_link_ops, and the
 * kernel's Rust bindings see struct net_device as opaque. So the ops tables, whose layouts
 * only C knows, live in xpu_shim.c and point at the xpu_rs_* functions below (implemented in
 * Rust, driver/net/ops.rs); and the xpu_* helpers wrap what is static inline in C. Keep this
 * file the only contract: every prototype here has one Rust declaration in driver/net/sys.rs.
 */
#ifndef XPU_SHIM_H
#define XPU_SHIM_H

#include <linux/netdevice.h>

/* --- implemented in Rust, called from the C ops tables */
int xpu_rs_dev_init(struct net_device *dev);
void xpu_rs_set_ring_size(struct net_device *dev, u32 ring_size);
u32 xpu_rs_ring_size(const struct net_device *dev);
void xpu_rs_dev_free(struct net_device *dev);
int xpu_rs_open(struct net_device *dev);
int xpu_rs_stop(struct net_device *dev);
netdev_tx_t xpu_rs_start_xmit(struct sk_buff *skb, struct net_device *dev);

/* --- implemented in C, called from Rust */
struct net_device *xpu_dev_peer_rtnl(const struct net_device *dev);
bool xpu_dev_is_up(const struct net_device *dev);
void xpu_dev_carrier_on(struct net_device *dev);
int xpu_link_register(void);
void xpu_link_unregister(void);
void *xpu_priv_rs(const struct net_device *dev);
void xpu_priv_set_rs(struct net_device *dev, void *rs);
void xpu_dev_tx_dropped_inc(struct net_device *dev);
void xpu_dev_carrier_off(struct net_device *dev);
void xpu_skb_drop(struct sk_buff *skb);

#endif /* XPU_SHIM_H */

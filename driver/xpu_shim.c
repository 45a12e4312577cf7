// SPDX-License-Identifier: GPL-2.0
/*
 * xpu C shim: the ops tables and the static inline helpers Rust cannot call in 7.3.
 * No logic lives here; see xpu_shim.h for the contract and driver/link.rs for the device.
 * Section order follows drivers/net/veth.c and netkit.c.
 */
#include <linux/etherdevice.h>
#include <linux/netdevice.h>
#include <net/rtnetlink.h>

#include "xpu_shim.h"

#define DRV_NAME	"xpu"

/* Private area of every xpu netdev: the Rust per-device state, owned by Rust. */
struct xpu_priv {
	void *rs;
};

static struct xpu_priv *xpu_priv(const struct net_device *dev)
{
	return netdev_priv(dev);
}

/* general routines, called from Rust */

void *xpu_priv_rs(const struct net_device *dev)
{
	return xpu_priv(dev)->rs;
}

void xpu_priv_set_rs(struct net_device *dev, void *rs)
{
	xpu_priv(dev)->rs = rs;
}

void xpu_dev_tx_dropped_inc(struct net_device *dev)
{
	dev_core_stats_tx_dropped_inc(dev);
}

void xpu_dev_carrier_off(struct net_device *dev)
{
	netif_carrier_off(dev);
}

void xpu_skb_drop(struct sk_buff *skb)
{
	kfree_skb_reason(skb, SKB_DROP_REASON_DEV_READY);
}

/* netdev ops */

static const struct net_device_ops xpu_netdev_ops = {
	.ndo_init		= xpu_rs_dev_init,
	.ndo_open		= xpu_rs_open,
	.ndo_stop		= xpu_rs_stop,
	.ndo_start_xmit		= xpu_rs_start_xmit,
	.ndo_get_stats64	= dev_get_tstats64,
	.ndo_set_mac_address	= eth_mac_addr,
	.ndo_validate_addr	= eth_validate_addr,
};

static void xpu_setup(struct net_device *dev)
{
	ether_setup(dev);

	dev->priv_flags |= IFF_LIVE_ADDR_CHANGE;
	dev->netdev_ops = &xpu_netdev_ops;
	dev->needs_free_netdev = true;
	/* Frees the Rust state, on unregister and on a failed register alike. */
	dev->priv_destructor = xpu_rs_dev_free;
	dev->pcpu_stat_type = NETDEV_PCPU_STAT_TSTATS;
	dev->min_mtu = ETH_MIN_MTU;
	dev->max_mtu = ETH_MAX_MTU;
	eth_hw_addr_random(dev);
}

/* netlink interface */

static struct rtnl_link_ops xpu_link_ops = {
	.kind		= DRV_NAME,
	.priv_size	= sizeof(struct xpu_priv),
	.setup		= xpu_setup,
};

/* init/fini, driven by the Rust module */

int xpu_link_register(void)
{
	return rtnl_link_register(&xpu_link_ops);
}

/* Deletes every xpu link in every namespace, then forgets the kind. */
void xpu_link_unregister(void)
{
	rtnl_link_unregister(&xpu_link_ops);
}

// SPDX-License-Identifier: GPL-2.0
/*
 * xpu C shim: the ops tables and the static inline helpers Rust cannot call in 7.3.
 * No logic lives here; see xpu_shim.h for the contract and driver/link.rs for the device.
 * Section order follows drivers/net/veth.c and netkit.c.
 */
#include <linux/etherdevice.h>
#include <linux/netdevice.h>
#include <net/rtnetlink.h>

#include <linux/xpu.h>

#include "xpu_shim.h"

#define DRV_NAME	"xpu"

/* Private area of every xpu netdev. */
struct xpu_priv {
	/* Rust per-device state, owned by Rust (driver/net/ops.rs). */
	void *rs;
	/* Pair mode: the other end. Set in newlink, cleared in dellink (RTNL). */
	struct net_device __rcu *peer;
	netdevice_tracker peer_tracker;
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

/* The other end of a pair, or NULL once it is being deleted. Caller holds RTNL. */
struct net_device *xpu_dev_peer_rtnl(const struct net_device *dev)
{
	return rtnl_dereference(xpu_priv(dev)->peer);
}

bool xpu_dev_is_up(const struct net_device *dev)
{
	return dev->flags & IFF_UP;
}

void xpu_dev_carrier_on(struct net_device *dev)
{
	netif_carrier_on(dev);
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

/* IFLA_LINK: the peer's ifindex, so `ip link` shows xpu0@xpu1. */
static int xpu_get_iflink(const struct net_device *dev)
{
	struct net_device *peer;
	int iflink;

	rcu_read_lock();
	peer = rcu_dereference(xpu_priv(dev)->peer);
	iflink = peer ? READ_ONCE(peer->ifindex) : 0;
	rcu_read_unlock();

	return iflink;
}

static const struct net_device_ops xpu_netdev_ops = {
	.ndo_init		= xpu_rs_dev_init,
	.ndo_open		= xpu_rs_open,
	.ndo_stop		= xpu_rs_stop,
	.ndo_start_xmit		= xpu_rs_start_xmit,
	.ndo_get_stats64	= dev_get_tstats64,
	.ndo_set_mac_address	= eth_mac_addr,
	.ndo_validate_addr	= eth_validate_addr,
	.ndo_get_iflink		= xpu_get_iflink,
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

/* netlink interface: pair creation and deletion, as in veth.c */

static struct rtnl_link_ops xpu_link_ops;

/*
 * The peer's default name: the first free xpu%d that is not also the name the new device
 * asked for. veth takes the first free veth%d, so `ip link add veth0 type veth` fails with
 * EEXIST; `ip link add xpu0 type xpu` gives xpu0 and xpu1.
 */
static int xpu_peer_default_name(struct net *peer_net, const struct net_device *dev,
				 const char *dev_name, char *name)
{
	int i;

	for (i = 0; i < 4096; i++) {
		snprintf(name, IFNAMSIZ, DRV_NAME "%d", i);
		if (net_eq(peer_net, dev_net(dev)) && !strcmp(name, dev_name))
			continue;
		if (!__dev_get_by_name(peer_net, name))
			return 0;
	}
	return -ENFILE;
}

/*
 * Pair mode: create the peer first (named by IFLA_XPU_PEER_INFO, else xpu%d), then dev, then
 * tie them together. Each holds a tracked reference on the other until dellink.
 */
static int xpu_newlink(struct net_device *dev, struct rtnl_newlink_params *params,
		       struct netlink_ext_ack *extack)
{
	struct net *peer_net = rtnl_newlink_peer_net(params);
	struct nlattr *peer_tb[IFLA_MAX + 1], **tbp;
	struct nlattr **data = params->data;
	struct nlattr **tb = params->tb;
	unsigned char name_assign_type;
	struct ifinfomsg *ifmp = NULL;
	struct net_device *peer;
	char ifname[IFNAMSIZ];
	int err;

	tbp = tb;
	if (data && data[IFLA_XPU_PEER_INFO]) {
		ifmp = nla_data(data[IFLA_XPU_PEER_INFO]);
		err = rtnl_nla_parse_ifinfomsg(peer_tb, data[IFLA_XPU_PEER_INFO], extack);
		if (err < 0)
			return err;
		tbp = peer_tb;
	}

	if (ifmp && tbp[IFLA_IFNAME]) {
		nla_strscpy(ifname, tbp[IFLA_IFNAME], IFNAMSIZ);
		name_assign_type = NET_NAME_USER;
	} else {
		err = xpu_peer_default_name(peer_net, dev,
					    tb[IFLA_IFNAME] ? nla_data(tb[IFLA_IFNAME]) : "", ifname);
		if (err) {
			NL_SET_ERR_MSG(extack, "no free xpu%d name for the peer");
			return err;
		}
		name_assign_type = NET_NAME_ENUM;
	}

	peer = rtnl_create_link(peer_net, ifname, name_assign_type, &xpu_link_ops, tbp, extack);
	if (IS_ERR(peer))
		return PTR_ERR(peer);

	if (ifmp && dev->ifindex)
		peer->ifindex = ifmp->ifi_index;
	netif_inherit_tso_max(peer, dev);

	err = register_netdevice(peer);
	if (err < 0) {
		free_netdev(peer);
		return err;
	}
	netif_carrier_off(peer);

	err = rtnl_configure_link(peer, ifmp, 0, NULL);
	if (err < 0)
		goto err_unregister_peer;

	if (tb[IFLA_IFNAME])
		nla_strscpy(dev->name, tb[IFLA_IFNAME], IFNAMSIZ);
	else
		snprintf(dev->name, IFNAMSIZ, DRV_NAME "%%d");

	err = register_netdevice(dev);
	if (err < 0)
		goto err_unregister_peer;
	netif_carrier_off(dev);

	rcu_assign_pointer(xpu_priv(dev)->peer, peer);
	netdev_hold(peer, &xpu_priv(dev)->peer_tracker, GFP_KERNEL);
	rcu_assign_pointer(xpu_priv(peer)->peer, dev);
	netdev_hold(dev, &xpu_priv(peer)->peer_tracker, GFP_KERNEL);
	return 0;

err_unregister_peer:
	unregister_netdevice(peer);
	return err;
}

/* Deleting either end deletes both. */
static void xpu_dellink(struct net_device *dev, struct list_head *head)
{
	netdevice_tracker *peer_tracker = &xpu_priv(dev)->peer_tracker;
	struct net_device *peer;

	peer = unrcu_pointer(xchg(&xpu_priv(dev)->peer, NULL));
	if (!peer)
		return;

	unregister_netdevice_queue(dev, head);

	dev = unrcu_pointer(xchg(&xpu_priv(peer)->peer, NULL));
	if (dev)
		unregister_netdevice_queue_net(dev_net(dev), peer, head);

	netdev_put(peer, peer_tracker);
	netdev_put(dev, &xpu_priv(peer)->peer_tracker);
}

static struct net *xpu_get_link_net(const struct net_device *dev)
{
	struct net_device *peer = rtnl_dereference(xpu_priv(dev)->peer);

	return peer ? dev_net(peer) : dev_net(dev);
}

static const struct nla_policy xpu_policy[IFLA_XPU_MAX + 1] = {
	[IFLA_XPU_PEER_INFO]	= { .len = sizeof(struct ifinfomsg) },
};

static struct rtnl_link_ops xpu_link_ops = {
	.kind		= DRV_NAME,
	.priv_size	= sizeof(struct xpu_priv),
	.setup		= xpu_setup,
	.newlink	= xpu_newlink,
	.dellink	= xpu_dellink,
	.policy		= xpu_policy,
	.maxtype	= IFLA_XPU_MAX,
	.peer_type	= IFLA_XPU_PEER_INFO,
	.get_link_net	= xpu_get_link_net,
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

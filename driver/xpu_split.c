// SPDX-License-Identifier: GPL-2.0
/*
 * Split network namespaces, the part only C can reach. The halves are Rust's
 * (driver/net/split_half.rs holds each namespace's half, driver/net/split_rx.rs moves its
 * packets, driver/splitns.rs decides); this file has what Rust cannot name in 7.3: the
 * per-namespace slot (net_generic), the packet_type, notifier and pernet tables whose
 * functions Rust hands over at registration, and the static inline
 * helpers of sk_buff, net_device, routing and genetlink, one line of kernel each.
 */

#include <linux/etherdevice.h>
#include <linux/if_ether.h>
#include <linux/netdevice.h>
#include <linux/netfilter.h>
#include <linux/skbuff.h>
#include <linux/rtnetlink.h>
#include <linux/workqueue.h>
#include <net/genetlink.h>
#include <net/addrconf.h>
#include <net/ip.h>
#include <net/ip6_route.h>
#include <net/ipv6.h>
#include <net/netfilter/nf_conntrack_core.h>
#include <net/net_namespace.h>
#include <net/netns/generic.h>
#include <net/route.h>

#include "xpu_nl.h"
#include "xpu_shim.h"

/* The kernel's values that driver/net/split_rx.rs returns, where its bindings lack them. */
static_assert(RX_HANDLER_CONSUMED == 0 && RX_HANDLER_PASS == 3);
static_assert(NET_RX_SUCCESS == 0 && NET_RX_DROP == 1);

/* --- the per-namespace slot: a namespace's half (struct Half, split_half.rs), if split */

struct xpu_net {
	void __rcu *half;
};

static unsigned int xpu_net_id __read_mostly;

static struct xpu_net *xpu_net(const struct net *net)
{
	return net_generic(net, xpu_net_id);
}

/* Under RCU or RTNL. */
void *xpu_split_half(const struct net *net)
{
	return rcu_dereference_rtnl(xpu_net(net)->half);
}

/* Under RTNL; readers see @half whole (published with release). */
void xpu_split_set_half(struct net *net, void *half)
{
	ASSERT_RTNL();
	rcu_assign_pointer(xpu_net(net)->half, half);
}

/*
 * Rust's refusals carry their message as a pointer, not the literal NL_SET_ERR_MSG wants. It is
 * a &'static CStr in the module's rodata, which outlives the request, so it is set as that macro
 * sets its literal: not copied into _msg_buf, whose 80 bytes would cut a longer message short.
 */
void xpu_extack(struct netlink_ext_ack *extack, const struct nlattr *attr, const char *msg)
{
	do_trace_netlink_extack(msg);
	if (extack)
		extack->_msg = msg;
	NL_SET_BAD_ATTR(extack, attr);
}

/* --- genetlink's static inline helpers, for the family's handlers (driver/net/genl.rs) */

struct net *xpu_genl_info_net(const struct genl_info *info)
{
	return genl_info_net(info);
}

void *xpu_genl_iput(struct sk_buff *skb, const struct genl_info *info)
{
	return genlmsg_iput(skb, info);
}

int xpu_genl_reply(struct sk_buff *skb, struct genl_info *info)
{
	return genlmsg_reply(skb, info);
}

struct net *xpu_genl_dump_net(const struct sk_buff *skb)
{
	return sock_net(skb->sk);
}

void *xpu_genl_dump_put(struct sk_buff *skb, const struct netlink_callback *cb, u8 cmd)
{
	return genlmsg_put(skb, NETLINK_CB(cb->skb).portid, cb->nlh->nlmsg_seq, &xpu_nl_family,
			   NLM_F_MULTI, cmd);
}

bool xpu_genl_ntf_wanted(struct net *net)
{
	return genl_has_listeners(&xpu_nl_family, net, XPU_NLGRP_MONITOR);
}

void xpu_genl_ntf_send(struct net *net, struct sk_buff *skb)
{
	genlmsg_multicast_netns(&xpu_nl_family, net, skb, 0, XPU_NLGRP_MONITOR, GFP_KERNEL);
}

/* --- the packets' static inline helpers (driver/net/skb.rs) */

u16 xpu_skb_protocol(const struct sk_buff *skb)
{
	return ntohs(skb->protocol);
}

/* The first @len bytes (no more than the packet's), in place or copied to @buf. */
const void *xpu_skb_header(const struct sk_buff *skb, u32 len, void *buf)
{
	return skb_header_pointer(skb, 0, len, buf);
}

/* A packet of our own to change: @skb itself, or a copy of a shared one (NULL: dropped). */
struct sk_buff *xpu_skb_unshare(struct sk_buff *skb)
{
	return skb_share_check(skb, GFP_ATOMIC);
}

bool xpu_skb_has_sock(const struct sk_buff *skb)
{
	return skb->sk;
}

void xpu_skb_reset_network_header(struct sk_buff *skb)
{
	skb_reset_network_header(skb);
}

bool xpu_skb_may_pull(struct sk_buff *skb, u32 len)
{
	return pskb_may_pull(skb, len);
}

/* The packet's bytes, linear (NULL if it cannot be made so). */
const void *xpu_skb_linear(struct sk_buff *skb)
{
	return skb_linearize(skb) ? NULL : skb->data;
}

/*
 * A new frame of @len bytes for @dev, headroom for its link-layer header reserved: NULL if
 * there is no memory; *@data is where its bytes go.
 */
struct sk_buff *xpu_skb_alloc(struct net_device *dev, u32 len, void **data)
{
	struct sk_buff *skb = alloc_skb(LL_RESERVED_SPACE(dev) + len, GFP_KERNEL);

	if (!skb)
		return NULL;
	skb_reserve(skb, LL_RESERVED_SPACE(dev));
	skb_reset_network_header(skb);
	*data = skb_put(skb, len);
	return skb;
}

/*
 * Sends @skb, which starts at its network header, on @dev as an Ethernet frame of @type:
 * whatever route, conntrack entry or timestamp it had here stays here. Only the Ethernet
 * header says @type: skb->protocol stays what it was, so that GSO and checksum fallbacks still
 * work should the link's offloads be off. Consumes @skb; true if the device took it.
 */
bool xpu_skb_send(struct sk_buff *skb, struct net_device *dev, u16 type)
{
	skb_dst_drop(skb);
	nf_reset_ct(skb);
	skb_clear_tstamp(skb);
	skb->dev = dev;
	if (!skb->protocol)		/* a frame of our own */
		skb->protocol = htons(type);
	if (skb_cow_head(skb, LL_RESERVED_SPACE(dev)) ||
	    dev_hard_header(skb, dev, type, dev->broadcast, dev->dev_addr, skb->len) < 0) {
		kfree_skb(skb);
		return false;
	}
	skb_reset_mac_header(skb);
	return dev_queue_xmit(skb) == NET_XMIT_SUCCESS;
}

/*
 * Hands @skb, an IPv4 or IPv6 packet (@proto) from the other half, to the stack as received
 * on @via: lo with @dst, its local route, as loopback would deliver it; or the link with @dst
 * NULL, routed as it comes in. Consumes @skb and @dst; true if the backlog took it.
 */
bool xpu_skb_deliver(struct sk_buff *skb, struct net_device *via, u16 proto,
		     struct dst_entry *dst)
{
	skb_scrub_packet(skb, false);
	if (dst)
		skb_dst_set(skb, dst);
	skb->dev = via;
	skb->protocol = htons(proto);
	skb->pkt_type = PACKET_HOST;
	skb_reset_transport_header(skb);
	return netif_rx(skb) == NET_RX_SUCCESS;
}

/* Rx checksum state means nothing once the packet is sent on. */
void xpu_skb_forward_csum(struct sk_buff *skb)
{
	skb_forward_csum(skb);
}

/*
 * Confirms @skb's conntrack entry, as the last LOCAL_IN hook would have (false: drop it).
 * Without conntrack there is nothing to confirm.
 */
bool xpu_skb_ct_confirm(struct sk_buff *skb)
{
#if IS_ENABLED(CONFIG_NF_CONNTRACK)
	return nf_conntrack_confirm(skb) == NF_ACCEPT;
#else
	return true;
#endif
}

/* The half of the lo whose rx_handler is running (its rx_handler_data). Under RCU. */
void *xpu_skb_rx_handler_data(const struct sk_buff *skb)
{
	return rcu_dereference(skb->dev->rx_handler_data);
}

/* --- what only the kernel knows of an address (IPv4: 4 bytes of @a; IPv6: 16) */

/* The local route from @src to @dst, for delivery through lo; NULL if @dst is not local. */
struct dst_entry *xpu_local_route(struct net *net, bool v6, const u8 *src, const u8 *dst)
{
	struct flowi6 fl6 = {};
	struct dst_entry *d;
	__be32 saddr, daddr;
	struct rtable *rt;

	if (!v6) {
		memcpy(&saddr, src, sizeof(saddr));
		memcpy(&daddr, dst, sizeof(daddr));
		rt = ip_route_output(net, daddr, saddr, 0, 0, RT_SCOPE_UNIVERSE);
		if (IS_ERR(rt))
			return NULL;
		if (rt->rt_type != RTN_LOCAL) {
			ip_rt_put(rt);
			return NULL;
		}
		return &rt->dst;
	}
	memcpy(&fl6.saddr, src, sizeof(fl6.saddr));
	memcpy(&fl6.daddr, dst, sizeof(fl6.daddr));
	d = ip6_route_output(net, NULL, &fl6);
	if (d->error || !(dst_rt6_info(d)->rt6i_flags & RTF_LOCAL)) {
		dst_release(d);
		return NULL;
	}
	return d;
}

/* Whether @a is loopback or one of @net's addresses. */
bool xpu_local_addr(struct net *net, bool v6, const u8 *a)
{
	struct in6_addr a6;
	__be32 a4;

	if (!v6) {
		memcpy(&a4, a, sizeof(a4));
		return ipv4_is_loopback(a4) || inet_addr_type(net, a4) == RTN_LOCAL;
	}
	memcpy(&a6, a, sizeof(a6));
	return ipv6_addr_loopback(&a6) || ipv6_chk_addr(net, &a6, NULL, 0);
}

/* --- devices and namespaces */

struct net *xpu_dev_net(const struct net_device *dev)
{
	return dev_net(dev);
}

int xpu_dev_ifindex(const struct net_device *dev)
{
	return dev->ifindex;
}

/* Up, with a carrier: what it sends is not dropped at once. */
bool xpu_dev_link_ok(const struct net_device *dev)
{
	return netif_running(dev) && netif_carrier_ok(dev);
}

void xpu_dev_hold(struct net_device *dev)
{
	dev_hold(dev);
}

void xpu_dev_put(struct net_device *dev)
{
	dev_put(dev);
}

void xpu_dev_warn(const struct net_device *dev, const char *msg)
{
	net_warn_ratelimited("%s: %s\n", dev->name, msg);
}

struct net_device *xpu_net_loopback(const struct net *net)
{
	return net->loopback_dev;
}

/* ip_local_port_range, as one word (high << 16 | low). */
u32 xpu_net_port_range(const struct net *net)
{
	return READ_ONCE(net->ipv4.ip_local_ports.range);
}

void xpu_net_set_port_range(struct net *net, u32 range)
{
	WRITE_ONCE(net->ipv4.ip_local_ports.range, range);
}

bool xpu_work_schedule(struct work_struct *work)
{
	return schedule_work(work);
}

/* --- registration: the tables point at the functions split_half.rs hands over */

static struct packet_type xpu_local_pt __read_mostly;
static struct packet_type xpu_sync_pt __read_mostly;
static void (*xpu_split_dev_event)(struct net_device *dev, bool gone);

static int xpu_split_netdev_event(struct notifier_block *nb, unsigned long event, void *ptr)
{
	struct net_device *dev = netdev_notifier_info_to_dev(ptr);

	if (!xpu_dev_is_xpu(dev))
		return NOTIFY_DONE;
	switch (event) {
	case NETDEV_UNREGISTER:		/* deleted, or moved to another namespace */
		xpu_split_dev_event(dev, true);
		break;
	case NETDEV_UP:
	case NETDEV_DOWN:
	case NETDEV_CHANGE:		/* carrier */
		xpu_split_dev_event(dev, false);
		break;
	}
	return NOTIFY_DONE;
}

static struct notifier_block xpu_split_nb = {
	.notifier_call = xpu_split_netdev_event,
};

static struct pernet_operations xpu_split_net_ops = {
	.id	= &xpu_net_id,
	.size	= sizeof(struct xpu_net),
};

/*
 * Registers the per-namespace slot (@net_exit unsplits a namespace that goes away), the netdev
 * events of xpu links (@dev_event), the receive handlers of the link's ethertypes @local_type
 * (steered packets, @local_rcv) and @sync_type (snapshots, @sync_rcv), then the family.
 */
int xpu_split_register(void (*net_exit)(struct net *net),
		       void (*dev_event)(struct net_device *dev, bool gone),
		       u16 local_type, xpu_packet_rcv_t *local_rcv,
		       u16 sync_type, xpu_packet_rcv_t *sync_rcv)
{
	int err;

	xpu_split_net_ops.exit = net_exit;
	xpu_split_dev_event = dev_event;
	xpu_local_pt.type = htons(local_type);
	xpu_local_pt.func = local_rcv;
	xpu_sync_pt.type = htons(sync_type);
	xpu_sync_pt.func = sync_rcv;
	err = register_pernet_subsys(&xpu_split_net_ops);
	if (err)
		return err;
	err = register_netdevice_notifier(&xpu_split_nb);
	if (err)
		goto err_pernet;
	dev_add_pack(&xpu_local_pt);
	dev_add_pack(&xpu_sync_pt);
	err = genl_register_family(&xpu_nl_family);
	if (err)
		goto err_packs;
	return 0;

err_packs:
	dev_remove_pack(&xpu_sync_pt);
	dev_remove_pack(&xpu_local_pt);
	unregister_netdevice_notifier(&xpu_split_nb);
err_pernet:
	unregister_pernet_subsys(&xpu_split_net_ops);
	return err;
}

void xpu_split_unregister(void)
{
	genl_unregister_family(&xpu_nl_family);
	dev_remove_pack(&xpu_sync_pt);
	dev_remove_pack(&xpu_local_pt);
	unregister_netdevice_notifier(&xpu_split_nb);
	unregister_pernet_subsys(&xpu_split_net_ops);
}

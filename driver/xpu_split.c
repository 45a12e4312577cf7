// SPDX-License-Identifier: GPL-2.0
/*
 * Split network namespaces, the part only C can reach: the per-namespace state, the loopback
 * tap that steers packets across the link, the receive handlers of the link's two ethertypes,
 * the netdev events, and the static inline genetlink helpers that the "xpu" family's handlers
 * need (the handlers are Rust, driver/net/split_nl.rs; the policies and ops table are
 * generated from uapi/xpu.yaml into xpu_nl.c). driver/splitns.rs decides everything: what a
 * packet's headers say, which port is whose, which packet to steer and what to do with one from
 * across (with the rules of uapi/src/steer.rs), what a peer's snapshot means. This file hands
 * it the headers, asks the kernel what only it knows (is an address local, the local route),
 * and moves packets.
 *
 * Steering taps the namespace's loopback device (an rx_handler on lo): a packet for
 * 127.0.0.1, ::1 or a pod address has then been through the whole output path (routing,
 * netfilter if any, GSO kept whole by lo), and it only has to change wires. Across the link it
 * travels as an Ethernet frame of type ETH_P_XPU_LOCAL; the far side routes it to a local
 * destination and hands it to its own lo, so the server sees what loopback would show it.
 *
 * The DPU half is the pod's edge: traffic from outside the pod enters there. A packet for the
 * pod address that came in through any other device (the pod's uplink) and that is for a port
 * the other half owns crosses the link as well, taken after the DPU half's netfilter has had
 * its say (a LOCAL_IN hook, so a REDIRECT to a sidecar there keeps the packet). A packet from
 * outside the pod is delivered on the far side as if it had come in on the link, so the
 * application sees the client's address and answers through the link (its default route),
 * which the DPU half forwards out of the pod like a router.
 */

#include <linux/etherdevice.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/netdevice.h>
#include <linux/netfilter.h>
#include <linux/netfilter_ipv4.h>
#include <linux/netfilter_ipv6.h>
#include <linux/skbuff.h>
#include <linux/rtnetlink.h>
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

/* uapi/src/sync.rs: IEEE 802 local experimental ethertypes, never seen off the link. */
#define ETH_P_XPU_LOCAL	0x88b5
#define ETH_P_XPU_SYNC	0x88b6

/* struct xpu_flow and enum xpu_arrival cross to Rust: driver/net/split.rs checks the same. */
static_assert(XPU_FLOW_HEADERS == 130);
static_assert(sizeof(struct xpu_flow) == 36 && offsetof(struct xpu_flow, port) == 2 &&
	      offsetof(struct xpu_flow, src) == 4 && offsetof(struct xpu_flow, dst) == 20);
static_assert(XPU_ARRIVAL_DROP == 0 && XPU_ARRIVAL_LOOPBACK == 1 && XPU_ARRIVAL_LINK == 2);

/* What xpu_split_work() has to do. */
enum {
	XPU_SPLIT_W_SEND,	/* send our snapshot */
	XPU_SPLIT_W_ASK,	/* send our snapshot and ask for the peer's */
	XPU_SPLIT_W_NOTIFY,	/* tell the monitor group the split namespace changed */
};

/* One half of a split namespace: owned by its network namespace (struct xpu_net). */
struct xpu_split {
	const void *rs;			/* Arc<SplitNs>, driver/net/split.rs */
	struct net *net;
	struct net_device *dev;		/* the xpu link, held */
	netdevice_tracker dev_tracker;
	struct net_device *lo;		/* the namespace's loopback, tapped */
	struct nf_hook_ops edge[2];	/* LOCAL_IN, IPv4 and IPv6: from outside the pod */
	u32 saved_range;		/* ip_local_port_range before the split */
	unsigned long todo;
	struct work_struct work;
};

struct xpu_net {
	struct xpu_split __rcu *split;
};

static unsigned int xpu_net_id __read_mostly;

static struct xpu_net *xpu_net(const struct net *net)
{
	return net_generic(net, xpu_net_id);
}

static struct xpu_split *xpu_split_rtnl(const struct net *net)
{
	return rtnl_dereference(xpu_net(net)->split);
}

/* The split namespace whose link is @dev, if any. Under RCU. */
static struct xpu_split *xpu_split_of(const struct net_device *dev)
{
	struct xpu_split *s = rcu_dereference(xpu_net(dev_net(dev))->split);

	return s && s->dev == dev ? s : NULL;
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

void *xpu_genl_ntf_put(struct sk_buff *skb, u8 cmd)
{
	return genlmsg_put(skb, 0, 0, &xpu_nl_family, 0, cmd);
}

bool xpu_genl_ntf_wanted(struct net *net)
{
	return genl_has_listeners(&xpu_nl_family, net, XPU_NLGRP_MONITOR);
}

void xpu_genl_ntf_send(struct net *net, struct sk_buff *skb)
{
	genlmsg_multicast_netns(&xpu_nl_family, net, skb, 0, XPU_NLGRP_MONITOR, GFP_KERNEL);
}

static void xpu_split_notify(struct xpu_split *s, bool deleted)
{
	xpu_rs_split_notify(s->rs, s->net, s->dev->ifindex, deleted);
}

/* --- the link: snapshots and steered packets */

/* Sends our snapshot (split: false says goodbye). Process context. */
static void xpu_split_send(struct xpu_split *s, bool split, bool ask)
{
	struct net_device *dev = s->dev;
	u32 len = xpu_rs_split_msg_len();
	struct sk_buff *skb;

	/* Without a carrier it would be dropped; the carrier's return sends one. */
	if (!netif_running(dev) || !netif_carrier_ok(dev))
		return;
	skb = alloc_skb(LL_RESERVED_SPACE(dev) + len, GFP_KERNEL);
	if (!skb)
		return;
	skb_reserve(skb, LL_RESERVED_SPACE(dev));
	skb_reset_network_header(skb);
	if (xpu_rs_split_snapshot(s->rs, skb_put(skb, len), len, split, ask))
		goto drop;
	skb->dev = dev;
	skb->protocol = htons(ETH_P_XPU_SYNC);
	if (dev_hard_header(skb, dev, ETH_P_XPU_SYNC, dev->broadcast, dev->dev_addr, len) < 0)
		goto drop;
	dev_queue_xmit(skb);
	return;
drop:
	kfree_skb(skb);
}

static void xpu_split_work(struct work_struct *work)
{
	struct xpu_split *s = container_of(work, struct xpu_split, work);
	bool ask = test_and_clear_bit(XPU_SPLIT_W_ASK, &s->todo);

	if (test_and_clear_bit(XPU_SPLIT_W_SEND, &s->todo) || ask)
		xpu_split_send(s, true, ask);
	if (test_and_clear_bit(XPU_SPLIT_W_NOTIFY, &s->todo))
		xpu_split_notify(s, false);
}

static void xpu_split_later(struct xpu_split *s, int what)
{
	set_bit(what, &s->todo);
	schedule_work(&s->work);
}

/*
 * Sends @skb, an IPv4 or IPv6 packet for a local address and a port the other half owns,
 * across the link, and counts it. Consumes @skb, which must not be shared.
 */
static void xpu_split_cross(struct xpu_split *s, struct sk_buff *skb)
{
	/*
	 * The receive pulled its Ethernet header; give the packet ours instead. Only the header
	 * says ETH_P_XPU_LOCAL: skb->protocol stays IPv4 or IPv6, so that GSO and checksum
	 * fallbacks still work should the link's offloads be off.
	 */
	skb_dst_drop(skb);
	nf_reset_ct(skb);
	skb_clear_tstamp(skb);
	skb->dev = s->dev;
	if (skb_cow_head(skb, LL_RESERVED_SPACE(s->dev)) ||
	    dev_hard_header(skb, s->dev, ETH_P_XPU_LOCAL, s->dev->broadcast, s->dev->dev_addr,
			    skb->len) < 0) {
		kfree_skb(skb);
		return;
	}
	skb_reset_mac_header(skb);
	if (dev_queue_xmit(skb) == NET_XMIT_SUCCESS)
		xpu_rs_split_count(s->rs, false);
}

/*
 * What @skb's headers say, into @f: false for a packet no split steers (driver/splitns.rs
 * reads them). Through a copy where they are not linear: the skb may be shared with a packet
 * tap, or not yet pulled (a frame from the peer).
 */
static bool xpu_flow_read(struct xpu_flow *f, const struct sk_buff *skb)
{
	u32 len = min_t(u32, skb->len, XPU_FLOW_HEADERS);
	u8 buf[XPU_FLOW_HEADERS];
	const void *h;

	h = skb_header_pointer(skb, 0, len, buf);
	return h && xpu_rs_flow_read(h, len, f);
}

/*
 * The tap on the namespace's lo: a TCP or UDP packet, or an ICMP error about one, that
 * driver/splitns.rs says goes across (for a shared address, a port the other half owns) goes
 * across the link instead. Runs in lo's receive path (softirq, RCU).
 */
static rx_handler_result_t xpu_split_tap(struct sk_buff **pskb)
{
	struct sk_buff *skb = *pskb;
	struct xpu_split *s = rcu_dereference(skb->dev->rx_handler_data);
	struct xpu_flow f;

	if ((skb->protocol != htons(ETH_P_IP) && skb->protocol != htons(ETH_P_IPV6)) ||
	    !xpu_flow_read(&f, skb) || !xpu_rs_split_tap(s->rs, &f))
		return RX_HANDLER_PASS;

	skb = skb_share_check(skb, GFP_ATOMIC);
	if (skb)
		xpu_split_cross(s, skb);
	return RX_HANDLER_CONSUMED;
}

#if IS_ENABLED(CONFIG_NETFILTER)
/*
 * The edge, at LOCAL_IN for IPv4 and IPv6: a TCP or UDP packet from outside the pod (not lo,
 * not the link), or an ICMP error about one of the pod's (a router's "fragmentation needed"),
 * that driver/splitns.rs says goes across (for the pod address, a port the other half owns)
 * goes across. LOCAL_IN runs after this half's PREROUTING (a REDIRECT or DNAT to a
 * sidecar here has changed the port already), after reassembly, and after its INPUT filter.
 * A packet that found a socket of this half (TPROXY, early demux) stays here.
 */
static unsigned int xpu_split_edge_in(void *priv, struct sk_buff *skb,
				      const struct nf_hook_state *state)
{
	struct xpu_split *s = priv;
	struct xpu_flow f;

	if (state->in == s->dev || (state->in->flags & IFF_LOOPBACK) || skb->sk ||
	    !xpu_flow_read(&f, skb) || !xpu_rs_split_edge(s->rs, &f))
		return NF_ACCEPT;
#if IS_ENABLED(CONFIG_NF_CONNTRACK)
	/*
	 * This half routes the flow, so its conntrack keeps the flow whole, as a router's does:
	 * confirmed here, as the last LOCAL_IN hook would have, so that the other half's answers,
	 * which leave through this half, are its replies and not new connections that a rule
	 * here (a sidecar's redirect of what comes in on the link) would take.
	 */
	if (nf_conntrack_confirm(skb) != NF_ACCEPT)
		return NF_DROP;
#endif
	skb = skb_share_check(skb, GFP_ATOMIC);
	if (skb) {
		skb_forward_csum(skb);	/* a receive checksum means nothing once sent on */
		xpu_split_cross(s, skb);
	}
	return NF_STOLEN;
}
#endif

/*
 * Hands @skb, a packet from the other half for this one, to the stack as received on @via:
 * lo, as loopback would deliver it (with @dst, the local route); or the link, as any NIC
 * would deliver a packet from outside the pod (@dst NULL: routed as it comes in).
 */
static int xpu_local_deliver(struct xpu_split *s, struct sk_buff *skb, struct net_device *via,
			     __be16 proto, struct dst_entry *dst)
{
	skb_scrub_packet(skb, false);
	if (dst)
		skb_dst_set(skb, dst);
	skb->dev = via;
	skb->protocol = proto;
	skb->pkt_type = PACKET_HOST;
	skb_reset_transport_header(skb);
	if (netif_rx(skb) == NET_RX_SUCCESS)
		xpu_rs_split_count(s->rs, true);
	return NET_RX_SUCCESS;
}

/* The local route to @f's destination, for delivery through lo; NULL if it has none. */
static struct dst_entry *xpu_local_route(struct net *net, const struct xpu_flow *f)
{
	struct flowi6 fl6 = {};
	struct dst_entry *dst;
	__be32 saddr, daddr;
	struct rtable *rt;

	if (f->family == 4) {
		memcpy(&saddr, f->src, sizeof(saddr));
		memcpy(&daddr, f->dst, sizeof(daddr));
		rt = ip_route_output(net, daddr, saddr, 0, 0, RT_SCOPE_UNIVERSE);
		if (IS_ERR(rt))
			return NULL;
		if (rt->rt_type != RTN_LOCAL) {
			ip_rt_put(rt);
			return NULL;
		}
		return &rt->dst;
	}
	memcpy(&fl6.saddr, f->src, sizeof(fl6.saddr));
	memcpy(&fl6.daddr, f->dst, sizeof(fl6.daddr));
	dst = ip6_route_output(net, NULL, &fl6);
	if (dst->error || !(dst_rt6_info(dst)->rt6i_flags & RTF_LOCAL)) {
		dst_release(dst);
		return NULL;
	}
	return dst;
}

/* Whether @f's source is loopback or one of this namespace's addresses: inside the pod. */
static bool xpu_local_src(struct net *net, const struct xpu_flow *f)
{
	struct in6_addr a6;
	__be32 a4;

	if (f->family == 4) {
		memcpy(&a4, f->src, sizeof(a4));
		return ipv4_is_loopback(a4) || inet_addr_type(net, a4) == RTN_LOCAL;
	}
	memcpy(&a6, f->src, sizeof(a6));
	return ipv6_addr_loopback(&a6) || ipv6_chk_addr(net, &a6, NULL, 0);
}

/*
 * A steered packet from the other half. The peer is not trusted: driver/splitns.rs says
 * whether it is this half's to take, and how (through lo as loopback would, or, from outside
 * the pod, as if it had come in on the link); anything else is dropped and counted.
 */
static int xpu_local_rcv(struct sk_buff *skb, struct net_device *dev, struct packet_type *pt,
			 struct net_device *orig_dev)
{
	struct net *net = dev_net(dev);
	struct dst_entry *dst;
	struct xpu_split *s;
	struct xpu_flow f;
	unsigned int len;
	__be16 proto;

	skb = skb_share_check(skb, GFP_ATOMIC);
	if (!skb)
		return NET_RX_DROP;
	if (!xpu_dev_is_xpu(dev))
		goto drop;
	s = xpu_split_of(dev);
	if (!s)
		goto drop;	/* not split here: nothing to count it against */
	skb_reset_network_header(skb);
	if (!xpu_flow_read(&f, skb))
		goto refuse;
	/* The IP header whole and linear for the stack, and no longer than the frame. */
	if (f.family == 4) {
		proto = htons(ETH_P_IP);
		if (!pskb_may_pull(skb, sizeof(struct iphdr)) ||
		    !pskb_may_pull(skb, ip_hdrlen(skb)))
			goto refuse;
		len = ntohs(ip_hdr(skb)->tot_len);
	} else {
		proto = htons(ETH_P_IPV6);
		if (!pskb_may_pull(skb, sizeof(struct ipv6hdr)))
			goto refuse;
		len = sizeof(struct ipv6hdr) + ntohs(ipv6_hdr(skb)->payload_len);
	}
	if (len > skb->len)
		goto refuse;
	switch (xpu_rs_split_arrival(s->rs, &f, xpu_local_src(net, &f))) {
	case XPU_ARRIVAL_LOOPBACK:
		dst = xpu_local_route(net, &f);
		if (!dst)
			goto refuse;
		return xpu_local_deliver(s, skb, net->loopback_dev, proto, dst);
	case XPU_ARRIVAL_LINK:
		return xpu_local_deliver(s, skb, dev, proto, NULL);
	default:
		goto refuse;
	}
refuse:
	xpu_rs_split_refused(s->rs);
drop:
	kfree_skb(skb);
	return NET_RX_DROP;
}

/* A snapshot from the other half. */
static int xpu_sync_rcv(struct sk_buff *skb, struct net_device *dev, struct packet_type *pt,
			struct net_device *orig_dev)
{
	struct xpu_split *s;
	u32 todo;

	skb = skb_share_check(skb, GFP_ATOMIC);	/* skb_linearize() below changes it */
	if (!skb)
		return NET_RX_DROP;
	if (!xpu_dev_is_xpu(dev))
		goto drop;
	s = xpu_split_of(dev);
	/* Not split here: the peer's view of us stays "unknown". */
	if (!s || skb_linearize(skb))
		goto drop;
	todo = xpu_rs_split_receive(s->rs, skb->data, skb->len);
	if (todo & XPU_SPLIT_TODO_BAD) {
		net_warn_ratelimited("%s: malformed port snapshot from the peer, ignored\n",
				     dev->name);
		goto drop;
	}
	if (todo & (XPU_SPLIT_TODO_REPLY | XPU_SPLIT_TODO_YIELDED))
		xpu_split_later(s, XPU_SPLIT_W_SEND);
	if (todo & XPU_SPLIT_TODO_NOTIFY)
		xpu_split_later(s, XPU_SPLIT_W_NOTIFY);
	if (todo & XPU_SPLIT_TODO_YIELDED)
		net_warn_ratelimited("%s: ports claimed by both halves at once go to the host half\n",
				     dev->name);
	consume_skb(skb);
	return NET_RX_SUCCESS;
drop:
	kfree_skb(skb);
	return NET_RX_DROP;
}

static struct packet_type xpu_local_pt __read_mostly = {
	.type	= cpu_to_be16(ETH_P_XPU_LOCAL),
	.func	= xpu_local_rcv,
};

static struct packet_type xpu_sync_pt __read_mostly = {
	.type	= cpu_to_be16(ETH_P_XPU_SYNC),
	.func	= xpu_sync_rcv,
};

/* --- life cycle, under RTNL */

/* Unsplits: nothing is steered or delivered any more once it returns. */
static void xpu_split_destroy(struct xpu_split *s, bool bye)
{
	RCU_INIT_POINTER(xpu_net(s->net)->split, NULL);
#if IS_ENABLED(CONFIG_NETFILTER)
	nf_unregister_net_hooks(s->net, s->edge, ARRAY_SIZE(s->edge));
#endif
	netdev_rx_handler_unregister(s->lo);	/* waits for the tap's users */
	WRITE_ONCE(s->net->ipv4.ip_local_ports.range, s->saved_range);
	synchronize_net();			/* and for the hook's and receive handlers' */
	cancel_work_sync(&s->work);
	if (bye)
		xpu_split_send(s, false, false);
	xpu_split_notify(s, true);
	netdev_put(s->dev, &s->dev_tracker);
	xpu_rs_split_free(s->rs);
	kfree(s);
}

/*
 * The xpu link @ifindex of @net, and its role (enum xpu_link_role): NULL if it has no xpu link
 * of that index.
 */
struct net_device *xpu_split_link(struct net *net, u32 ifindex, u32 *role)
{
	struct net_device *dev = __dev_get_by_index(net, ifindex);

	ASSERT_RTNL();
	if (!dev || !xpu_dev_is_xpu(dev))
		return NULL;
	*role = xpu_rs_role(dev);
	return dev;
}

/* The half @net is split into (its Arc<SplitNs>), and its link's @ifindex; NULL if none. */
const void *xpu_split_rs(const struct net *net, int *ifindex)
{
	struct xpu_split *s = xpu_split_rtnl(net);

	if (!s)
		return NULL;
	*ifindex = s->dev->ifindex;
	return s->rs;
}

/*
 * Splits @net with @rs, over its xpu link @dev: taps lo, hooks the edge, applies the half's
 * ephemeral range @lo..@hi, and asks the peer for its snapshot. On success the split owns @rs
 * (xpu_split_destroy() gives it back to xpu_rs_split_free()); on failure the caller still does,
 * and @msg says why. @net has no split (the caller checked, under the same RTNL).
 */
int xpu_split_attach(struct net *net, struct net_device *dev, const void *rs, u16 lo, u16 hi,
		     const char **msg)
{
	struct xpu_split *s;
	int err;

	ASSERT_RTNL();
	s = kzalloc(sizeof(*s), GFP_KERNEL);
	if (!s) {
		*msg = "out of memory";
		return -ENOMEM;
	}
	s->rs = rs;
	s->net = net;
	s->dev = dev;
	s->lo = net->loopback_dev;
	INIT_WORK(&s->work, xpu_split_work);
	err = netdev_rx_handler_register(s->lo, xpu_split_tap, s);
	if (err) {
		*msg = "another module taps this namespace's loopback device";
		goto err_free;
	}
#if IS_ENABLED(CONFIG_NETFILTER)
	s->edge[0] = (struct nf_hook_ops) {
		.hook		= xpu_split_edge_in,
		.priv		= s,
		.pf		= NFPROTO_IPV4,
		.hooknum	= NF_INET_LOCAL_IN,
		.priority	= NF_IP_PRI_FILTER + 1,
	};
	s->edge[1] = (struct nf_hook_ops) {
		.hook		= xpu_split_edge_in,
		.priv		= s,
		.pf		= NFPROTO_IPV6,
		.hooknum	= NF_INET_LOCAL_IN,
		.priority	= NF_IP6_PRI_FILTER + 1,
	};
	err = nf_register_net_hooks(net, s->edge, ARRAY_SIZE(s->edge));
	if (err) {
		*msg = "cannot hook this namespace's local input";
		goto err_tap;
	}
#endif
	netdev_hold(dev, &s->dev_tracker, GFP_KERNEL);
	s->saved_range = READ_ONCE(net->ipv4.ip_local_ports.range);
	WRITE_ONCE(net->ipv4.ip_local_ports.range, (u32)hi << 16 | lo);
	rcu_assign_pointer(xpu_net(net)->split, s);
	xpu_split_later(s, XPU_SPLIT_W_ASK);
	return 0;

#if IS_ENABLED(CONFIG_NETFILTER)
err_tap:
	netdev_rx_handler_unregister(s->lo);
#endif
err_free:
	kfree(s);
	return err;
}

/* Unsplits @net, saying goodbye to the peer; false if it was not split. */
bool xpu_split_detach(struct net *net)
{
	struct xpu_split *s = xpu_split_rtnl(net);

	if (!s)
		return false;
	xpu_split_destroy(s, true);
	return true;
}

/* Our ports changed: the peer gets our new snapshot. */
void xpu_split_changed(struct net *net)
{
	struct xpu_split *s = xpu_split_rtnl(net);

	if (s)
		xpu_split_later(s, XPU_SPLIT_W_SEND);
}

/* --- events */

static int xpu_split_netdev_event(struct notifier_block *nb, unsigned long event, void *ptr)
{
	struct net_device *dev = netdev_notifier_info_to_dev(ptr);
	struct xpu_split *s;

	if (!xpu_dev_is_xpu(dev))
		return NOTIFY_DONE;
	s = xpu_split_rtnl(dev_net(dev));
	if (!s || s->dev != dev)
		return NOTIFY_DONE;
	switch (event) {
	case NETDEV_UNREGISTER:		/* deleted, or moved to another namespace */
		xpu_split_destroy(s, false);
		break;
	case NETDEV_UP:
	case NETDEV_DOWN:
	case NETDEV_CHANGE:		/* carrier */
		if (netif_running(dev) && netif_carrier_ok(dev))
			xpu_split_later(s, XPU_SPLIT_W_ASK);
		else if (xpu_rs_split_peer_lost(s->rs))
			xpu_split_later(s, XPU_SPLIT_W_NOTIFY);
		break;
	}
	return NOTIFY_DONE;
}

static struct notifier_block xpu_split_nb = {
	.notifier_call = xpu_split_netdev_event,
};

static void __net_exit xpu_split_net_exit(struct net *net)
{
	struct xpu_split *s;

	rtnl_lock();
	s = xpu_split_rtnl(net);
	if (s)
		xpu_split_destroy(s, true);
	rtnl_unlock();
}

static struct pernet_operations xpu_split_net_ops = {
	.exit	= xpu_split_net_exit,
	.id	= &xpu_net_id,
	.size	= sizeof(struct xpu_net),
};

int xpu_split_register(void)
{
	int err;

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

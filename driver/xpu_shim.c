// SPDX-License-Identifier: GPL-2.0
/*
 * xpu C shim: what Rust cannot reach in 7.3 (struct net_device is opaque to its bindings):
 * the ops tables, the static inline helpers, and the rtnl pair plumbing, which follows
 * veth.c line for line. Device logic lives in Rust (driver/link.rs); xpu_shim.h is the
 * contract. Section order follows drivers/net/veth.c and netkit.c.
 */
#include <linux/dim.h>
#include <linux/etherdevice.h>
#include <linux/ethtool.h>
#include <linux/io.h>
#include <linux/netdevice.h>
#include <linux/pci.h>
#include <linux/virtio_net.h>
#include <net/rtnetlink.h>

#include <linux/xpu.h>
#include <linux/xpu_shm.h>

#include "xpu_shim.h"

#define DRV_NAME	"xpu"

/* What crosses the link as metadata (see xpu_skb_tx_meta): one descriptor per GSO packet. */
#define XPU_FEATURES	(NETIF_F_SG | NETIF_F_HW_CSUM | NETIF_F_RXCSUM | NETIF_F_HIGHDMA | \
			 NETIF_F_FRAGLIST | NETIF_F_TSO | NETIF_F_TSO6 | NETIF_F_TSO_ECN | \
			 NETIF_F_GSO_UDP_L4)
/* A packet and its Ethernet header fit in one descriptor's data (driver/link.rs). */
#define XPU_TSO_MAX_SIZE	GSO_LEGACY_MAX_SIZE

/* One RX queue: its NAPI context and what moderates its doorbells. */
struct xpu_rxq {
	struct napi_struct napi;
	/* rx-usecs: one poll after a coalesced re-arm (driver/queue.rs). */
	struct hrtimer timer;
	/* adaptive-rx: the kernel's DIM picks usecs/frames from the traffic. */
	struct dim dim;
	/* PCI mode: the IRQ of its doorbells (MSI-X vector 1 + q), or -1. */
	int irq;
	/* Current moderation: ethtool -C's, or DIM's choice. */
	u32 usecs;
	u32 frames;
	bool adaptive;
};

/* Private area of every xpu netdev. */
struct xpu_priv {
	/* Rust per-device state, owned by Rust (driver/net/ops.rs). */
	void *rs;
	/* Pair mode: the other end. Set in newlink, cleared in dellink (RTNL). */
	struct net_device __rcu *peer;
	netdevice_tracker peer_tracker;
	/* PCI mode: the handshake with the other side (driver/handshake.rs), run in process
	 * context under RTNL when the control doorbell rings.
	 */
	struct work_struct ctrl_work;
	struct net_device *dev;
	/* All RX queues are set up in ndo_init; the first napi_on are listed and enabled. */
	unsigned int napi_on;
	struct xpu_rxq rxq[XPU_SHM_MAX_QUEUES];
};

static struct xpu_rxq *xpu_napi_rxq(struct napi_struct *napi)
{
	return container_of(napi, struct xpu_rxq, napi);
}

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

void xpu_dev_carrier_off(struct net_device *dev)
{
	netif_carrier_off(dev);
}

/* ethtool interface: the ops are Rust's (driver/net/ethtool.rs), the table C's */

/*
 * Each CPU transmits on one queue, CPU i on queue i mod n, as virtio-net sets it up: no flow
 * hash per packet (a UDP socket without a cached route hashes every one: in a small-packet
 * ping-pong, about a quarter of what xpu cost over veth), and one CPU's packets stay in order
 * on one ring. Set again when the queue count changes; the user can change it in sysfs. Best
 * effort: without a map the core hashes, as before.
 */
static void xpu_set_xps(struct net_device *dev)
{
	unsigned int n = dev->real_num_tx_queues, q;
	cpumask_var_t mask;
	int cpu;

	if (!n || !zalloc_cpumask_var(&mask, GFP_KERNEL))
		return;
	for (q = 0; q < n; q++) {
		cpumask_clear(mask);
		for_each_possible_cpu(cpu)
			if (cpu % n == q)
				cpumask_set_cpu(cpu, mask);
		netif_set_xps_queue(dev, mask, q);
	}
	free_cpumask_var(mask);
}

/* Uses @n of the device's queues, TX and RX alike, with their XPS map. Under RTNL. */
int xpu_dev_set_queues(struct net_device *dev, unsigned int n)
{
	int err = netif_set_real_num_queues(dev, n, n);

	if (!err)
		xpu_set_xps(dev);
	return err;
}

/* The most queues the device can use: what alloc_netdev_mqs() gave it, each direction. */
unsigned int xpu_dev_alloc_queues(const struct net_device *dev)
{
	return min(dev->num_tx_queues, dev->num_rx_queues);
}

unsigned int xpu_num_online_cpus(void)
{
	return num_online_cpus();
}

bool xpu_dev_running(const struct net_device *dev)
{
	return netif_running(dev);
}

/*
 * The polling baseline (ethtool's busy-poll flag, driver/net/ethtool.rs): every NAPI of @dev
 * polls in a kernel thread without pause, or (off) back to softirq. Off also ends plain
 * threaded NAPI only if busy polling was on: another mode the user chose stays.
 */
bool xpu_dev_busy_poll(const struct net_device *dev)
{
	return READ_ONCE(dev->threaded) == NETDEV_NAPI_THREADED_BUSY_POLL;
}

int xpu_dev_set_busy_poll(struct net_device *dev, bool on)
{
	if (on == xpu_dev_busy_poll(dev))
		return 0;
	return dev_set_threaded(dev, on ? NETDEV_NAPI_THREADED_BUSY_POLL :
				      NETDEV_NAPI_THREADED_DISABLED);
}

/* Sets every RX queue's doorbell moderation to @m (ethtool -C, decided by driver/link.rs). */
void xpu_rx_moderation_set(struct net_device *dev, const struct xpu_moder *m)
{
	struct xpu_priv *priv = xpu_priv(dev);
	int i;

	for (i = 0; i < XPU_SHM_MAX_QUEUES; i++) {
		struct xpu_rxq *rxq = &priv->rxq[i];

		WRITE_ONCE(rxq->adaptive, m->adaptive);
		/*
		 * A DIM update in flight must not overwrite the new values; once cancelled, DIM
		 * starts measuring afresh (as in xpu_napi_disable) for when adaptive-rx is back.
		 */
		if (!m->adaptive) {
			cancel_work_sync(&rxq->dim.work);
			WRITE_ONCE(rxq->dim.state, DIM_START_MEASURE);
		}
		WRITE_ONCE(rxq->usecs, m->usecs);
		WRITE_ONCE(rxq->frames, m->frames);
	}
}

static const struct ethtool_ops xpu_ethtool_ops = {
	.supported_coalesce_params = ETHTOOL_COALESCE_RX_USECS | ETHTOOL_COALESCE_RX_MAX_FRAMES |
				     ETHTOOL_COALESCE_USE_ADAPTIVE_RX,
	.get_drvinfo		= xpu_rs_get_drvinfo,
	.get_link		= ethtool_op_get_link,
	.get_strings		= xpu_rs_get_strings,
	.get_sset_count		= xpu_rs_get_sset_count,
	.get_ethtool_stats	= xpu_rs_get_ethtool_stats,
	.get_ts_info		= ethtool_op_get_ts_info,
	.get_channels		= xpu_rs_get_channels,
	.set_channels		= xpu_rs_set_channels,
	.get_coalesce		= xpu_rs_get_coalesce,
	.set_coalesce		= xpu_rs_set_coalesce,
	.get_priv_flags		= xpu_rs_get_priv_flags,
	.set_priv_flags		= xpu_rs_set_priv_flags,
};

/* datapath helpers, called from Rust (driver/net/) */

void xpu_dev_drop_inc(struct net_device *dev, bool tx)
{
	if (tx)
		dev_core_stats_tx_dropped_inc(dev);
	else
		dev_core_stats_rx_dropped_inc(dev);
}

unsigned int xpu_dev_mtu(const struct net_device *dev)
{
	return READ_ONCE(dev->mtu);
}

unsigned int xpu_dev_real_num_queues(const struct net_device *dev)
{
	return dev->real_num_tx_queues;
}

static const enum skb_drop_reason xpu_drop_reasons[] = {
	[XPU_DROP_LINK_DOWN]	= SKB_DROP_REASON_DEV_READY,
	[XPU_DROP_RING_FULL]	= SKB_DROP_REASON_FULL_RING,
	[XPU_DROP_TOO_BIG]	= SKB_DROP_REASON_PKT_TOO_BIG,
	[XPU_DROP_BAD_META]	= SKB_DROP_REASON_DEV_HDR,
	[XPU_DROP_NOMEM]	= SKB_DROP_REASON_NOMEM,
	[XPU_DROP_NOT_OURS]	= SKB_DROP_REASON_NOT_SPECIFIED,
};

void xpu_skb_drop(struct sk_buff *skb, enum xpu_drop why)
{
	kfree_skb_reason(skb, why < ARRAY_SIZE(xpu_drop_reasons) ?
			      xpu_drop_reasons[why] : SKB_DROP_REASON_NOT_SPECIFIED);
}

/* Sent: not a drop (the drop monitor stays quiet). */
void xpu_skb_consume(struct sk_buff *skb)
{
	dev_consume_skb_any(skb);
}

unsigned int xpu_skb_len(const struct sk_buff *skb)
{
	return skb->len;
}

unsigned int xpu_skb_queue(const struct sk_buff *skb)
{
	return skb_get_queue_mapping(skb);
}

int xpu_skb_copy_to(const struct sk_buff *skb, void *dst, unsigned int len)
{
	return skb_copy_bits(skb, 0, dst, len);
}

/*
 * Checksum and GSO metadata travel as in virtio-net's header: the kernel's own translation
 * from an skb, and to one (which also validates what arrives). datapath/src/meta.rs recodes the
 * header into struct xpu_desc's fields and back, and refuses what no sender writes; its layout
 * and values are checked against this header's by driver/net/sys.rs.
 */

int xpu_skb_vnet_hdr(const struct sk_buff *skb, struct virtio_net_hdr *h)
{
	return virtio_net_hdr_from_skb(skb, h, true, true, 0);
}

/* Headers go to the linear area (GRO reads them there); the rest to page fragments. */
#define XPU_RX_HEAD_MAX		256

/*
 * The one copy of the datapath: out of the sender's half into a fresh skb. @data is the
 * sender's memory, which it may still be scribbling on if it is hostile: we copy it once and
 * validate only the copy.
 */
struct sk_buff *xpu_rx_skb(struct napi_struct *napi, const void *data, unsigned int len,
			   const struct virtio_net_hdr *h, enum xpu_drop *why)
{
	struct net_device *dev = napi->dev;
	struct sk_buff *skb;
	int err;

	if (len <= SKB_WITH_OVERHEAD(PAGE_SIZE) - NET_SKB_PAD - NET_IP_ALIGN) {
		skb = napi_alloc_skb(napi, len);
		if (unlikely(!skb))
			goto nomem;
		skb_put_data(skb, data, len);
	} else {
		skb = alloc_skb_with_frags(XPU_RX_HEAD_MAX + NET_IP_ALIGN, len - XPU_RX_HEAD_MAX,
					   PAGE_ALLOC_COSTLY_ORDER, &err, GFP_ATOMIC | __GFP_NOWARN);
		if (unlikely(!skb))
			goto nomem;
		skb_reserve(skb, NET_IP_ALIGN);
		/* virtio_net_hdr_to_skb() may look at the device (dev_parse_header_protocol). */
		skb->dev = dev;
		skb_put(skb, XPU_RX_HEAD_MAX);
		skb->data_len = len - XPU_RX_HEAD_MAX;
		skb->len = len;
		if (WARN_ON_ONCE(skb_store_bits(skb, 0, data, len))) {
			kfree_skb(skb);
			goto nomem;
		}
	}

	/* As virtio-net: the conversion below leaves a verified checksum to the driver. */
	if (h->flags & VIRTIO_NET_HDR_F_DATA_VALID)
		skb->ip_summed = CHECKSUM_UNNECESSARY;
	if (virtio_net_hdr_to_skb(skb, h, true)) {
		kfree_skb(skb);
		*why = XPU_DROP_BAD_META;
		return NULL;
	}
	skb->protocol = eth_type_trans(skb, dev);
	/* Every ring is polled, also those past ethtool -L's count: RPS wants a queue it has. */
	skb_record_rx_queue(skb, (xpu_napi_rxq(napi) - xpu_priv(dev)->rxq) %
				 dev->real_num_rx_queues);
	return skb;

nomem:
	*why = XPU_DROP_NOMEM;
	return NULL;
}

void xpu_napi_gro_receive(struct napi_struct *napi, struct sk_buff *skb)
{
	napi_gro_receive(napi, skb);
}

bool xpu_napi_complete_done(struct napi_struct *napi, int done)
{
	return napi_complete_done(napi, done);
}

void xpu_napi_schedule(struct napi_struct *napi)
{
	napi_schedule(napi);
}

void xpu_rx_moderation(struct napi_struct *napi, struct xpu_moder *m)
{
	struct xpu_rxq *rxq = xpu_napi_rxq(napi);

	m->usecs = READ_ONCE(rxq->usecs);
	m->frames = READ_ONCE(rxq->frames);
	m->adaptive = READ_ONCE(rxq->adaptive);
}

void xpu_rx_timer_start(struct napi_struct *napi, u32 usecs)
{
	hrtimer_start(&xpu_napi_rxq(napi)->timer, us_to_ktime(usecs), HRTIMER_MODE_REL_SOFT);
}

static enum hrtimer_restart xpu_rx_timer(struct hrtimer *timer)
{
	napi_schedule(&container_of(timer, struct xpu_rxq, timer)->napi);
	return HRTIMER_NORESTART;
}

/* adaptive-rx: feed DIM the queue's running totals at the end of a poll. */
void xpu_rx_dim_sample(struct napi_struct *napi, u16 events, u64 packets, u64 bytes)
{
	struct dim_sample sample = {};

	dim_update_sample(events, packets, bytes, &sample);
	net_dim(&xpu_napi_rxq(napi)->dim, &sample);
}

static void xpu_rx_dim_work(struct work_struct *work)
{
	struct dim *dim = container_of(work, struct dim, work);
	struct xpu_rxq *rxq = container_of(dim, struct xpu_rxq, dim);
	struct dim_cq_moder m = net_dim_get_rx_moderation(dim->mode, dim->profile_ix);

	if (READ_ONCE(rxq->adaptive)) {
		WRITE_ONCE(rxq->usecs, m.usec);
		WRITE_ONCE(rxq->frames, m.pkts);
	}
	dim->state = DIM_START_MEASURE;
}

static int xpu_poll(struct napi_struct *napi, int budget);

/*
 * Queue @i's NAPI (or none) for the netdev family's queue-get and busy polling: RX queue @i's
 * packets, and TX queue @i's room, which the same doorbell announces. Under RTNL.
 */
static void xpu_queue_set_napi(struct net_device *dev, unsigned int i, struct napi_struct *napi)
{
	netif_queue_set_napi(dev, i, NETDEV_QUEUE_TYPE_RX, napi);
	netif_queue_set_napi(dev, i, NETDEV_QUEUE_TYPE_TX, napi);
}

/*
 * ndo_open: receive on all @n rings of the pair (ethtool -L only changes which TX queues
 * this end uses; the peer may use more), and look once at what arrived while down.
 */
void xpu_napi_enable(struct net_device *dev, unsigned int n)
{
	struct xpu_priv *priv = xpu_priv(dev);
	unsigned int i;

	/* Listed and enabled under one hold of the device's lock: see xpu_dev_init(). */
	netdev_lock(dev);
	priv->napi_on = min_t(unsigned int, n, XPU_SHM_MAX_QUEUES);
	for (i = 0; i < priv->napi_on; i++) {
		netif_napi_add_config_locked(dev, &priv->rxq[i].napi, xpu_poll, i);
		netif_napi_set_irq_locked(&priv->rxq[i].napi, priv->rxq[i].irq);
		napi_enable_locked(&priv->rxq[i].napi);
		xpu_queue_set_napi(dev, i, &priv->rxq[i].napi);
	}
	netdev_unlock(dev);
	for (i = 0; i < priv->napi_on; i++) {
		local_bh_disable();
		napi_schedule(&priv->rxq[i].napi);
		local_bh_enable();
	}
}

void xpu_napi_disable(struct net_device *dev)
{
	struct xpu_priv *priv = xpu_priv(dev);
	unsigned int i, n = priv->napi_on;	/* only ndo_open and ndo_stop change it: RTNL */

	/*
	 * Polls stop first: only a poll starts the timer or DIM's work. A DIM work cancelled
	 * before it ran leaves DIM waiting for it (DIM_APPLY_NEW_PROFILE), and net_dim() would
	 * ignore the queue from then on: it starts measuring afresh instead.
	 */
	if (!n)
		return;
	netdev_lock(dev);
	for (i = 0; i < n; i++) {
		xpu_queue_set_napi(dev, i, NULL);
		napi_disable_locked(&priv->rxq[i].napi);
		__netif_napi_del_locked(&priv->rxq[i].napi);
	}
	/* Under the lock, as xpu_pci_set_irq() reads it. */
	priv->napi_on = 0;
	netdev_unlock(dev);
	for (i = 0; i < n; i++) {
		hrtimer_cancel(&priv->rxq[i].timer);
		cancel_work_sync(&priv->rxq[i].dim.work);
		priv->rxq[i].dim.state = DIM_START_MEASURE;
	}
	/* One grace period for the deletions: readers of the NAPI list and busy pollers. */
	synchronize_net();
}

/*
 * Pair mode's doorbell: schedule the peer's NAPI for queue @q. From ndo_start_xmit (BH off);
 * under RCU the peer, if still set, is not freed (dellink clears it, then a grace period).
 */
bool xpu_peer_napi_schedule(struct net_device *dev, unsigned int q)
{
	struct net_device *peer;
	bool sent = false;

	rcu_read_lock();
	peer = rcu_dereference(xpu_priv(dev)->peer);
	if (likely(peer && q < XPU_SHM_MAX_QUEUES)) {
		napi_schedule(&xpu_priv(peer)->rxq[q].napi);
		sent = true;
	}
	rcu_read_unlock();
	return sent;
}

/* PCI mode: a doorbell for queue @q means packets to receive, or room in a TX ring we stopped. */
void xpu_txq_wake(struct net_device *dev, unsigned int q)
{
	if (q < dev->num_tx_queues)
		netif_tx_wake_queue(netdev_get_tx_queue(dev, q));
}

/* PCI mode: stop every TX queue and wait out a running ndo_start_xmit (before a ring reset). */
void xpu_txq_disable_all(struct net_device *dev)
{
	netif_tx_disable(dev);
}

/* Pair mode's "TX room" doorbell: the peer stopped its queue @q on a full ring. From NAPI. */
void xpu_peer_txq_wake(struct net_device *dev, unsigned int q)
{
	struct net_device *peer;

	rcu_read_lock();
	peer = rcu_dereference(xpu_priv(dev)->peer);
	/* Also past real_num_tx_queues: a queue that -L takes away and gives back keeps its state. */
	if (peer && q < peer->num_tx_queues)
		netif_tx_wake_queue(netdev_get_tx_queue(peer, q));
	rcu_read_unlock();
}

void xpu_txq_stop(struct net_device *dev, unsigned int q)
{
	if (!WARN_ON_ONCE(q >= dev->num_tx_queues))
		netif_tx_stop_queue(netdev_get_tx_queue(dev, q));
}

void xpu_txq_start(struct net_device *dev, unsigned int q)
{
	if (!WARN_ON_ONCE(q >= dev->num_tx_queues))
		netif_tx_start_queue(netdev_get_tx_queue(dev, q));
}

void xpu_txq_wake_all(struct net_device *dev)
{
	netif_tx_wake_all_queues(dev);
}

bool xpu_xmit_more(void)
{
	return netdev_xmit_more();
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

static int xpu_poll(struct napi_struct *napi, int budget)
{
	struct net_device *dev = napi->dev;

	return xpu_rs_poll(dev, napi, xpu_napi_rxq(napi) - xpu_priv(dev)->rxq, budget);
}

static void xpu_ctrl_work(struct work_struct *work)
{
	struct xpu_priv *priv = container_of(work, struct xpu_priv, ctrl_work);

	rtnl_lock();
	if (priv->dev->reg_state == NETREG_REGISTERED)
		xpu_rs_ctrl(priv->dev);
	rtnl_unlock();
}

static int xpu_dev_init(struct net_device *dev)
{
	struct xpu_priv *priv = xpu_priv(dev);
	int i;

	priv->dev = dev;
	INIT_WORK(&priv->ctrl_work, xpu_ctrl_work);
	for (i = 0; i < XPU_SHM_MAX_QUEUES; i++) {
		struct xpu_rxq *rxq = &priv->rxq[i];

		/*
		 * A queue's NAPI is listed only while it is enabled (xpu_napi_enable), as veth's
		 * are: the core cannot take threaded NAPI back off a NAPI that is listed but
		 * disabled (napi_stop_kthread() waits for it forever). Added and deleted once here,
		 * so that a doorbell for a queue nobody polls finds its NAPI disabled. Its
		 * per-queue config keeps its id and its threaded mode (busy-poll) from one up to
		 * the next.
		 */
		netif_napi_add_config(dev, &rxq->napi, xpu_poll, i);
		__netif_napi_del(&rxq->napi);	/* nothing refers to it yet: no grace period */
		hrtimer_setup(&rxq->timer, xpu_rx_timer, CLOCK_MONOTONIC, HRTIMER_MODE_REL_SOFT);
		INIT_WORK(&rxq->dim.work, xpu_rx_dim_work);
		rxq->irq = -1;
		rxq->dim.mode = DIM_CQ_PERIOD_MODE_START_FROM_EQE;
	}
	/* Sets the moderation (xpu_rx_moderation_set) once the queues above exist. */
	return xpu_rs_dev_init(dev);
}

static const struct net_device_ops xpu_netdev_ops, xpu_pci_netdev_ops;

bool xpu_dev_is_xpu(const struct net_device *dev)
{
	return dev->netdev_ops == &xpu_netdev_ops || dev->netdev_ops == &xpu_pci_netdev_ops;
}

/*
 * PCI mode: a TX queue stopped for watchdog_timeo means the other kernel stopped consuming,
 * or its indices were corrupted into plausible values: reset the link (the control work does,
 * under RTNL). Pair mode has no watchdog: both ends are this kernel, and an idle pair runs no
 * timer.
 */
static void xpu_pci_tx_timeout(struct net_device *dev, unsigned int txqueue)
{
	xpu_rs_tx_timeout(dev);
	xpu_ctrl_schedule(dev);
}

/* Both modes' ops; PCI mode adds the TX watchdog (xpu_pci_tx_timeout). */
#define XPU_NETDEV_OPS						\
	.ndo_init		= xpu_dev_init,			\
	.ndo_open		= xpu_rs_open,			\
	.ndo_stop		= xpu_rs_stop,			\
	.ndo_start_xmit		= xpu_rs_start_xmit,		\
	.ndo_get_stats64	= xpu_rs_get_stats64,		\
	.ndo_set_mac_address	= eth_mac_addr,			\
	.ndo_validate_addr	= eth_validate_addr,		\
	.ndo_get_iflink		= xpu_get_iflink,		\
	.ndo_get_phys_port_name	= xpu_rs_get_phys_port_name

static const struct net_device_ops xpu_netdev_ops = {
	XPU_NETDEV_OPS,
};

static const struct net_device_ops xpu_pci_netdev_ops = {
	XPU_NETDEV_OPS,
	.ndo_tx_timeout		= xpu_pci_tx_timeout,
};

static void xpu_setup(struct net_device *dev)
{
	ether_setup(dev);

	dev->priv_flags |= IFF_LIVE_ADDR_CHANGE;
	dev->netdev_ops = &xpu_netdev_ops;
	dev->ethtool_ops = &xpu_ethtool_ops;
	dev->needs_free_netdev = true;
	/* Frees the Rust state, on unregister and on a failed register alike. */
	dev->priv_destructor = xpu_rs_dev_free;
	dev->features |= XPU_FEATURES;
	dev->hw_features |= XPU_FEATURES;
	dev->vlan_features |= XPU_FEATURES;
	netif_set_tso_max_size(dev, XPU_TSO_MAX_SIZE);
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

	/* Queues, ring size, the shared window: driver/link.rs, with its extack messages. */
	err = xpu_rs_pair_attach(dev, peer, data, extack);
	if (err)
		goto err_unregister_dev;

	rcu_assign_pointer(xpu_priv(dev)->peer, peer);
	netdev_hold(peer, &xpu_priv(dev)->peer_tracker, GFP_KERNEL);
	rcu_assign_pointer(xpu_priv(peer)->peer, dev);
	netdev_hold(dev, &xpu_priv(peer)->peer_tracker, GFP_KERNEL);
	return 0;

err_unregister_dev:
	unregister_netdevice(dev);

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
	[IFLA_XPU_QUEUES]	= { .type = NLA_U32 },
	[IFLA_XPU_RING_SIZE]	= { .type = NLA_U32 },
};

/*
 * The values' ranges are checked by driver/link.rs rather than by NLA_POLICY_RANGE, which
 * answers ERANGE: a bad configuration value is EINVAL, as for every other link kind's settings.
 */
static int xpu_validate(struct nlattr *tb[], struct nlattr *data[],
			struct netlink_ext_ack *extack)
{
	struct nlattr *info_data;
	int err;

	/*
	 * rtnetlink parses IFLA_INFO_DATA leniently and drops attributes it does not know; a
	 * configuration we would silently ignore is refused instead.
	 */
	info_data = tb[IFLA_LINKINFO] ? nla_find_nested(tb[IFLA_LINKINFO], IFLA_INFO_DATA) : NULL;
	if (info_data) {
		err = __nla_validate_nested(info_data, IFLA_XPU_MAX, xpu_policy, NL_VALIDATE_MAXTYPE,
					    extack);
		if (err)
			return err;
	}
	return xpu_rs_validate(data, extack);
}

/* Every xpu device can hold the most queues; IFLA_XPU_QUEUES (or ethtool -L) picks how many run. */
static unsigned int xpu_get_num_queues(void)
{
	return XPU_SHM_MAX_QUEUES;
}

static struct rtnl_link_ops xpu_link_ops = {
	.kind		= DRV_NAME,
	.priv_size	= sizeof(struct xpu_priv),
	.setup		= xpu_setup,
	.validate	= xpu_validate,
	.newlink	= xpu_newlink,
	.dellink	= xpu_dellink,
	.get_size	= xpu_rs_get_size,
	.fill_info	= xpu_rs_fill_info,
	.get_num_tx_queues = xpu_get_num_queues,
	.get_num_rx_queues = xpu_get_num_queues,
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

/*
 * PCI mode (driver/pci_link.rs): one device per ivshmem-doorbell function, named xpu%d, registered
 * at probe. It has the xpu kind for `ip -d link` (fill_info), but no dellink: like a NIC it
 * goes away with its PCI function, and a deleted netns hands it back to init_net.
 */
static struct rtnl_link_ops xpu_pci_link_ops = {
	.kind		= DRV_NAME,
	.get_size	= xpu_rs_pci_get_size,
	.fill_info	= xpu_rs_pci_fill_info,
	.netns_refund	= true,
};

/*
 * Creates and registers the netdev of a PCI function (@parent) with @queues queues, and hands
 * it @link, the Rust transport, under the same RTNL section, so that it is never up without.
 */
struct net_device *xpu_pci_netdev_create(struct device *parent, unsigned int queues,
					 const void *link)
{
	struct net_device *dev;
	int err;

	dev = alloc_netdev_mqs(sizeof(struct xpu_priv), DRV_NAME "%d", NET_NAME_ENUM, xpu_setup,
			       XPU_SHM_MAX_QUEUES, XPU_SHM_MAX_QUEUES);
	if (!dev)
		return ERR_PTR(-ENOMEM);
	/* Freed by xpu_pci_netdev_destroy, which disables its control work first. */
	dev->needs_free_netdev = false;
	dev->netdev_ops = &xpu_pci_netdev_ops;
	dev->watchdog_timeo = 5 * HZ;
	dev->rtnl_link_ops = &xpu_pci_link_ops;
	SET_NETDEV_DEV(dev, parent);

	rtnl_lock();
	err = register_netdevice(dev);
	if (!err) {
		netif_carrier_off(dev);
		err = xpu_dev_set_queues(dev, queues);
		if (!err)
			err = xpu_rs_pci_attach(dev, link);
		if (err)
			unregister_netdevice(dev);
	}
	rtnl_unlock();
	if (err) {
		free_netdev(dev);
		return ERR_PTR(err);
	}
	return dev;
}

/*
 * The device's interrupts are freed already, but the control work can still be queued: by
 * the TX watchdog (xpu_pci_tx_timeout) and by a NAPI poll that counts a peer's violation,
 * which the coalescing timer can start, until unregister_netdev() closes the device. So the
 * work is disabled, not just cancelled: disable_work_sync() waits for a run in progress and
 * makes every later queue_work() a no-op, and free_netdev() cannot race with a late one.
 * The work takes RTNL, so this happens before unregister_netdev(), outside it.
 */
void xpu_pci_netdev_destroy(struct net_device *dev)
{
	disable_work_sync(&xpu_priv(dev)->ctrl_work);
	unregister_netdev(dev);
	free_netdev(dev);
}

/*
 * PCI mode: queue @q's doorbells arrive on IRQ @irq. Its NAPI reports it (the netdev family's
 * napi-get; busy polling's IRQ deferral) from now on if it is polled, else from the next open.
 */
void xpu_pci_set_irq(struct net_device *dev, unsigned int q, int irq)
{
	struct xpu_priv *priv = xpu_priv(dev);

	if (q >= XPU_SHM_MAX_QUEUES)
		return;
	netdev_lock(dev);
	priv->rxq[q].irq = irq;
	if (q < priv->napi_on)
		netif_napi_set_irq_locked(&priv->rxq[q].napi, irq);
	netdev_unlock(dev);
}

/* Schedules the handshake (from the control doorbell, or after probe). */
void xpu_ctrl_schedule(struct net_device *dev)
{
	schedule_work(&xpu_priv(dev)->ctrl_work);
}

/*
 * MSI-X vector @v rang (hard IRQ): 0 is control, 1 + q is queue q. A peer that left takes our
 * carrier down here and now: the work that does the rest needs RTNL, which can be busy for
 * seconds (another device unregistering, say), and a workqueue may be slow to run it.
 */
void xpu_pci_irq(struct net_device *dev, unsigned int v)
{
	struct xpu_priv *priv = xpu_priv(dev);

	if (v == 0) {
		xpu_rs_ctrl_peek(dev);
		xpu_ctrl_schedule(dev);
	} else if (v - 1 < XPU_SHM_MAX_QUEUES) {
		napi_schedule_irqoff(&priv->rxq[v - 1].napi);
	}
}

/* The shared-memory BAR @bar of @dev, mapped cacheable: it is memory, not registers. */
void *xpu_pci_map_window(struct device *dev, int bar, u64 *len)
{
	struct pci_dev *pdev = to_pci_dev(dev);
	void *p;

	if (pci_request_region(pdev, bar, DRV_NAME))
		return NULL;
	p = memremap(pci_resource_start(pdev, bar), pci_resource_len(pdev, bar), MEMREMAP_WB);
	if (!p) {
		pci_release_region(pdev, bar);
		return NULL;
	}
	*len = pci_resource_len(pdev, bar);
	return p;
}

void xpu_pci_unmap_window(struct device *dev, int bar, void *p)
{
	memunmap(p);
	pci_release_region(to_pci_dev(dev), bar);
}

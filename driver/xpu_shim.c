// SPDX-License-Identifier: GPL-2.0
/*
 * xpu C shim: what Rust cannot reach in 7.3 (struct net_device is opaque to its bindings):
 * the ops tables, the NAPI contexts in the private area, the static inline helpers, and the
 * fields a pair's creation sets (the creation itself is Rust's, driver/net/rtnl.rs). Device
 * logic and state live in Rust (driver/link.rs, driver/net/dev_priv.rs); xpu_shim.h is the
 * contract. Section order follows drivers/net/veth.c and netkit.c.
 */
#include <linux/bpf.h>
#include <linux/bpf_trace.h>
#include <linux/etherdevice.h>
#include <linux/ethtool.h>
#include <linux/filter.h>
#include <linux/interrupt.h>
#include <linux/libnvdimm.h>
#include <linux/netdevice.h>
#include <linux/virtio_net.h>
#include <net/checksum.h>
#include <net/rtnetlink.h>
#include <net/xdp.h>

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

/*
 * One RX queue: its NAPI context (opaque to Rust in 7.3). What moderates its doorbells (the
 * rx-usecs timer, DIM, the values in force) is Rust's (driver/net/rxq.rs).
 */
struct xpu_rxq {
	struct napi_struct napi;
	/* PCI mode: the IRQ of its doorbells (MSI-X vector 1 + q), or -1. */
	int irq;
	/* Registered while the NAPI is (xpu_napi_enable): native XDP's frames name it. */
	struct xdp_rxq_info xdp_rxq;
};

/* Private area of every xpu netdev. */
struct xpu_priv {
	/* Rust per-device state, owned by Rust (driver/net/ops.rs): all of it but what follows. */
	void *rs;
	/* Pair mode: the other end. Set in newlink, cleared in dellink (RTNL). */
	struct net_device __rcu *peer;
	netdevice_tracker peer_tracker;
	/* All RX queues are set up in ndo_init; the first napi_on are listed and enabled. */
	unsigned int napi_on;
	/* Native XDP (ndo_bpf, under RTNL); polls read it under RCU. */
	struct bpf_prog __rcu *xdp_prog;
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

/* ethtool interface: the ops are Rust's (driver/net/ethtool.rs), the table C's */

/* The most queues the device can use: what alloc_netdev_mqs() gave it, each direction. */
unsigned int xpu_dev_alloc_queues(const struct net_device *dev)
{
	return min(dev->num_tx_queues, dev->num_rx_queues);
}

unsigned int xpu_num_online_cpus(void)
{
	return num_online_cpus();
}

/*
 * A window on memory that is not coherent between the hosts (CXL mode, cxl_coherent=0): the
 * kernel's persistent-memory cache maintenance, which is what reaches a line's home in the
 * medium (x86: clwb, or clflushopt where there is no clwb). The write-back is weakly ordered
 * (clwb is not ordered against later stores): the store fence (wmb: sfence) makes it complete
 * before the store that publishes the data. The invalidation fences on both sides itself (x86:
 * clflushopt, which writes a dirty line back before it drops it; elsewhere a dirty line may be
 * dropped, which loses nothing here: the peer's lines are never ours to write).
 */
bool xpu_mem_can_flush(void)
{
	/* Elsewhere the two below are empty: a medium that needs them is refused. */
	return IS_ENABLED(CONFIG_ARCH_HAS_PMEM_API);
}

void xpu_mem_writeback(void *addr, size_t len)
{
	arch_wb_cache_pmem(addr, len);
	wmb();
}

void xpu_mem_invalidate(void *addr, size_t len)
{
	arch_invalidate_pmem(addr, len);
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
	.get_ringparam		= xpu_rs_get_ringparam,
	.set_ringparam		= xpu_rs_set_ringparam,
	.get_coalesce		= xpu_rs_get_coalesce,
	.set_coalesce		= xpu_rs_set_coalesce,
	.get_priv_flags		= xpu_rs_get_priv_flags,
	.set_priv_flags		= xpu_rs_set_priv_flags,
	.get_rx_ring_count	= xpu_rs_get_rx_ring_count,
	.get_rxfh_key_size	= xpu_rs_get_rxfh_key_size,
	.get_rxfh_indir_size	= xpu_rs_get_rxfh_indir_size,
	.get_rxfh		= xpu_rs_get_rxfh,
	.set_rxfh		= xpu_rs_set_rxfh,
	.get_rxfh_fields	= xpu_rs_get_rxfh_fields,
	.set_rxfh_fields	= xpu_rs_set_rxfh_fields,
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

unsigned int xpu_skb_len(const struct sk_buff *skb)
{
	return skb->len;
}

unsigned int xpu_skb_queue(const struct sk_buff *skb)
{
	return skb_get_queue_mapping(skb);
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

/*
 * RSS's hash of a received frame (before eth_type_trans, @skb->data at its Ethernet header,
 * whose headers are linear), with this end's own key and fields: what a NIC's RSS would put
 * in the skb. The sender chose the ring with the same hash (datapath/src/rss.rs).
 */
static void xpu_rx_hash(struct sk_buff *skb, struct net_device *dev)
{
	enum pkt_hash_types type;
	u32 hash;

	if (!(dev->features & NETIF_F_RXHASH))
		return;
	type = xpu_rs_rx_hash(dev, skb->data, skb_headlen(skb), &hash, NULL);
	if (type != PKT_HASH_TYPE_NONE)
		skb_set_hash(skb, hash, type);
}

/* Headers go to the linear area (GRO reads them there); the rest to page fragments. */
#define XPU_RX_HEAD_MAX		256

/*
 * The one copy of the datapath: out of the sender's half into a fresh skb. @data is the
 * sender's memory, which it may still be scribbling on if it is hostile: we copy it once and
 * validate only the copy. ERR_PTR(-EINVAL): metadata the stack refuses; another: no memory.
 */
static struct sk_buff *xpu_rx_skb(struct napi_struct *napi, const void *data, unsigned int len,
				  const struct virtio_net_hdr *h)
{
	struct net_device *dev = napi->dev;
	bool rx_csum = dev->features & NETIF_F_RXCSUM;
	struct sk_buff *skb;
	int err;

	if (len <= SKB_WITH_OVERHEAD(PAGE_SIZE) - NET_SKB_PAD - NET_IP_ALIGN) {
		skb = napi_alloc_skb(napi, len);
		if (unlikely(!skb))
			return ERR_PTR(-ENOMEM);
		skb_put_data(skb, data, len);
	} else {
		skb = alloc_skb_with_frags(XPU_RX_HEAD_MAX + NET_IP_ALIGN, len - XPU_RX_HEAD_MAX,
					   PAGE_ALLOC_COSTLY_ORDER, &err, GFP_ATOMIC | __GFP_NOWARN);
		if (unlikely(!skb))
			return ERR_PTR(-ENOMEM);
		skb_reserve(skb, NET_IP_ALIGN);
		/* virtio_net_hdr_to_skb() may look at the device (dev_parse_header_protocol). */
		skb->dev = dev;
		skb_put(skb, XPU_RX_HEAD_MAX);
		skb->data_len = len - XPU_RX_HEAD_MAX;
		skb->len = len;
		if (WARN_ON_ONCE(skb_store_bits(skb, 0, data, len))) {
			kfree_skb(skb);
			return ERR_PTR(-ENOMEM);
		}
	}

	/*
	 * As virtio-net: the conversion below leaves a verified checksum to the driver. With
	 * rx-checksumming off (ethtool -K rx off) the peer's word is not taken for it.
	 */
	if ((h->flags & VIRTIO_NET_HDR_F_DATA_VALID) && rx_csum)
		skb->ip_summed = CHECKSUM_UNNECESSARY;
	if (virtio_net_hdr_to_skb(skb, h, true)) {
		kfree_skb(skb);
		return ERR_PTR(-EINVAL);
	}
	/*
	 * A partial checksum is the sender's offload passed on, as veth and virtio-net pass it:
	 * the stack takes it as its own. With rx-checksumming off the receiver wants checksums
	 * written, as virtio-net asks its device by clearing GUEST_CSUM: we complete it (the
	 * conversion above checked that it lies in the linear part). A GSO packet keeps it, as
	 * the stack's own GRO packets do: taken as sound if delivered here, written per segment
	 * if forwarded.
	 */
	if (skb->ip_summed == CHECKSUM_PARTIAL && !skb_is_gso(skb) && !rx_csum) {
		/* It cannot fail on this fresh, unshared skb; if it did, the packet is dropped. */
		err = skb_checksum_help(skb);
		if (unlikely(err)) {
			kfree_skb(skb);
			return ERR_PTR(err);
		}
	}
	xpu_rx_hash(skb, dev);
	skb->protocol = eth_type_trans(skb, dev);
	/* Every ring is polled, also those past ethtool -L's count: RPS wants a queue it has. */
	skb_record_rx_queue(skb, (xpu_napi_rxq(napi) - xpu_priv(dev)->rxq) %
				 dev->real_num_rx_queues);
	return skb;
}

/* XDP: native in the receive path, before any skb; frames redirected to us go to a TX ring */

/* XDP's headroom, and the IP alignment every receive keeps. */
#define XPU_XDP_HEADROOM	(XDP_PACKET_HEADROOM + NET_IP_ALIGN)
/* A native frame's buffer: a page fragment, the skb built on it after XDP_PASS included. */
#define XPU_XDP_BUF		PAGE_SIZE
/* The longest frame the program runs on natively (veth's bound): longer ones go as skbs. */
#define XPU_XDP_MAX_LEN		SKB_WITH_OVERHEAD(XPU_XDP_BUF - XPU_XDP_HEADROOM)

/*
 * Writes the partial checksum that @h describes into the frame @pkt of @len bytes, as
 * skb_checksum_help() does: the program sees, and may send on, the frame as a wire carries
 * it, and a frame carries no offload. -EINVAL if the checksum lies outside the frame.
 */
static int xpu_csum_complete(void *pkt, unsigned int len, const struct virtio_net_hdr *h)
{
	unsigned int start = __virtio16_to_cpu(true, h->csum_start);
	unsigned int off = start + __virtio16_to_cpu(true, h->csum_offset);

	if (start >= len || off + sizeof(__sum16) > len)
		return -EINVAL;
	*(__sum16 *)(pkt + off) = csum_fold(csum_partial(pkt + start, len - start, 0)) ?:
				  CSUM_MANGLED_0;
	return 0;
}

/*
 * Native XDP on a frame of @len bytes at @data, in the sender's memory: copied once into a
 * page fragment with XDP's headroom, where the program runs; XDP_PASS builds the skb on that
 * same buffer. XDP_TX hands the frame back in @tx for our TX ring (the datapath sends it).
 */
static int xpu_rx_xdp(struct napi_struct *napi, struct bpf_prog *prog, const void *data,
		      unsigned int len, const struct virtio_net_hdr *h, struct xdp_frame **tx)
{
	struct net_device *dev = napi->dev;
	unsigned int metasize;
	struct sk_buff *skb;
	struct xdp_buff xdp;
	void *buf;
	u32 act;

	buf = napi_alloc_frag(XPU_XDP_BUF);
	if (unlikely(!buf))
		return -ENOMEM;
	memcpy(buf + XPU_XDP_HEADROOM, data, len);
	if ((h->flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) &&
	    xpu_csum_complete(buf + XPU_XDP_HEADROOM, len, h)) {
		skb_free_frag(buf);
		return -EINVAL;
	}

	xdp_init_buff(&xdp, XPU_XDP_BUF, &xpu_napi_rxq(napi)->xdp_rxq);
	xdp_prepare_buff(&xdp, buf, XPU_XDP_HEADROOM, len, true);
	act = bpf_prog_run_xdp(prog, &xdp);
	switch (act) {
	case XDP_PASS:
		break;
	case XDP_TX:
		*tx = xdp_convert_buff_to_frame(&xdp);
		if (unlikely(!*tx))
			goto err;
		return XPU_RX_XDP_TX;
	case XDP_REDIRECT:
		if (xdp_do_redirect(dev, &xdp, prog))
			goto err;
		return XPU_RX_XDP_REDIRECT;
	default:
		bpf_warn_invalid_xdp_action(dev, prog, act);
		fallthrough;
	case XDP_ABORTED:
err:
		trace_xdp_exception(dev, prog, act);
		fallthrough;
	case XDP_DROP:
		skb_free_frag(buf);
		return XPU_RX_XDP_DROP;
	}

	skb = napi_build_skb(buf, XPU_XDP_BUF);
	if (unlikely(!skb)) {
		skb_free_frag(buf);
		return -ENOMEM;
	}
	skb_reserve(skb, xdp.data - buf);
	skb_put(skb, xdp.data_end - xdp.data);
	metasize = xdp.data - xdp.data_meta;
	if (metasize)
		skb_metadata_set(skb, metasize);
	/* The program may have rewritten the packet: nothing is taken as verified. */
	xpu_rx_hash(skb, dev);
	skb->protocol = eth_type_trans(skb, dev);
	skb_record_rx_queue(skb, (xpu_napi_rxq(napi) - xpu_priv(dev)->rxq) %
				 dev->real_num_rx_queues);
	napi_gro_receive(napi, skb);
	return XPU_RX_XDP_PASS;
}

/*
 * Receives the packet of @len bytes at @data (the sender's memory) with metadata @h: the
 * device's XDP program, if it has one, runs on it first, natively when it fits a page and
 * carries no GSO, else on the skb as the kernel's generic XDP runs it (a 64 KiB GSO packet
 * from a PCI peer, a jumbo frame for a multi-buffer program). What passes goes to GRO.
 * Returns an enum xpu_rx_verdict, or -EINVAL (metadata the stack refuses) or another errno.
 */
int xpu_rx(struct napi_struct *napi, const void *data, unsigned int len,
	   const struct virtio_net_hdr *h, struct xdp_frame **tx)
{
	struct bpf_prog *prog;
	struct sk_buff *skb;
	int ret = XPU_RX_UP;

	rcu_read_lock();
	prog = rcu_dereference(xpu_priv(napi->dev)->xdp_prog);
	if (prog && len <= XPU_XDP_MAX_LEN && h->gso_type == VIRTIO_NET_HDR_GSO_NONE) {
		ret = xpu_rx_xdp(napi, prog, data, len, h, tx);
		goto out;
	}
	skb = xpu_rx_skb(napi, data, len, h);
	if (IS_ERR(skb)) {
		ret = PTR_ERR(skb);
		goto out;
	}
	if (prog) {
		ret = XPU_RX_XDP_SKB_PASS;
		/* Consumed (dropped, sent or redirected: the core does not say which). */
		if (do_xdp_generic(prog, &skb) != XDP_PASS) {
			ret = XPU_RX_XDP_SKB_CONSUMED;
			goto out;
		}
	}
	napi_gro_receive(napi, skb);
out:
	rcu_read_unlock();
	return ret;
}

/*
 * bpf_xdp_metadata_rx_hash() for the device's program, run natively or, for a frame larger
 * than a page, on the skb (xpu_rx): the hash the frame's skb gets (xpu_rx_hash), of the bytes
 * from xdp->data, where the frame starts unless the program moved it (bpf_xdp_adjust_head:
 * then a wrong hash or -ENODATA, never a read past the frame). The kernel runs a device-bound
 * program nowhere else, so rxq->dev is ours. -ENODATA with receive-hashing off, or for a frame
 * that is not IP.
 */
static int xpu_xdp_rx_hash(const struct xdp_md *ctx, u32 *hash, enum xdp_rss_hash_type *type)
{
	const struct xdp_buff *xdp = (const void *)ctx;
	struct net_device *dev = xdp->rxq->dev;

	if (!(dev->features & NETIF_F_RXHASH))
		return -ENODATA;
	if (xpu_rs_rx_hash(dev, xdp->data, xdp->data_end - xdp->data, hash, type) ==
	    PKT_HASH_TYPE_NONE)
		return -ENODATA;
	return 0;
}

static const struct xdp_metadata_ops xpu_xdp_metadata_ops = {
	.xmo_rx_hash		= xpu_xdp_rx_hash,
};

/* The end of a poll that redirected frames: send them on. */
void xpu_xdp_flush(void)
{
	xdp_do_flush();
}

/* A frame to send (XDP_TX, ndo_xdp_xmit): its bytes, or NULL for a multi-buffer frame. */
const void *xpu_xdp_frame_data(const struct xdp_frame *frame, unsigned int *len)
{
	if (unlikely(xdp_frame_has_frags(frame)))
		return NULL;
	*len = frame->len;
	return frame->data;
}

void xpu_xdp_frame_free(struct xdp_frame *frame)
{
	xdp_return_frame(frame);
}

/* TX queue @q's lock, which ndo_start_xmit holds: XDP frames share the queue's ring. BH off. */
void xpu_txq_lock(struct net_device *dev, unsigned int q)
{
	__netif_tx_lock(netdev_get_tx_queue(dev, q), smp_processor_id());
}

void xpu_txq_unlock(struct net_device *dev, unsigned int q)
{
	__netif_tx_unlock(netdev_get_tx_queue(dev, q));
}

/* The GSO xpu offers (XPU_FEATURES'), which a peer with an XDP program must not send. */
#define XPU_GSO		(XPU_FEATURES & NETIF_F_GSO_SOFTWARE)

/*
 * ndo_bpf: attaches or removes the native XDP program. A program without multi-buffer support
 * runs natively on every frame, so in pair mode the frames the peer sends must fit a page: its
 * MTU is bounded (its max_mtu lowered, as veth does) and its GSO turned off. In PCI mode the
 * other kernel's frames are not ours to bound, and what comes larger than a page runs the
 * program as an skb; so does everything larger for a multi-buffer program, which takes any MTU.
 */
static int xpu_xdp_set(struct net_device *dev, struct bpf_prog *prog,
		       struct netlink_ext_ack *extack)
{
	struct xpu_priv *priv = xpu_priv(dev);
	struct net_device *peer = rtnl_dereference(priv->peer);
	unsigned int max_mtu = ETH_MAX_MTU;
	struct bpf_prog *old;

	if (peer && prog && !prog->aux->xdp_has_frags) {
		max_mtu = XPU_XDP_MAX_LEN - peer->hard_header_len;
		if (READ_ONCE(peer->mtu) > max_mtu) {
			NL_SET_ERR_MSG_FMT_MOD(extack,
					       "peer MTU %u is too large for XDP without multi-buffer support (at most %u)",
					       READ_ONCE(peer->mtu), max_mtu);
			return -ERANGE;
		}
	}
	old = rcu_replace_pointer(priv->xdp_prog, prog, lockdep_rtnl_is_held());
	if (old)
		bpf_prog_put(old);
	if (!peer)
		return 0;
	peer->max_mtu = max_mtu;
	if (!old != !prog) {
		if (prog)
			peer->hw_features &= ~XPU_GSO;
		else
			peer->hw_features |= XPU_GSO;
		netdev_update_features(peer);
	}
	return 0;
}

static int xpu_bpf(struct net_device *dev, struct netdev_bpf *bpf)
{
	switch (bpf->command) {
	case XDP_SETUP_PROG:
		return xpu_xdp_set(dev, bpf->prog, bpf->extack);
	default:
		return -EINVAL;
	}
}

/* Pair mode: no GSO towards an end with an XDP program (its frames must fit a page). */
static netdev_features_t xpu_fix_features(struct net_device *dev, netdev_features_t features)
{
	struct net_device *peer = rtnl_dereference(xpu_priv(dev)->peer);

	if (peer && rtnl_dereference(xpu_priv(peer)->xdp_prog))
		features &= ~NETIF_F_GSO_SOFTWARE;
	return features;
}

/* ndo_xdp_xmit: frames redirected to us go out on the TX ring of this CPU's queue. */
static int xpu_xdp_xmit(struct net_device *dev, int n, struct xdp_frame **frames, u32 flags)
{
	if (unlikely(flags & ~XDP_XMIT_FLAGS_MASK))
		return -EINVAL;
	/*
	 * Redirects still come while ndo_stop resets the rings (IFF_UP is cleared after it); the
	 * core clears the device's running state, then waits a grace period, before ndo_stop.
	 */
	if (unlikely(!netif_running(dev)))
		return -ENETDOWN;
	return xpu_rs_xdp_xmit(dev, smp_processor_id() % dev->real_num_tx_queues, frames, n);
}

void xpu_napi_schedule(struct napi_struct *napi)
{
	napi_schedule(napi);
}

/* Queue @q's NAPI context: the rx-usecs timer (driver/net/rxq.rs) schedules it. */
struct napi_struct *xpu_dev_napi(struct net_device *dev, unsigned int q)
{
	return q < XPU_SHM_MAX_QUEUES ? &xpu_priv(dev)->rxq[q].napi : NULL;
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
		/*
		 * Registered before the NAPI can poll; cannot fail (a live device, a fresh
		 * registration, a model without allocator). 7.3 keeps no NAPI id in it: AF_XDP
		 * takes the queue's NAPI from xpu_queue_set_napi() below.
		 */
		WARN_ON_ONCE(xdp_rxq_info_reg(&priv->rxq[i].xdp_rxq, dev, i, 0) ||
			     xdp_rxq_info_reg_mem_model(&priv->rxq[i].xdp_rxq, MEM_TYPE_PAGE_SHARED,
							NULL));
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

/* Returns how many NAPIs it disabled: the caller (driver/net/device.rs) then stops what their polls start. */
unsigned int xpu_napi_disable(struct net_device *dev)
{
	struct xpu_priv *priv = xpu_priv(dev);
	unsigned int i, n = priv->napi_on;	/* only ndo_open and ndo_stop change it: RTNL */

	if (!n)
		return 0;
	netdev_lock(dev);
	for (i = 0; i < n; i++) {
		xpu_queue_set_napi(dev, i, NULL);
		napi_disable_locked(&priv->rxq[i].napi);
		xdp_rxq_info_unreg(&priv->rxq[i].xdp_rxq);
		__netif_napi_del_locked(&priv->rxq[i].napi);
	}
	/* Under the lock, as xpu_pci_set_irq() reads it. */
	priv->napi_on = 0;
	netdev_unlock(dev);
	return n;
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

/*
 * ndo_select_queue: the peer's RSS places each flow, as a NIC's places what it receives
 * (xpu_rs_select_queue); a peer that publishes none leaves it to the stack (XPS, the socket),
 * as do traffic classes (mqprio, taprio) and a subordinate device's queues, whose ranges the
 * administrator set.
 */
static u16 xpu_select_queue(struct net_device *dev, struct sk_buff *skb,
			    struct net_device *sb_dev)
{
	int q = -1;

	if (!netdev_get_num_tc(dev) && !sb_dev)
		q = xpu_rs_select_queue(dev, skb);
	return q < 0 ? netdev_pick_tx(dev, skb, sb_dev) : q;
}

static int xpu_poll(struct napi_struct *napi, int budget)
{
	struct net_device *dev = napi->dev;

	return xpu_rs_poll(dev, napi, xpu_napi_rxq(napi) - xpu_priv(dev)->rxq, budget);
}

static int xpu_dev_init(struct net_device *dev)
{
	struct xpu_priv *priv = xpu_priv(dev);
	int i;

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
		rxq->irq = -1;
	}
	/* The rest of the device's state, its queues' moderation and control work included. */
	return xpu_rs_dev_init(dev);
}

static const struct net_device_ops xpu_netdev_ops, xpu_pci_netdev_ops;

bool xpu_dev_is_xpu(const struct net_device *dev)
{
	return dev->netdev_ops == &xpu_netdev_ops || dev->netdev_ops == &xpu_pci_netdev_ops;
}

/*
 * Both modes' ops. PCI mode adds the TX watchdog: a TX queue stopped for watchdog_timeo means
 * the other kernel stopped consuming, or its indices were corrupted into plausible values, and
 * xpu_rs_tx_timeout has the control work reset the link. Pair mode has none: both ends are
 * this kernel, and an idle pair runs no timer.
 */
#define XPU_NETDEV_OPS						\
	.ndo_init		= xpu_dev_init,			\
	.ndo_open		= xpu_rs_open,			\
	.ndo_stop		= xpu_rs_stop,			\
	.ndo_start_xmit		= xpu_rs_start_xmit,		\
	.ndo_select_queue	= xpu_select_queue,		\
	.ndo_get_stats64	= xpu_rs_get_stats64,		\
	.ndo_set_mac_address	= eth_mac_addr,			\
	.ndo_validate_addr	= eth_validate_addr,		\
	.ndo_get_iflink		= xpu_get_iflink,		\
	.ndo_get_phys_port_name	= xpu_rs_get_phys_port_name,	\
	.ndo_fix_features	= xpu_fix_features,		\
	.ndo_bpf		= xpu_bpf,			\
	.ndo_xdp_xmit		= xpu_xdp_xmit

static const struct net_device_ops xpu_netdev_ops = {
	XPU_NETDEV_OPS,
};

static const struct net_device_ops xpu_pci_netdev_ops = {
	XPU_NETDEV_OPS,
	.ndo_tx_timeout		= xpu_rs_tx_timeout,
};

/* The netdev family's queue stats (ynl netdev qstats-get): each queue's, and the base. */
static const struct netdev_stat_ops xpu_stat_ops = {
	.get_queue_stats_rx	= xpu_rs_get_queue_stats_rx,
	.get_queue_stats_tx	= xpu_rs_get_queue_stats_tx,
	.get_base_stats		= xpu_rs_get_base_stats,
};

static void xpu_setup(struct net_device *dev)
{
	ether_setup(dev);

	dev->priv_flags |= IFF_LIVE_ADDR_CHANGE;
	dev->netdev_ops = &xpu_netdev_ops;
	dev->ethtool_ops = &xpu_ethtool_ops;
	dev->stat_ops = &xpu_stat_ops;
	dev->needs_free_netdev = true;
	/* Frees the Rust state, on unregister and on a failed register alike. */
	dev->priv_destructor = xpu_rs_dev_free;
	dev->features |= XPU_FEATURES | NETIF_F_RXHASH;
	dev->hw_features |= XPU_FEATURES | NETIF_F_RXHASH;
	dev->vlan_features |= XPU_FEATURES;
	netif_set_tso_max_size(dev, XPU_TSO_MAX_SIZE);
	/* Native XDP, and frames redirected to the device: each is copied to a ring at once. */
	dev->xdp_features = NETDEV_XDP_ACT_BASIC | NETDEV_XDP_ACT_REDIRECT |
			    NETDEV_XDP_ACT_NDO_XMIT;
	dev->xdp_metadata_ops = &xpu_xdp_metadata_ops;
	dev->min_mtu = ETH_MIN_MTU;
	dev->max_mtu = ETH_MAX_MTU;
	eth_hw_addr_random(dev);
}

/* netlink interface: pair creation (Rust's, driver/net/rtnl.rs) and deletion, as in veth.c */

static struct rtnl_link_ops xpu_link_ops;

/* The kind, for its registration and the pair's creation (driver/net/rtnl.rs). */
struct rtnl_link_ops *xpu_link_kind(void)
{
	return &xpu_link_ops;
}

char *xpu_dev_name(struct net_device *dev)
{
	return dev->name;
}

void xpu_dev_set_ifindex(struct net_device *dev, int ifindex)
{
	dev->ifindex = ifindex;
}

/* Ties the two registered ends of a new pair: each holds a reference on the other until dellink. */
void xpu_pair_link(struct net_device *dev, struct net_device *peer)
{
	rcu_assign_pointer(xpu_priv(dev)->peer, peer);
	netdev_hold(peer, &xpu_priv(dev)->peer_tracker, GFP_KERNEL);
	rcu_assign_pointer(xpu_priv(peer)->peer, dev);
	netdev_hold(dev, &xpu_priv(peer)->peer_tracker, GFP_KERNEL);
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

/* What `ip -d link` shows of a link and nobody sets: a request that carries it is refused. */
#define XPU_READ_ONLY { .type = NLA_REJECT, .reject_message = "read-only attribute" }

static const struct nla_policy xpu_policy[IFLA_XPU_MAX + 1] = {
	[IFLA_XPU_PEER_INFO]	= { .len = sizeof(struct ifinfomsg) },
	[IFLA_XPU_QUEUES]	= { .type = NLA_U32 },
	[IFLA_XPU_RING_SIZE]	= { .type = NLA_U32 },
	[IFLA_XPU_ROLE]		= XPU_READ_ONLY,
	[IFLA_XPU_LINK_STATE]	= XPU_READ_ONLY,
	[IFLA_XPU_STATUS]	= XPU_READ_ONLY,
	[IFLA_XPU_LINK_ID]	= XPU_READ_ONLY,
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
	.newlink	= xpu_rs_newlink,
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
 * Creates and registers the netdev of a PCI function (@parent), and hands it @link, the Rust
 * transport (which sets its queues), under the same RTNL section, so that it is never up
 * without.
 */
struct net_device *xpu_pci_netdev_create(struct device *parent, const void *link)
{
	struct net_device *dev;
	int err;

	dev = alloc_netdev_mqs(sizeof(struct xpu_priv), DRV_NAME "%d", NET_NAME_ENUM, xpu_setup,
			       XPU_SHM_MAX_QUEUES, XPU_SHM_MAX_QUEUES);
	if (!dev)
		return ERR_PTR(-ENOMEM);
	/* Freed by PciNetdev's drop (driver/net/pci.rs), which disables its control work first. */
	dev->needs_free_netdev = false;
	dev->netdev_ops = &xpu_pci_netdev_ops;
	dev->watchdog_timeo = 5 * HZ;
	dev->rtnl_link_ops = &xpu_pci_link_ops;
	SET_NETDEV_DEV(dev, parent);

	/*
	 * One queue each way until the transport sets its count: registered with all that were
	 * allocated, each would get its sysfs directory and uevent, most removed again at once.
	 */
	WARN_ON_ONCE(netif_set_real_num_queues(dev, 1, 1));	/* unregistered: only counts */
	rtnl_lock();
	err = register_netdevice(dev);
	if (!err) {
		netif_carrier_off(dev);
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
 * PCI mode: queue @q's doorbells arrive on IRQ @irq. Its NAPI reports it (the netdev family's
 * napi-get; busy polling's IRQ deferral) from now on if it is polled, else from the next open.
 * The vector starts on one CPU, the queues' spread over the CPUs as a NIC driver spreads its
 * vectors, so that RSS's queues are CPUs (the administrator may move it: it is set once, here).
 */
void xpu_pci_set_irq(struct net_device *dev, unsigned int q, int irq)
{
	struct xpu_priv *priv = xpu_priv(dev);

	if (q >= XPU_SHM_MAX_QUEUES)
		return;
	/* Best effort: a vector left on every CPU still works, only less spread. */
	irq_set_affinity(irq, cpumask_of(cpumask_local_spread(q, dev_to_node(dev->dev.parent))));
	netdev_lock(dev);
	priv->rxq[q].irq = irq;
	if (q < priv->napi_on)
		netif_napi_set_irq_locked(&priv->rxq[q].napi, irq);
	netdev_unlock(dev);
}

/* MSI-X vector 1 + @q rang (hard IRQ): queue @q's doorbell. */
void xpu_pci_queue_irq(struct net_device *dev, unsigned int q)
{
	if (q < XPU_SHM_MAX_QUEUES)
		napi_schedule_irqoff(&xpu_priv(dev)->rxq[q].napi);
}

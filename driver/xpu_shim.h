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

#include <linux/ethtool.h>
#include <linux/netdevice.h>
#include <linux/virtio_net.h>
#include <net/genetlink.h>
#include <linux/xpu.h>
#include <linux/xpu_shm.h>

/* Why the datapath dropped a packet; xpu_skb_drop() maps it to an skb_drop_reason. */
enum xpu_drop {
	XPU_DROP_LINK_DOWN,
	XPU_DROP_RING_FULL,
	XPU_DROP_TOO_BIG,
	XPU_DROP_BAD_META,
	XPU_DROP_NOMEM,
};

/* An RX queue's doorbell moderation (ethtool -C, or DIM's choice). */
struct xpu_moder {
	u32 usecs;
	u32 frames;
	bool adaptive;
};

/* Room for IFLA_XPU_STATUS, the handshake's last word ("connected", or why not). */
#define XPU_STATUS_LEN	96

/* The device's counters, summed over its queues by Rust for ndo_get_stats64. */
struct xpu_stats {
	u64 rx_packets;
	u64 rx_bytes;
	u64 rx_dropped;
	u64 rx_errors;
	u64 tx_packets;
	u64 tx_bytes;
	u64 tx_dropped;
};

/* Split namespaces (xpu_split.c carries out what driver/splitns.rs decides). */

/*
 * What a steered packet's headers say (a TCP or UDP packet, or an ICMP error about one), as
 * driver/splitns.rs reads them from the first XPU_FLOW_HEADERS bytes (xpu_rs_flow_read()).
 */
#define XPU_FLOW_HEADERS	130
struct xpu_flow {
	u8 family;		/* 4 or 6 */
	u8 pad;
	u16 port;		/* at dst's end: the one whose owner the packet is for */
	u8 src[16];		/* network order; IPv4 in the first 4 bytes */
	u8 dst[16];
};

/* What a half does with a packet from across (xpu_rs_split_arrival). */
enum xpu_arrival {
	XPU_ARRIVAL_DROP,
	XPU_ARRIVAL_LOOPBACK,	/* through lo, as loopback would */
	XPU_ARRIVAL_LINK,	/* from outside the pod: as received on the link */
};

/* What a peer's snapshot calls for (xpu_rs_split_receive; driver/splitns.rs, mod todo). */
#define XPU_SPLIT_TODO_REPLY	(1 << 0)
#define XPU_SPLIT_TODO_NOTIFY	(1 << 1)
#define XPU_SPLIT_TODO_YIELDED	(1 << 2)
#define XPU_SPLIT_TODO_BAD	(1 << 3)

/* --- implemented in Rust, called from the C ops tables */
int xpu_rs_dev_init(struct net_device *dev);
u32 xpu_rs_ring_size(const struct net_device *dev);
void xpu_rs_dev_free(struct net_device *dev);
int xpu_rs_open(struct net_device *dev);
int xpu_rs_stop(struct net_device *dev);
netdev_tx_t xpu_rs_start_xmit(struct sk_buff *skb, struct net_device *dev);
int xpu_rs_validate(struct nlattr **data, struct netlink_ext_ack *extack);
int xpu_rs_pair_attach(struct net_device *dev, struct net_device *peer, struct nlattr **data,
		       struct netlink_ext_ack *extack);
int xpu_rs_poll(struct net_device *dev, struct napi_struct *napi, unsigned int q, int budget);
void xpu_rs_get_stats(struct net_device *dev, struct xpu_stats *s);
u32 xpu_rs_role(const struct net_device *dev);
void xpu_rs_link_status(const struct net_device *dev, u32 *state, char *buf, u32 len);
int xpu_rs_pci_attach(struct net_device *dev, const void *link);
void xpu_rs_ctrl(struct net_device *dev);
void xpu_rs_ctrl_peek(struct net_device *dev);
void xpu_rs_tx_timeout(struct net_device *dev);
int xpu_rs_get_phys_port_name(struct net_device *dev, char *name, size_t len);
void xpu_rs_get_drvinfo(struct net_device *dev, struct ethtool_drvinfo *info);
int xpu_rs_get_sset_count(struct net_device *dev, int sset);
void xpu_rs_get_strings(struct net_device *dev, u32 sset, u8 *buf);
void xpu_rs_get_ethtool_stats(struct net_device *dev, struct ethtool_stats *stats, u64 *data);
void xpu_rs_get_channels(struct net_device *dev, struct ethtool_channels *ch);
int xpu_rs_set_channels(struct net_device *dev, struct ethtool_channels *ch);
int xpu_rs_get_coalesce(struct net_device *dev, struct ethtool_coalesce *ec,
			struct kernel_ethtool_coalesce *kec, struct netlink_ext_ack *extack);
int xpu_rs_set_coalesce(struct net_device *dev, struct ethtool_coalesce *ec,
			struct kernel_ethtool_coalesce *kec, struct netlink_ext_ack *extack);
void xpu_rs_split_free(const void *rs);
bool xpu_rs_flow_read(const void *pkt, u32 len, struct xpu_flow *f);
bool xpu_rs_split_tap(const void *rs, const struct xpu_flow *f);
bool xpu_rs_split_edge(const void *rs, const struct xpu_flow *f);
u32 xpu_rs_split_arrival(const void *rs, const struct xpu_flow *f, bool src_local);
void xpu_rs_split_count(const void *rs, bool delivered);
void xpu_rs_split_refused(const void *rs);
int xpu_rs_split_snapshot(const void *rs, void *buf, u32 len, bool split, bool reply);
u32 xpu_rs_split_receive(const void *rs, const void *buf, u32 len);
bool xpu_rs_split_peer_lost(const void *rs);
u32 xpu_rs_split_msg_len(void);
void xpu_rs_split_notify(const void *rs, struct net *net, int ifindex, bool deleted);

/* --- implemented in C, called from Rust */
int xpu_split_register(void);
void xpu_split_unregister(void);
struct net_device *xpu_split_link(struct net *net, u32 ifindex, u32 *role);
const void *xpu_split_rs(const struct net *net, int *ifindex);
int xpu_split_attach(struct net *net, struct net_device *dev, const void *rs, u16 lo, u16 hi,
		     const char **msg);
bool xpu_split_detach(struct net *net);
void xpu_split_changed(struct net *net);
void xpu_extack(struct netlink_ext_ack *extack, const struct nlattr *attr, const char *msg);
struct net *xpu_genl_info_net(const struct genl_info *info);
void *xpu_genl_iput(struct sk_buff *skb, const struct genl_info *info);
int xpu_genl_reply(struct sk_buff *skb, struct genl_info *info);
struct net *xpu_genl_dump_net(const struct sk_buff *skb);
void *xpu_genl_dump_put(struct sk_buff *skb, const struct netlink_callback *cb, u8 cmd);
void *xpu_genl_ntf_put(struct sk_buff *skb, u8 cmd);
bool xpu_genl_ntf_wanted(struct net *net);
void xpu_genl_ntf_send(struct net *net, struct sk_buff *skb);
bool xpu_dev_is_xpu(const struct net_device *dev);
struct net_device *xpu_dev_peer_rtnl(const struct net_device *dev);
bool xpu_dev_is_up(const struct net_device *dev);
void xpu_dev_carrier_on(struct net_device *dev);
int xpu_link_register(void);
void xpu_link_unregister(void);
void *xpu_priv_rs(const struct net_device *dev);
void xpu_priv_set_rs(struct net_device *dev, void *rs);
void xpu_dev_carrier_off(struct net_device *dev);
void xpu_dev_drop_inc(struct net_device *dev, bool tx);
unsigned int xpu_dev_mtu(const struct net_device *dev);
unsigned int xpu_dev_real_num_queues(const struct net_device *dev);
int xpu_dev_set_queues(struct net_device *dev, unsigned int n);
unsigned int xpu_dev_alloc_queues(const struct net_device *dev);
unsigned int xpu_num_online_cpus(void);
bool xpu_dev_running(const struct net_device *dev);
void xpu_rx_moderation_set(struct net_device *dev, const struct xpu_moder *m);
void xpu_skb_drop(struct sk_buff *skb, enum xpu_drop why);
void xpu_skb_consume(struct sk_buff *skb);
unsigned int xpu_skb_len(const struct sk_buff *skb);
unsigned int xpu_skb_queue(const struct sk_buff *skb);
int xpu_skb_copy_to(const struct sk_buff *skb, void *dst, unsigned int len);
int xpu_skb_vnet_hdr(const struct sk_buff *skb, struct virtio_net_hdr *h);
struct sk_buff *xpu_rx_skb(struct napi_struct *napi, const void *data, unsigned int len,
			   const struct virtio_net_hdr *h, enum xpu_drop *why);
void xpu_napi_gro_receive(struct napi_struct *napi, struct sk_buff *skb);
bool xpu_napi_complete_done(struct napi_struct *napi, int done);
void xpu_napi_schedule(struct napi_struct *napi);
void xpu_rx_moderation(struct napi_struct *napi, struct xpu_moder *m);
void xpu_rx_timer_start(struct napi_struct *napi, u32 usecs);
void xpu_rx_dim_sample(struct napi_struct *napi, u16 events, u64 packets, u64 bytes);
void xpu_napi_enable(struct net_device *dev, unsigned int n);
void xpu_napi_disable(struct net_device *dev);
bool xpu_peer_napi_schedule(struct net_device *dev, unsigned int q);
void xpu_peer_txq_wake(struct net_device *dev, unsigned int q);
void xpu_txq_stop(struct net_device *dev, unsigned int q);
void xpu_txq_start(struct net_device *dev, unsigned int q);
void xpu_txq_wake_all(struct net_device *dev);
bool xpu_xmit_more(void);
void xpu_txq_wake(struct net_device *dev, unsigned int q);
void xpu_txq_disable_all(struct net_device *dev);
struct net_device *xpu_pci_netdev_create(struct device *parent, unsigned int queues,
					 const void *link);
void xpu_pci_netdev_destroy(struct net_device *dev);
void xpu_ctrl_schedule(struct net_device *dev);
void xpu_pci_irq(struct net_device *dev, unsigned int v);
void *xpu_pci_map_window(struct device *dev, int bar, u64 *len);
void xpu_pci_unmap_window(struct device *dev, int bar, void *p);

#endif /* XPU_SHIM_H */

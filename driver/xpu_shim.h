/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The boundary between xpu's C shim and its Rust code.
 *
 * Linux 7.3 has no Rust abstractions for net_device, sk_buff, NAPI or rtnl_link_ops, and the
 * kernel's Rust bindings see struct net_device as opaque. So the ops tables, whose layouts
 * only C knows, live in xpu_shim.c and point at the xpu_rs_* functions below (implemented in
 * Rust, driver/net/ops.rs); and the xpu_* helpers wrap what is static inline in C. This file
 * is the only contract: tools/lab/shim-bindings.sh generates its Rust declarations (included by
 * driver/net/sys.rs) from it at build time, with the kernel functions Rust calls directly.
 */
#ifndef XPU_SHIM_H
#define XPU_SHIM_H

#include <linux/dim.h>
#include <linux/ethtool.h>
#include <linux/netdevice.h>
#include <linux/netfilter.h>
#include <linux/netfilter_ipv4.h>
#include <linux/netfilter_ipv6.h>
#include <linux/rtnetlink.h>
#include <linux/virtio_net.h>
#include <linux/workqueue.h>
#include <net/xdp.h>
#include <net/netdev_queues.h>
#include <net/dst.h>
#include <net/genetlink.h>
#include <linux/xpu.h>
#include <linux/xpu_shm.h>

struct xdp_frame;

/* The generated family's handlers, which Rust implements (driver/net/split_nl.rs). */
#include "xpu_nl.h"

/* --- implemented in Rust, called from the C ops tables */
int xpu_rs_dev_init(struct net_device *dev);
size_t xpu_rs_get_size(const struct net_device *dev);
int xpu_rs_fill_info(struct sk_buff *skb, const struct net_device *dev);
size_t xpu_rs_pci_get_size(const struct net_device *dev);
int xpu_rs_pci_fill_info(struct sk_buff *skb, const struct net_device *dev);
void xpu_rs_dev_free(struct net_device *dev);
int xpu_rs_open(struct net_device *dev);
int xpu_rs_stop(struct net_device *dev);
netdev_tx_t xpu_rs_start_xmit(struct sk_buff *skb, struct net_device *dev);
int xpu_rs_validate(struct nlattr *const *data, struct netlink_ext_ack *extack);
int xpu_rs_newlink(struct net_device *dev, struct rtnl_newlink_params *params,
		   struct netlink_ext_ack *extack);
int xpu_rs_poll(struct net_device *dev, struct napi_struct *napi, unsigned int q, int budget);
void xpu_rs_get_stats64(struct net_device *dev, struct rtnl_link_stats64 *stats);
int xpu_rs_xdp_xmit(struct net_device *dev, unsigned int q, struct xdp_frame **frames, int n);
void xpu_rs_get_queue_stats_rx(struct net_device *dev, int idx, struct netdev_queue_stats_rx *stats);
void xpu_rs_get_queue_stats_tx(struct net_device *dev, int idx, struct netdev_queue_stats_tx *stats);
void xpu_rs_get_base_stats(struct net_device *dev, struct netdev_queue_stats_rx *rx,
			   struct netdev_queue_stats_tx *tx);
u32 xpu_rs_role(const struct net_device *dev);
int xpu_rs_pci_attach(struct net_device *dev, const void *link);
void xpu_rs_ctrl_irq(struct net_device *dev);
void xpu_rs_tx_timeout(struct net_device *dev, unsigned int txqueue);
int xpu_rs_get_phys_port_name(struct net_device *dev, char *name, size_t len);
void xpu_rs_get_drvinfo(struct net_device *dev, struct ethtool_drvinfo *info);
int xpu_rs_get_sset_count(struct net_device *dev, int sset);
void xpu_rs_get_strings(struct net_device *dev, u32 sset, u8 *buf);
void xpu_rs_get_ethtool_stats(struct net_device *dev, struct ethtool_stats *stats, u64 *data);
void xpu_rs_get_channels(struct net_device *dev, struct ethtool_channels *ch);
int xpu_rs_set_channels(struct net_device *dev, struct ethtool_channels *ch);
void xpu_rs_get_ringparam(struct net_device *dev, struct ethtool_ringparam *ring,
			  struct kernel_ethtool_ringparam *kring, struct netlink_ext_ack *extack);
int xpu_rs_set_ringparam(struct net_device *dev, struct ethtool_ringparam *ring,
			 struct kernel_ethtool_ringparam *kring, struct netlink_ext_ack *extack);
int xpu_rs_get_coalesce(struct net_device *dev, struct ethtool_coalesce *ec,
			struct kernel_ethtool_coalesce *kec, struct netlink_ext_ack *extack);
int xpu_rs_set_coalesce(struct net_device *dev, struct ethtool_coalesce *ec,
			struct kernel_ethtool_coalesce *kec, struct netlink_ext_ack *extack);
u32 xpu_rs_get_priv_flags(struct net_device *dev);
int xpu_rs_set_priv_flags(struct net_device *dev, u32 flags);
int xpu_rs_select_queue(struct net_device *dev, struct sk_buff *skb);
u32 xpu_rs_rx_hash(struct net_device *dev, const void *frame, unsigned int len, u32 *hash,
		   enum xdp_rss_hash_type *xdp_type);
u32 xpu_rs_get_rxfh_key_size(struct net_device *dev);
u32 xpu_rs_get_rxfh_indir_size(struct net_device *dev);
u32 xpu_rs_get_rx_ring_count(struct net_device *dev);
int xpu_rs_get_rxfh(struct net_device *dev, struct ethtool_rxfh_param *rxfh);
int xpu_rs_set_rxfh(struct net_device *dev, struct ethtool_rxfh_param *rxfh,
		    struct netlink_ext_ack *extack);
int xpu_rs_get_rxfh_fields(struct net_device *dev, struct ethtool_rxfh_fields *fields);
int xpu_rs_set_rxfh_fields(struct net_device *dev, const struct ethtool_rxfh_fields *fields,
			   struct netlink_ext_ack *extack);

/* --- implemented in C, called from Rust */
typedef int xpu_packet_rcv_t(struct sk_buff *skb, struct net_device *dev,
			     struct packet_type *pt, struct net_device *orig_dev);
int xpu_split_register(void (*net_exit)(struct net *net),
		       void (*dev_event)(struct net_device *dev, bool gone),
		       u16 local_type, xpu_packet_rcv_t *local_rcv,
		       u16 sync_type, xpu_packet_rcv_t *sync_rcv);
void xpu_split_unregister(void);
void *xpu_split_half(const struct net *net);
void xpu_split_set_half(struct net *net, void *half);
u16 xpu_skb_protocol(const struct sk_buff *skb);
const void *xpu_skb_header(const struct sk_buff *skb, u32 len, void *buf);
struct sk_buff *xpu_skb_unshare(struct sk_buff *skb);
bool xpu_skb_has_sock(const struct sk_buff *skb);
void xpu_skb_reset_network_header(struct sk_buff *skb);
bool xpu_skb_may_pull(struct sk_buff *skb, u32 len);
const void *xpu_skb_linear(struct sk_buff *skb);
struct sk_buff *xpu_skb_alloc(struct net_device *dev, u32 len, void **data);
bool xpu_skb_send(struct sk_buff *skb, struct net_device *dev, u16 type);
bool xpu_skb_deliver(struct sk_buff *skb, struct net_device *via, u16 proto,
		     struct dst_entry *dst);
void xpu_skb_forward_csum(struct sk_buff *skb);
bool xpu_skb_ct_confirm(struct sk_buff *skb);
void *xpu_skb_rx_handler_data(const struct sk_buff *skb);
struct dst_entry *xpu_local_route(struct net *net, bool v6, const u8 *src, const u8 *dst);
bool xpu_local_addr(struct net *net, bool v6, const u8 *a);
struct net *xpu_dev_net(const struct net_device *dev);
int xpu_dev_ifindex(const struct net_device *dev);
bool xpu_dev_link_ok(const struct net_device *dev);
void xpu_dev_hold(struct net_device *dev);
void xpu_dev_put(struct net_device *dev);
void xpu_dev_warn(const struct net_device *dev, const char *msg);
struct net_device *xpu_net_loopback(const struct net *net);
u32 xpu_net_port_range(const struct net *net);
void xpu_net_set_port_range(struct net *net, u32 range);
bool xpu_work_schedule(struct work_struct *work);
void xpu_extack(struct netlink_ext_ack *extack, const struct nlattr *attr, const char *msg);
struct net *xpu_genl_info_net(const struct genl_info *info);
void *xpu_genl_iput(struct sk_buff *skb, const struct genl_info *info);
int xpu_genl_reply(struct sk_buff *skb, struct genl_info *info);
struct net *xpu_genl_dump_net(const struct sk_buff *skb);
void *xpu_genl_dump_put(struct sk_buff *skb, const struct netlink_callback *cb, u8 cmd);
bool xpu_genl_ntf_wanted(struct net *net);
void xpu_genl_ntf_send(struct net *net, struct sk_buff *skb);
bool xpu_dev_is_xpu(const struct net_device *dev);
struct net_device *xpu_dev_peer_rtnl(const struct net_device *dev);
struct rtnl_link_ops *xpu_link_kind(void);
char *xpu_dev_name(struct net_device *dev);
void xpu_dev_set_ifindex(struct net_device *dev, int ifindex);
void xpu_pair_link(struct net_device *dev, struct net_device *peer);
void *xpu_priv_rs(const struct net_device *dev);
void xpu_priv_set_rs(struct net_device *dev, void *rs);
void xpu_dev_drop_inc(struct net_device *dev, bool tx);
unsigned int xpu_dev_mtu(const struct net_device *dev);
unsigned int xpu_dev_real_num_queues(const struct net_device *dev);
unsigned int xpu_dev_alloc_queues(const struct net_device *dev);
unsigned int xpu_num_online_cpus(void);
bool xpu_mem_can_flush(void);
void xpu_mem_writeback(void *addr, size_t len);
void xpu_mem_invalidate(void *addr, size_t len);
bool xpu_dev_running(const struct net_device *dev);
bool xpu_dev_busy_poll(const struct net_device *dev);
int xpu_dev_set_busy_poll(struct net_device *dev, bool on);
unsigned int xpu_skb_len(const struct sk_buff *skb);
unsigned int xpu_skb_queue(const struct sk_buff *skb);
int xpu_skb_vnet_hdr(const struct sk_buff *skb, struct virtio_net_hdr *h);
/* What became of a received packet (xpu_rx): the datapath's Delivered (driver/net/napi.rs). */
enum xpu_rx_verdict {
	XPU_RX_UP,			/* to the stack; no XDP program */
	XPU_RX_XDP_PASS,		/* the program ran natively: ... */
	XPU_RX_XDP_DROP,
	XPU_RX_XDP_TX,			/* the frame is in *tx, to send */
	XPU_RX_XDP_REDIRECT,
	XPU_RX_XDP_SKB_PASS,		/* it ran on the skb (generic XDP): passed */
	XPU_RX_XDP_SKB_CONSUMED,	/* ... dropped, sent or redirected */
};
int xpu_rx(struct napi_struct *napi, const void *data, unsigned int len,
	   const struct virtio_net_hdr *h, struct xdp_frame **tx);
void xpu_xdp_flush(void);
const void *xpu_xdp_frame_data(const struct xdp_frame *frame, unsigned int *len);
void xpu_xdp_frame_free(struct xdp_frame *frame);
void xpu_txq_lock(struct net_device *dev, unsigned int q);
void xpu_txq_unlock(struct net_device *dev, unsigned int q);
void xpu_napi_schedule(struct napi_struct *napi);
struct napi_struct *xpu_dev_napi(struct net_device *dev, unsigned int q);
void xpu_napi_enable(struct net_device *dev, unsigned int n);
unsigned int xpu_napi_disable(struct net_device *dev);
bool xpu_peer_napi_schedule(struct net_device *dev, unsigned int q);
void xpu_peer_txq_wake(struct net_device *dev, unsigned int q);
void xpu_txq_stop(struct net_device *dev, unsigned int q);
void xpu_txq_start(struct net_device *dev, unsigned int q);
void xpu_txq_wake_all(struct net_device *dev);
bool xpu_xmit_more(void);
void xpu_txq_wake(struct net_device *dev, unsigned int q);
void xpu_txq_disable_all(struct net_device *dev);
struct net_device *xpu_pci_netdev_create(struct device *parent, const void *link);
void xpu_pci_set_irq(struct net_device *dev, unsigned int q, int irq);
void xpu_pci_queue_irq(struct net_device *dev, unsigned int q);

#endif /* XPU_SHIM_H */

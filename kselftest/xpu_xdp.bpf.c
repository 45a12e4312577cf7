// SPDX-License-Identifier: GPL-2.0
/*
 * XDP programs for xpu_xdp.sh. Each gives IPv4 UDP datagrams to one port its verdict, and
 * passes everything else (ARP, ICMP, TCP, other ports):
 *   9001: XDP_DROP
 *   9002: XDP_TX, turned into the reply (addresses and ports swapped: the checksums hold)
 *   9003: the same reply, sent back out of the device it came in on by XDP_REDIRECT (so
 *         through the device's ndo_xdp_xmit)
 *   9004: XDP_ABORTED
 * The "xdp.frags" section is the same program for multi-buffer frames (it reads only the
 * first buffer's headers).
 * xpu_xdp_forward, on another device (a veth), redirects the datagrams to port 9006 into the
 * device that entry 0 of its map xpu_fwd_dev names (an xpu one: its ndo_xdp_xmit sends the
 * other device's frames), unchanged, and passes everything else.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/udp.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#define PORT_DROP	9001
#define PORT_TX		9002
#define PORT_REDIRECT	9003
#define PORT_ABORT	9004
#define PORT_FORWARD	9006

struct {
	__uint(type, BPF_MAP_TYPE_DEVMAP);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} xpu_fwd_dev SEC(".maps");

static __always_inline void swap(void *a, void *b, unsigned int n)
{
	unsigned char t, *x = a, *y = b;
	unsigned int i;

	for (i = 0; i < n; i++) {
		t = x[i];
		x[i] = y[i];
		y[i] = t;
	}
}

/* The reply to the datagram: the sender's own addresses and ports, swapped. */
static __always_inline void reply(struct ethhdr *eth, struct iphdr *ip, struct udphdr *udp)
{
	swap(eth->h_source, eth->h_dest, ETH_ALEN);
	swap(&ip->saddr, &ip->daddr, sizeof(ip->saddr));
	swap(&udp->source, &udp->dest, sizeof(udp->source));
}

/*
 * The headers of an IPv4 UDP datagram without options: its UDP header, with its Ethernet and
 * IP ones in *eth and *ip (pointers the verifier has seen checked against the frame's end);
 * NULL for any other frame.
 */
static __always_inline struct udphdr *udp_of(struct xdp_md *ctx, struct ethhdr **eth,
					     struct iphdr **ip)
{
	void *end = (void *)(long)ctx->data_end;
	struct udphdr *udp;

	*eth = (void *)(long)ctx->data;
	if ((void *)(*eth + 1) > end || (*eth)->h_proto != bpf_htons(ETH_P_IP))
		return NULL;
	*ip = (void *)(*eth + 1);
	if ((void *)(*ip + 1) > end || (*ip)->ihl != 5 || (*ip)->protocol != IPPROTO_UDP)
		return NULL;
	udp = (void *)(*ip + 1);
	if ((void *)(udp + 1) > end)
		return NULL;
	return udp;
}

static __always_inline int verdict(struct xdp_md *ctx)
{
	struct ethhdr *eth;
	struct udphdr *udp;
	struct iphdr *ip;

	udp = udp_of(ctx, &eth, &ip);
	if (!udp)
		return XDP_PASS;
	switch (bpf_ntohs(udp->dest)) {
	case PORT_DROP:
		return XDP_DROP;
	case PORT_TX:
		reply(eth, ip, udp);
		return XDP_TX;
	case PORT_REDIRECT:
		reply(eth, ip, udp);
		return bpf_redirect(ctx->ingress_ifindex, 0);
	case PORT_ABORT:
		return XDP_ABORTED;
	}
	return XDP_PASS;
}

SEC("xdp")
int xpu_xdp(struct xdp_md *ctx)
{
	return verdict(ctx);
}

SEC("xdp.frags")
int xpu_xdp_frags(struct xdp_md *ctx)
{
	return verdict(ctx);
}

SEC("xdp")
int xpu_xdp_forward(struct xdp_md *ctx)
{
	struct ethhdr *eth;
	struct udphdr *udp;
	struct iphdr *ip;

	udp = udp_of(ctx, &eth, &ip);
	if (!udp || bpf_ntohs(udp->dest) != PORT_FORWARD)
		return XDP_PASS;
	return bpf_redirect_map(&xpu_fwd_dev, 0, XDP_ABORTED);
}

char _license[] SEC("license") = "GPL";

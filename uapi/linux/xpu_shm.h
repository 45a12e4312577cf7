/* SPDX-License-Identifier: ((GPL-2.0 WITH Linux-syscall-note) OR BSD-3-Clause) */
/*
 * xpu shared-memory window layout: the C twin of uapi/src/shm.rs (see there for the
 * protocol). uapi/tests/c_header.rs compiles this header and checks every size, offset and
 * constant against the Rust definitions. All fields are little-endian.
 */
#ifndef _UAPI_LINUX_XPU_SHM_H
#define _UAPI_LINUX_XPU_SHM_H

#include <linux/types.h>

#define XPU_SHM_MAGIC			0x31555058	/* "XPU1" little-endian */
#define XPU_SHM_VERSION			0x00010003	/* major << 16 | minor */
#define XPU_SHM_CACHE_LINE		64
#define XPU_SHM_SIDE_HEADER_SPACE	4096
#define XPU_SHM_MAX_QUEUES		16
#define XPU_SHM_MIN_RING_SIZE		8
#define XPU_SHM_MAX_RING_SIZE		4096
#define XPU_SHM_MIN_BUF_SIZE		2048
#define XPU_SHM_MAX_BUF_SIZE		(128 * 1024)

enum xpu_side_state {
	XPU_SIDE_DOWN		= 0,
	XPU_SIDE_READY		= 1,
	XPU_SIDE_UP		= 2,
	XPU_SIDE_RESETTING	= 3,
};

struct xpu_side_header {
	__le32 magic;
	__le32 version;
	__le64 features;
	__le32 state;
	__le32 generation;
	__le32 peer_generation;
	__le32 link_id;		/* host side: the link's number; DPU side: 0 */
	__le16 num_queues;
	__le16 reserved;
	__le32 ring_size;
	__le32 buf_size;
	__le32 mtu;
	__le32 ring_off;
	__le32 cons_off;
	__le32 data_off;
	__le32 half_size;
};

/* xpu_side_header.features */
#define XPU_SHM_F_RSS			(1ULL << 0)
#define XPU_SHM_F_NONCOHERENT		(1ULL << 1)

#define XPU_SHM_RSS_KEY_SIZE		40
#define XPU_SHM_RSS_INDIR_SIZE		128
#define XPU_SHM_RSS_OFF			(2 * XPU_SHM_CACHE_LINE)
/* xpu_rss_block.fields: a nibble of XPU_SHM_RSS_F_* per flow, at 4 * XPU_SHM_RSS_FLOW_* */
#define XPU_SHM_RSS_FLOW_TCP4		0
#define XPU_SHM_RSS_FLOW_UDP4		1
#define XPU_SHM_RSS_FLOW_TCP6		2
#define XPU_SHM_RSS_FLOW_UDP6		3
#define XPU_SHM_RSS_F_SRC_ADDR		(1 << 0)
#define XPU_SHM_RSS_F_DST_ADDR		(1 << 1)
#define XPU_SHM_RSS_F_SRC_PORT		(1 << 2)
#define XPU_SHM_RSS_F_DST_PORT		(1 << 3)

/* The receiver's RSS configuration, at XPU_SHM_RSS_OFF in its half (seqlock: seq odd while written). */
struct xpu_rss_block {
	__le32 seq;
	__le32 fields;
	__u8 key[XPU_SHM_RSS_KEY_SIZE];
	__u8 indir[XPU_SHM_RSS_INDIR_SIZE];
};

struct xpu_ring_producer {
	__le32 prod;
	__le32 prod_event;
} __attribute__((aligned(XPU_SHM_CACHE_LINE)));

struct xpu_ring_consumer {
	__le32 cons;
	__le32 cons_event;
	__le32 depth;
} __attribute__((aligned(XPU_SHM_CACHE_LINE)));

#define XPU_DESC_F_CSUM_PARTIAL	(1 << 0)
#define XPU_DESC_F_DATA_VALID	(1 << 1)

#define XPU_GSO_NONE		0
#define XPU_GSO_TCPV4		1
#define XPU_GSO_TCPV6		2
#define XPU_GSO_UDP_L4		3
#define XPU_GSO_F_ECN		0x80

struct xpu_desc {
	__le32 off;
	__le32 len;
	__le16 csum_start;
	__le16 csum_offset;
	__le16 gso_size;
	__u8 gso_type;
	__u8 flags;
};

#endif /* _UAPI_LINUX_XPU_SHM_H */

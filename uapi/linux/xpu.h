/* SPDX-License-Identifier: ((GPL-2.0 WITH Linux-syscall-note) OR BSD-3-Clause) */
/*
 * xpu link attributes: IFLA_INFO_DATA of `ip link add NAME type xpu`.
 */
#ifndef _UAPI_LINUX_XPU_H
#define _UAPI_LINUX_XPU_H

enum {
	IFLA_XPU_UNSPEC,
	/* Pair mode: the peer, as a struct ifinfomsg followed by IFLA_* attributes
	 * (name, netns, address), like VETH_INFO_PEER.
	 */
	IFLA_XPU_PEER_INFO,
	/* u32: queue pairs in use on both ends, 1..XPU_SHM_MAX_QUEUES; default
	 * min(online CPUs, 4). Later changes: ethtool -L.
	 */
	IFLA_XPU_QUEUES,
	/* u32: descriptors per ring, a power of two in XPU_SHM_MIN_RING_SIZE..
	 * XPU_SHM_MAX_RING_SIZE; default 256. Later changes: ethtool -G.
	 */
	IFLA_XPU_RING_SIZE,
	/* PCI mode, read-only: u32 enum xpu_link_role, the side this device plays. */
	IFLA_XPU_ROLE,
	/* PCI mode, read-only: u32 enum xpu_link_state, where the handshake is. */
	IFLA_XPU_LINK_STATE,
	/* PCI mode, read-only: string, the handshake's status ("connected", or why not). */
	IFLA_XPU_STATUS,
	__IFLA_XPU_MAX
};

#define IFLA_XPU_MAX (__IFLA_XPU_MAX - 1)

enum xpu_link_role {
	XPU_LINK_ROLE_PAIR,
	XPU_LINK_ROLE_HOST,
	XPU_LINK_ROLE_DPU,
};

enum xpu_link_state {
	XPU_LINK_STATE_WAITING,		/* no peer yet, or the peer left */
	XPU_LINK_STATE_CONNECTED,	/* both sides up */
	XPU_LINK_STATE_MISMATCH,	/* the peer speaks another version or configuration */
};

#define XPU_DEFAULT_QUEUES	4
#define XPU_DEFAULT_RING_SIZE	256

#endif /* _UAPI_LINUX_XPU_H */

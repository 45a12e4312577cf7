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
	__IFLA_XPU_MAX
};

#define IFLA_XPU_MAX (__IFLA_XPU_MAX - 1)

#define XPU_DEFAULT_QUEUES	4
#define XPU_DEFAULT_RING_SIZE	256

#endif /* _UAPI_LINUX_XPU_H */

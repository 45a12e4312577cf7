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
	__IFLA_XPU_MAX
};

#define IFLA_XPU_MAX (__IFLA_XPU_MAX - 1)

#endif /* _UAPI_LINUX_XPU_H */

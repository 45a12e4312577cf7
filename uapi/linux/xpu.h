/* SPDX-License-Identifier: ((GPL-2.0 WITH Linux-syscall-note) OR BSD-3-Clause) */
/* Do not edit directly, auto-generated from: */
/*	uapi/xpu.yaml */
/* YNL-GEN uapi header */
/* To regenerate run: tools/net/ynl/ynl-regen.sh */

#ifndef _UAPI_LINUX_XPU_H
#define _UAPI_LINUX_XPU_H

#define XPU_FAMILY_NAME		"xpu"
#define XPU_FAMILY_VERSION	1

/**
 * enum xpu_link_role - Which end of a link a device is (the ip link attribute
 *   role).
 * @XPU_LINK_ROLE_PAIR: Both ends in one kernel (ip link add NAME type xpu).
 * @XPU_LINK_ROLE_HOST: The host's end of a PCI link.
 * @XPU_LINK_ROLE_DPU: The DPU's end of a PCI link.
 */
enum xpu_link_role {
	XPU_LINK_ROLE_PAIR,
	XPU_LINK_ROLE_HOST,
	XPU_LINK_ROLE_DPU,
};

/**
 * enum xpu_link_state - Where a PCI link's handshake is (the ip link attribute
 *   link-state).
 * @XPU_LINK_STATE_WAITING: No peer yet, or the peer left.
 * @XPU_LINK_STATE_CONNECTED: Both sides up.
 * @XPU_LINK_STATE_MISMATCH: The peer speaks another version or configuration.
 */
enum xpu_link_state {
	XPU_LINK_STATE_WAITING,
	XPU_LINK_STATE_CONNECTED,
	XPU_LINK_STATE_MISMATCH,
};

#define XPU_DEFAULT_QUEUES	4
#define XPU_DEFAULT_RING_SIZE	256

/*
 * A half of a split namespace.
 */
enum xpu_half {
	XPU_HALF_HOST,
	XPU_HALF_DPU,
};

/**
 * enum xpu_peer_state - What this half knows of the other half.
 * @XPU_PEER_STATE_UNKNOWN: The link is down, or the other half has not
 *   answered yet.
 * @XPU_PEER_STATE_UNSPLIT: The other end of the link has no split namespace.
 * @XPU_PEER_STATE_SPLIT: The other half is split too; its ports are known.
 * @XPU_PEER_STATE_CONFLICT: The other half is split but cannot pair with this
 *   one: the same half, or an overlapping ephemeral range, or another pod
 *   address. Nothing is steered.
 */
enum xpu_peer_state {
	XPU_PEER_STATE_UNKNOWN,
	XPU_PEER_STATE_UNSPLIT,
	XPU_PEER_STATE_SPLIT,
	XPU_PEER_STATE_CONFLICT,
};

/**
 * enum xpu_claim - How this half holds a port; a port is this half's while any
 *   claim holds it.
 * @XPU_CLAIM_REGISTERED: Registered by hand (xpuctl port add), to reserve it
 *   before its program starts.
 * @XPU_CLAIM_SOCKET: A socket in this half binds it, as the ownership agent
 *   saw (a cgroup BPF program reports binds and releases; the agent claims and
 *   frees the port for them).
 */
enum xpu_claim {
	XPU_CLAIM_REGISTERED = 1,
	XPU_CLAIM_SOCKET = 2,
};

#define XPU_NAME_LEN	32

enum {
	IFLA_XPU_PEER_INFO = 1,
	IFLA_XPU_QUEUES,
	IFLA_XPU_RING_SIZE,
	IFLA_XPU_ROLE,
	IFLA_XPU_LINK_STATE,
	IFLA_XPU_STATUS,
	IFLA_XPU_LINK_ID,

	__IFLA_XPU_MAX,
	IFLA_XPU_MAX = (__IFLA_XPU_MAX - 1)
};

enum {
	XPU_A_SPLITNS_NAME = 1,
	XPU_A_SPLITNS_IFINDEX,
	XPU_A_SPLITNS_ADDR,
	XPU_A_SPLITNS_HALF,
	XPU_A_SPLITNS_PORT_MIN,
	XPU_A_SPLITNS_PORT_MAX,
	XPU_A_SPLITNS_PEER_STATE,
	XPU_A_SPLITNS_PORTS,
	XPU_A_SPLITNS_PEER_PORTS,
	XPU_A_SPLITNS_PEER_PORT_MIN,
	XPU_A_SPLITNS_PEER_PORT_MAX,
	XPU_A_SPLITNS_STEERED,
	XPU_A_SPLITNS_DELIVERED,
	XPU_A_SPLITNS_ADDR6,
	XPU_A_SPLITNS_REFUSED,

	__XPU_A_SPLITNS_MAX,
	XPU_A_SPLITNS_MAX = (__XPU_A_SPLITNS_MAX - 1)
};

enum {
	XPU_A_PORT_PORT = 1,
	XPU_A_PORT_HALF,
	XPU_A_PORT_CLAIM,

	__XPU_A_PORT_MAX,
	XPU_A_PORT_MAX = (__XPU_A_PORT_MAX - 1)
};

enum {
	XPU_CMD_SPLITNS_GET = 1,
	XPU_CMD_SPLITNS_CREATE,
	XPU_CMD_SPLITNS_DELETE,
	XPU_CMD_PORT_GET,
	XPU_CMD_PORT_ADD,
	XPU_CMD_PORT_DEL,
	XPU_CMD_SPLITNS_CHANGE_NTF,
	XPU_CMD_PORT_CHANGE_NTF,

	__XPU_CMD_MAX,
	XPU_CMD_MAX = (__XPU_CMD_MAX - 1)
};

#define XPU_MCGRP_MONITOR	"monitor"

#endif /* _UAPI_LINUX_XPU_H */

/* SPDX-License-Identifier: ((GPL-2.0 WITH Linux-syscall-note) OR BSD-3-Clause) */
/* Do not edit directly, auto-generated from: */
/*	uapi/xpu.yaml */
/* YNL-GEN kernel header */
/* To regenerate run: tools/net/ynl/ynl-regen.sh */

#ifndef _LINUX_XPU_GEN_H
#define _LINUX_XPU_GEN_H

#include <net/netlink.h>
#include <net/genetlink.h>

#include <uapi/linux/xpu.h>

int xpu_nl_splitns_get_doit(struct sk_buff *skb, struct genl_info *info);
int xpu_nl_splitns_get_dumpit(struct sk_buff *skb, struct netlink_callback *cb);
int xpu_nl_splitns_create_doit(struct sk_buff *skb, struct genl_info *info);
int xpu_nl_splitns_delete_doit(struct sk_buff *skb, struct genl_info *info);
int xpu_nl_port_get_doit(struct sk_buff *skb, struct genl_info *info);
int xpu_nl_port_get_dumpit(struct sk_buff *skb, struct netlink_callback *cb);
int xpu_nl_port_add_doit(struct sk_buff *skb, struct genl_info *info);
int xpu_nl_port_del_doit(struct sk_buff *skb, struct genl_info *info);

enum {
	XPU_NLGRP_MONITOR,
};

extern struct genl_family xpu_nl_family;

#endif /* _LINUX_XPU_GEN_H */

// SPDX-License-Identifier: ((GPL-2.0 WITH Linux-syscall-note) OR BSD-3-Clause)
/* Do not edit directly, auto-generated from: */
/*	uapi/xpu.yaml */
/* YNL-GEN kernel source */
/* To regenerate run: tools/net/ynl/ynl-regen.sh */

#include <net/netlink.h>
#include <net/genetlink.h>

#include "xpu_nl.h"

#include <uapi/linux/xpu.h>

/* XPU_CMD_SPLITNS_CREATE - do */
static const struct nla_policy xpu_splitns_create_nl_policy[XPU_A_SPLITNS_ADDR6 + 1] = {
	[XPU_A_SPLITNS_NAME] = { .type = NLA_NUL_STRING, .len = 31, },
	[XPU_A_SPLITNS_IFINDEX] = NLA_POLICY_MIN(NLA_U32, 1),
	[XPU_A_SPLITNS_ADDR] = { .type = NLA_BE32, },
	[XPU_A_SPLITNS_HALF] = NLA_POLICY_MAX(NLA_U32, 1),
	[XPU_A_SPLITNS_PORT_MIN] = NLA_POLICY_MIN(NLA_U16, 1024),
	[XPU_A_SPLITNS_PORT_MAX] = NLA_POLICY_MIN(NLA_U16, 1024),
	[XPU_A_SPLITNS_ADDR6] = NLA_POLICY_EXACT_LEN(16),
};

/* XPU_CMD_SPLITNS_DELETE - do */
static const struct nla_policy xpu_splitns_delete_nl_policy[XPU_A_SPLITNS_NAME + 1] = {
	[XPU_A_SPLITNS_NAME] = { .type = NLA_NUL_STRING, .len = 31, },
};

/* XPU_CMD_PORT_GET - do */
static const struct nla_policy xpu_port_get_nl_policy[XPU_A_PORT_PORT + 1] = {
	[XPU_A_PORT_PORT] = NLA_POLICY_MIN(NLA_U16, 1),
};

/* XPU_CMD_PORT_ADD - do */
static const struct nla_policy xpu_port_add_nl_policy[XPU_A_PORT_CLAIM + 1] = {
	[XPU_A_PORT_PORT] = NLA_POLICY_MIN(NLA_U16, 1),
	[XPU_A_PORT_CLAIM] = NLA_POLICY_MASK(NLA_U32, 0x3),
};

/* XPU_CMD_PORT_DEL - do */
static const struct nla_policy xpu_port_del_nl_policy[XPU_A_PORT_CLAIM + 1] = {
	[XPU_A_PORT_PORT] = NLA_POLICY_MIN(NLA_U16, 1),
	[XPU_A_PORT_CLAIM] = NLA_POLICY_MASK(NLA_U32, 0x3),
};

/* Ops table for xpu */
static const struct genl_split_ops xpu_nl_ops[] = {
	{
		.cmd	= XPU_CMD_SPLITNS_GET,
		.doit	= xpu_nl_splitns_get_doit,
		.flags	= GENL_CMD_CAP_DO,
	},
	{
		.cmd	= XPU_CMD_SPLITNS_GET,
		.dumpit	= xpu_nl_splitns_get_dumpit,
		.flags	= GENL_CMD_CAP_DUMP,
	},
	{
		.cmd		= XPU_CMD_SPLITNS_CREATE,
		.doit		= xpu_nl_splitns_create_doit,
		.policy		= xpu_splitns_create_nl_policy,
		.maxattr	= XPU_A_SPLITNS_ADDR6,
		.flags		= GENL_UNS_ADMIN_PERM | GENL_CMD_CAP_DO,
	},
	{
		.cmd		= XPU_CMD_SPLITNS_DELETE,
		.doit		= xpu_nl_splitns_delete_doit,
		.policy		= xpu_splitns_delete_nl_policy,
		.maxattr	= XPU_A_SPLITNS_NAME,
		.flags		= GENL_UNS_ADMIN_PERM | GENL_CMD_CAP_DO,
	},
	{
		.cmd		= XPU_CMD_PORT_GET,
		.doit		= xpu_nl_port_get_doit,
		.policy		= xpu_port_get_nl_policy,
		.maxattr	= XPU_A_PORT_PORT,
		.flags		= GENL_CMD_CAP_DO,
	},
	{
		.cmd	= XPU_CMD_PORT_GET,
		.dumpit	= xpu_nl_port_get_dumpit,
		.flags	= GENL_CMD_CAP_DUMP,
	},
	{
		.cmd		= XPU_CMD_PORT_ADD,
		.doit		= xpu_nl_port_add_doit,
		.policy		= xpu_port_add_nl_policy,
		.maxattr	= XPU_A_PORT_CLAIM,
		.flags		= GENL_UNS_ADMIN_PERM | GENL_CMD_CAP_DO,
	},
	{
		.cmd		= XPU_CMD_PORT_DEL,
		.doit		= xpu_nl_port_del_doit,
		.policy		= xpu_port_del_nl_policy,
		.maxattr	= XPU_A_PORT_CLAIM,
		.flags		= GENL_UNS_ADMIN_PERM | GENL_CMD_CAP_DO,
	},
};

static const struct genl_multicast_group xpu_nl_mcgrps[] = {
	[XPU_NLGRP_MONITOR] = { "monitor", },
};

struct genl_family xpu_nl_family __ro_after_init = {
	.name		= XPU_FAMILY_NAME,
	.version	= XPU_FAMILY_VERSION,
	.netnsok	= true,
	.parallel_ops	= true,
	.module		= THIS_MODULE,
	.split_ops	= xpu_nl_ops,
	.n_split_ops	= ARRAY_SIZE(xpu_nl_ops),
	.mcgrps		= xpu_nl_mcgrps,
	.n_mcgrps	= ARRAY_SIZE(xpu_nl_mcgrps),
};

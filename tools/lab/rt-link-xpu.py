#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Give the kernel's rt-link YNL spec the xpu link kind, so that ynl decodes `ip link` for xpu.

rt-link.yaml decodes IFLA_INFO_DATA by the link's kind (its linkinfo-data-msg sub-message);
for a kind it does not list, ynl refuses the whole message, so `ynl --family rt-link --dump
getlink` (and the kernel's drivers/net tests that use it, stats.py among them) fail on a
machine with an xpu device. The xpu kind's attributes are those of uapi/xpu.yaml's link-info
set (the same source as linux/xpu.h): they are copied, with their enums, under names of their
own, and the kind is added to the sub-message.

Usage: rt-link-xpu.py RT_LINK_YAML XPU_YAML > OUT_YAML
"""

import itertools
import sys

import yaml

ATTR_SET = "linkinfo-xpu-attrs"
PREFIX = "xpu-"


def main() -> int:
    if len(sys.argv) != 3:
        print(__doc__.strip().splitlines()[-1], file=sys.stderr)
        return 2
    with open(sys.argv[1], encoding="utf-8") as f:
        text = f.read()
    rt = yaml.safe_load(text)
    # ynl wants the spec's licence tag, its first comment line: the leading comments are kept.
    header = list(itertools.takewhile(lambda line: line.startswith("#"), text.splitlines()))
    with open(sys.argv[2], encoding="utf-8") as f:
        xpu = yaml.safe_load(f)

    link_info = next(s for s in xpu["attribute-sets"] if s["name"] == "link-info")
    attrs = []
    used = set()
    for a in link_info["attributes"]:
        a = {k: v for k, v in a.items() if k != "doc"}
        if "enum" in a:
            used.add(a["enum"])
            a["enum"] = PREFIX + a["enum"]
        attrs.append(a)
    # The enums the attributes name, renamed so that they cannot meet rt-link's own.
    for d in xpu["definitions"]:
        if d["name"] in used:
            d = {k: v for k, v in d.items() if k != "doc"}
            d["name"] = PREFIX + d["name"]
            d["entries"] = [e["name"] if isinstance(e, dict) else e for e in d["entries"]]
            rt["definitions"].append(d)

    if any(s["name"] == ATTR_SET for s in rt["attribute-sets"]):
        print(f"{sys.argv[1]} already has {ATTR_SET}", file=sys.stderr)
        return 1
    rt["attribute-sets"].append(
        {"name": ATTR_SET, "name-prefix": link_info["name-prefix"], "attributes": attrs})
    data_msg = next(m for m in rt["sub-messages"] if m["name"] == "linkinfo-data-msg")
    data_msg["formats"].append({"value": "xpu", "attribute-set": ATTR_SET})

    print("\n".join(header))
    yaml.safe_dump(rt, sys.stdout, sort_keys=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())

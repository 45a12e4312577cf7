// SPDX-License-Identifier: GPL-2.0

//! `xpuctl stats DEV`: a link's counters (rtnetlink's IFLA_STATS64) and, when DEV joins a split
//! namespace here, the split's (packets steered across, delivered from across).

use neli::{consts::rtnl::Ifla, types::Buffer};
use xpu_uapi::genl::{cmd, splitns};

use crate::{
    genl::{get_u32, get_uint, Family},
    link::{err, getlink, Error},
};

/// The leading fields of `struct rtnl_link_stats64`, in order.
const FIELDS: [&str; 8] = [
    "rx_packets",
    "tx_packets",
    "rx_bytes",
    "tx_bytes",
    "rx_errors",
    "tx_errors",
    "rx_dropped",
    "tx_dropped",
];

fn link_stats(name: &str) -> Result<(u32, Vec<u64>), Error> {
    let what = format!("cannot read the counters of {name}");
    let info = getlink(name, &what)?;
    let handle = info.rtattrs().get_attr_handle();
    let raw: &Buffer = handle
        .get_attribute(Ifla::Stats64)
        .map(|a| a.rta_payload())
        .ok_or_else(|| err(format!("{what}: the kernel sent no IFLA_STATS64")))?;
    let bytes: &[u8] = raw.as_ref();
    let values = bytes
        .chunks_exact(8)
        .take(FIELDS.len())
        .filter_map(|c| c.try_into().ok().map(u64::from_ne_bytes))
        .collect::<Vec<_>>();
    if values.len() != FIELDS.len() {
        return Err(err(format!("{what}: IFLA_STATS64 is too short")));
    }
    Ok((*info.ifi_index() as u32, values))
}

pub(crate) fn run(name: &str, json: bool) -> Result<(), Error> {
    if name.is_empty() || name.len() > 15 || name.contains(['/', '\0']) {
        return Err(err(format!("invalid device name '{name}'")));
    }
    let (ifindex, values) = link_stats(name)?;
    // The split's counters, if this namespace is split over this link. A kernel without the
    // family, or a namespace that is not split, just has none.
    let split = Family::open().ok().and_then(|f| {
        let r = f
            .request(cmd::SPLITNS_GET, &Vec::new(), true, "split")
            .ok()?;
        let r = r.into_iter().next()?;
        (get_u32(&r, splitns::IFINDEX) == Some(ifindex)).then(|| {
            (
                get_uint(&r, splitns::STEERED).unwrap_or(0),
                get_uint(&r, splitns::DELIVERED).unwrap_or(0),
                get_uint(&r, splitns::REFUSED).unwrap_or(0),
            )
        })
    });
    if json {
        let mut out: Vec<String> = FIELDS
            .iter()
            .zip(&values)
            .map(|(k, v)| format!("\"{k}\":{v}"))
            .collect();
        if let Some((s, d, r)) = split {
            out.push(format!(
                "\"split_steered\":{s},\"split_delivered\":{d},\"split_refused\":{r}"
            ));
        }
        println!("{{\"ifname\":\"{name}\",{}}}", out.join(","));
    } else {
        println!("{name}:");
        for (k, v) in FIELDS.iter().zip(&values) {
            println!("  {k}: {v}");
        }
        if let Some((s, d, r)) = split {
            println!("  split_steered: {s}");
            println!("  split_delivered: {d}");
            println!("  split_refused: {r}");
        }
    }
    Ok(())
}

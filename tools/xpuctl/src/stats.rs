// SPDX-License-Identifier: GPL-2.0

//! `xpuctl stats DEV`: a link's counters (rtnetlink's IFLA_STATS64) and, when DEV joins a split
//! namespace here, the split's (packets steered across, delivered from across).

use neli::{
    consts::{
        nl::NlmF,
        rtnl::{Ifla, RtAddrFamily, Rtm},
        socket::NlFamily,
    },
    err::RouterError,
    nl::NlPayload,
    router::synchronous::NlRouter,
    rtnl::{Ifinfomsg, IfinfomsgBuilder, RtattrBuilder},
    types::{Buffer, RtBuffer},
    utils::Groups,
};
use xpu_uapi::genl::{cmd, splitns};

use crate::{
    genl::{get_u32, get_uint, Family},
    link::{err, Error},
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
    let (rtnl, _) = NlRouter::connect(NlFamily::Route, None, Groups::empty())
        .map_err(|e| err(format!("{what}: cannot open an rtnetlink socket: {e}")))?;
    let _ = rtnl.enable_ext_ack(true);
    let mut attrs = RtBuffer::new();
    attrs.push(
        RtattrBuilder::default()
            .rta_type(Ifla::Ifname)
            .rta_payload(format!("{name}\0").as_str())
            .build()
            .map_err(|e| err(format!("{what}: {e}")))?,
    );
    let msg = IfinfomsgBuilder::default()
        .ifi_family(RtAddrFamily::Unspecified)
        .rtattrs(attrs)
        .build()
        .map_err(|e| err(format!("{what}: {e}")))?;
    let responses = rtnl
        .send::<_, _, Rtm, Ifinfomsg>(Rtm::Getlink, NlmF::ACK, NlPayload::Payload(msg))
        .map_err(|e| err(format!("{what}: {e}")))?;
    for r in responses {
        let msg = r.map_err(|e| match e {
            RouterError::Nlmsgerr(e) => err(format!(
                "{what}: {}",
                std::io::Error::from_raw_os_error(-*e.error())
            )),
            e => err(format!("{what}: {e}")),
        })?;
        let NlPayload::Payload(info) = msg.nl_payload() else {
            continue;
        };
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
        return Ok((*info.ifi_index() as u32, values));
    }
    Err(err(format!("{what}: no answer from the kernel")))
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
            )
        })
    });
    if json {
        let mut out: Vec<String> = FIELDS
            .iter()
            .zip(&values)
            .map(|(k, v)| format!("\"{k}\":{v}"))
            .collect();
        if let Some((s, d)) = split {
            out.push(format!("\"split_steered\":{s},\"split_delivered\":{d}"));
        }
        println!("{{\"ifname\":\"{name}\",{}}}", out.join(","));
    } else {
        println!("{name}:");
        for (k, v) in FIELDS.iter().zip(&values) {
            println!("  {k}: {v}");
        }
        if let Some((s, d)) = split {
            println!("  split_steered: {s}");
            println!("  split_delivered: {d}");
        }
    }
    Ok(())
}

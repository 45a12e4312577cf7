// SPDX-License-Identifier: GPL-2.0

//! `xpuctl splitns` and `xpuctl port`: split the current network namespace over an xpu link,
//! and register the ports this half serves. Run it in the pod's namespace on each side (for
//! example under `ip netns exec POD`).

use std::{
    net::{Ipv4Addr, Ipv6Addr},
    path::PathBuf,
};

use clap::{Subcommand, ValueEnum};
use xpu_pod::cni::format_link_id;
use xpu_uapi::{
    genl::{claim, cmd, port, splitns, PeerState, NAME_LEN},
    sync::Half,
};

use crate::{
    genl::{get_string, get_u16, get_u32, get_uint, Family, Reply},
    link::{err, Error},
    Attrs,
};

#[derive(Clone, Copy, ValueEnum)]
pub(crate) enum HalfArg {
    Host,
    Dpu,
}

#[derive(Subcommand)]
pub(crate) enum SplitnsCommand {
    /// Split this network namespace over an xpu link in it
    Create {
        /// The pod's name
        name: String,
        /// The xpu link that joins the halves
        #[arg(long)]
        dev: String,
        /// The pod's IPv4 address, carried by both halves
        #[arg(long)]
        addr: Ipv4Addr,
        /// The pod's IPv6 address, if it has one (::1 is split either way)
        #[arg(long)]
        addr6: Option<Ipv6Addr>,
        /// Which half this is (default: a PCI link's role; pair links need it)
        #[arg(long, value_enum)]
        half: Option<HalfArg>,
        /// This half's ephemeral ports, MIN-MAX (default: host 32768-49151, dpu 49152-60999)
        #[arg(long, value_parser = parse_range)]
        ports: Option<(u16, u16)>,
        /// The DPU half is the pod's edge: the host half's default route goes through the
        /// link (it must have none), the DPU half forwards for it (give both halves --edge)
        #[arg(long)]
        edge: bool,
    },
    /// Join this network namespace back together
    Delete {
        /// Only if the split namespace has this name
        name: Option<String>,
    },
    /// Show this network namespace's split, and each port a half owns and how
    Show {
        /// Print JSON
        #[arg(long)]
        json: bool,
    },
    /// Print Istio's sidecar interception for this half, as input for `iptables-restore
    /// --noflush` (the rules go on the half the sidecar runs in, the DPU half by default: see
    /// the README)
    Intercept(crate::intercept::InterceptArgs),
    /// Own this half's ports automatically: each port a socket here binds is claimed for this
    /// half, and freed once no socket holds it (runs until the namespace is unsplit)
    Agent {
        /// The cgroup (v2) whose processes' sockets to follow; the agent must be below it
        #[arg(long, default_value = "/sys/fs/cgroup")]
        cgroup: PathBuf,
        /// The split namespace to serve (a netns file, as CNI_NETNS), when it is not the one
        /// the agent starts in: how xpu-cni starts it for a pod
        #[arg(long)]
        netns: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
pub(crate) enum PortCommand {
    /// Register a TCP and UDP port to this half
    Add { port: u16 },
    /// Unregister a port of this half
    Del { port: u16 },
    /// List the claimed ports of both halves (--json also says how this half's are held)
    List {
        /// Print JSON
        #[arg(long)]
        json: bool,
    },
}

fn parse_range(s: &str) -> Result<(u16, u16), String> {
    let (a, b) = s
        .split_once('-')
        .ok_or_else(|| format!("'{s}' is not a range MIN-MAX"))?;
    let p = |x: &str| {
        x.trim()
            .parse::<u16>()
            .map_err(|_| format!("'{x}' is not a port number"))
    };
    let (a, b) = (p(a)?, p(b)?);
    if a < 1024 || a > b {
        return Err(format!(
            "'{s}': the range must start at 1024 or above and not end before it starts"
        ));
    }
    Ok((a, b))
}

fn half_name(h: u32) -> &'static str {
    match Half::from_u32(h) {
        Some(Half::Host) => "host",
        Some(Half::Dpu) => "dpu",
        None => "unknown",
    }
}

pub(crate) fn ifindex(dev: &str) -> Result<u32, Error> {
    if dev.is_empty() || dev.contains(['/', '\0']) || dev.len() > 15 {
        return Err(err(format!("invalid device name '{dev}'")));
    }
    // Asked of a socket of this namespace, not of /sys, which shows the namespace it was
    // mounted in (xpu-cni runs this after entering the pod's).
    use rustix::net::{netdevice::name_to_index, socket, AddressFamily, SocketType};
    let fd = socket(AddressFamily::INET, SocketType::DGRAM, None)
        .map_err(|e| err(format!("cannot open a socket: {e}")))?;
    name_to_index(&fd, dev).map_err(|_| err(format!("no device '{dev}' in this network namespace")))
}

/// The name of this namespace's device `index`.
fn ifname(index: u32) -> Result<String, Error> {
    use rustix::net::{netdevice::index_to_name, socket, AddressFamily, SocketType};
    let fd = socket(AddressFamily::INET, SocketType::DGRAM, None)
        .map_err(|e| err(format!("cannot open a socket: {e}")))?;
    index_to_name(&fd, index).map_err(|e| err(format!("no device has ifindex {index}: {e}")))
}

pub(crate) fn run_splitns(c: SplitnsCommand) -> Result<(), Error> {
    let fam = Family::open()?;
    match c {
        SplitnsCommand::Create {
            name,
            dev,
            addr,
            addr6,
            half,
            ports,
            edge,
        } => {
            if name.is_empty() || name.len() >= NAME_LEN || name.contains('\0') {
                return Err(err(format!(
                    "invalid name '{name}': 1 to {} bytes",
                    NAME_LEN - 1
                )));
            }
            let link = ifindex(&dev)?;
            let mut attrs: Attrs = vec![
                (splitns::NAME, format!("{name}\0").into_bytes()),
                (splitns::IFINDEX, link.to_ne_bytes().to_vec()),
                (splitns::ADDR, addr.octets().to_vec()),
            ];
            if let Some(a) = addr6 {
                attrs.push((splitns::ADDR6, a.octets().to_vec()));
            }
            if let Some(h) = half {
                let h = match h {
                    HalfArg::Host => Half::Host,
                    HalfArg::Dpu => Half::Dpu,
                };
                attrs.push((splitns::HALF, (h as u32).to_ne_bytes().to_vec()));
            }
            if let Some((lo, hi)) = ports {
                attrs.push((splitns::PORT_MIN, lo.to_ne_bytes().to_vec()));
                attrs.push((splitns::PORT_MAX, hi.to_ne_bytes().to_vec()));
            }
            fam.request(
                cmd::SPLITNS_CREATE,
                &attrs,
                false,
                &format!("cannot split as '{name}'"),
            )?;
            if edge {
                // The kernel chose the half (a PCI link's role): ask it. Half an edge is no
                // edge, so a failure takes back what was set (the DPU half's settings; the
                // host half's routes are both or neither, in edge::setup) and unsplits again.
                let half = split_half(&fam);
                let done = half.and_then(|h| {
                    crate::edge::setup(h, &dev, link, addr, addr6).inspect_err(|_| {
                        if h == Half::Dpu {
                            let _ = crate::edge::teardown(h, &dev, link, addr, addr6);
                        }
                    })
                });
                if let Err(e) = done {
                    let _ = fam.request(cmd::SPLITNS_DELETE, &Vec::new(), false, "");
                    return Err(e);
                }
            }
        }
        SplitnsCommand::Delete { name } => {
            let mut attrs: Attrs = Vec::new();
            if let Some(n) = &name {
                attrs.push((splitns::NAME, format!("{n}\0").into_bytes()));
            }
            let before = fam
                .request(cmd::SPLITNS_GET, &Vec::new(), false, "")
                .ok()
                .and_then(|r| {
                    let r = r.first()?;
                    let half = Half::from_u32(get_u32(r, splitns::HALF)?)?;
                    let addr = <[u8; 4]>::try_from(crate::genl::get(r, splitns::ADDR)?).ok()?;
                    Some((
                        half,
                        get_u32(r, splitns::IFINDEX)?,
                        Ipv4Addr::from(addr),
                        addr6_of(r),
                    ))
                });
            fam.request(
                cmd::SPLITNS_DELETE,
                &attrs,
                false,
                "cannot delete the split namespace",
            )?;
            // What --edge added goes with the split.
            if let Some((half, ifindex, addr, addr6)) = before {
                crate::edge::teardown(half, &ifname(ifindex)?, ifindex, addr, addr6)?;
            }
        }
        SplitnsCommand::Show { json } => {
            let r = fam.request(
                cmd::SPLITNS_GET,
                &Vec::new(),
                true,
                "cannot show the split namespace",
            )?;
            match r.first() {
                Some(r) => {
                    let ports =
                        fam.request(cmd::PORT_GET, &Vec::new(), true, "cannot list the ports")?;
                    // The link's number tells which link of the other side is this one's
                    // other end (a PCI link's; a pair link has none).
                    let link_id = get_u32(r, splitns::IFINDEX)
                        .and_then(|i| ifname(i).ok())
                        .and_then(|n| crate::link::link_id(&n).ok().flatten());
                    print_splitns(r, &owned_ports(&ports), link_id, json);
                }
                None if json => println!("null"),
                None => println!("not split"),
            }
        }
        SplitnsCommand::Intercept(a) => {
            let r = fam.request(
                cmd::SPLITNS_GET,
                &Vec::new(),
                false,
                "cannot read the split namespace",
            )?;
            let r = r
                .first()
                .ok_or_else(|| err("cannot read the split namespace: no answer"))?;
            let half = get_u32(r, splitns::HALF)
                .and_then(Half::from_u32)
                .ok_or_else(|| err("the kernel gave no half"))?;
            let name = get_string(r, splitns::NAME).unwrap_or_default();
            let dev = ifname(get_u32(r, splitns::IFINDEX).unwrap_or(0))?;
            print!(
                "{}",
                crate::intercept::rules(&a, half, &crate::json_escape(&name), &dev)
            );
        }
        SplitnsCommand::Agent { cgroup, netns } => {
            if let Some(ns) = netns {
                // Before the agent's threads start: each takes the namespace it is made in.
                let f =
                    std::fs::File::open(&ns).map_err(|e| err(format!("{}: {e}", ns.display())))?;
                rustix::thread::move_into_link_name_space(
                    std::os::fd::AsFd::as_fd(&f),
                    Some(rustix::thread::LinkNameSpaceType::Network),
                )
                .map_err(|e| err(format!("cannot enter {}: {e}", ns.display())))?;
            }
            crate::agent::run(cgroup)?
        }
    }
    Ok(())
}

/// This namespace's half, as the kernel has it.
fn split_half(fam: &Family) -> Result<Half, Error> {
    let r = fam.request(
        cmd::SPLITNS_GET,
        &Vec::new(),
        false,
        "cannot read the split back",
    )?;
    r.first()
        .and_then(|r| get_u32(r, splitns::HALF))
        .and_then(Half::from_u32)
        .ok_or_else(|| err("cannot read the split back: the kernel gave no half"))
}

/// A claimed port: its number, its half's name, and how it is held ("" for the other half's,
/// whose claims this half does not know).
struct Owned {
    port: u16,
    half: &'static str,
    how: &'static str,
}

fn owned_ports(replies: &[Reply]) -> Vec<Owned> {
    replies
        .iter()
        .filter_map(|r| {
            let c = get_u32(r, port::CLAIM).unwrap_or(0);
            let how = match (c & claim::REGISTERED != 0, c & claim::SOCKET != 0) {
                (true, true) => "registered,socket",
                (true, false) => "registered",
                (false, true) => "socket",
                (false, false) => "",
            };
            Some(Owned {
                port: get_u16(r, port::PORT)?,
                half: half_name(get_u32(r, port::HALF)?),
                how,
            })
        })
        .collect()
}

/// The pod's IPv6 address in a splitns reply, if it has one.
fn addr6_of(r: &Reply) -> Option<Ipv6Addr> {
    crate::genl::get(r, splitns::ADDR6)
        .and_then(|v| <[u8; 16]>::try_from(v).ok())
        .map(Ipv6Addr::from)
}

fn print_splitns(r: &Reply, owned: &[Owned], link_id: Option<u32>, json: bool) {
    let name = get_string(r, splitns::NAME).unwrap_or_default();
    let ifindex = get_u32(r, splitns::IFINDEX).unwrap_or(0);
    let addr = crate::genl::get(r, splitns::ADDR)
        .and_then(|v| <[u8; 4]>::try_from(v).ok())
        .map(Ipv4Addr::from)
        .unwrap_or(Ipv4Addr::UNSPECIFIED);
    let addr6 = addr6_of(r);
    let half = half_name(get_u32(r, splitns::HALF).unwrap_or(u32::MAX));
    let (lo, hi) = (
        get_u16(r, splitns::PORT_MIN).unwrap_or(0),
        get_u16(r, splitns::PORT_MAX).unwrap_or(0),
    );
    let peer = get_u32(r, splitns::PEER_STATE)
        .and_then(PeerState::from_u32)
        .map_or("unknown", PeerState::name);
    let ports = get_u32(r, splitns::PORTS).unwrap_or(0);
    let peer_ports = get_u32(r, splitns::PEER_PORTS).unwrap_or(0);
    let peer_range = get_u16(r, splitns::PEER_PORT_MIN).zip(get_u16(r, splitns::PEER_PORT_MAX));
    let steered = get_uint(r, splitns::STEERED).unwrap_or(0);
    let delivered = get_uint(r, splitns::DELIVERED).unwrap_or(0);
    let refused = get_uint(r, splitns::REFUSED).unwrap_or(0);
    if json {
        // The name is the user's: escape it.
        let esc = crate::json_escape(&name);
        let pr = peer_range.map_or("null".into(), |(a, b)| format!("[{a},{b}]"));
        let a6 = addr6.map_or("null".into(), |a| format!("\"{a}\""));
        let id = link_id.map_or("null".into(), |i| format!("\"{}\"", format_link_id(i)));
        let list: Vec<String> = owned
            .iter()
            .map(|o| {
                let claims: Vec<String> = o
                    .how
                    .split(',')
                    .filter(|c| !c.is_empty())
                    .map(|c| format!("\"{c}\""))
                    .collect();
                format!(
                    "{{\"port\":{},\"half\":\"{}\",\"claims\":[{}]}}",
                    o.port,
                    o.half,
                    claims.join(",")
                )
            })
            .collect();
        println!(
            "{{\"name\":\"{esc}\",\"ifindex\":{ifindex},\"link_id\":{id},\
             \"addr\":\"{addr}\",\"addr6\":{a6},\
             \"half\":\"{half}\",\
             \"ports\":[{lo},{hi}],\"peer\":\"{peer}\",\"owned\":{ports},\
             \"peer_owned\":{peer_ports},\"peer_ports\":{pr},\"claimed\":[{}],\
             \"steered\":{steered},\"delivered\":{delivered},\"refused\":{refused}}}",
            list.join(",")
        );
    } else {
        let a6 = addr6.map(|a| format!(" {a}")).unwrap_or_default();
        let id = link_id
            .map(|i| format!(" (id {})", format_link_id(i)))
            .unwrap_or_default();
        println!(
            "{name}: {half} half, addr {addr}{a6}, link ifindex {ifindex}{id}, ephemeral {lo}-{hi}"
        );
        print!("  peer {peer}");
        if let Some((a, b)) = peer_range {
            print!(", its ephemeral {a}-{b}");
        }
        println!();
        println!("  owned ports: {ports} here, {peer_ports} there");
        for o in owned {
            if o.how.is_empty() {
                println!("    {} {}", o.port, o.half);
            } else {
                println!("    {} {} ({})", o.port, o.half, o.how);
            }
        }
        println!(
            "  packets steered across: {steered}, delivered from across: {delivered}, \
             refused from across: {refused}"
        );
    }
}

pub(crate) fn run_port(c: PortCommand) -> Result<(), Error> {
    let fam = Family::open()?;
    let one = |p: u16| -> Attrs { vec![(port::PORT, p.to_ne_bytes().to_vec())] };
    match c {
        PortCommand::Add { port: p } => {
            check_port(p)?;
            fam.request(
                cmd::PORT_ADD,
                &one(p),
                false,
                &format!("cannot register port {p}"),
            )?;
        }
        PortCommand::Del { port: p } => {
            check_port(p)?;
            fam.request(
                cmd::PORT_DEL,
                &one(p),
                false,
                &format!("cannot unregister port {p}"),
            )?;
        }
        PortCommand::List { json } => {
            let rs = fam.request(cmd::PORT_GET, &Vec::new(), true, "cannot list the ports")?;
            let items = owned_ports(&rs);
            if json {
                let body: Vec<String> = items
                    .iter()
                    .map(|o| {
                        format!(
                            "{{\"port\":{},\"half\":\"{}\",\"how\":\"{}\"}}",
                            o.port, o.half, o.how
                        )
                    })
                    .collect();
                println!("[{}]", body.join(","));
            } else {
                // PORT HALF, as before claims existed: scripts read it (`splitns show` says how).
                for o in items {
                    println!("{} {}", o.port, o.half);
                }
            }
        }
    }
    Ok(())
}

fn check_port(p: u16) -> Result<(), Error> {
    if p == 0 {
        return Err(err("port 0 is not a port"));
    }
    Ok(())
}

// SPDX-License-Identifier: GPL-2.0

//! `xpu-cni`, the CNI plugin of split pods: xpuctl run under that name (a link to it in the
//! runtime's CNI directory, as Calico's IPAM plugin is its CNI binary under another name), so
//! that it makes the split with xpuctl's own netlink code.
//!
//! ADD gives the pod's namespace one xpu link of this node's pool and splits the namespace
//! over it, as this node's half (`"half": "host"` or `"dpu"` in the network configuration),
//! the DPU half the pod's edge (`xpuctl splitns create --edge`). The pool is the xpu PCI
//! functions of that role still in the runtime's namespace (or those `"links"` names): a link
//! per pod, not a queue set of a shared one, because a split namespace is a link's (its
//! steering, ports and peer state are the link's) and a PCI function is the unit a DPU gives
//! a host, as SR-IOV's CNI gives a pod a VF. A node pair has a link per pod, so the halves of a
//! pod must take the two ends of the same one: with `XPU_LINK_ID` in `CNI_ARGS` (the DPU's
//! agent passes the number of the host half's link, which both ends show), ADD takes the
//! pool's link of that number and no other. The pod's address comes from the IPAM plugin of
//! the configuration (xpu-cni as the primary plugin) or from the result of the plugin before
//! it (chained, after one that gives the pod its uplink on the DPU, say); both halves carry it.
//!
//! What ADD made is recorded (`DATA_DIR/NETWORK/ID:IFNAME.json`, `dataDir` of the
//! configuration, /var/lib/cni/xpu-cni by default) for DEL, CHECK
//! and GC. DEL undoes it in reverse and succeeds when there is nothing left to undo; the link
//! returns to the runtime's namespace under its own name (from a namespace that is gone, once
//! the kernel has given it back to its first namespace). Calls are serialised by a lock in
//! the data directory: the node's pool is every network's.

use std::{
    fs::{self, File},
    io::{Read, Write},
    net::{IpAddr, Ipv4Addr},
    os::fd::{AsFd, AsRawFd},
    path::Path,
    process::{Command as Process, ExitCode, Stdio},
};

use neli::{
    consts::{
        nl::NlmF,
        rtnl::{Iff, Ifla, RtAddrFamily, Rtm},
    },
    rtnl::IfinfomsgBuilder,
    types::RtBuffer,
};
use rustix::{
    fs::{flock, FlockOperation},
    thread::{move_into_link_name_space, LinkNameSpaceType},
};
use serde_json::Value;
use xpu_pod::cni::{
    self, pick_link, pod_addresses, version_reply, CniError, CniResult, Code, Command, Env, Half,
    Interface, IpConfig, NetConf, Record, Route,
};
use xpu_uapi::genl::{cmd, splitns, PeerState};

use crate::{
    cni_agent,
    genl::{get, get_u32, Family},
    link::{err, request, rtattr, Error},
    splitns::{run_splitns, SplitnsCommand},
};

/// The plugin's entry: the environment and stdin in, a result or an error object out on
/// stdout (libcni reads both there), and the exit status.
pub(crate) fn main() -> ExitCode {
    let mut stdin = Vec::new();
    let reply = match std::io::stdin().read_to_end(&mut stdin) {
        Ok(_) => cni::env(|k| std::env::var(k).ok()).and_then(|env| run(&env, &stdin)),
        Err(e) => Err(CniError::new(Code::Io, format!("cannot read stdin: {e}"))),
    };
    let (out, status) = match reply {
        Ok(v) => (v, ExitCode::SUCCESS),
        Err(e) => (
            serde_json::to_value(&e).unwrap_or(Value::Null),
            ExitCode::FAILURE,
        ),
    };
    if !out.is_null() {
        let mut o = std::io::stdout().lock();
        // Nothing better to do if the runtime closed our stdout.
        let _ = writeln!(o, "{out}");
    }
    status
}

/// One call: the answer to print (`Null` for none).
fn run(env: &Env, stdin: &[u8]) -> Result<Value, CniError> {
    if env.command == Command::Version {
        // VERSION's stdin has only cniVersion, if anything.
        let v: Option<Value> = serde_json::from_slice(stdin).ok();
        let asked = v
            .as_ref()
            .and_then(|v| v.get("cniVersion"))
            .and_then(Value::as_str);
        return Ok(version_reply(asked));
    }
    let conf = cni::netconf(stdin)?;
    let version = conf.cni_version.clone();
    let fail = |e: CniError| e.in_version(&version);
    // The name is checked (cni::netconf): a directory name, not a path.
    let dir = conf.data_dir.join(&conf.name);
    fs::create_dir_all(&dir).map_err(|e| {
        fail(CniError::new(
            Code::Io,
            format!("cannot make {}: {e}", dir.display()),
        ))
    })?;
    // One lock for the node's records, not the network's: every network takes links from
    // the same pool.
    let lock = File::options()
        .create(true)
        .append(true)
        .open(conf.data_dir.join("lock"))
        .and_then(|f| {
            flock(&f, FlockOperation::LockExclusive)
                .map(|()| f)
                .map_err(Into::into)
        })
        .map_err(|e| {
            fail(CniError::new(
                Code::Io,
                format!("cannot lock {}: {e}", dir.display()),
            ))
        })?;
    let out = match env.command {
        Command::Add => add(env, &conf, &dir, stdin),
        Command::Del => del(env, &conf, &dir, stdin).map(|()| Value::Null),
        Command::Check => check(env, &conf, &dir, stdin).map(|()| Value::Null),
        Command::Status => status(env, &conf, stdin).map(|()| Value::Null),
        Command::Gc => gc(env, &conf, &dir, stdin).map(|()| Value::Null),
        Command::Version => Ok(version_reply(Some(&version))),
    };
    drop(lock);
    out.map_err(fail)
}

fn kernel(e: Error) -> CniError {
    CniError::new(Code::Kernel, e.to_string())
}

// ---- the pool ------------------------------------------------------------------------------

/// A link of the pool: its name here and its PCI function.
struct Link {
    name: String,
    device: String,
}

/// The link role that makes `half`.
fn role_name(half: Half) -> &'static str {
    match half {
        Half::Host => "host",
        Half::Dpu => "dpu",
    }
}

/// IFF_UP (linux/if.h): the flag of a link that is up.
const IFF_UP: u32 = 0x1;

/// Whether a link's `flags` (its sysfs file: hex, as the kernel prints them) say it is up.
fn is_up(flags: &str) -> bool {
    let hex = flags.trim().trim_start_matches("0x");
    u32::from_str_radix(hex, 16).is_ok_and(|f| f & IFF_UP != 0)
}

/// The xpu PCI functions of `half`'s role in this namespace (of `names` only, if given), by
/// name: the links no pod has. A link that is up is not the pool's: the node uses it (its
/// control link to the DPU, say), while a pool's link is down until a pod has it (and goes
/// down again when it comes back: a link that moves between namespaces is closed).
fn pool(half: Half, names: Option<&[String]>) -> Result<Vec<Link>, CniError> {
    let role = role_name(half);
    let dir = fs::read_dir("/sys/class/net")
        .map_err(|e| CniError::new(Code::Io, format!("cannot list /sys/class/net: {e}")))?;
    let mut links = Vec::new();
    for d in dir.flatten() {
        let name = d.file_name().to_string_lossy().into_owned();
        let driver = fs::read_link(d.path().join("device/driver")).ok();
        if driver.as_deref().and_then(Path::file_name) != Some("xpu".as_ref()) {
            continue;
        }
        if names.is_some_and(|n| !n.contains(&name)) {
            continue;
        }
        if fs::read_to_string(d.path().join("flags")).is_ok_and(|f| is_up(&f)) {
            continue;
        }
        let Some(device) = fs::read_link(d.path().join("device"))
            .ok()
            .and_then(|p| p.file_name().map(|f| f.to_string_lossy().into_owned()))
        else {
            continue;
        };
        if crate::link::role(&name).ok().flatten() == Some(role) {
            links.push(Link { name, device });
        }
    }
    links.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(links)
}

/// STATUS: ready for an ADD if the pool has a link and the IPAM plugin is ready. The spec has
/// STATUS passed on to the IPAM plugin that serves ADD; one older than STATUS (below 1.1) has
/// none, and is taken as ready, as libcni takes such a plugin.
fn status(env: &Env, conf: &NetConf, stdin: &[u8]) -> Result<(), CniError> {
    if pool(conf.half, conf.links.as_deref())?.is_empty() {
        return Err(CniError::new(
            Code::NotAvailable,
            format!(
                "no free xpu link of the {} role: every link of the pool has a pod",
                role_name(conf.half)
            ),
        ));
    }
    if ipam_versions(env, conf)?.is_some_and(|v| v.contains(&conf.cni_version)) {
        ipam(env, conf, "STATUS", stdin)?;
    }
    Ok(())
}

// ---- namespaces and links ------------------------------------------------------------------

/// This thread in another network namespace, until dropped.
///
/// # Invariants
///
/// `home` is the namespace the thread was in; dropping the guard returns it there.
struct InNetns {
    home: File,
}

impl InNetns {
    fn enter(path: &Path) -> Result<Self, CniError> {
        let io = |what: &str, e: std::io::Error| {
            CniError::new(Code::Io, format!("cannot {what} {}: {e}", path.display()))
        };
        let home = File::open("/proc/thread-self/ns/net")
            .map_err(|e| io("remember the namespace before", e))?;
        let ns = File::open(path).map_err(|e| io("open the network namespace", e))?;
        move_into_link_name_space(ns.as_fd(), Some(LinkNameSpaceType::Network))
            .map_err(|e| io("enter the network namespace", e.into()))?;
        Ok(InNetns { home })
    }
}

impl Drop for InNetns {
    fn drop(&mut self) {
        // Nothing else to do should it fail: the process ends with the call.
        let _ = move_into_link_name_space(self.home.as_fd(), Some(LinkNameSpaceType::Network));
    }
}

/// The index of this namespace's device `name`, if it has one (of the namespace the thread is
/// in: /sys would show the one it was mounted in).
fn ifindex(name: &str) -> Option<u32> {
    crate::splitns::ifindex(name).ok()
}

/// Device `name`'s MAC address, as the result gives it.
fn mac(name: &str) -> String {
    let Ok(info) = crate::link::getlink(name, "") else {
        return String::new();
    };
    let handle = info.rtattrs().get_attr_handle();
    let bytes = handle
        .get_attribute(Ifla::Address)
        .map(|a| a.rta_payload().as_ref().to_vec())
        .unwrap_or_default();
    bytes
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// This (the runtime's) namespace's device of PCI function `device`, if it is here.
fn by_device(device: &str) -> Option<String> {
    let dir = fs::read_dir(format!("/sys/bus/pci/devices/{device}/net")).ok()?;
    dir.flatten()
        .next()
        .map(|d| d.file_name().to_string_lossy().into_owned())
}

/// RTM_SETLINK of device `index`: a new name, another namespace, up.
fn setlink(
    index: u32,
    name: Option<&str>,
    netns: Option<&File>,
    up: bool,
    what: &str,
) -> Result<(), Error> {
    let mut attrs = RtBuffer::new();
    if let Some(n) = name {
        attrs.push(rtattr(Ifla::Ifname, format!("{n}\0").as_str())?);
    }
    if let Some(f) = netns {
        attrs.push(rtattr(Ifla::NetNsFd, f.as_raw_fd() as u32)?);
    }
    let flags = if up { Iff::UP } else { Iff::empty() };
    let msg = IfinfomsgBuilder::default()
        .ifi_family(RtAddrFamily::Unspecified)
        .ifi_index(i32::try_from(index).map_err(|_| err(format!("{what}: ifindex {index}")))?)
        .ifi_flags(flags)
        .ifi_change(flags)
        .rtattrs(attrs)
        .build()
        .map_err(|e| err(format!("{what}: {e}")))?;
    request(Rtm::Setlink, NlmF::ACK, msg, what)
}

// ---- IPAM ----------------------------------------------------------------------------------

/// Runs the configuration's IPAM plugin for `command` with the same environment and stdin, as
/// the spec's delegation does: ADD's result; none for the other commands, or without IPAM.
fn ipam(
    env: &Env,
    conf: &NetConf,
    command: &str,
    stdin: &[u8],
) -> Result<Option<CniResult>, CniError> {
    let Some((kind, out)) = ipam_output(env, conf, command, stdin)? else {
        return Ok(None);
    };
    if command != "ADD" {
        return Ok(None);
    }
    serde_json::from_slice(&out).map(Some).map_err(|e| {
        CniError::new(
            Code::Decode,
            format!("IPAM plugin {kind}: its result is not a CNI result: {e}"),
        )
    })
}

/// The CNI versions the configuration's IPAM plugin speaks (its VERSION); none without IPAM.
fn ipam_versions(env: &Env, conf: &NetConf) -> Result<Option<Vec<String>>, CniError> {
    let Some((kind, out)) = ipam_output(env, conf, "VERSION", br#"{"cniVersion":"1.0.0"}"#)? else {
        return Ok(None);
    };
    let v: Value = serde_json::from_slice(&out).map_err(|e| {
        CniError::new(
            Code::Decode,
            format!("IPAM plugin {kind}: its VERSION is not JSON: {e}"),
        )
    })?;
    Ok(Some(
        v.get("supportedVersions")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default(),
    ))
}

/// The network configuration `stdin` for a plugin that speaks only `versions`: at the newest
/// of ours it speaks, without GC's list (a DEL's input, made for a plugin older than GC, as
/// libcni makes one from its cache).
fn for_versions(stdin: &[u8], versions: &[String]) -> Result<Vec<u8>, CniError> {
    let version = cni::SUPPORTED_VERSIONS
        .iter()
        .rev()
        .find(|v| versions.iter().any(|s| s == *v))
        .ok_or_else(|| {
            CniError::new(
                Code::IncompatibleVersion,
                format!(
                    "the IPAM plugin speaks none of {} (it speaks {})",
                    cni::SUPPORTED_VERSIONS.join(", "),
                    versions.join(", ")
                ),
            )
        })?;
    let mut v: Value = serde_json::from_slice(stdin)
        .map_err(|e| CniError::new(Code::Decode, format!("the configuration: {e}")))?;
    let o = v
        .as_object_mut()
        .ok_or_else(|| CniError::new(Code::Decode, "the configuration is not an object"))?;
    o.insert("cniVersion".to_owned(), Value::from(*version));
    o.remove("cni.dev/valid-attachments");
    serde_json::to_vec(&v).map_err(|e| CniError::new(Code::Decode, e.to_string()))
}

/// Runs the configuration's IPAM plugin for `command`: its type and stdout, none without IPAM.
fn ipam_output(
    env: &Env,
    conf: &NetConf,
    command: &str,
    stdin: &[u8],
) -> Result<Option<(String, Vec<u8>)>, CniError> {
    let Some(kind) = conf
        .ipam
        .as_ref()
        .and_then(|i| i.get("type"))
        .and_then(Value::as_str)
    else {
        return Ok(None);
    };
    if kind.contains('/') {
        return Err(CniError::new(
            Code::InvalidConfig,
            format!("ipam type '{kind}' is not a plugin name"),
        ));
    }
    let Some(bin) = env.path.iter().map(|d| d.join(kind)).find(|p| p.is_file()) else {
        return Err(CniError::new(
            Code::InvalidConfig,
            format!("the IPAM plugin '{kind}' is in no directory of CNI_PATH"),
        ));
    };
    let netns = env
        .netns
        .as_deref()
        .map(Path::as_os_str)
        .unwrap_or_default();
    let path = std::env::join_paths(&env.path).unwrap_or_default();
    let mut child = Process::new(&bin)
        .env("CNI_COMMAND", command)
        .env("CNI_CONTAINERID", &env.container_id)
        .env("CNI_IFNAME", &env.ifname)
        .env("CNI_NETNS", netns)
        .env("CNI_PATH", path)
        .env("CNI_ARGS", cni::delegate_args(&env.args))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| CniError::new(Code::Io, format!("cannot run {}: {e}", bin.display())))?;
    if let Some(mut i) = child.stdin.take() {
        i.write_all(stdin).map_err(|e| {
            CniError::new(Code::Io, format!("cannot write to {}: {e}", bin.display()))
        })?;
    }
    let out = child
        .wait_with_output()
        .map_err(|e| CniError::new(Code::Io, format!("cannot run {}: {e}", bin.display())))?;
    if !out.status.success() {
        // The delegate's own error object, passed on as it is (its code, its message).
        let e: Option<Value> = serde_json::from_slice(&out.stdout).ok();
        let code = e
            .as_ref()
            .and_then(|e| e.get("code"))
            .and_then(Value::as_u64)
            .unwrap_or(Code::Io as u64);
        let msg = e
            .as_ref()
            .and_then(|e| e.get("msg"))
            .and_then(Value::as_str)
            .unwrap_or("failed");
        let mut ce = CniError::new(Code::Io, format!("IPAM plugin {kind}: {msg}"));
        ce.code = u32::try_from(code).unwrap_or(Code::Io as u32);
        return Err(ce);
    }
    Ok(Some((kind.to_owned(), out.stdout)))
}

// ---- ADD -----------------------------------------------------------------------------------

fn add(env: &Env, conf: &NetConf, dir: &Path, stdin: &[u8]) -> Result<Value, CniError> {
    let netns = env
        .netns
        .as_deref()
        .ok_or_else(|| CniError::new(Code::InvalidEnvironment, "CNI_NETNS is not set"))?;
    let file = dir.join(Record::file_name(&env.container_id, &env.ifname));
    if file.exists() {
        return Err(CniError::new(
            Code::InvalidConfig,
            format!(
                "container {} has {} already (DEL it first)",
                env.container_id, env.ifname
            ),
        ));
    }
    // Chained: the previous plugin gave the pod its interface (CNI_IFNAME) and address, and the
    // link takes another name; primary: the link is CNI_IFNAME, and IPAM gives the address.
    let prev: Option<CniResult> = conf
        .prev_result
        .as_ref()
        .map(|p| serde_json::from_value(p.clone()))
        .transpose()
        .map_err(|e| CniError::new(Code::Decode, format!("prevResult is not a CNI result: {e}")))?;
    let pod_name = if prev.is_some() {
        conf.link_name.clone()
    } else {
        env.ifname.clone()
    };
    let netns_file = File::open(netns)
        .map_err(|e| CniError::new(Code::Io, format!("cannot open {}: {e}", netns.display())))?;
    {
        let _in = InNetns::enter(netns)?;
        if ifindex(&pod_name).is_some() {
            return Err(CniError::new(
                Code::InvalidConfig,
                format!("the pod's namespace has a device {pod_name} already"),
            ));
        }
        if split_ifindex().is_some() {
            return Err(CniError::new(
                Code::InvalidConfig,
                "the pod's namespace is split already (one xpu link per pod)",
            ));
        }
    }
    // A pod's halves take the two ends of one link: the one the runtime names by its number
    // (the DPU's agent names the host half's), else the first free one.
    let mut links = pool(conf.half, conf.links.as_deref())?;
    let numbered = links
        .iter()
        .map(|l| {
            let id = if env.link_id.is_some() {
                crate::link::link_id(&l.name).map_err(kernel)?
            } else {
                None
            };
            Ok((l.name.clone(), id))
        })
        .collect::<Result<Vec<_>, CniError>>()?;
    let link = pick_link(&numbered, env.link_id)
        .map(|i| links.swap_remove(i))
        .map_err(|e| {
            CniError::new(
                Code::NoFreeLink,
                format!("{e} (the {} role's pool)", role_name(conf.half)),
            )
        })?;
    let ran_ipam = prev.is_none();
    let addressing = match &prev {
        Some(p) => p.clone(),
        None => ipam(env, conf, "ADD", stdin)?.ok_or_else(|| {
            CniError::new(
                Code::InvalidConfig,
                "no ipam: as the primary plugin, xpu-cni needs one for the pod's address",
            )
        })?,
    };
    let undo_ipam = || {
        if ran_ipam {
            let _ = ipam(env, conf, "DEL", stdin);
        }
    };
    let (addr, addr6) = pod_addresses(&addressing).inspect_err(|_| undo_ipam())?;
    let record = Record {
        container_id: env.container_id.clone(),
        ifname: env.ifname.clone(),
        netns: netns.to_owned(),
        device: link.device.clone(),
        home_name: link.name.clone(),
        pod_name: pod_name.clone(),
        half: conf.half,
        addr,
        addr6,
        ipam: ran_ipam,
        agent_pid: None,
    };
    // Recorded before the link moves: a DEL after a failure half-way finds what to undo.
    write_record(&file, &record).inspect_err(|_| undo_ipam())?;
    let mut record = record;
    let attached = attach(&record, &link, &netns_file).and_then(|()| {
        if conf.ownership_agent {
            let log = cni_agent::log_path(&file);
            let child = cni_agent::spawn(&record, &conf.cgroup, &log)?;
            // Recorded before the wait: a runtime that gives up on ADD then finds, in DEL,
            // the agent that holds the pod's namespace.
            record.agent_pid = Some(child.id());
            write_record(&file, &record)?;
            cni_agent::ready(child, &log)?;
        }
        Ok(())
    });
    if let Err(e) = attached {
        cni_agent::stop(&record);
        // Undone, the record goes; not undone, it stays for the runtime's DEL to finish.
        return Err(match undo(&record) {
            Ok(()) => {
                undo_ipam();
                let _ = fs::remove_file(cni_agent::log_path(&file));
                let _ = fs::remove_file(&file);
                e
            }
            Err(u) => e.details(format!("and undoing it failed: {u}")),
        });
    }
    // The pod has its link: a MAC address the result cannot give is no reason to undo it.
    let mac = InNetns::enter(netns)
        .map(|inside| {
            let m = mac(&pod_name);
            drop(inside);
            m
        })
        .unwrap_or_default();
    let iface = Interface {
        name: pod_name,
        mac,
        mtu: None,
        sandbox: netns.display().to_string(),
        extra: Default::default(),
    };
    let mut result = match prev {
        Some(p) => p,
        None => CniResult {
            cni_version: conf.cni_version.clone(),
            interfaces: Vec::new(),
            ips: Vec::new(),
            routes: Vec::new(),
            dns: addressing.dns.clone(),
            extra: Default::default(),
        },
    };
    result.cni_version.clone_from(&conf.cni_version);
    result.interfaces.push(iface);
    let at = result.interfaces.len() - 1;
    if ran_ipam {
        result.ips.push(IpConfig {
            address: format!("{addr}/32"),
            gateway: (conf.half == Half::Host).then(|| crate::edge::GATEWAY.to_string()),
            interface: Some(at),
            extra: Default::default(),
        });
        if let Some(a6) = addr6 {
            result.ips.push(IpConfig {
                address: format!("{a6}/128"),
                gateway: (conf.half == Half::Host).then(|| crate::edge::GATEWAY6.to_string()),
                interface: Some(at),
                extra: Default::default(),
            });
        }
        if conf.half == Half::Host {
            // The host half's way out is the link (the DPU half is the edge).
            result.routes.push(Route {
                dst: "0.0.0.0/0".into(),
                gw: Some(crate::edge::GATEWAY.to_string()),
                extra: Default::default(),
            });
            if addr6.is_some() {
                result.routes.push(Route {
                    dst: "::/0".into(),
                    gw: Some(crate::edge::GATEWAY6.to_string()),
                    extra: Default::default(),
                });
            }
        }
    }
    if let Some(d) = &conf.dns {
        result.dns = d.clone();
    }
    serde_json::to_value(&result).map_err(|e| CniError::new(Code::Io, e.to_string()))
}

/// Moves `link` into the pod as `r.pod_name`, brings it and `lo` up, and splits the namespace.
fn attach(r: &Record, link: &Link, netns: &File) -> Result<(), CniError> {
    let index = ifindex(&link.name)
        .ok_or_else(|| CniError::new(Code::TryAgainLater, format!("{} went away", link.name)))?;
    setlink(
        index,
        Some(&r.pod_name),
        Some(netns),
        false,
        &format!("cannot move {} into the pod", link.name),
    )
    .map_err(kernel)?;
    let _in = InNetns::enter(&r.netns)?;
    let lo = ifindex("lo")
        .ok_or_else(|| CniError::new(Code::Kernel, "the pod's namespace has no lo"))?;
    setlink(lo, None, None, true, "cannot bring lo up").map_err(kernel)?;
    let index = ifindex(&r.pod_name)
        .ok_or_else(|| CniError::new(Code::Kernel, format!("{} is not in the pod", r.pod_name)))?;
    setlink(
        index,
        None,
        None,
        true,
        &format!("cannot bring {} up", r.pod_name),
    )
    .map_err(kernel)?;
    // The host half has only the link and carries the pod address on it; --edge adds the
    // DPU half's, and each half's routes.
    if r.half == Half::Host {
        crate::edge::add_link_address(&r.pod_name, index, IpAddr::V4(r.addr), 32)
            .map_err(kernel)?;
        if let Some(a6) = r.addr6 {
            crate::edge::add_link_address(&r.pod_name, index, IpAddr::V6(a6), 128)
                .map_err(kernel)?;
        }
    }
    run_splitns(SplitnsCommand::Create {
        name: r
            .container_id
            .chars()
            .take(xpu_uapi::genl::NAME_LEN - 1)
            .collect(),
        dev: r.pod_name.clone(),
        addr: r.addr,
        addr6: r.addr6,
        half: None,
        ports: None,
        edge: true,
    })
    .map_err(kernel)
}

// ---- DEL, CHECK, GC ------------------------------------------------------------------------

/// Undoes what ADD made for `r`, what is still there of it: the split, then the link home
/// under its own name.
fn undo(r: &Record) -> Result<(), CniError> {
    let home = File::open("/proc/thread-self/ns/net")
        .map_err(|e| CniError::new(Code::Io, format!("cannot open this namespace: {e}")))?;
    if let Ok(_in) = InNetns::enter(&r.netns) {
        if let Some(i) = ifindex(&r.pod_name) {
            // Only this link's split: another one in the pod is not this attachment's. Not
            // split (a failed ADD, or unsplit by hand) is what DEL wants.
            if split_ifindex() == Some(i) {
                let _ = run_splitns(SplitnsCommand::Delete { name: None });
            }
            setlink(
                i,
                Some(&r.home_name),
                Some(&home),
                false,
                &format!("cannot move {} home", r.pod_name),
            )
            .map_err(kernel)?;
            return Ok(());
        }
    }
    // The namespace is gone, or the link left it. A namespace deleted a moment ago is freed
    // by the kernel later, on a work queue, and only then is the link back in the first
    // namespace (as the pod named it): wait for it a while, then ask to be called again.
    let mut name = by_device(&r.device);
    for _ in 0..100 {
        if name.is_some() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
        name = by_device(&r.device);
    }
    let Some(name) = name else {
        return Err(CniError::new(
            Code::TryAgainLater,
            format!(
                "{} ({}) is neither in the pod nor back here yet",
                r.pod_name, r.device
            ),
        ));
    };
    if name != r.home_name {
        if let Some(i) = ifindex(&name) {
            setlink(
                i,
                Some(&r.home_name),
                None,
                false,
                &format!("cannot rename {name} back"),
            )
            .map_err(kernel)?;
        }
    }
    Ok(())
}

/// The link this namespace is split over, if it is split.
fn split_ifindex() -> Option<u32> {
    let fam = Family::open().ok()?;
    let replies = fam.request(cmd::SPLITNS_GET, &Vec::new(), false, "").ok()?;
    get_u32(replies.first()?, splitns::IFINDEX)
}

/// Writes the record whole or not at all (a rename), so that it is never cut short.
fn write_record(file: &Path, record: &Record) -> Result<(), CniError> {
    let text = serde_json::to_vec(record).map_err(|e| CniError::new(Code::Io, e.to_string()))?;
    let tmp = file.with_extension("tmp");
    fs::write(&tmp, text)
        .and_then(|()| fs::rename(&tmp, file))
        .map_err(|e| {
            let _ = fs::remove_file(&tmp);
            CniError::new(Code::Io, format!("cannot write {}: {e}", file.display()))
        })
}

fn read_record(file: &Path) -> Result<Option<Record>, CniError> {
    match fs::read(file) {
        Ok(b) => serde_json::from_slice(&b)
            .map(Some)
            .map_err(|e| CniError::new(Code::Decode, format!("{}: {e}", file.display()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(CniError::new(
            Code::Io,
            format!("cannot read {}: {e}", file.display()),
        )),
    }
}

/// DEL: best effort and idempotent, as the spec asks.
fn del(env: &Env, conf: &NetConf, dir: &Path, stdin: &[u8]) -> Result<(), CniError> {
    let file = dir.join(Record::file_name(&env.container_id, &env.ifname));
    let r = match read_record(&file) {
        Ok(Some(r)) => r,
        Ok(None) => {
            // Nothing of ours; an address IPAM gave an ADD that died before its record is
            // released all the same (IPAM's DEL, too, is idempotent). Whether this plugin ran
            // IPAM is its configuration's to say, not a prevResult's: the runtime passes the
            // cached result of ADD to every plugin's DEL, the primary one's included (libcni).
            ipam(env, conf, "DEL", stdin)?;
            return Ok(());
        }
        Err(e) => {
            // A record cut short (written as a rename, so only by another hand): nothing to
            // undo can be read from it; best effort is to let it go.
            eprintln!("xpu-cni: {e}: removed");
            let _ = fs::remove_file(&file);
            return Ok(());
        }
    };
    // The agent first: its threads hold the pod's namespace, which, when the runtime has
    // let it go already, the kernel frees (and gives the link back) only once they end.
    cni_agent::stop(&r);
    let undone = undo(&r);
    // The address goes back to IPAM whatever became of the link: a runtime stops a chain's
    // DEL at the first plugin that fails (libcni), so an error here already leaves the
    // plugins it has yet to run their part. The record stays until the link is home, for a
    // DEL called again to finish; that one's IPAM DEL releases nothing twice.
    let released = if r.ipam {
        ipam(env, conf, "DEL", stdin).map(|_| ())
    } else {
        Ok(())
    };
    undone?;
    released?;
    let _ = fs::remove_file(cni_agent::log_path(&file));
    fs::remove_file(&file)
        .map_err(|e| CniError::new(Code::Io, format!("cannot remove {}: {e}", file.display())))
}

/// CHECK: the attachment is as ADD made it (and as the result of ADD the runtime passes says),
/// and the pod is split with its peer half there.
fn check(env: &Env, conf: &NetConf, dir: &Path, stdin: &[u8]) -> Result<(), CniError> {
    // The spec has the runtime pass the result of the ADD it checks; CNI's own plugins
    // refuse a CHECK without it, and so does this one.
    let prev = conf.prev_result.as_ref().ok_or_else(|| {
        CniError::new(
            Code::InvalidConfig,
            "CHECK without prevResult: the result of the ADD it checks is required",
        )
    })?;
    let file = dir.join(Record::file_name(&env.container_id, &env.ifname));
    let r = read_record(&file)?.ok_or_else(|| {
        CniError::new(
            Code::UnknownContainer,
            format!(
                "container {} has no {} of this network",
                env.container_id, env.ifname
            ),
        )
    })?;
    let prev: CniResult = serde_json::from_value(prev.clone())
        .map_err(|e| CniError::new(Code::Decode, format!("prevResult is not a CNI result: {e}")))?;
    cni::check_prev_result(&prev, &r)?;
    let netns = env.netns.as_deref().unwrap_or(&r.netns);
    let _in = InNetns::enter(netns)?;
    let index = ifindex(&r.pod_name)
        .ok_or_else(|| CniError::new(Code::Kernel, format!("the pod has no {}", r.pod_name)))?;
    let fam = Family::open().map_err(kernel)?;
    let replies = fam
        .request(
            cmd::SPLITNS_GET,
            &Vec::new(),
            false,
            "cannot read the split",
        )
        .map_err(kernel)?;
    let s = replies
        .first()
        .ok_or_else(|| CniError::new(Code::Kernel, "the pod's namespace is not split"))?;
    if get_u32(s, splitns::IFINDEX) != Some(index) {
        return Err(CniError::new(
            Code::Kernel,
            format!("the pod is split over another link than {}", r.pod_name),
        ));
    }
    let addr = get(s, splitns::ADDR)
        .and_then(|a| <[u8; 4]>::try_from(a).ok())
        .map(Ipv4Addr::from);
    if addr != Some(r.addr) {
        return Err(CniError::new(
            Code::Kernel,
            format!("the split's address is not the pod's {}", r.addr),
        ));
    }
    if let Some(pid) = r.agent_pid {
        if !cni_agent::is_agent(pid, &r.netns) {
            return Err(CniError::new(
                Code::Kernel,
                format!(
                    "the pod's ownership agent (pid {pid}) is not running: its ports no longer follow its sockets"
                ),
            ));
        }
    }
    // IPAM runs where ADD and DEL run it: in the runtime's namespace.
    drop(_in);
    match get_u32(s, splitns::PEER_STATE).and_then(PeerState::from_u32) {
        // The address is IPAM's: it checks its own part (delegated CHECK).
        Some(PeerState::Split) if r.ipam => ipam(env, conf, "CHECK", stdin).map(|_| ()),
        Some(PeerState::Split) => Ok(()),
        p => {
            let state = match p {
                Some(PeerState::Unsplit) => "not split",
                Some(PeerState::Conflict) => "split in conflict with this half",
                _ => "not known: nothing from it yet",
            };
            Err(CniError::new(
                Code::Kernel,
                format!("the pod is not paired: its other half is {state}"),
            ))
        }
    }
}

/// GC: undoes every attachment of the network the runtime does not list as valid, and has the
/// IPAM plugin release their addresses: by its own GC when it speaks the runtime's version
/// (1.1), else by a DEL for each attachment undone (as libcni does for a plugin older than GC).
fn gc(env: &Env, conf: &NetConf, dir: &Path, stdin: &[u8]) -> Result<(), CniError> {
    // Without the list, everything would go: the runtime must say what is valid.
    let valid = conf.valid_attachments.clone().ok_or_else(|| {
        CniError::new(
            Code::InvalidConfig,
            "GC without cni.dev/valid-attachments: nothing says which pods to keep",
        )
    })?;
    let mut first_error = None;
    // An IPAM plugin that cannot say what it speaks holds up no link: the attachments are
    // undone all the same, their addresses left, and the error told.
    let versions = ipam_versions(env, conf).unwrap_or_else(|e| {
        first_error = Some(e);
        None
    });
    let ipam_gc = versions
        .as_ref()
        .is_some_and(|v| v.contains(&conf.cni_version));
    let entries = fs::read_dir(dir)
        .map_err(|e| CniError::new(Code::Io, format!("cannot list {}: {e}", dir.display())))?;
    for e in entries.flatten() {
        let Ok(Some(r)) = read_record(&e.path()) else {
            continue;
        };
        if valid
            .iter()
            .any(|a| a.container_id == r.container_id && a.ifname == r.ifname)
        {
            continue;
        }
        cni_agent::stop(&r);
        let undone = undo(&r).and_then(|()| match &versions {
            // The address, by the IPAM plugin's DEL of this attachment.
            Some(v) if r.ipam && !ipam_gc => {
                let del = Env {
                    command: Command::Del,
                    container_id: r.container_id.clone(),
                    ifname: r.ifname.clone(),
                    netns: None,
                    args: Default::default(),
                    link_id: None,
                    path: env.path.clone(),
                };
                ipam(&del, conf, "DEL", &for_versions(stdin, v)?).map(|_| ())
            }
            _ => Ok(()),
        });
        let undone = undone.and_then(|()| {
            let _ = fs::remove_file(cni_agent::log_path(&e.path()));
            fs::remove_file(e.path()).map_err(|err| {
                CniError::new(
                    Code::Io,
                    format!("cannot remove {}: {err}", e.path().display()),
                )
            })
        });
        if let Err(e) = undone {
            first_error.get_or_insert(e);
        }
    }
    if ipam_gc {
        if let Err(e) = ipam(env, conf, "GC", stdin) {
            first_error.get_or_insert(e);
        }
    }
    first_error.map_or(Ok(()), Err)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn up_from_sysfs_flags() {
        // An Ethernet link's flags up (BROADCAST | MULTICAST | UP) and down.
        assert!(is_up("0x1003\n"));
        assert!(!is_up("0x1002\n"));
        assert!(!is_up("0x0"));
        assert!(!is_up("up"));
    }

    #[test]
    fn a_del_for_an_ipam_plugin_older_than_gc() {
        let gc = br#"{"cniVersion":"1.1.0","name":"n","type":"xpu-cni","cni.dev/valid-attachments":[],"ipam":{"type":"host-local"}}"#;
        let v = ["0.4.0".to_owned(), "1.0.0".to_owned()];
        let out: Value =
            serde_json::from_slice(&for_versions(gc, &v).expect("a DEL's input")).expect("JSON");
        assert_eq!(out["cniVersion"], "1.0.0");
        assert!(out.get("cni.dev/valid-attachments").is_none());
        assert_eq!(out["ipam"]["type"], "host-local");
        let e = for_versions(gc, &["0.3.1".to_owned()]).expect_err("too old");
        assert_eq!(e.code, Code::IncompatibleVersion as u32);
        assert!(for_versions(b"[]", &v).is_err());
    }
}

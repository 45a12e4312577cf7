// SPDX-License-Identifier: GPL-2.0
//! The CNI protocol as `xpu-cni` speaks it (containernetworking/cni SPEC.md, 1.1): what the
//! runtime passes (the environment and the network configuration on stdin), what the plugin
//! answers (a result, a version list, or an error object), checked as the spec says. No I/O:
//! `xpuctl`'s plugin does that.

use std::{
    collections::BTreeMap,
    fmt,
    net::{IpAddr, Ipv4Addr, Ipv6Addr},
    path::PathBuf,
};

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The spec versions the plugin accepts and answers in. 1.1 adds STATUS and GC; Podman 4.3
/// (libcni 1.1) speaks up to 1.0. Not 0.4 and before, whose results differ (each address
/// says its IP version).
pub const SUPPORTED_VERSIONS: &[&str] = &["1.0.0", "1.1.0"];

/// The spec's error codes (SPEC.md "Error"), and the plugin's own from 100.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
pub enum Code {
    IncompatibleVersion = 1,
    UnsupportedField = 2,
    UnknownContainer = 3,
    InvalidEnvironment = 4,
    Io = 5,
    Decode = 6,
    InvalidConfig = 7,
    TryAgainLater = 11,
    /// STATUS: the plugin cannot take ADDs now.
    NotAvailable = 50,
    /// No xpu link is free for the pod (all of the pool is taken).
    NoFreeLink = 100,
    /// The link, the namespace or the split failed in the kernel.
    Kernel = 101,
    /// CHECK: the attachment is not what the result of its ADD (prevResult) says.
    NotAsAdded = 102,
}

/// The error object, printed on stdout with a non-zero exit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CniError {
    #[serde(rename = "cniVersion")]
    pub cni_version: String,
    pub code: u32,
    pub msg: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub details: String,
}

impl CniError {
    pub fn new(code: Code, msg: impl Into<String>) -> Self {
        CniError {
            cni_version: SUPPORTED_VERSIONS[SUPPORTED_VERSIONS.len() - 1].to_owned(),
            code: code as u32,
            msg: msg.into(),
            details: String::new(),
        }
    }

    pub fn details(mut self, d: impl Into<String>) -> Self {
        self.details = d.into();
        self
    }

    /// Answers in the configuration's version (the runtime parses what it asked for).
    pub fn in_version(mut self, v: &str) -> Self {
        v.clone_into(&mut self.cni_version);
        self
    }
}

impl fmt::Display for CniError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (code {})", self.msg, self.code)?;
        if !self.details.is_empty() {
            write!(f, ": {}", self.details)?;
        }
        Ok(())
    }
}

impl std::error::Error for CniError {}

/// What the runtime asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    Add,
    Del,
    Check,
    Status,
    Gc,
    Version,
}

/// The `CNI_ARGS` key that names the xpu link an ADD must take, by the link's number (the
/// same at both ends of a link; [`format_link_id`]): the DPU's agent passes the host half's, so
/// that the two halves of a pod take the two ends of one link.
pub const LINK_ID_ARG: &str = "XPU_LINK_ID";

/// A link's number as xpu's tools write it: 8 hex digits, as `xpuctl link show` prints it.
pub fn format_link_id(id: u32) -> String {
    format!("{id:08x}")
}

/// A link's number written by [`format_link_id`] (1 to 8 hex digits; zero is no link's).
pub fn parse_link_id(s: &str) -> Option<u32> {
    let digits = (1..=8).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_hexdigit());
    u32::from_str_radix(s, 16)
        .ok()
        .filter(|&id| digits && id != 0)
}

/// Which link of the pool (each with its name, and its number if it shows one; in the pool's
/// order) an ADD takes: the first, or, with `want`, the one of that number. The number is the
/// other side's to draw, so it is not trusted to be unique: two links of one number are
/// refused. A pool none of whose links shows a number (a kernel older than the numbers) has
/// its only link taken for any number, and is refused when it has more, which it cannot tell
/// apart.
pub fn pick_link(pool: &[(String, Option<u32>)], want: Option<u32>) -> Result<usize, String> {
    let Some(id) = want else {
        return if pool.is_empty() {
            Err("no free xpu link".into())
        } else {
            Ok(0)
        };
    };
    let n = format_link_id(id);
    let hits: Vec<usize> = (0..pool.len()).filter(|&i| pool[i].1 == Some(id)).collect();
    match hits[..] {
        [i] => Ok(i),
        [_, _, ..] => Err(format!(
            "links {} have the same number {n}: the other side's numbers do not tell them apart",
            hits.iter()
                .map(|&i| pool[i].0.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )),
        [] if pool.len() == 1 && pool[0].1.is_none() => Ok(0),
        [] if pool.iter().all(|l| l.1.is_none()) && !pool.is_empty() => Err(format!(
            "no free xpu link shows a number, none can be told to be link {n} (xpu.ko older \
             than the links' numbers, protocol minor 3?)"
        )),
        [] => Err(format!(
            "no free xpu link is link {n}, the other half's (its end here is in use, left out \
             by \"links\", or its other side is down)"
        )),
    }
}

/// `CNI_ARGS` for a delegated plugin (IPAM): the runtime's, less xpu's own key, which is not
/// the delegate's (a plugin that does not ignore unknown keys would refuse it).
pub fn delegate_args(args: &BTreeMap<String, String>) -> String {
    args.iter()
        .filter(|(k, _)| k.as_str() != LINK_ID_ARG)
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(";")
}

/// The number of the link a namespace is split over, from `xpuctl splitns show --json` run
/// there: none if it is not split, over a link without one, or the output is not that.
pub fn shown_link_id(show: &str) -> Option<u32> {
    let v: Value = serde_json::from_str(show.trim()).ok()?;
    parse_link_id(v.get("link_id")?.as_str()?)
}

/// The runtime's environment for one call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Env {
    pub command: Command,
    /// The attachment's identity is (container_id, ifname); both are empty for VERSION,
    /// STATUS and GC.
    pub container_id: String,
    pub ifname: String,
    /// The pod's network namespace (a path); DEL may come without one.
    pub netns: Option<PathBuf>,
    /// `CNI_ARGS`, `K=V;K=V`.
    pub args: BTreeMap<String, String>,
    /// The link the attachment must take, by its number ([`LINK_ID_ARG`] in `CNI_ARGS`).
    pub link_id: Option<u32>,
    /// Where delegated plugins (IPAM) are looked up.
    pub path: Vec<PathBuf>,
}

/// The spec's rule for a container ID and a network's name: a letter or digit, then letters,
/// digits, `_`, `.` or `-`.
pub fn is_cni_name(s: &str) -> bool {
    s.starts_with(|c: char| c.is_ascii_alphanumeric())
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
}

/// The spec's rule for an interface name, which is the kernel's: 1 to 15 bytes, not `.` or
/// `..`, no `/`, `:` or white space.
pub fn is_ifname(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 15
        && s != "."
        && s != ".."
        && !s
            .chars()
            .any(|c| c == '/' || c == ':' || c == '\0' || c.is_whitespace())
}

/// Reads the environment through `var` (`std::env::var` in the plugin), as the spec requires
/// it per command.
pub fn env(var: impl Fn(&str) -> Option<String>) -> Result<Env, CniError> {
    let bad = |m: String| Err(CniError::new(Code::InvalidEnvironment, m));
    let command = match var("CNI_COMMAND").as_deref() {
        Some("ADD") => Command::Add,
        Some("DEL") => Command::Del,
        Some("CHECK") => Command::Check,
        Some("STATUS") => Command::Status,
        Some("GC") => Command::Gc,
        Some("VERSION") => Command::Version,
        Some(c) => return bad(format!("CNI_COMMAND={c}: not a CNI command")),
        None => {
            return bad(
                "CNI_COMMAND is not set: xpu-cni is a CNI plugin, run by a container runtime"
                    .into(),
            )
        }
    };
    let per_attachment = matches!(command, Command::Add | Command::Del | Command::Check);
    let container_id = var("CNI_CONTAINERID").unwrap_or_default();
    let ifname = var("CNI_IFNAME").unwrap_or_default();
    let netns = var("CNI_NETNS")
        .filter(|s| !s.is_empty())
        .map(PathBuf::from);
    if per_attachment {
        if !is_cni_name(&container_id) {
            return bad(format!(
                "CNI_CONTAINERID '{container_id}': a letter or digit, then letters, digits, _ . -"
            ));
        }
        if !is_ifname(&ifname) {
            return bad(format!("CNI_IFNAME '{ifname}': not an interface name (1 to 15 characters, no / : or spaces)"));
        }
        if netns.is_none() && command != Command::Del {
            return bad("CNI_NETNS is not set".into());
        }
    }
    let mut args = BTreeMap::new();
    for kv in var("CNI_ARGS")
        .unwrap_or_default()
        .split(';')
        .filter(|s| !s.is_empty())
    {
        let Some((k, v)) = kv.split_once('=') else {
            return bad(format!("CNI_ARGS: '{kv}' is not K=V"));
        };
        args.insert(k.to_owned(), v.to_owned());
    }
    // ADD's alone: DEL and CHECK do their best whatever else the runtime passes.
    let link_id = match args.get(LINK_ID_ARG).filter(|_| command == Command::Add) {
        None => None,
        Some(v) => match parse_link_id(v) {
            Some(id) => Some(id),
            None => {
                return bad(format!(
                    "CNI_ARGS: {LINK_ID_ARG}={v}: not a link's number (1 to 8 hex digits, not 0)"
                ))
            }
        },
    };
    let path = var("CNI_PATH")
        .unwrap_or_default()
        .split(':')
        .filter(|s| !s.is_empty())
        .map(PathBuf::from)
        .collect();
    Ok(Env {
        command,
        container_id,
        ifname,
        netns,
        args,
        link_id,
        path,
    })
}

/// Which half of the split pod this node's plugin makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Half {
    /// The host: the application's half.
    #[default]
    Host,
    /// The DPU: the infrastructure's half, the pod's edge.
    Dpu,
}

/// One attachment GC must keep.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct Attachment {
    #[serde(rename = "containerID")]
    pub container_id: String,
    pub ifname: String,
}

/// The network configuration on stdin: the spec's fields and xpu's own.
#[derive(Debug, Clone, Deserialize)]
pub struct NetConf {
    #[serde(rename = "cniVersion")]
    pub cni_version: String,
    pub name: String,
    #[serde(rename = "type")]
    pub plugin: String,
    /// Which half this node makes (xpu's).
    #[serde(default)]
    pub half: Half,
    /// The xpu links pods may be given, by name (xpu's; default: every xpu device in the
    /// runtime's namespace).
    #[serde(default)]
    pub links: Option<Vec<String>>,
    /// The link's name in the pod when the plugin is chained (the interface CNI_IFNAME is the
    /// previous plugin's then; xpu's, default `xpu0`).
    #[serde(rename = "linkName", default = "default_link_name")]
    pub link_name: String,
    /// Where the plugin keeps its records of the network's attachments (as host-local's
    /// `dataDir`; xpu's default: /var/lib/cni/xpu-cni).
    #[serde(rename = "dataDir", default = "default_data_dir")]
    pub data_dir: PathBuf,
    /// The IPAM plugin to delegate addressing to, passed whole.
    #[serde(default)]
    pub ipam: Option<Value>,
    #[serde(default)]
    pub dns: Option<Dns>,
    #[serde(rename = "prevResult", default)]
    pub prev_result: Option<Value>,
    #[serde(rename = "cni.dev/valid-attachments", default)]
    pub valid_attachments: Option<Vec<Attachment>>,
    /// Whether ADD starts the pod's ownership agent (`xpuctl splitns agent`) in its
    /// namespace, so that a port belongs to the half whose socket binds it and nobody
    /// registers one (xpu's; default true).
    #[serde(rename = "ownershipAgent", default = "default_true")]
    pub ownership_agent: bool,
    /// The cgroup (v2) whose sockets the agent follows: the pods' processes must be below it
    /// (xpu's; default the root, /sys/fs/cgroup).
    #[serde(default = "default_cgroup")]
    pub cgroup: PathBuf,
}

fn default_true() -> bool {
    true
}

fn default_cgroup() -> PathBuf {
    PathBuf::from("/sys/fs/cgroup")
}

fn default_data_dir() -> PathBuf {
    PathBuf::from("/var/lib/cni/xpu-cni")
}

fn default_link_name() -> String {
    "xpu0".to_owned()
}

/// Reads and checks the configuration.
pub fn netconf(stdin: &[u8]) -> Result<NetConf, CniError> {
    let c: NetConf = serde_json::from_slice(stdin).map_err(|e| {
        CniError::new(
            Code::Decode,
            "the network configuration is not valid JSON for xpu-cni",
        )
        .details(e.to_string())
    })?;
    if !SUPPORTED_VERSIONS.contains(&c.cni_version.as_str()) {
        return Err(CniError::new(
            Code::IncompatibleVersion,
            format!(
                "cniVersion {}: xpu-cni speaks {}",
                c.cni_version,
                SUPPORTED_VERSIONS.join(", ")
            ),
        ));
    }
    if !is_cni_name(&c.name) {
        return Err(CniError::new(
            Code::InvalidConfig,
            format!(
                "network name '{}': a letter or digit, then letters, digits, _ . -",
                c.name
            ),
        )
        .in_version(&c.cni_version));
    }
    if !is_ifname(&c.link_name) {
        return Err(CniError::new(
            Code::InvalidConfig,
            format!("linkName '{}' is not an interface name", c.link_name),
        )
        .in_version(&c.cni_version));
    }
    if let Some(ipam) = &c.ipam {
        if ipam
            .get("type")
            .and_then(Value::as_str)
            .is_none_or(str::is_empty)
        {
            return Err(CniError::new(
                Code::InvalidConfig,
                "ipam has no type (the IPAM plugin to run, such as host-local)",
            )
            .in_version(&c.cni_version));
        }
    }
    Ok(c)
}

/// The VERSION answer.
pub fn version_reply(cni_version: Option<&str>) -> Value {
    let newest = SUPPORTED_VERSIONS[SUPPORTED_VERSIONS.len() - 1];
    serde_json::json!({
        "cniVersion": cni_version.filter(|v| SUPPORTED_VERSIONS.contains(v)).unwrap_or(newest),
        "supportedVersions": SUPPORTED_VERSIONS,
    })
}

/// DNS settings of a result.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
pub struct Dns {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub nameservers: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub search: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub options: Vec<String>,
}

/// An interface of a result.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct Interface {
    pub name: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub mac: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mtu: Option<u32>,
    /// The namespace's path, for an interface inside the pod.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub sandbox: String,
    /// What else the spec (or a newer one) has here, passed through as it came.
    #[serde(flatten)]
    pub extra: serde_json::Map<String, Value>,
}

/// An address of a result.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct IpConfig {
    /// CIDR.
    pub address: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway: Option<String>,
    /// Index into `interfaces`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interface: Option<usize>,
    /// What else the spec (or a newer one) has here, passed through as it came.
    #[serde(flatten)]
    pub extra: serde_json::Map<String, Value>,
}

/// A route of a result.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct Route {
    pub dst: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gw: Option<String>,
    /// What else the spec (or a newer one) has here, passed through as it came.
    #[serde(flatten)]
    pub extra: serde_json::Map<String, Value>,
}

/// The ADD result (and an IPAM plugin's, which has no interfaces).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct CniResult {
    #[serde(rename = "cniVersion")]
    pub cni_version: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub interfaces: Vec<Interface>,
    #[serde(default)]
    pub ips: Vec<IpConfig>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub routes: Vec<Route>,
    #[serde(default)]
    pub dns: Dns,
    /// What else the spec (or a newer one) has here, passed through as it came.
    #[serde(flatten)]
    pub extra: serde_json::Map<String, Value>,
}

/// The pod's addresses in a result (IPAM's, or the previous plugin's): its first IPv4 address,
/// which both halves carry, and its first IPv6 address if it has one.
pub fn pod_addresses(r: &CniResult) -> Result<(Ipv4Addr, Option<Ipv6Addr>), CniError> {
    let mut v4 = None;
    let mut v6 = None;
    for ip in &r.ips {
        let host = ip
            .address
            .split_once('/')
            .map_or(ip.address.as_str(), |(a, _)| a);
        if let Ok(a) = host.parse::<Ipv4Addr>() {
            v4.get_or_insert(a);
        } else if let Ok(a) = host.parse::<Ipv6Addr>() {
            v6.get_or_insert(a);
        } else {
            return Err(CniError::new(
                Code::Decode,
                format!(
                    "the IP configuration's address '{}' is not an address",
                    ip.address
                ),
            ));
        }
    }
    let v4 = v4.ok_or_else(|| {
        CniError::new(
            Code::InvalidConfig,
            "no IPv4 address for the pod: give xpu-cni an ipam, or chain it after a plugin that addresses the pod",
        )
    })?;
    Ok((v4, v6))
}

/// What the plugin made for one attachment, kept from ADD to DEL (and read by CHECK and GC).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct Record {
    #[serde(rename = "containerID")]
    pub container_id: String,
    pub ifname: String,
    pub netns: PathBuf,
    /// The link's PCI function (its sysfs name), which finds it in whatever namespace it is.
    pub device: String,
    /// Its name in the runtime's namespace, which it gets back.
    pub home_name: String,
    /// Its name in the pod.
    pub pod_name: String,
    pub half: Half,
    pub addr: Ipv4Addr,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub addr6: Option<Ipv6Addr>,
    /// The plugin ran the IPAM plugin (it is the primary plugin), so DEL runs it too.
    pub ipam: bool,
    /// The pod's ownership agent, once it runs.
    #[serde(rename = "agentPid", default, skip_serializing_if = "Option::is_none")]
    pub agent_pid: Option<u32>,
}

impl Record {
    /// Its file's name: an attachment is (container ID, interface name), and a container ID has
    /// no ':' (letters, digits, _ . -).
    pub fn file_name(container_id: &str, ifname: &str) -> String {
        format!("{container_id}:{ifname}.json")
    }
}

/// CHECK against the result the runtime keeps of the ADD (prevResult): the record's link is
/// among its interfaces, in the pod's namespace, and the pod's addresses among its IPs. The
/// spec has CHECK hold the attachment to that result: a runtime that lost track of the pod, or
/// a plugin before this one that changed it, shows here.
pub fn check_prev_result(prev: &CniResult, r: &Record) -> Result<(), CniError> {
    let mismatch = |what: String| CniError::new(Code::NotAsAdded, what);
    let netns = r.netns.to_string_lossy();
    if !prev
        .interfaces
        .iter()
        .any(|i| i.name == r.pod_name && i.sandbox == netns)
    {
        return Err(mismatch(format!(
            "the result of ADD has no interface {} in {netns}",
            r.pod_name
        )));
    }
    let hosts: Vec<&str> = prev
        .ips
        .iter()
        .map(|ip| {
            ip.address
                .split_once('/')
                .map_or(ip.address.as_str(), |(a, _)| a)
        })
        .collect();
    let has = |a: IpAddr| hosts.iter().any(|h| h.parse::<IpAddr>() == Ok(a));
    if !has(IpAddr::V4(r.addr)) {
        return Err(mismatch(format!(
            "the result of ADD does not give the pod its address {}",
            r.addr
        )));
    }
    if let Some(a6) = r.addr6.filter(|a| !has(IpAddr::V6(*a))) {
        return Err(mismatch(format!(
            "the result of ADD does not give the pod its address {a6}"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use rstest::rstest;

    use super::*;

    fn vars<'a>(kv: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |k| {
            kv.iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| (*v).to_owned())
        }
    }

    fn pool(links: &[(&str, Option<u32>)]) -> Vec<(String, Option<u32>)> {
        links.iter().map(|&(n, id)| (n.to_owned(), id)).collect()
    }

    #[rstest]
    #[case(&[("xpu0", Some(1)), ("xpu1", Some(2))], None, Ok(0))]
    #[case(&[("xpu0", Some(1)), ("xpu1", Some(2))], Some(2), Ok(1))]
    #[case(&[("xpu0", Some(1)), ("xpu1", Some(2))], Some(3), Err("is link 00000003"))]
    #[case(&[("xpu0", Some(2)), ("xpu1", Some(2))], Some(2), Err("xpu0, xpu1 have the same"))]
    #[case(&[("xpu0", None)], Some(2), Ok(0))]
    #[case(&[("xpu0", None), ("xpu1", None)], Some(2), Err("shows a number"))]
    #[case(&[("xpu0", None), ("xpu1", Some(1))], Some(2), Err("is link 00000002"))]
    #[case(&[], None, Err("no free"))]
    #[case(&[], Some(2), Err("is link 00000002"))]
    fn links_picked(
        #[case] links: &[(&str, Option<u32>)],
        #[case] want: Option<u32>,
        #[case] got: Result<usize, &str>,
    ) {
        match (pick_link(&pool(links), want), got) {
            (Ok(i), Ok(j)) => assert_eq!(i, j),
            (Err(e), Err(part)) => assert!(e.contains(part), "{e}"),
            (r, want) => panic!("{r:?}, wanted {want:?}"),
        }
    }

    #[test]
    fn delegates_do_not_see_the_link_number() {
        let args: BTreeMap<String, String> = [
            ("IgnoreUnknown", "1"),
            ("IP", "10.244.1.5/24"),
            (LINK_ID_ARG, "0a0b0c0d"),
        ]
        .iter()
        .map(|&(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        assert_eq!(delegate_args(&args), "IP=10.244.1.5/24;IgnoreUnknown=1");
    }

    #[rstest]
    #[case(1)]
    #[case(0x0a0b_0c0d)]
    #[case(u32::MAX)]
    fn link_ids_read_back(#[case] id: u32) {
        let s = format_link_id(id);
        assert_eq!(s.len(), 8);
        assert_eq!(parse_link_id(&s), Some(id));
    }

    #[rstest]
    #[case(
        r#"{"name":"web","ifindex":2,"link_id":"0a0b0c0d","peer":"split"}"#,
        Some(0x0a0b_0c0d)
    )]
    #[case(r#"{"name":"web","ifindex":2,"link_id":null,"peer":"split"}"#, None)]
    #[case("null", None)]
    #[case("not split", None)]
    fn link_id_shown(#[case] show: &str, #[case] want: Option<u32>) {
        assert_eq!(shown_link_id(show), want);
    }

    #[test]
    fn reads_an_add() {
        let e = env(vars(&[
            ("CNI_COMMAND", "ADD"),
            ("CNI_CONTAINERID", "abc-123_x.y"),
            ("CNI_IFNAME", "eth0"),
            ("CNI_NETNS", "/run/netns/p"),
            (
                "CNI_ARGS",
                "IgnoreUnknown=1;K8S_POD_NAME=web;XPU_LINK_ID=0a0b0c0d",
            ),
            ("CNI_PATH", "/usr/lib/cni:/opt/cni/bin"),
        ]))
        .expect("an env");
        assert_eq!(e.command, Command::Add);
        assert_eq!(e.args.get("K8S_POD_NAME").map(String::as_str), Some("web"));
        assert_eq!(e.link_id, Some(0x0a0b_0c0d));
        assert_eq!(e.path.len(), 2);
    }

    #[test]
    fn refuses_bad_environments() {
        let base = [
            ("CNI_COMMAND", "ADD"),
            ("CNI_CONTAINERID", "c1"),
            ("CNI_IFNAME", "eth0"),
            ("CNI_NETNS", "/run/netns/p"),
        ];
        let with = |k: &'static str, v: &'static str| {
            let mut kv: Vec<_> = base.iter().copied().filter(|(n, _)| *n != k).collect();
            if !v.is_empty() {
                kv.push((k, v));
            }
            kv
        };
        for (k, v) in [
            ("CNI_COMMAND", ""),
            ("CNI_COMMAND", "ATTACH"),
            ("CNI_CONTAINERID", ""),
            ("CNI_CONTAINERID", "a/b"),
            ("CNI_CONTAINERID", "_x"),
            ("CNI_IFNAME", "a-name-of-sixteen"),
            ("CNI_IFNAME", "eth 0"),
            ("CNI_IFNAME", ".."),
            ("CNI_NETNS", ""),
            ("CNI_ARGS", "novalue"),
            ("CNI_ARGS", "XPU_LINK_ID=0"),
            ("CNI_ARGS", "XPU_LINK_ID=123456789"),
            ("CNI_ARGS", "XPU_LINK_ID=+1234"),
            ("CNI_ARGS", "XPU_LINK_ID=xpu0"),
        ] {
            let kv = with(k, v);
            let e = env(vars(&kv)).expect_err(&format!("{k}={v} accepted"));
            assert_eq!(e.code, Code::InvalidEnvironment as u32, "{k}={v}");
        }
        // DEL without a namespace is fine (the spec: best effort); VERSION needs nothing.
        let kv = with("CNI_NETNS", "");
        let kv: Vec<_> = kv
            .into_iter()
            .map(|(k, v)| {
                if k == "CNI_COMMAND" {
                    (k, "DEL")
                } else {
                    (k, v)
                }
            })
            .collect();
        assert!(env(vars(&kv)).is_ok());
        // Nor does a link number it does not read (ADD's alone).
        let mut kv = kv;
        kv.push(("CNI_ARGS", "XPU_LINK_ID=xpu0"));
        assert_eq!(env(vars(&kv)).map(|e| e.link_id), Ok(None));
        assert!(env(vars(&[("CNI_COMMAND", "VERSION")])).is_ok());
    }

    #[test]
    fn reads_and_checks_configurations() {
        let c = netconf(
            br#"{"cniVersion":"1.0.0","name":"pods","type":"xpu-cni","half":"dpu",
            "ipam":{"type":"host-local","subnet":"10.244.1.0/24"},"links":["xpu0","xpu1"]}"#,
        )
        .expect("a config");
        assert_eq!(c.half, Half::Dpu);
        assert_eq!(
            c.links.as_deref(),
            Some(&["xpu0".to_owned(), "xpu1".to_owned()][..])
        );
        for (text, code) in [
            (
                &br#"{"cniVersion":"0.3.1","name":"n","type":"xpu-cni"}"#[..],
                Code::IncompatibleVersion,
            ),
            (
                br#"{"cniVersion":"1.0.0","name":"","type":"xpu-cni"}"#,
                Code::InvalidConfig,
            ),
            (
                br#"{"cniVersion":"1.0.0","name":"..","type":"xpu-cni"}"#,
                Code::InvalidConfig,
            ),
            (
                br#"{"cniVersion":"1.0.0","name":"n","type":"xpu-cni","linkName":".."}"#,
                Code::InvalidConfig,
            ),
            (
                br#"{"cniVersion":"1.0.0","name":"n","type":"xpu-cni","ipam":{}}"#,
                Code::InvalidConfig,
            ),
            (
                br#"{"cniVersion":"1.0.0","name":"n","type":"xpu-cni","half":"gpu"}"#,
                Code::Decode,
            ),
            (br#"{"cniVersion":"1.0.0""#, Code::Decode),
        ] {
            let e = netconf(text).expect_err("accepted");
            assert_eq!(e.code, code as u32, "{}", String::from_utf8_lossy(text));
        }
    }

    #[test]
    fn answers_as_the_spec_says() {
        let v = version_reply(Some("1.0.0"));
        assert_eq!(v["cniVersion"], "1.0.0");
        assert_eq!(v["supportedVersions"][1], "1.1.0");
        let e = CniError::new(Code::NoFreeLink, "no free xpu link").in_version("1.0.0");
        assert_eq!(
            serde_json::to_value(&e).expect("json"),
            serde_json::json!({"cniVersion":"1.0.0","code":100,"msg":"no free xpu link"})
        );
        let r: CniResult = serde_json::from_str(
            r#"{"cniVersion":"1.0.0","ips":[{"address":"10.244.1.5/24","gateway":"10.244.1.1"}],"routes":[{"dst":"0.0.0.0/0"}],"dns":{}}"#,
        )
        .expect("an IPAM result");
        assert_eq!(r.ips[0].address, "10.244.1.5/24");
        assert!(r.interfaces.is_empty());
        assert_eq!(
            pod_addresses(&r),
            Ok(("10.244.1.5".parse().expect("v4"), None))
        );
        let r6: CniResult = serde_json::from_str(
            r#"{"cniVersion":"1.0.0","ips":[{"address":"fd00::5/64"},{"address":"10.0.0.9/32"},{"address":"10.0.0.10/32"}]}"#,
        )
        .expect("a result");
        assert_eq!(
            pod_addresses(&r6),
            Ok((
                "10.0.0.9".parse().expect("v4"),
                Some("fd00::5".parse().expect("v6"))
            ))
        );
        let only6: CniResult =
            serde_json::from_str(r#"{"cniVersion":"1.0.0","ips":[{"address":"fd00::5/64"}]}"#)
                .expect("a result");
        assert_eq!(
            pod_addresses(&only6).map_err(|e| e.code),
            Err(Code::InvalidConfig as u32)
        );
    }

    fn record(addr6: Option<&str>) -> Record {
        Record {
            container_id: "c1".into(),
            ifname: "eth0".into(),
            netns: "/run/netns/pod1".into(),
            device: "0000:00:04.0".into(),
            home_name: "xpu0".into(),
            pod_name: "eth0".into(),
            half: Half::Host,
            addr: "10.244.1.5".parse().expect("v4"),
            addr6: addr6.map(|a| a.parse().expect("v6")),
            ipam: true,
            agent_pid: None,
        }
    }

    const ADDED: &str = r#"{"cniVersion":"1.0.0","interfaces":[{"name":"eth0","sandbox":"/run/netns/pod1"}],"ips":[{"address":"10.244.1.5/32","interface":0},{"address":"fd00::5/128","interface":0}]}"#;

    #[rstest]
    #[case::as_added(ADDED, None, None)]
    #[case::with_ipv6(ADDED, Some("fd00::5"), None)]
    // Chained: the plugin before gave the pod its interface; this one's link is among them.
    #[case::chained(
        r#"{"cniVersion":"1.0.0","interfaces":[{"name":"veth1"},{"name":"eth0","sandbox":"/run/netns/pod1"}],"ips":[{"address":"10.244.1.5/24"}]}"#,
        None,
        None
    )]
    #[case::other_interface(
        r#"{"cniVersion":"1.0.0","interfaces":[{"name":"eth1","sandbox":"/run/netns/pod1"}],"ips":[{"address":"10.244.1.5/32"}]}"#,
        None,
        Some("no interface eth0")
    )]
    // An interface without a sandbox is the host's, not the pod's.
    #[case::on_the_host(
        r#"{"cniVersion":"1.0.0","interfaces":[{"name":"eth0"}],"ips":[{"address":"10.244.1.5/32"}]}"#,
        None,
        Some("no interface eth0")
    )]
    #[case::other_namespace(
        r#"{"cniVersion":"1.0.0","interfaces":[{"name":"eth0","sandbox":"/run/netns/pod2"}],"ips":[{"address":"10.244.1.5/32"}]}"#,
        None,
        Some("no interface eth0")
    )]
    #[case::other_address(
        r#"{"cniVersion":"1.0.0","interfaces":[{"name":"eth0","sandbox":"/run/netns/pod1"}],"ips":[{"address":"10.244.1.6/32"}]}"#,
        None,
        Some("address 10.244.1.5")
    )]
    #[case::no_ipv6(
        r#"{"cniVersion":"1.0.0","interfaces":[{"name":"eth0","sandbox":"/run/netns/pod1"}],"ips":[{"address":"10.244.1.5/32"}]}"#,
        Some("fd00::5"),
        Some("address fd00::5")
    )]
    fn check_holds_the_attachment_to_its_result(
        #[case] prev: &str,
        #[case] addr6: Option<&str>,
        #[case] refused: Option<&str>,
    ) {
        let prev: CniResult = serde_json::from_str(prev).expect("a result");
        match (check_prev_result(&prev, &record(addr6)), refused) {
            (Ok(()), None) => {}
            (Err(e), Some(why)) => {
                assert_eq!(e.code, Code::NotAsAdded as u32);
                assert!(e.msg.contains(why), "{}", e.msg);
            }
            (got, want) => panic!("{got:?}, expected {want:?}"),
        }
    }
}

// SPDX-License-Identifier: GPL-2.0
//! The CNI protocol as `xpu-cni` speaks it (containernetworking/cni SPEC.md, 1.1): what the
//! runtime passes (the environment and the network configuration on stdin), what the plugin
//! answers (a result, a version list, or an error object), checked as the spec says. No I/O:
//! `xpuctl`'s plugin does that.

use std::{collections::BTreeMap, fmt, path::PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The spec versions the plugin accepts and answers in. 1.1 adds STATUS and GC; Podman 4.3
/// (libcni 1.1) speaks up to 1.0.
pub const SUPPORTED_VERSIONS: &[&str] = &["0.4.0", "1.0.0", "1.1.0"];

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
    /// Where delegated plugins (IPAM) are looked up.
    pub path: Vec<PathBuf>,
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
        // The spec's rules: a container ID of letters, digits, _ . -; an interface name the
        // kernel takes.
        if container_id.is_empty()
            || !container_id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
        {
            return bad(format!(
                "CNI_CONTAINERID '{container_id}': letters, digits, _ . - only, not empty"
            ));
        }
        if ifname.is_empty()
            || ifname.len() > 15
            || ifname == "."
            || ifname == ".."
            || ifname
                .chars()
                .any(|c| c == '/' || c == ':' || c.is_whitespace())
        {
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
    /// The IPAM plugin to delegate addressing to, passed whole.
    #[serde(default)]
    pub ipam: Option<Value>,
    #[serde(default)]
    pub dns: Option<Dns>,
    #[serde(rename = "prevResult", default)]
    pub prev_result: Option<Value>,
    #[serde(rename = "cni.dev/valid-attachments", default)]
    pub valid_attachments: Option<Vec<Attachment>>,
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
    if c.name.is_empty() {
        return Err(
            CniError::new(Code::InvalidConfig, "the network has no name")
                .in_version(&c.cni_version),
        );
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
}

/// A route of a result.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct Route {
    pub dst: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gw: Option<String>,
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
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars<'a>(kv: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |k| {
            kv.iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| (*v).to_owned())
        }
    }

    #[test]
    fn reads_an_add() {
        let e = env(vars(&[
            ("CNI_COMMAND", "ADD"),
            ("CNI_CONTAINERID", "abc-123_x.y"),
            ("CNI_IFNAME", "eth0"),
            ("CNI_NETNS", "/run/netns/p"),
            ("CNI_ARGS", "IgnoreUnknown=1;K8S_POD_NAME=web"),
            ("CNI_PATH", "/usr/lib/cni:/opt/cni/bin"),
        ]))
        .expect("an env");
        assert_eq!(e.command, Command::Add);
        assert_eq!(e.args.get("K8S_POD_NAME").map(String::as_str), Some("web"));
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
            ("CNI_IFNAME", "a-name-of-sixteen"),
            ("CNI_IFNAME", "eth 0"),
            ("CNI_IFNAME", ".."),
            ("CNI_NETNS", ""),
            ("CNI_ARGS", "novalue"),
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
        assert_eq!(v["supportedVersions"][2], "1.1.0");
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
    }
}

// SPDX-License-Identifier: GPL-2.0
//! What a node's two sides say about its pods: the host's `xpuctl pod` asks, the DPU's agent
//! (dpu-fw/agent) answers. One JSON object per line each way, over TCP on the node's control
//! link (an xpu link the node keeps for itself, as a DPU's management interface over PCIe),
//! one request per connection. No I/O here: the agent and xpuctl do that; this is the
//! messages, and the checks each side makes of what the other sent (neither trusts the other).

use std::{fmt, io::BufRead, net::Ipv4Addr};

use serde::{Deserialize, Serialize};

/// The agent's port on the control link.
pub const AGENT_PORT: u16 = 7780;
/// The longest line either side reads: a Pod manifest's half is a few KiB; this bounds what a
/// confused or hostile peer can make the other hold.
pub const MAX_LINE: usize = 1 << 20;

/// The host's requests.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "lowercase", deny_unknown_fields)]
pub enum Request {
    /// The DPU's room for pods: its CPU and memory less what its pods request.
    Capacity,
    /// Start the DPU half of a pod: its containers (`manifest`, a Pod manifest whose
    /// containers are the DPU's), in a split namespace whose address is the host half's.
    Apply {
        pod: String,
        address: PodAddress,
        manifest: String,
        /// The number of the host half's link: the DPU half takes the other end of that link
        /// (without it, the first free one, which a node pair of one link can do).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        link_id: Option<u32>,
    },
    /// Stop and remove the DPU half of a pod; done also when there is none.
    Delete { pod: String },
    /// The DPU halves the agent knows of, and their containers' states.
    List,
}

/// The agent's answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase", deny_unknown_fields)]
pub enum Reply {
    Capacity(Capacity),
    Done,
    Pods(Vec<PodStatus>),
    Error(String),
}

/// CPU and memory, as the planner counts them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Capacity {
    pub cpu_millis: u64,
    pub mem_bytes: u64,
}

/// A pod's address and prefix length (IPv4), as both halves carry it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PodAddress {
    pub ip: Ipv4Addr,
    pub prefix: u8,
}

impl fmt::Display for PodAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.ip, self.prefix)
    }
}

impl std::str::FromStr for PodAddress {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let (ip, prefix) = s
            .split_once('/')
            .ok_or_else(|| format!("address {s:?}: not ADDRESS/PREFIX"))?;
        let ip: Ipv4Addr = ip
            .parse()
            .map_err(|_| format!("address {s:?}: {ip:?} is not an IPv4 address"))?;
        let prefix: u8 = prefix
            .parse()
            .ok()
            .filter(|p| (1..=32).contains(p))
            .ok_or_else(|| format!("address {s:?}: the prefix length is not 1 to 32"))?;
        if ip.is_unspecified() || ip.is_loopback() || ip.is_multicast() || ip.is_broadcast() {
            return Err(format!("address {s:?}: not a pod's address"));
        }
        Ok(PodAddress { ip, prefix })
    }
}

impl Serialize for PodAddress {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for PodAddress {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// Where a pod's half stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HalfState {
    /// Every container of the half runs.
    Running,
    /// The half is there, some container is not running.
    Degraded,
    /// The half was made and is gone (its side restarted, or it was removed behind the
    /// tools' back).
    Lost,
}

/// One container and its runtime's word for its state (running, exited, created, ...).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContainerStatus {
    pub name: String,
    pub state: String,
}

/// One pod's half.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PodStatus {
    pub pod: String,
    pub address: PodAddress,
    pub state: HalfState,
    pub containers: Vec<ContainerStatus>,
}

/// Whether `name` may name a pod: a DNS subdomain (RFC 1123), as Kubernetes wants of a pod's
/// name; it names files and the runtime's pod, so nothing else gets through.
pub fn check_pod_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        });
    if ok {
        Ok(())
    } else {
        Err(format!(
            "pod name {name:?}: not a DNS subdomain (lowercase letters, digits, '-' and '.')"
        ))
    }
}

/// Reads one line of the protocol from `r`, at most [`MAX_LINE`] bytes (no more is read), its
/// newline taken off.
pub fn read_line(r: impl BufRead) -> Result<String, String> {
    read_line_at_most(r, MAX_LINE)
}

/// Reads one line from `r`, at most `max` bytes (no more is read), its newline taken off.
pub fn read_line_at_most(r: impl BufRead, max: usize) -> Result<String, String> {
    let mut line = String::new();
    r.take(max as u64 + 1)
        .read_line(&mut line)
        .map_err(|e| format!("cannot read: {e}"))?;
    match line.strip_suffix('\n') {
        Some(l) => Ok(l.to_owned()),
        None => Err(format!("not one line of at most {max} bytes")),
    }
}

/// `s` with its control characters escaped: what the other side says, fit to print (a
/// newline or a terminal's escape sequence in it would forge the output it is printed in).
pub fn printable(s: &str) -> String {
    s.chars()
        .flat_map(|c| {
            let escaped: Vec<char> = if c.is_control() {
                c.escape_default().collect()
            } else {
                vec![c]
            };
            escaped
        })
        .collect()
}

/// Whether `s` is a container's name (a DNS label, as Kubernetes wants) or a runtime's word for
/// its state (a short lowercase word): the host prints both.
fn check_status(c: &ContainerStatus) -> Result<(), String> {
    let label = !c.name.is_empty()
        && c.name.len() <= 63
        && c.name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    let state = !c.state.is_empty()
        && c.state.len() <= 32
        && c.state.bytes().all(|b| b.is_ascii_lowercase());
    if label && state {
        Ok(())
    } else {
        Err(format!(
            "container {:?} in state {:?}: not a container's name and state",
            printable(&c.name),
            printable(&c.state)
        ))
    }
}

/// Reads a request line, with the checks the agent makes before acting on it.
pub fn read_request(line: &str) -> Result<Request, String> {
    let r: Request = serde_json::from_str(line).map_err(|e| format!("bad request: {e}"))?;
    match &r {
        Request::Apply {
            link_id: Some(0), ..
        } => return Err("link number 0: no link has it".into()),
        Request::Apply { pod, .. } | Request::Delete { pod } => check_pod_name(pod)?,
        Request::Capacity | Request::List => {}
    }
    Ok(r)
}

/// Reads a reply line, with the checks the host makes of what the agent says.
pub fn read_reply(line: &str) -> Result<Reply, String> {
    let r: Reply = serde_json::from_str(line).map_err(|e| format!("bad reply: {e}"))?;
    if let Reply::Pods(pods) = &r {
        for p in pods {
            check_pod_name(&p.pod)?;
            p.containers.iter().try_for_each(check_status)?;
        }
    }
    Ok(r)
}

/// The room left: `total` less what the pods already there request, never below nothing.
pub fn room(total: Capacity, taken: impl IntoIterator<Item = Capacity>) -> Capacity {
    taken.into_iter().fold(total, |left, t| Capacity {
        cpu_millis: left.cpu_millis.saturating_sub(t.cpu_millis),
        mem_bytes: left.mem_bytes.saturating_sub(t.mem_bytes),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[test]
    fn requests_round_trip() {
        let reqs = [
            Request::Capacity,
            Request::List,
            Request::Delete { pod: "web".into() },
            Request::Apply {
                pod: "web-1".into(),
                address: "10.244.1.5/24".parse().expect("address"),
                manifest: "kind: Pod\n".into(),
                link_id: None,
            },
            Request::Apply {
                pod: "web-2".into(),
                address: "10.244.1.6/24".parse().expect("address"),
                manifest: "kind: Pod\n".into(),
                link_id: Some(0x0a0b_0c0d),
            },
        ];
        for r in reqs {
            let line = serde_json::to_string(&r).expect("serialize");
            assert!(!line.contains('\n'), "one line: {line}");
            assert_eq!(read_request(&line), Ok(r));
        }
    }

    #[test]
    fn replies_round_trip() {
        let replies = [
            Reply::Done,
            Reply::Error("no".into()),
            Reply::Capacity(Capacity {
                cpu_millis: 2000,
                mem_bytes: 1 << 30,
            }),
            Reply::Pods(vec![PodStatus {
                pod: "web".into(),
                address: "10.244.1.5/24".parse().expect("address"),
                state: HalfState::Degraded,
                containers: vec![ContainerStatus {
                    name: "envoy".into(),
                    state: "exited".into(),
                }],
            }]),
        ];
        for r in replies {
            let line = serde_json::to_string(&r).expect("serialize");
            assert_eq!(read_reply(&line), Ok(r));
        }
    }

    #[rstest]
    #[case::not_json("apply")]
    #[case::unknown_op(r#"{"op":"exec","pod":"web"}"#)]
    #[case::unknown_field(r#"{"op":"delete","pod":"web","force":true}"#)]
    #[case::path_as_name(r#"{"op":"delete","pod":"../etc"}"#)]
    #[case::upper_case(r#"{"op":"delete","pod":"Web"}"#)]
    #[case::empty_name(r#"{"op":"delete","pod":""}"#)]
    #[case::dash_first(r#"{"op":"delete","pod":"-web"}"#)]
    #[case::no_prefix(r#"{"op":"apply","pod":"web","address":"10.0.0.1","manifest":""}"#)]
    #[case::prefix_33(r#"{"op":"apply","pod":"web","address":"10.0.0.1/33","manifest":""}"#)]
    #[case::loopback(r#"{"op":"apply","pod":"web","address":"127.0.0.1/8","manifest":""}"#)]
    #[case::no_manifest(r#"{"op":"apply","pod":"web","address":"10.0.0.1/24"}"#)]
    #[case::link_0(
        r#"{"op":"apply","pod":"web","address":"10.0.0.1/24","manifest":"","link_id":0}"#
    )]
    #[case::link_negative(
        r#"{"op":"apply","pod":"web","address":"10.0.0.1/24","manifest":"","link_id":-1}"#
    )]
    fn bad_requests_refused(#[case] line: &str) {
        assert!(read_request(line).is_err(), "took {line}");
    }

    #[test]
    fn bad_replies_refused() {
        assert!(read_reply(
            r#"{"pods":[{"pod":"a/b","address":"10.0.0.1/24","state":"running","containers":[]}]}"#
        )
        .is_err());
        assert!(read_reply(
            r#"{"pods":[{"pod":"a","address":"10.0.0.1/24","state":"sleeping","containers":[]}]}"#
        )
        .is_err());
        assert!(read_reply(r#""maybe""#).is_err());
        // What the host prints must be names and states, not a terminal's escapes.
        for (name, state) in [
            ("a\u{1b}[2J", "running"),
            ("envoy", "up\nweb host"),
            ("", "running"),
            ("Envoy", "running"),
        ] {
            let line = format!(
                r#"{{"pods":[{{"pod":"a","address":"10.0.0.1/24","state":"running","containers":[{{"name":{},"state":{}}}]}}]}}"#,
                serde_json::to_string(name).expect("json"),
                serde_json::to_string(state).expect("json")
            );
            assert!(read_reply(&line).is_err(), "took {line}");
        }
    }

    #[test]
    fn lines_are_bounded_and_printable() {
        assert_eq!(read_line(&b"{}\nmore"[..]), Ok("{}".to_owned()));
        assert!(read_line(&b"{}"[..]).is_err(), "no newline");
        let long = vec![b'x'; MAX_LINE + 10];
        assert!(read_line(&long[..]).is_err());
        assert_eq!(printable("ok\u{1b}[2J\n"), "ok\\u{1b}[2J\\n");
    }

    #[rstest]
    #[case("web", true)]
    #[case("web.default.pod-1", true)]
    #[case("a", true)]
    #[case("web.", false)]
    #[case("we_b", false)]
    #[case("web-", false)]
    fn pod_names(#[case] name: &str, #[case] ok: bool) {
        assert_eq!(check_pod_name(name).is_ok(), ok, "{name}");
        let long = "a".repeat(64);
        assert!(check_pod_name(&long).is_err());
    }

    #[test]
    fn room_is_what_is_left() {
        let total = Capacity {
            cpu_millis: 2000,
            mem_bytes: 1000,
        };
        let taken = [
            Capacity {
                cpu_millis: 500,
                mem_bytes: 400,
            },
            Capacity {
                cpu_millis: 2000,
                mem_bytes: 100,
            },
        ];
        assert_eq!(
            room(total, taken),
            Capacity {
                cpu_millis: 0,
                mem_bytes: 500
            }
        );
        assert_eq!(room(total, []), total);
    }
}

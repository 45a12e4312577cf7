// SPDX-License-Identifier: GPL-2.0

//! `xpuctl pod apply | delete | list`: a pod across this node's host and its DPU. The host
//! half runs here under podman, on the CNI network whose plugin is xpu-cni's host half; the
//! DPU half is the DPU agent's (dpu-fw/agent), asked over the node's control link
//! (`xpu_pod::node`), which starts it at the host half's address, so that xpu-cni on each
//! side makes one split pod of the two.

use std::{
    collections::BTreeMap,
    fs::OpenOptions,
    io::{BufReader, Write},
    net::{IpAddr, SocketAddr, TcpStream, ToSocketAddrs},
    os::unix::fs::OpenOptionsExt,
    path::PathBuf,
    process::Command,
    time::Duration,
};

use serde_json::Value;
use xpu_pod::{
    auth::{Hello, Key, Proof, MAX_PROOF_LINE},
    cni::shown_link_id,
    manifest::{self, PodManifest},
    node::{
        check_pod_name, printable, read_line, read_line_at_most, read_reply, Capacity, HalfState,
        PodAddress, PodStatus, Reply, Request, AGENT_PORT,
    },
    plan::{plan, Limits, Plan},
    podman::{failure, half_state, inspect_infra, pods},
    usage::{set_requests, Usage},
};

use crate::link::{err, Error};

/// The DPU agent's address on the control link when none is given: the DPU's end of it
/// (BlueField's management link over PCIe, tmfifo_net0, has its DPU at 192.168.100.2 too).
pub(crate) const DEFAULT_AGENT: &str = "192.168.100.2";
/// The CNI network of the host halves when none is given.
pub(crate) const DEFAULT_NETWORK: &str = "xpu-host";
/// How long the agent may take to answer: making a half starts its containers, which under
/// the lab's emulated CPUs takes tens of seconds.
const AGENT_TIMEOUT: Duration = Duration::from_secs(300);
/// How long the agent may take to open the exchange (it does at once).
const HELLO_TIMEOUT: Duration = Duration::from_secs(10);

/// Runs `podman ARGS`; its stdout, or what it said went wrong.
pub(crate) fn podman(args: &[&str]) -> Result<String, Error> {
    let out = Command::new("podman")
        .args(args)
        .output()
        .map_err(|e| err(format!("cannot run podman: {e}")))?;
    if out.status.success() {
        return Ok(String::from_utf8_lossy(&out.stdout).into_owned());
    }
    Err(err(failure(args, &out.status.to_string(), &out.stderr)))
}

/// The DPU agent as the command line names it: where (`HOST[:PORT]`) and the node's key.
pub(crate) struct AgentAt {
    pub(crate) addr: String,
    pub(crate) key_file: PathBuf,
}

/// The DPU agent to ask: its address and the node's key, which proves the host's requests.
struct Agent {
    addr: SocketAddr,
    key: Key,
}

impl Agent {
    fn new(at: &AgentAt) -> Result<Self, Error> {
        Ok(Agent {
            addr: agent_addr(&at.addr)?,
            key: Key::from_file(&at.key_file).map_err(err)?,
        })
    }
}

/// The agent's address: `HOST[:PORT]`, the port [`AGENT_PORT`] by default.
fn agent_addr(agent: &str) -> Result<SocketAddr, Error> {
    // An address alone (IPv4 or IPv6) or a name takes the agent's port; one with a port
    // (10.0.0.1:99, [fe80::1]:99, name:99) keeps it.
    let with_port = if let Ok(ip) = agent.parse::<IpAddr>() {
        SocketAddr::new(ip, AGENT_PORT).to_string()
    } else if agent.contains(':') {
        agent.to_owned()
    } else {
        format!("{agent}:{AGENT_PORT}")
    };
    with_port
        .to_socket_addrs()
        .ok()
        .and_then(|mut a| a.next())
        .ok_or_else(|| err(format!("--agent {agent}: not an address")))
}

/// Asks the DPU agent; its answer, a refusal (`Reply::Error`) among them. An error here is
/// the exchange's: the agent may or may not have acted on the request.
fn ask_raw(agent: &Agent, req: &Request) -> Result<Reply, Error> {
    let fail = |what: &str, e: &dyn std::fmt::Display| {
        err(format!("the DPU agent at {}: {what}: {e}", agent.addr))
    };
    let stream = TcpStream::connect_timeout(&agent.addr, Duration::from_secs(5))
        .map_err(|e| fail("cannot connect", &e))?;
    // The agent speaks first, at once: the nonce this request's proof is for.
    stream
        .set_read_timeout(Some(HELLO_TIMEOUT))
        .map_err(|e| fail("socket", &e))?;
    let mut reader = BufReader::new(&stream);
    let hello = read_line_at_most(&mut reader, MAX_PROOF_LINE).map_err(|e| fail("hello", &e))?;
    let nonce = serde_json::from_str::<Hello>(&hello)
        .ok()
        .and_then(|h| h.nonce())
        .ok_or_else(|| fail("hello", &format!("not a nonce: {}", printable(&hello))))?;
    let line = serde_json::to_string(req).map_err(|e| fail("request", &e))?;
    let proof =
        serde_json::to_string(&agent.key.prove(&nonce, &line)).map_err(|e| fail("request", &e))?;
    (&stream)
        .write_all(format!("{line}\n{proof}\n").as_bytes())
        .map_err(|e| fail("cannot send", &e))?;
    stream
        .set_read_timeout(Some(AGENT_TIMEOUT))
        .map_err(|e| fail("socket", &e))?;
    let answer = read_line(&mut reader).map_err(|e| fail("answer", &e))?;
    // The answer counts only with the agent's proof: a process of the DPU that took the
    // agent's port has no key.
    let read_proof = read_line_at_most(&mut reader, MAX_PROOF_LINE)
        .ok()
        .and_then(|p| serde_json::from_str::<Proof>(&p).ok());
    let proved = read_proof
        .as_ref()
        .is_some_and(|p| agent.key.verify_reply(&nonce, &line, &answer, p));
    if !proved {
        // An agent that could not read the request proves its answer to none.
        let unread = read_proof
            .as_ref()
            .is_some_and(|p| agent.key.verify_reply(&nonce, "", &answer, p));
        let why = if unread {
            "it could not read the request"
        } else {
            "its proof does not hold (not this node's key?)"
        };
        return Err(fail(
            "answer",
            &format!("{why}: it said {}", printable(&answer)),
        ));
    }
    read_reply(&answer).map_err(|e| fail("answer", &printable(&e)))
}

/// Asks the DPU agent; its answer, a refusal made an error.
fn ask(agent: &Agent, req: &Request) -> Result<Reply, Error> {
    match ask_raw(agent, req)? {
        Reply::Error(e) => Err(err(format!("the DPU: {}", printable(&e)))),
        r => Ok(r),
    }
}

/// The pod's address on `network`, as podman has it from the CNI result of its infra
/// container.
fn pod_address(pod: &str, network: &str) -> Result<PodAddress, Error> {
    let nets = inspect_infra(pod, "{{json .NetworkSettings.Networks}}", podman)?;
    let nets: BTreeMap<String, Value> = serde_json::from_str(nets.trim())
        .map_err(|e| err(format!("pod {pod}: podman's networks: {e}")))?;
    let net = nets
        .get(network)
        .ok_or_else(|| err(format!("pod {pod}: not on network {network}")))?;
    let ip = net.get("IPAddress").and_then(Value::as_str).unwrap_or("");
    let prefix = net.get("IPPrefixLen").and_then(Value::as_u64).unwrap_or(0);
    format!("{ip}/{prefix}")
        .parse()
        .map_err(|e| err(format!("pod {pod}: {e}")))
}

/// What `pod apply` decided: the plan, and each half's manifest.
struct Halves {
    plan: Plan,
    host: String,
    dpu: String,
}

/// Splits `m` by the planner within `room`: the application on the host, what may move on
/// the DPU as far as it has room. A pod needs both halves.
fn halves(m: &PodManifest, room: Capacity, crossing_us: u64) -> Result<Halves, Error> {
    let limits = Limits {
        dpu_cpu_millis: room.cpu_millis,
        dpu_mem_bytes: room.mem_bytes,
        latency_budget_us: m.latency_budget_us.unwrap_or(u64::MAX),
        crossing_us,
    };
    let p = plan(&m.containers, &limits).map_err(|e| err(format!("pod {}: {e}", m.name)))?;
    let (host, dpu) = manifest::split(m, &p);
    let yaml = |half: Option<_>, side: &str| {
        let half = half.ok_or_else(|| {
            err(format!(
                "pod {}: no container of it runs on the {side}, and a split pod needs both halves \
                 (see `xpuctl pod plan`)",
                m.name
            ))
        })?;
        manifest::to_yaml(&half).map_err(|e| err(format!("pod {}: {e}", m.name)))
    };
    Ok(Halves {
        host: yaml(host, "host")?,
        dpu: yaml(dpu, "DPU")?,
        plan: p,
    })
}

pub(crate) struct Apply {
    pub(crate) file: PathBuf,
    pub(crate) text: String,
    pub(crate) agent: AgentAt,
    pub(crate) network: String,
    pub(crate) room: Option<Capacity>,
    pub(crate) crossing_us: u64,
    /// What a trial run used: the requests of the containers it names.
    pub(crate) usage: Option<Usage>,
}

/// `pod apply`: the host half here, then the DPU half by the agent; a half that fails undoes
/// the other.
pub(crate) fn apply(a: Apply) -> Result<(), Error> {
    let mut m = manifest::read(&a.text).map_err(|e| err(format!("{}: {e}", a.file.display())))?;
    // The name goes to podman's command lines and a file's name: a name, nothing else.
    check_pod_name(&m.name).map_err(err)?;
    if podman(&["pod", "exists", "--", &m.name]).is_ok() {
        return Err(err(format!(
            "pod {} is already on this host: `xpuctl pod delete {}` first",
            m.name, m.name
        )));
    }
    if let Some(u) = &a.usage {
        let taken = set_requests(&mut m, u).map_err(|e| err(format!("--usage: {e}")))?;
        println!(
            "pod {}: requests from the measured use: {}",
            m.name,
            taken.join(", ")
        );
    }
    let agent = Agent::new(&a.agent)?;
    let room = match a.room {
        Some(r) => r,
        None => match ask(&agent, &Request::Capacity)? {
            Reply::Capacity(c) => c,
            r => return Err(err(format!("the DPU agent answered {r:?} to capacity"))),
        },
    };
    let h = halves(&m, room, a.crossing_us)?;
    let played = play_host_half(&m.name, &h.host, &a.network);
    let undo_host = || {
        podman(&[
            "pod", "rm", "--force", "--ignore", "--time", "0", "--", &m.name,
        ])
    };
    let host_half =
        played.and_then(|()| Ok((pod_address(&m.name, &a.network)?, pod_link_id(&m.name)?)));
    let (address, link_id) = match host_half {
        Ok(h) => h,
        Err(e) => {
            let _ = undo_host();
            return Err(err(format!("pod {}: the host half: {e}", m.name)));
        }
    };
    let req = Request::Apply {
        pod: m.name.clone(),
        address,
        manifest: h.dpu,
        link_id,
    };
    let failed = match ask_raw(&agent, &req) {
        Ok(Reply::Done) => None,
        Ok(Reply::Error(e)) => Some(format!("the DPU refused it: {}", printable(&e))),
        Ok(r) => Some(format!("the DPU agent answered {r:?}")),
        // The agent may have made the half before the exchange broke: it is asked to remove
        // it (a delete of a half it does not have is done at once).
        Err(e) => {
            let removed = match ask(
                &agent,
                &Request::Delete {
                    pod: m.name.clone(),
                },
            ) {
                Ok(_) => "the DPU half, if any, is removed",
                Err(_) => "a DPU half may remain (`xpuctl pod delete` removes it)",
            };
            Some(format!("{e}; {removed}"))
        }
    };
    if let Some(why) = failed {
        let undone = match undo_host() {
            Ok(_) => "the host half is removed".to_owned(),
            Err(u) => format!("the host half could not be removed: {u}"),
        };
        return Err(err(format!(
            "pod {}: the DPU half: {why}; {undone}",
            m.name
        )));
    }
    let side = |s| {
        h.plan
            .placements
            .iter()
            .filter(|p| p.side == s)
            .map(|p| p.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    println!(
        "pod {} at {address}: host {}; DPU {} (frees {}m of host CPU)",
        m.name,
        side(xpu_pod::plan::Side::Host),
        side(xpu_pod::plan::Side::Dpu),
        h.plan.freed_cpu_millis
    );
    Ok(())
}

/// The number of the link the host half of `pod` is split over, as `xpuctl splitns show` in
/// the pod's namespace says: the DPU half must take the other end of that link.
/// A link without a number (the host's xpu.ko older than the numbers, and then no link of the
/// node shows one) gives none: the DPU half then takes the DPU's first free link, as before the
/// numbers, which pairs the halves when the node has one pod link.
fn pod_link_id(pod: &str) -> Result<Option<u32>, Error> {
    let netns = inspect_infra(pod, "{{.NetworkSettings.SandboxKey}}", podman)?;
    let me = std::env::current_exe().map_err(|e| err(format!("cannot find xpuctl itself: {e}")))?;
    let out = Command::new("nsenter")
        .arg(format!("--net={}", netns.trim()))
        .arg(me)
        .args(["splitns", "show", "--json"])
        .output()
        .map_err(|e| err(format!("cannot run nsenter: {e}")))?;
    let shown = String::from_utf8_lossy(&out.stdout);
    let split = serde_json::from_str::<Value>(shown.trim()).is_ok_and(|v| v.is_object());
    if !split {
        let said = String::from_utf8_lossy(&out.stderr);
        let why = if said.trim().is_empty() {
            "not split".into()
        } else {
            printable(said.trim())
        };
        return Err(err(format!("pod {pod}: its namespace here: {why}")));
    }
    let id = shown_link_id(&shown);
    if id.is_none() {
        eprintln!(
            "xpuctl: pod {pod}: its link shows no number (xpu.ko older than protocol minor 3?): \
             the DPU half takes the DPU's first free link, its other end if the node has one \
             pod link only"
        );
    }
    Ok(id)
}

/// Starts the host half (`podman kube play`) from `manifest`, through a file of its own
/// (made anew, readable by root only: the name is predictable).
fn play_host_half(pod: &str, manifest: &str, network: &str) -> Result<(), Error> {
    let file = std::env::temp_dir().join(format!("xpuctl-pod-{pod}-{}.yaml", std::process::id()));
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&file)
        .and_then(|mut f| f.write_all(manifest.as_bytes()))
        .map_err(|e| err(format!("cannot write {}: {e}", file.display())))?;
    let path = file.to_string_lossy().into_owned();
    let played = podman(&["kube", "play", "--network", network, "--", &path]);
    let _ = std::fs::remove_file(&file);
    played.map(|_| ())
}

/// `pod delete`: the DPU half, then the host half; done also for a half already gone. The
/// host half goes even when the DPU cannot be reached, and the error says what is left.
pub(crate) fn delete(pod: &str, agent: &AgentAt, network: &str) -> Result<(), Error> {
    check_pod_name(pod).map_err(err)?;
    // An address that does not parse, or a key file that cannot be read or is not its
    // owner's, is this host's to put right: nothing goes (else the host half would go and the
    // DPU half be left to the agent's reaper, which is what a key that is not the node's does).
    let agent = Agent::new(agent)?;
    // Only a pod of the split network is this command's to remove: looked at before anything
    // goes.
    let mine = host_pods(network)?.iter().any(|(p, _)| p == pod);
    if !mine && podman(&["pod", "exists", "--", pod]).is_ok() {
        return Err(err(format!(
            "pod {pod} is not on network {network}: not xpuctl's to delete"
        )));
    }
    let dpu = ask(
        &agent,
        &Request::Delete {
            pod: pod.to_owned(),
        },
    );
    podman(&["pod", "rm", "--force", "--ignore", "--time", "0", "--", pod])?;
    dpu.map(|_| ()).map_err(|e| {
        err(format!(
            "pod {pod}: the host half is removed; the DPU half may remain: {e}"
        ))
    })
}

/// The host's pods on `network`, with their containers.
fn host_pods(network: &str) -> Result<Vec<(String, Vec<xpu_pod::node::ContainerStatus>)>, Error> {
    Ok(pods(&podman(&["pod", "ps", "--format", "json"])?)
        .map_err(err)?
        .into_iter()
        .filter(|p| p.networks.iter().any(|n| n == network))
        .map(|p| (p.name, p.containers))
        .collect())
}

/// One line of `pod list`: a container, its pod and side and state (`half` none: the DPU did
/// not answer, so its half is not known).
#[derive(Debug, PartialEq, Eq)]
struct Row {
    pod: String,
    side: &'static str,
    half: Option<HalfState>,
    container: String,
    state: String,
}

/// The rows of `pod list` from the host's pods and the DPU's halves (none: the DPU did not
/// answer): a pod whose other half is missing shows that half lost, or not known.
fn rows(
    host: &[(String, Vec<xpu_pod::node::ContainerStatus>)],
    dpu: Option<&[PodStatus]>,
) -> Vec<Row> {
    let mut names: Vec<&str> = host
        .iter()
        .map(|(p, _)| p.as_str())
        .chain(dpu.unwrap_or_default().iter().map(|d| d.pod.as_str()))
        .collect();
    names.sort_unstable();
    names.dedup();
    let mut out = Vec::new();
    for pod in names {
        let host_half = host
            .iter()
            .find(|(p, _)| p == pod)
            .map(|(_, c)| c.clone())
            .unwrap_or_default();
        let dpu_half = dpu.map(|d| {
            d.iter()
                .find(|d| d.pod == pod)
                .map(|d| d.containers.clone())
                .unwrap_or_default()
        });
        for (side, containers) in [("host", Some(host_half)), ("dpu", dpu_half)] {
            let half = containers.as_deref().map(half_state);
            let containers = containers.unwrap_or_default();
            if containers.is_empty() {
                out.push(Row {
                    pod: pod.to_owned(),
                    side,
                    half,
                    container: "-".to_owned(),
                    state: "-".to_owned(),
                });
            }
            for c in containers {
                out.push(Row {
                    pod: pod.to_owned(),
                    side,
                    half,
                    container: c.name,
                    state: c.state,
                });
            }
        }
    }
    out
}

/// `pod list`: every split pod of this node, each container with its side and state. When
/// the DPU does not answer, the host's halves are listed all the same, the DPU's as unknown,
/// and the command fails with why.
pub(crate) fn list(agent: &AgentAt, network: &str, json: bool) -> Result<(), Error> {
    let host = host_pods(network)?;
    let dpu = Agent::new(agent).and_then(|a| match ask(&a, &Request::List)? {
        Reply::Pods(p) => Ok(p),
        r => Err(err(format!("the DPU agent answered {r:?} to list"))),
    });
    let rows = rows(&host, dpu.as_deref().ok());
    let half_name = |h: Option<HalfState>| {
        h.and_then(|h| serde_json::to_value(h).ok())
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_else(|| "unknown".to_owned())
    };
    if json {
        let v: Vec<Value> = rows
            .iter()
            .map(|r| {
                serde_json::json!({
                    "pod": r.pod, "side": r.side, "half": half_name(r.half),
                    "container": r.container, "state": r.state,
                })
            })
            .collect();
        println!("{}", Value::Array(v));
    } else {
        println!(
            "{:24} {:5} {:9} {:20} STATE",
            "POD", "SIDE", "HALF", "CONTAINER"
        );
        for r in rows {
            println!(
                "{:24} {:5} {:9} {:20} {}",
                r.pod,
                r.side,
                half_name(r.half),
                r.container,
                r.state
            );
        }
    }
    dpu.map(|_| ())
        .map_err(|e| err(format!("the DPU's halves are not known: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use xpu_pod::node::ContainerStatus;

    fn c(name: &str, state: &str) -> ContainerStatus {
        ContainerStatus {
            name: name.into(),
            state: state.into(),
        }
    }

    #[test]
    fn a_missing_half_shows_lost() {
        let host = vec![
            ("web".to_owned(), vec![c("app", "running")]),
            ("orphan".to_owned(), vec![c("app", "running")]),
        ];
        let dpu = vec![PodStatus {
            pod: "web".into(),
            address: "10.244.1.5/24".parse().expect("address"),
            state: HalfState::Degraded,
            containers: vec![c("envoy", "running"), c("metrics", "exited")],
        }];
        let brief = |r: &[Row]| -> Vec<(String, &'static str, Option<HalfState>, String)> {
            r.iter()
                .map(|r| (r.pod.clone(), r.side, r.half, r.container.clone()))
                .collect()
        };
        let s = |x: &str| x.to_owned();
        assert_eq!(
            brief(&rows(&host, Some(dpu.as_slice()))),
            [
                (s("orphan"), "host", Some(HalfState::Running), s("app")),
                (s("orphan"), "dpu", Some(HalfState::Lost), s("-")),
                (s("web"), "host", Some(HalfState::Running), s("app")),
                (s("web"), "dpu", Some(HalfState::Degraded), s("envoy")),
                (s("web"), "dpu", Some(HalfState::Degraded), s("metrics")),
            ]
        );
        // The DPU did not answer: its halves are not known, not lost.
        assert_eq!(
            brief(&rows(&host, None)),
            [
                (s("orphan"), "host", Some(HalfState::Running), s("app")),
                (s("orphan"), "dpu", None, s("-")),
                (s("web"), "host", Some(HalfState::Running), s("app")),
                (s("web"), "dpu", None, s("-")),
            ]
        );
    }

    #[test]
    fn halves_need_both_sides() {
        let m = manifest::read(
            "kind: Pod
metadata: {name: web}
spec:
  containers:
  - {name: app, resources: {requests: {cpu: 500m}}}
  - {name: istio-proxy, resources: {requests: {cpu: '1', memory: 128Mi}}}
",
        )
        .expect("a pod");
        let room = Capacity {
            cpu_millis: 2000,
            mem_bytes: 1 << 30,
        };
        let h = halves(&m, room, 5).expect("halves");
        assert!(h.host.contains("name: app") && !h.host.contains("istio-proxy"));
        assert!(h.dpu.contains("name: istio-proxy") && !h.dpu.contains("name: app"));
        // No room on the DPU: nothing moves, and there is no pod to split.
        let none = Capacity {
            cpu_millis: 0,
            mem_bytes: 0,
        };
        let e = halves(&m, none, 5).err().expect("refused").to_string();
        assert!(e.contains("no container of it runs on the DPU"), "{e}");
    }

    #[test]
    fn agent_addresses() {
        assert_eq!(
            agent_addr("192.168.100.2").expect("addr").to_string(),
            "192.168.100.2:7780"
        );
        assert_eq!(
            agent_addr("10.0.0.1:99").expect("addr").to_string(),
            "10.0.0.1:99"
        );
        assert!(agent_addr("not an address").is_err());
    }
}

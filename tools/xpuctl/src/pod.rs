// SPDX-License-Identifier: GPL-2.0

//! `xpuctl pod`: a Kubernetes pod's containers across the host and the DPU (HeteroK8s).
//! `plan` prints where the offload planner puts each container of a Pod manifest, and why
//! (the manifest's annotations and the planner: the `xpu-pod` crate), from the containers'
//! requests or from the requests what `measure` saw them use makes (`pod_usage`, with
//! `xpu_pod::usage`'s margin); `apply`, `delete` and `list`
//! run pods across the host and the DPU (`pod_node`).

use std::{
    fs,
    path::{Path, PathBuf},
};

use clap::{Args, Subcommand};
use xpu_pod::{
    auth::DEFAULT_KEY_FILE,
    manifest,
    node::Capacity,
    plan::{plan, Limits, Plan},
    quantity, usage,
};

use crate::{
    json_escape,
    link::{err, Error},
    pod_node, pod_usage,
};

#[derive(Subcommand)]
pub(crate) enum PodCommand {
    /// Where each container of a Pod manifest runs (host or DPU), and why: the placement that
    /// frees the most host CPU within the DPU's room and the pod's latency budget
    Plan {
        /// The Pod manifest (YAML or JSON; `-` for stdin)
        file: PathBuf,
        /// DPU CPU free for the pod, a Kubernetes quantity (2, 1500m)
        #[arg(long)]
        dpu_cpu: String,
        /// DPU memory free for the pod, a Kubernetes quantity (1Gi, 512Mi)
        #[arg(long)]
        dpu_memory: String,
        /// What one crossing of the link costs, in microseconds, one way (half the round trip
        /// `make bench-link` measures)
        #[arg(long, default_value_t = 5)]
        crossing_us: u64,
        /// What a trial run of the pod used (`pod measure --json`): the containers it names
        /// are planned from it rather than from their requests
        #[arg(long, value_name = "FILE")]
        usage: Option<PathBuf>,
        /// Print JSON
        #[arg(long)]
        json: bool,
    },
    /// What a pod's containers use, from their cgroups, over a trial run of the pod under this
    /// node's podman: CPU (millicores) and the most memory each held, for `plan --usage`
    Measure {
        /// The pod's name
        name: String,
        /// How long to measure, seconds
        #[arg(long, default_value_t = 10)]
        seconds: u64,
        /// Print JSON (what `plan --usage` reads)
        #[arg(long)]
        json: bool,
    },
    /// Runs a Pod manifest split across this host and its DPU: the host's containers here
    /// under podman, the DPU's by the DPU agent, one split pod of the two (xpu-cni on each
    /// side)
    Apply {
        /// The Pod manifest (YAML or JSON; `-` for stdin)
        file: PathBuf,
        #[command(flatten)]
        node: Node,
        /// DPU CPU free for the pod (default: what the agent says the DPU has left)
        #[arg(long, requires = "dpu_memory")]
        dpu_cpu: Option<String>,
        /// DPU memory free for the pod (default: what the agent says the DPU has left)
        #[arg(long, requires = "dpu_cpu")]
        dpu_memory: Option<String>,
        /// What one crossing of the link costs, in microseconds, one way
        #[arg(long, default_value_t = 5)]
        crossing_us: u64,
        /// What a trial run of the pod used (`pod measure --json`): the containers it names get
        /// it as their requests, with a margin, as the Vertical Pod Autoscaler sets them, and
        /// are planned and counted by it
        #[arg(long, value_name = "FILE")]
        usage: Option<PathBuf>,
    },
    /// Removes a pod from both sides: its containers, namespaces and link (done also when a
    /// half is already gone)
    Delete {
        /// The pod's name
        name: String,
        #[command(flatten)]
        node: Node,
    },
    /// The split pods of this node: each container, its side and its state
    List {
        #[command(flatten)]
        node: Node,
        /// Print JSON
        #[arg(long)]
        json: bool,
    },
}

/// Where this node's pods live: the DPU agent and the host halves' network.
#[derive(Args)]
pub(crate) struct Node {
    /// The DPU agent, on the node's control link: ADDRESS[:PORT]
    #[arg(long, default_value = pod_node::DEFAULT_AGENT)]
    agent: String,
    /// The node's key, which the host's requests to the agent prove they come from (a file
    /// only its owner reads; the same on the DPU, the agent's --key)
    #[arg(long, value_name = "FILE", default_value = DEFAULT_KEY_FILE)]
    key: PathBuf,
    /// The CNI network of the host halves (xpu-cni, `"half": "host"`)
    #[arg(long, default_value = pod_node::DEFAULT_NETWORK)]
    network: String,
}

impl Node {
    fn agent_at(&self) -> pod_node::AgentAt {
        pod_node::AgentAt {
            addr: self.agent.clone(),
            key_file: self.key.clone(),
        }
    }
}

/// A manifest's text, from FILE or stdin (`-`).
fn read_text(file: &Path) -> Result<String, Error> {
    if file.as_os_str() == "-" {
        std::io::read_to_string(std::io::stdin())
    } else {
        fs::read_to_string(file)
    }
    .map_err(|e| err(format!("{}: {e}", file.display())))
}

pub(crate) fn run(cmd: PodCommand) -> Result<(), Error> {
    match cmd {
        PodCommand::Plan {
            file,
            dpu_cpu,
            dpu_memory,
            crossing_us,
            usage,
            json,
        } => {
            let text = read_text(&file)?;
            let mut m =
                manifest::read(&text).map_err(|e| err(format!("{}: {e}", file.display())))?;
            let measured = match usage {
                Some(f) => {
                    let u = pod_usage::read(&f)?;
                    // As `apply --usage` would make them: what is planned here is what runs.
                    usage::set_requests(&mut m, &u)
                        .map_err(|e| err(format!("{}: {e}", f.display())))?
                }
                None => Vec::new(),
            };
            let limits = Limits {
                dpu_cpu_millis: quantity::cpu_millis(&dpu_cpu)
                    .map_err(|e| err(format!("--dpu-cpu: {e}")))?,
                dpu_mem_bytes: quantity::bytes(&dpu_memory)
                    .map_err(|e| err(format!("--dpu-memory: {e}")))?,
                latency_budget_us: m.latency_budget_us.unwrap_or(u64::MAX),
                crossing_us,
            };
            let p =
                plan(&m.containers, &limits).map_err(|e| err(format!("pod {}: {e}", m.name)))?;
            if json {
                println!("{}", plan_json(&m, &p, &measured));
            } else {
                print!("{}", plan_text(&m, &p, &limits, &measured));
            }
            Ok(())
        }
        PodCommand::Measure {
            name,
            seconds,
            json,
        } => {
            let u = pod_usage::measure(&name, seconds)?;
            if json {
                println!(
                    "{}",
                    serde_json::to_string(&u).map_err(|e| err(e.to_string()))?
                );
            } else {
                print!("{}", pod_usage::usage_text(&u));
            }
            Ok(())
        }
        PodCommand::Apply {
            file,
            node,
            dpu_cpu,
            dpu_memory,
            crossing_us,
            usage,
        } => {
            let room = match (dpu_cpu, dpu_memory) {
                (Some(cpu), Some(mem)) => Some(Capacity {
                    cpu_millis: quantity::cpu_millis(&cpu)
                        .map_err(|e| err(format!("--dpu-cpu: {e}")))?,
                    mem_bytes: quantity::bytes(&mem)
                        .map_err(|e| err(format!("--dpu-memory: {e}")))?,
                }),
                _ => None,
            };
            pod_node::apply(pod_node::Apply {
                text: read_text(&file)?,
                file,
                agent: node.agent_at(),
                network: node.network,
                room,
                crossing_us,
                usage: usage.map(|f| pod_usage::read(&f)).transpose()?,
            })
        }
        PodCommand::Delete { name, node } => {
            pod_node::delete(&name, &node.agent_at(), &node.network)
        }
        PodCommand::List { node, json } => pod_node::list(&node.agent_at(), &node.network, json),
    }
}

/// The plan as a table, with a line that sums it up; the CPU and memory of the `measured`
/// containers are the requests a trial run's use makes (with the margin), the others' what
/// they request.
fn plan_text(m: &manifest::PodManifest, p: &Plan, l: &Limits, measured: &[String]) -> String {
    let budget = match m.latency_budget_us {
        Some(b) => format!("budget {b} us"),
        None => "no budget".to_owned(),
    };
    let mut out = format!(
        "pod {}: frees {}m of host CPU; the DPU half takes {}m CPU and {} of the {}m and {} free; adds {} us per request ({budget})\n",
        m.name,
        p.freed_cpu_millis,
        p.dpu_cpu_millis,
        quantity::mebibytes(p.dpu_mem_bytes),
        l.dpu_cpu_millis,
        quantity::mebibytes(l.dpu_mem_bytes),
        p.added_latency_us,
    );
    out.push_str(&format!(
        "{:20} {:5} {:>7} {:>8} {:9} WHY\n",
        "CONTAINER", "SIDE", "CPU", "MEMORY", "FROM"
    ));
    for (pl, c) in p.placements.iter().zip(&m.containers) {
        let from = if measured.contains(&c.name) {
            "measured"
        } else {
            "requests"
        };
        out.push_str(&format!(
            "{:20} {:5} {:>6}m {:>8} {:9} {}\n",
            pl.name,
            pl.side.to_string(),
            c.cpu_millis,
            quantity::mebibytes(c.mem_bytes),
            from,
            pl.reason
        ));
    }
    out
}

fn plan_json(m: &manifest::PodManifest, p: &Plan, measured: &[String]) -> String {
    let containers: Vec<String> = p
        .placements
        .iter()
        .map(|pl| {
            format!(
                "{{\"name\":\"{}\",\"side\":\"{}\",\"measured\":{},\"why\":\"{}\"}}",
                json_escape(&pl.name),
                pl.side,
                measured.contains(&pl.name),
                json_escape(&pl.reason.to_string())
            )
        })
        .collect();
    format!(
        "{{\"pod\":\"{}\",\"freed_cpu_millis\":{},\"dpu_cpu_millis\":{},\"dpu_memory_bytes\":{},\"added_latency_us\":{},\"containers\":[{}]}}",
        json_escape(&m.name),
        p.freed_cpu_millis,
        p.dpu_cpu_millis,
        p.dpu_mem_bytes,
        p.added_latency_us,
        containers.join(",")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const POD: &str = "kind: Pod
metadata:
  name: web
  annotations: {role.xpu.dev/agent: infrastructure, crossings.xpu.dev/istio-proxy: '2'}
spec:
  containers:
  - {name: app, resources: {requests: {cpu: 500m, memory: 64Mi}}}
  - {name: istio-proxy, resources: {requests: {cpu: '1', memory: 128Mi}}}
  - {name: agent, resources: {requests: {cpu: 300m, memory: 32Mi}}}
";

    #[test]
    fn prints_the_choice_and_why() {
        let m = manifest::read(POD).expect("a pod");
        let l = Limits {
            dpu_cpu_millis: 1000,
            dpu_mem_bytes: 1 << 30,
            latency_budget_us: u64::MAX,
            crossing_us: 5,
        };
        let p = plan(&m.containers, &l).expect("a plan");
        let measured = vec!["istio-proxy".to_owned()];
        let text = plan_text(&m, &p, &l, &measured);
        assert!(
            text.starts_with("pod web: frees 1000m of host CPU;"),
            "{text}"
        );
        assert!(
            text.contains("adds 10 us per request (no budget)"),
            "{text}"
        );
        let line = |name: &str| {
            text.lines()
                .find(|l| l.starts_with(name))
                .unwrap_or_default()
                .to_owned()
        };
        assert!(
            line("app ").contains("host") && line("app ").contains("the application"),
            "{text}"
        );
        assert!(
            line("istio-proxy").contains(" dpu ") && line("istio-proxy").contains("frees 1000m"),
            "{text}"
        );
        assert!(
            line("agent").contains("host")
                && line("agent").contains("needs 300m of DPU CPU, 0m left"),
            "{text}"
        );
        assert!(line("istio-proxy").contains(" measured "), "{text}");
        assert!(line("app ").contains(" requests "), "{text}");
        let json = plan_json(&m, &p, &measured);
        assert!(
            json.contains(
                "{\"name\":\"istio-proxy\",\"side\":\"dpu\",\"measured\":true,\"why\":\"frees 1000m of host CPU\"}"
            ),
            "{json}"
        );
    }
}

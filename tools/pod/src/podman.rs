// SPDX-License-Identifier: GPL-2.0
//! What podman says about its pods (`podman pod ps --format json`), read into what a node's
//! sides report (`node::PodStatus`). No I/O: the host's xpuctl and the DPU's agent run podman.

use serde::Deserialize;

use crate::node::{ContainerStatus, HalfState};

/// A pod as its node's podman runs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuntimePod {
    pub name: String,
    /// The networks of its namespace (the CNI networks podman made it with).
    pub networks: Vec<String>,
    /// Its containers but the infra container, by their manifest's names.
    pub containers: Vec<ContainerStatus>,
    /// Their IDs, in the same order (what finds a container whatever its name).
    pub container_ids: Vec<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct PsPod {
    name: String,
    #[serde(default)]
    infra_id: String,
    #[serde(default)]
    networks: Option<Vec<String>>,
    #[serde(default)]
    containers: Option<Vec<PsContainer>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct PsContainer {
    id: String,
    names: String,
    status: String,
}

/// Reads `podman pod ps --format json`. `podman kube play` names a pod's containers
/// `POD-CONTAINER`; the manifest's name is what follows the pod's.
pub fn pods(json: &str) -> Result<Vec<RuntimePod>, String> {
    let ps: Option<Vec<PsPod>> =
        serde_json::from_str(json).map_err(|e| format!("podman pod ps: {e}"))?;
    Ok(ps
        .unwrap_or_default()
        .into_iter()
        .map(|p| {
            let prefix = format!("{}-", p.name);
            let (containers, container_ids) = p
                .containers
                .unwrap_or_default()
                .into_iter()
                .filter(|c| c.id != p.infra_id)
                .map(|c| {
                    let status = ContainerStatus {
                        name: c.names.strip_prefix(&prefix).unwrap_or(&c.names).to_owned(),
                        state: c.status.to_lowercase(),
                    };
                    (status, c.id)
                })
                .unzip();
            RuntimePod {
                name: p.name,
                networks: p.networks.unwrap_or_default(),
                containers,
                container_ids,
            }
        })
        .collect())
}

/// Inspects `pod`'s infra container, which holds the pod's namespaces and networks, with Go
/// template `format`; `run` runs podman with its arguments, as its caller does.
pub fn inspect_infra<E>(
    pod: &str,
    format: &str,
    run: impl Fn(&[&str]) -> Result<String, E>,
) -> Result<String, E> {
    let infra = run(&[
        "pod",
        "inspect",
        "--format",
        "{{.InfraContainerID}}",
        "--",
        pod,
    ])?;
    run(&[
        "container",
        "inspect",
        "--format",
        format,
        "--",
        infra.trim(),
    ])
}

/// What went wrong in `podman ARGS`, from its exit `status` and `stderr`: the command (its
/// subcommand's words) and the last lines it wrote, which say why (the rest is progress).
pub fn failure(args: &[&str], status: &str, stderr: &[u8]) -> String {
    let said = String::from_utf8_lossy(stderr);
    let mut tail: Vec<&str> = said.lines().rev().take(4).collect();
    tail.reverse();
    let words: Vec<&str> = args
        .iter()
        .copied()
        .take_while(|a| !a.starts_with('-'))
        .collect();
    format!(
        "podman {} failed ({status}): {}",
        words.join(" "),
        tail.join(" / ")
    )
}

/// A half's state from its containers'. A half with no container left is as good as gone.
pub fn half_state(containers: &[ContainerStatus]) -> HalfState {
    if containers.is_empty() {
        HalfState::Lost
    } else if containers.iter().all(|c| c.state == "running") {
        HalfState::Running
    } else {
        HalfState::Degraded
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Podman 4.3's output, trimmed.
    const PS: &str = r#"[
  {"Cgroup": "/libpod_parent", "Containers": [
     {"Id": "aaa", "Names": "5d1f-infra", "Status": "running"},
     {"Id": "bbb", "Names": "web-envoy", "Status": "running"},
     {"Id": "ccc", "Names": "web-metrics", "Status": "exited"}],
   "Id": "5d1f", "InfraId": "aaa", "Name": "web", "Networks": ["xpu-dpu"], "Status": "Degraded"},
  {"Containers": [{"Id": "ddd", "Names": "other", "Status": "Running"}],
   "Id": "77", "InfraId": "", "Name": "solo", "Networks": null, "Status": "Running"}
]"#;

    #[test]
    fn reads_pods_without_their_infra_containers() {
        let p = pods(PS).expect("parse");
        assert_eq!(p.len(), 2);
        assert_eq!(p[0].name, "web");
        assert_eq!(p[0].networks, ["xpu-dpu"]);
        let names: Vec<_> = p[0].containers.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["envoy", "metrics"]);
        assert_eq!(p[0].container_ids, ["bbb", "ccc"]);
        assert_eq!(half_state(&p[0].containers), HalfState::Degraded);
        // Not made by kube play: the name stays whole; states compare in lower case.
        assert_eq!(p[1].containers[0].name, "other");
        assert_eq!(half_state(&p[1].containers), HalfState::Running);
        assert!(p[1].networks.is_empty());
    }

    #[test]
    fn failures_say_the_command_and_why() {
        let e = failure(
            &["kube", "play", "--network", "n", "f.yaml"],
            "exit status: 125",
            b"Trying...\nError: no such image\n",
        );
        assert_eq!(
            e,
            "podman kube play failed (exit status: 125): Trying... / Error: no such image"
        );
    }

    #[test]
    fn no_pods() {
        assert_eq!(pods("[]"), Ok(vec![]));
        assert_eq!(pods("null"), Ok(vec![]));
        assert!(pods("{").is_err());
        assert_eq!(half_state(&[]), HalfState::Lost);
    }
}

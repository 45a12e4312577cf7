// SPDX-License-Identifier: GPL-2.0
//! A Kubernetes Pod manifest, read for the planner and split by its plan.
//!
//! What xpu reads from a Pod (per-container settings are pod annotations keyed by container,
//! as Kubernetes' own per-container annotations are, `<prefix>/<container>`):
//! - `placement.xpu.dev/<container>: host | dpu`: the user's placement, which the planner keeps;
//! - `role.xpu.dev/<container>: infrastructure | application`: whether it may move. Without one,
//!   a native sidecar (an init container with `restartPolicy: Always`) and a container named
//!   `istio-proxy` (Istio's injected sidecar) are infrastructure, any other is the application;
//! - init containers that are not sidecars run before the pod, in the half their placement
//!   annotation names (the host's by default);
//! - `crossings.xpu.dev/<container>: N`: link crossings it adds to a request on the DPU (a proxy
//!   in the request path: 2);
//! - `xpu.dev/latency-budget-us: N`: what the offload may add to a request (default: no limit);
//! - each container's `resources.requests` (or its `limits`, which Kubernetes takes for requests
//!   when only they are given): CPU and memory.
//!
//! An annotation naming no container of the pod, with a value that is none of these, or of
//! xpu's domain but none of these keys, is an error: a typo must not silently leave a sidecar
//! on the host. Quantities may be YAML numbers (`cpu: 1`), as Kubernetes takes them.

use std::{collections::BTreeMap, fmt};

use k8s_openapi::{
    api::core::v1::{Container as K8sContainer, Pod},
    apimachinery::pkg::api::resource::Quantity,
};

use crate::{
    plan::{Container, Plan, Role, Side},
    quantity,
};

/// Where the per-container annotations live.
pub const PLACEMENT: &str = "placement.xpu.dev/";
pub const ROLE: &str = "role.xpu.dev/";
pub const CROSSINGS: &str = "crossings.xpu.dev/";
pub const LATENCY_BUDGET: &str = "xpu.dev/latency-budget-us";

/// A manifest xpu cannot take, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestError(pub String);

impl fmt::Display for ManifestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ManifestError {}

fn err<T>(msg: impl Into<String>) -> Result<T, ManifestError> {
    Err(ManifestError(msg.into()))
}

/// A Pod manifest, as the planner needs it.
#[derive(Debug, Clone)]
pub struct PodManifest {
    pub pod: Pod,
    /// The pod's name.
    pub name: String,
    /// Its containers, in the manifest's order, then its native sidecars (init containers
    /// that keep running).
    pub containers: Vec<Container>,
    /// Its other init containers, and the half each runs in.
    pub init_sides: Vec<(String, Side)>,
    /// `xpu.dev/latency-budget-us`, if given.
    pub latency_budget_us: Option<u64>,
}

/// Kubernetes takes a quantity written as a YAML number (`cpu: 1`, `memory: 128974848`);
/// k8s-openapi's `Quantity` only a string. The numbers of every `resources` block (and the
/// pod's `overhead`) become the strings they are written as.
fn quantities_as_strings(v: &mut serde_yaml::Value) {
    use serde_yaml::Value;
    let stringify = |block: &mut Value| {
        if let Value::Mapping(m) = block {
            for (_, q) in m.iter_mut() {
                if let Value::Number(n) = q {
                    *q = Value::String(n.to_string());
                }
            }
        }
    };
    let Some(spec) = v.get_mut("spec") else {
        return;
    };
    if let Some(o) = spec.get_mut("overhead") {
        stringify(o);
    }
    for list in ["containers", "initContainers"] {
        if let Some(Value::Sequence(cs)) = spec.get_mut(list) {
            for c in cs {
                if let Some(r) = c.get_mut("resources") {
                    for block in ["requests", "limits"] {
                        if let Some(b) = r.get_mut(block) {
                            stringify(b);
                        }
                    }
                }
            }
        }
    }
}

/// Whether `key` is one of xpu's annotations in form; any other key of xpu's domain is a typo.
fn is_xpu_key(key: &str) -> bool {
    key == LATENCY_BUDGET
        || [PLACEMENT, ROLE, CROSSINGS]
            .iter()
            .any(|p| key.strip_prefix(p).is_some_and(|c| !c.is_empty()))
}

/// Reads one Pod manifest (YAML or JSON).
pub fn read(text: &str) -> Result<PodManifest, ManifestError> {
    let mut value: serde_yaml::Value =
        serde_yaml::from_str(text).map_err(|e| ManifestError(format!("not YAML: {e}")))?;
    match value.get("kind").and_then(|k| k.as_str()) {
        Some("Pod") => {}
        Some(k) => return err(format!("kind {k}: xpu places a Pod (kind: Pod)")),
        None => return err("no kind: xpu places a Pod (kind: Pod)"),
    }
    quantities_as_strings(&mut value);
    let pod: Pod =
        serde_yaml::from_value(value).map_err(|e| ManifestError(format!("not a Pod: {e}")))?;
    let name = match pod.metadata.name.as_deref() {
        Some(n) if !n.is_empty() => n.to_owned(),
        _ => return err("the Pod has no metadata.name"),
    };
    let Some(spec) = pod.spec.as_ref() else {
        return err(format!("pod {name}: no spec"));
    };
    if spec.containers.is_empty() {
        return err(format!("pod {name}: no containers"));
    }
    // Native sidecars (init containers that keep running, Kubernetes 1.28) are placed as the
    // containers are; the other init containers run to completion before the pod starts, with
    // the half they are placed in (the host's unless an annotation says otherwise).
    let inits = spec.init_containers.as_deref().unwrap_or_default();
    let is_sidecar = |c: &&K8sContainer| c.restart_policy.as_deref() == Some("Always");
    let empty = BTreeMap::new();
    let notes = pod.metadata.annotations.as_ref().unwrap_or(&empty);
    for key in notes.keys() {
        if key.contains("xpu.dev") && !is_xpu_key(key) {
            return err(format!(
                "annotation {key}: not one of xpu's ({PLACEMENT}<container>, {ROLE}<container>, {CROSSINGS}<container>, {LATENCY_BUDGET})"
            ));
        }
        // Every per-container annotation names a container of the pod.
        for prefix in [PLACEMENT, ROLE, CROSSINGS] {
            if let Some(c) = key.strip_prefix(prefix) {
                if !spec.containers.iter().chain(inits).any(|k| k.name == c) {
                    return err(format!("annotation {key}: pod {name} has no container {c}"));
                }
            }
        }
    }
    let containers = spec
        .containers
        .iter()
        .map(|c| container(c, notes, false))
        .chain(
            inits
                .iter()
                .filter(is_sidecar)
                .map(|c| container(c, notes, true)),
        )
        .collect::<Result<_, _>>()?;
    let init_sides = inits
        .iter()
        .filter(|c| !is_sidecar(c))
        .map(|c| {
            let side = match notes
                .get(&format!("{PLACEMENT}{}", c.name))
                .map(String::as_str)
            {
                None | Some("host") => Side::Host,
                Some("dpu") => Side::Dpu,
                Some(v) => {
                    return err(format!(
                        "{PLACEMENT}{}: '{v}' is neither host nor dpu",
                        c.name
                    ))
                }
            };
            Ok((c.name.clone(), side))
        })
        .collect::<Result<_, _>>()?;
    let latency_budget_us = notes
        .get(LATENCY_BUDGET)
        .map(|v| {
            v.parse().map_err(|_| {
                ManifestError(format!(
                    "{LATENCY_BUDGET}: '{v}' is not a number of microseconds"
                ))
            })
        })
        .transpose()?;
    Ok(PodManifest {
        name,
        containers,
        init_sides,
        latency_budget_us,
        pod,
    })
}

/// One container: its requests and the pod's annotations for it.
/// `sidecar`: a native sidecar, infrastructure by definition.
fn container(
    c: &K8sContainer,
    notes: &BTreeMap<String, String>,
    sidecar: bool,
) -> Result<Container, ManifestError> {
    let note = |prefix: &str| {
        notes
            .get(&format!("{prefix}{}", c.name))
            .map(String::as_str)
    };
    let pinned = match note(PLACEMENT) {
        None => None,
        Some("host") => Some(Side::Host),
        Some("dpu") => Some(Side::Dpu),
        Some(v) => {
            return err(format!(
                "{PLACEMENT}{}: '{v}' is neither host nor dpu",
                c.name
            ))
        }
    };
    let role = match note(ROLE) {
        None if sidecar || c.name == "istio-proxy" => Role::Infrastructure,
        None => Role::Application,
        Some("infrastructure") => Role::Infrastructure,
        Some("application") => Role::Application,
        Some(v) => {
            return err(format!(
                "{ROLE}{}: '{v}' is neither infrastructure nor application",
                c.name
            ))
        }
    };
    let crossings = match note(CROSSINGS) {
        None => 0,
        Some(v) => v
            .parse()
            .map_err(|_| ManifestError(format!("{CROSSINGS}{}: '{v}' is not a number", c.name)))?,
    };
    // Requests, or the limits Kubernetes would take for them.
    let request = |what: &str| -> Option<&Quantity> {
        let r = c.resources.as_ref()?;
        r.requests
            .as_ref()
            .and_then(|q| q.get(what))
            .or_else(|| r.limits.as_ref().and_then(|q| q.get(what)))
    };
    let bad = |what: &str, e: quantity::BadQuantity| {
        ManifestError(format!("container {}: {what}: {e}", c.name))
    };
    let cpu_millis = request("cpu")
        .map(|q| quantity::cpu_millis(&q.0).map_err(|e| bad("cpu", e)))
        .transpose()?
        .unwrap_or(0);
    let mem_bytes = request("memory")
        .map(|q| quantity::bytes(&q.0).map_err(|e| bad("memory", e)))
        .transpose()?
        .unwrap_or(0);
    Ok(Container {
        name: c.name.clone(),
        cpu_millis,
        mem_bytes,
        role,
        pinned,
        crossings,
    })
}

/// The pod's two halves by `plan`: the same Pod with the host's containers, and with the
/// DPU's (init containers too: native sidecars by the plan, the others by `init_sides`). A half
/// with no container is `None`; one with native sidecars only runs them as its containers.
pub fn split(m: &PodManifest, plan: &Plan) -> (Option<Pod>, Option<Pod>) {
    let side_of = |name: &str| {
        plan.side(name).or_else(|| {
            m.init_sides
                .iter()
                .find(|(n, _)| n == name)
                .map(|&(_, s)| s)
        })
    };
    let half = |side: Side| {
        let mut pod = m.pod.clone();
        let spec = pod.spec.as_mut()?;
        spec.containers.retain(|c| side_of(&c.name) == Some(side));
        if let Some(inits) = spec.init_containers.as_mut() {
            inits.retain(|c| side_of(&c.name) == Some(side));
            // A half of native sidecars only (the DPU's, often): there is no container for
            // them to start before, and a Pod needs one. They become its containers.
            if spec.containers.is_empty() {
                let (sidecars, rest): (Vec<_>, Vec<_>) = inits
                    .drain(..)
                    .partition(|c| c.restart_policy.as_deref() == Some("Always"));
                *inits = rest;
                spec.containers = sidecars
                    .into_iter()
                    .map(|c| K8sContainer {
                        restart_policy: None,
                        ..c
                    })
                    .collect();
            }
        }
        if spec.containers.is_empty() {
            return None;
        }
        // Each half is a manifest of its own, read again on its side: the annotations of
        // containers it does not have would name unknown containers there.
        let kept: Vec<String> = spec
            .containers
            .iter()
            .chain(spec.init_containers.iter().flatten())
            .map(|c| c.name.clone())
            .collect();
        if let Some(notes) = pod.metadata.annotations.as_mut() {
            notes.retain(|key, _| {
                [PLACEMENT, ROLE, CROSSINGS].iter().all(|prefix| {
                    key.strip_prefix(prefix)
                        .is_none_or(|c| kept.iter().any(|k| k == c))
                })
            });
        }
        Some(pod)
    };
    (half(Side::Host), half(Side::Dpu))
}

/// A half (or any Pod) as a manifest to hand a runtime (`podman kube play`) or the DPU.
pub fn to_yaml(pod: &Pod) -> Result<String, ManifestError> {
    serde_yaml::to_string(pod).map_err(|e| ManifestError(format!("cannot write the pod: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{plan, Limits};

    const POD: &str = r#"
apiVersion: v1
kind: Pod
metadata:
  name: web
  annotations:
    role.xpu.dev/metrics: infrastructure
    crossings.xpu.dev/istio-proxy: "2"
    xpu.dev/latency-budget-us: "500"
spec:
  containers:
  - name: app
    image: localhost/app
    resources: {requests: {cpu: 500m, memory: 64Mi}}
  - name: istio-proxy
    image: localhost/envoy
    resources: {limits: {cpu: "1", memory: 128Mi}}
  - name: metrics
    image: localhost/node-exporter
    resources: {requests: {cpu: 100m, memory: 32Mi}}
"#;

    /// The containers of a half, by name.
    fn names(pod: Option<Pod>) -> Vec<String> {
        pod.and_then(|p| p.spec)
            .map(|s| s.containers.into_iter().map(|c| c.name).collect())
            .unwrap_or_default()
    }

    /// Its init containers, by name.
    fn inits(pod: Option<Pod>) -> Vec<String> {
        pod.and_then(|p| p.spec)
            .and_then(|s| s.init_containers)
            .map(|cs| cs.into_iter().map(|c| c.name).collect())
            .unwrap_or_default()
    }

    #[test]
    fn reads_roles_requests_and_budget() {
        let m = read(POD).expect("a pod");
        assert_eq!(m.name, "web");
        assert_eq!(m.latency_budget_us, Some(500));
        let c = &m.containers;
        assert_eq!(
            (c[0].role, c[0].cpu_millis, c[0].mem_bytes),
            (Role::Application, 500, 64 << 20)
        );
        // Limits stand for requests; Istio's sidecar is infrastructure by name.
        assert_eq!(
            (c[1].role, c[1].cpu_millis, c[1].crossings),
            (Role::Infrastructure, 1000, 2)
        );
        assert_eq!((c[2].role, c[2].cpu_millis), (Role::Infrastructure, 100));
    }

    #[test]
    fn splits_by_the_plan() {
        let m = read(POD).expect("a pod");
        let l = Limits {
            dpu_cpu_millis: 2000,
            dpu_mem_bytes: 1 << 30,
            latency_budget_us: m.latency_budget_us.unwrap_or(u64::MAX),
            crossing_us: 100,
        };
        let p = plan(&m.containers, &l).expect("a plan");
        let (host, dpu) = split(&m, &p);
        // Each half is read again on its side: its annotations name only its containers.
        for half in [&host, &dpu] {
            let text = to_yaml(half.as_ref().expect("a half")).expect("YAML");
            let again = read(&text).expect("a half reads as a pod");
            assert_eq!(again.latency_budget_us, Some(500));
        }
        let notes = |half: &Option<Pod>| {
            let mut k: Vec<String> = half
                .as_ref()
                .and_then(|p| p.metadata.annotations.clone())
                .unwrap_or_default()
                .into_keys()
                .collect();
            k.sort();
            k
        };
        assert_eq!(notes(&host), ["xpu.dev/latency-budget-us"]);
        assert_eq!(
            notes(&dpu),
            [
                "crossings.xpu.dev/istio-proxy",
                "role.xpu.dev/metrics",
                "xpu.dev/latency-budget-us"
            ]
        );
        assert_eq!(names(host), vec!["app"]);
        assert_eq!(names(dpu), vec!["istio-proxy", "metrics"]);
        // Nothing moves: no DPU half.
        let p = plan(
            &m.containers,
            &Limits {
                dpu_cpu_millis: 0,
                ..l
            },
        )
        .expect("a plan");
        assert!(split(&m, &p).1.is_none());
    }

    /// Quantities written as numbers, as Kubernetes takes them; native sidecars placed as
    /// containers; other init containers with the half they are placed in.
    #[test]
    fn numbers_and_init_containers() {
        let m = read(
            "kind: Pod
metadata:
  name: mesh
  annotations: {placement.xpu.dev/setup: dpu}
spec:
  initContainers:
  - {name: setup}
  - {name: istio-proxy, restartPolicy: Always, resources: {requests: {cpu: 0.5, memory: 134217728}}}
  - {name: migrate}
  containers:
  - {name: app, resources: {limits: {cpu: 1}}}
",
        )
        .expect("a pod");
        let c = &m.containers;
        assert_eq!(c.len(), 2);
        assert_eq!((c[0].name.as_str(), c[0].cpu_millis), ("app", 1000));
        assert_eq!(
            (
                c[1].name.as_str(),
                c[1].role,
                c[1].cpu_millis,
                c[1].mem_bytes
            ),
            ("istio-proxy", Role::Infrastructure, 500, 128 << 20)
        );
        assert_eq!(
            m.init_sides,
            vec![
                ("setup".to_owned(), Side::Dpu),
                ("migrate".to_owned(), Side::Host)
            ]
        );
        let l = Limits {
            dpu_cpu_millis: 1000,
            dpu_mem_bytes: 1 << 30,
            latency_budget_us: u64::MAX,
            crossing_us: 5,
        };
        let p = plan(&m.containers, &l).expect("a plan");
        let (host, dpu) = split(&m, &p);
        assert_eq!(inits(host.clone()), vec!["migrate"]);
        assert_eq!(names(host), vec!["app"]);
        // The DPU half has no container of its own: its native sidecar becomes one.
        assert_eq!(inits(dpu.clone()), vec!["setup"]);
        assert_eq!(names(dpu), vec!["istio-proxy"]);
    }

    #[test]
    fn refuses_what_it_cannot_place() {
        let cases = [
            ("kind: Deployment\nmetadata: {name: x}\n", "kind Deployment"),
            ("kind: Pod\nmetadata: {}\nspec: {containers: [{name: a}]}\n", "no metadata.name"),
            ("kind: Pod\nmetadata: {name: x}\nspec: {containers: []}\n", "no containers"),
            (
                "kind: Pod\nmetadata: {name: x, annotations: {placement.xpu.dev/b: dpu}}\nspec: {containers: [{name: a}]}\n",
                "has no container b",
            ),
            (
                "kind: Pod\nmetadata: {name: x, annotations: {placement.xpu.dev/a: gpu}}\nspec: {containers: [{name: a}]}\n",
                "neither host nor dpu",
            ),
            (
                "kind: Pod\nmetadata: {name: x}\nspec: {containers: [{name: a, resources: {requests: {cpu: lots}}}]}\n",
                "container a: cpu",
            ),
            (
                "kind: Pod\nmetadata: {name: x, annotations: {xpu.dev/latency-budget-us: soon}}\nspec: {containers: [{name: a}]}\n",
                "microseconds",
            ),
            ("kind: [\n", "not YAML"),
            (
                "kind: Pod\nmetadata: {name: x, annotations: {placment.xpu.dev/a: dpu}}\nspec: {containers: [{name: a}]}\n",
                "not one of xpu's",
            ),
            (
                "kind: Pod\nmetadata: {name: x, annotations: {xpu.dev/latency-budget-ms: '5'}}\nspec: {containers: [{name: a}]}\n",
                "not one of xpu's",
            ),
        ];
        for (text, want) in cases {
            match read(text) {
                Err(ManifestError(msg)) => assert!(msg.contains(want), "{text}: {msg}"),
                Ok(_) => panic!("accepted: {text}"),
            }
        }
    }
}

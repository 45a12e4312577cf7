// SPDX-License-Identifier: GPL-2.0
//! What a pod's containers use, measured from their cgroups (v2) over a trial run, for the
//! planner to take in place of what the manifest requests: a container's request is a guess
//! its author made, its cgroup's counters what it did. No I/O: xpuctl reads the counters.
//!
//! CPU is the growth of `cpu.stat`'s `usage_usec` over the run, per microsecond of the run (a
//! busy core is 1000m); memory the cgroup's `memory.peak`, the most it held since the
//! container started.

use std::collections::BTreeMap;

use k8s_openapi::{
    api::core::v1::{Container as K8sContainer, Pod, ResourceRequirements},
    apimachinery::pkg::api::resource::Quantity,
};
use serde::{Deserialize, Serialize};

use crate::{manifest::PodManifest, plan::Container, quantity};

/// `usage_usec` of a cgroup's `cpu.stat`: the CPU time its tasks had, microseconds.
pub fn cpu_usage_usec(cpu_stat: &str) -> Option<u64> {
    cpu_stat.lines().find_map(|l| {
        let (key, value) = l.split_once(' ')?;
        (key == "usage_usec").then(|| value.trim().parse().ok())?
    })
}

/// A counter file of one number (`memory.peak`).
pub fn counter(text: &str) -> Option<u64> {
    text.trim().parse().ok()
}

/// The cgroup (v2) of a process, from its `/proc/PID/cgroup`: the path below the cgroup
/// filesystem's root, without its leading `/`.
pub fn cgroup_of(proc_cgroup: &str) -> Option<&str> {
    let path = proc_cgroup
        .lines()
        .find_map(|l| l.strip_prefix("0::"))?
        .trim_start_matches('/');
    // A path that climbs would read another cgroup's counters than the process's.
    (!path.split('/').any(|c| c == "..")).then_some(path)
}

/// CPU used over a run, millicores, rounded up: `used_usec` of CPU time in `run_usec`.
pub fn millicores(used_usec: u64, run_usec: u64) -> Option<u64> {
    if run_usec == 0 {
        return None;
    }
    let m = u128::from(used_usec) * 1000;
    u64::try_from(m.div_ceil(u128::from(run_usec))).ok()
}

/// A trial run's measurement, as `xpuctl pod measure --json` writes it and `xpuctl pod plan
/// --usage` reads it. Quantities are Kubernetes quantities, so that one can be read as a
/// request, or edited.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Usage {
    /// The pod measured.
    pub pod: String,
    /// How long the run was measured, seconds.
    pub seconds: u64,
    pub containers: Vec<ContainerUsage>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContainerUsage {
    /// The container's name in the manifest.
    pub name: String,
    /// CPU it used, as a quantity (`120m`).
    pub cpu: String,
    /// Memory it held at most, as a quantity (`36Mi`).
    pub memory: String,
}

impl ContainerUsage {
    pub fn new(name: String, cpu_millis: u64, mem_bytes: u64) -> Self {
        ContainerUsage {
            name,
            cpu: format!("{cpu_millis}m"),
            memory: quantity::mebibytes(mem_bytes),
        }
    }
}

/// Puts what `usage` measured in place of the requests of `pod`'s `containers` it names:
/// the names of those taken. Every container it names must be the pod's, and the pod the one
/// measured: a measurement of something else says nothing of this pod.
pub fn apply(
    pod: &str,
    containers: &mut [Container],
    usage: &Usage,
) -> Result<Vec<String>, String> {
    if usage.pod != pod {
        return Err(format!("the usage is pod {}'s, not pod {pod}'s", usage.pod));
    }
    let mut taken = Vec::new();
    for u in &usage.containers {
        let c = containers
            .iter_mut()
            .find(|c| c.name == u.name)
            .ok_or_else(|| format!("pod {pod} has no container {} (in the usage)", u.name))?;
        if taken.contains(&u.name) {
            return Err(format!("the usage names container {} twice", u.name));
        }
        c.cpu_millis =
            quantity::cpu_millis(&u.cpu).map_err(|e| format!("container {}: cpu: {e}", u.name))?;
        c.mem_bytes =
            quantity::bytes(&u.memory).map_err(|e| format!("container {}: memory: {e}", u.name))?;
        taken.push(u.name.clone());
    }
    Ok(taken)
}

/// The Vertical Pod Autoscaler's default safety margin over what a container used
/// (`--recommendation-margin-fraction`, 0.15), in percent.
pub const MARGIN_PERCENT: u64 = 15;

/// The requests a measured container gets, millicores and bytes: what it used plus
/// [`MARGIN_PERCENT`], rounded up (memory to whole mebibytes, as it is written): a measurement
/// is a trial run's, and the next run's peak may be higher. Never zero: a container that
/// requests nothing counts nothing toward a side's room.
pub fn recommend(u: &ContainerUsage) -> Result<(u64, u64), String> {
    const MIB: u128 = 1 << 20;
    let cpu =
        quantity::cpu_millis(&u.cpu).map_err(|e| format!("container {}: cpu: {e}", u.name))?;
    let mem =
        quantity::bytes(&u.memory).map_err(|e| format!("container {}: memory: {e}", u.name))?;
    let margin = |v: u64| (u128::from(v) * u128::from(100 + MARGIN_PERCENT)).div_ceil(100);
    let cpu = u64::try_from(margin(cpu).max(1));
    let mem = u64::try_from(margin(mem).div_ceil(MIB).max(1) * MIB);
    cpu.ok()
        .zip(mem.ok())
        .ok_or_else(|| format!("container {}: its use is too large to request", u.name))
}

/// Makes what `usage` measured the requests of the containers it names, in `m`'s manifest
/// and in the planner's view of it ([`recommend`]), as the Vertical Pod Autoscaler sets
/// requests from use: so that the side a container runs on counts what it uses, not what its
/// author guessed. A limit below its new request is raised to it (Kubernetes refuses a request
/// above its limit); the other limits stay, the author's caps (VPA by default scales every
/// limit with its request instead, which would lift caps the author set on purpose). The
/// names of those taken.
pub fn set_requests(m: &mut PodManifest, usage: &Usage) -> Result<Vec<String>, String> {
    // On a copy: a usage refused half-way changes nothing.
    let mut m2 = m.clone();
    let taken = set_requests_in(&mut m2, usage)?;
    *m = m2;
    Ok(taken)
}

fn set_requests_in(m: &mut PodManifest, usage: &Usage) -> Result<Vec<String>, String> {
    let taken = apply(&m.name, &mut m.containers, usage)?;
    for u in &usage.containers {
        let (cpu, mem) = recommend(u)?;
        if let Some(c) = m.containers.iter_mut().find(|c| c.name == u.name) {
            (c.cpu_millis, c.mem_bytes) = (cpu, mem);
        }
        let c = manifest_container(&mut m.pod, &u.name)
            .ok_or_else(|| format!("pod {} has no container {} (in the usage)", m.name, u.name))?;
        let r = c
            .resources
            .get_or_insert_with(ResourceRequirements::default);
        let requests = r.requests.get_or_insert_with(BTreeMap::new);
        requests.insert("cpu".into(), Quantity(format!("{cpu}m")));
        requests.insert("memory".into(), Quantity(quantity::mebibytes(mem)));
        if let Some(limits) = r.limits.as_mut() {
            raise(limits, "cpu", cpu, quantity::cpu_millis, |v| {
                format!("{v}m")
            })?;
            raise(limits, "memory", mem, quantity::bytes, quantity::mebibytes)?;
        }
    }
    Ok(taken)
}

/// The container `name` of `pod`: one of its containers, or a native sidecar among its init
/// containers (the planner's view has both).
fn manifest_container<'a>(pod: &'a mut Pod, name: &str) -> Option<&'a mut K8sContainer> {
    let spec = pod.spec.as_mut()?;
    spec.containers
        .iter_mut()
        .chain(spec.init_containers.iter_mut().flatten())
        .find(|c| c.name == name)
}

/// Raises `limits[what]` to `to` if it is below.
fn raise<E: std::fmt::Display>(
    limits: &mut BTreeMap<String, Quantity>,
    what: &str,
    to: u64,
    parse: impl Fn(&str) -> Result<u64, E>,
    write: impl Fn(u64) -> String,
) -> Result<(), String> {
    if let Some(q) = limits.get_mut(what) {
        let limit = parse(&q.0).map_err(|e| format!("limit {what} {}: {e}", q.0))?;
        if limit < to {
            *q = Quantity(write(to));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use rstest::rstest;

    use super::*;
    use crate::{manifest, plan::Role};

    const TRIAL: &str = "kind: Pod
metadata: {name: web}
spec:
  containers:
  - {name: app, resources: {requests: {cpu: 250m, memory: 32Mi}}}
  - name: istio-proxy
    resources: {requests: {cpu: 500m, memory: 128Mi}, limits: {cpu: 20m, memory: 1Gi}}
  initContainers:
  - {name: metrics, restartPolicy: Always}
";

    fn resources(m: &PodManifest, name: &str) -> (Vec<String>, Vec<String>) {
        let spec = m.pod.spec.as_ref().expect("a spec");
        let c = spec
            .containers
            .iter()
            .chain(spec.init_containers.iter().flatten())
            .find(|c| c.name == name)
            .expect("the container");
        let r = c.resources.as_ref().expect("resources");
        let list = |q: Option<&BTreeMap<String, Quantity>>| {
            q.map(|q| q.iter().map(|(k, v)| format!("{k}={}", v.0)).collect())
                .unwrap_or_default()
        };
        (list(r.requests.as_ref()), list(r.limits.as_ref()))
    }

    /// The measured use, with the margin, becomes the requests of the containers it names (a
    /// native sidecar's too), in the manifest and the planner's view alike; a limit below is
    /// raised, one above kept; the others are untouched.
    #[test]
    fn measured_use_becomes_requests() {
        let mut m = manifest::read(TRIAL).expect("a manifest");
        let u = Usage {
            pod: "web".into(),
            seconds: 10,
            containers: vec![
                ContainerUsage::new("istio-proxy".into(), 40, 78 << 20),
                ContainerUsage::new("metrics".into(), 0, 0),
            ],
        };
        assert_eq!(
            set_requests(&mut m, &u).expect("taken"),
            ["istio-proxy", "metrics"]
        );
        // 40m and 78Mi, and 15%: 46m and 89.7Mi, written 90Mi.
        assert_eq!(
            resources(&m, "istio-proxy"),
            (
                vec!["cpu=46m".into(), "memory=90Mi".into()],
                vec!["cpu=46m".into(), "memory=1Gi".into()]
            )
        );
        assert_eq!(
            resources(&m, "metrics").0,
            ["cpu=1m".to_owned(), "memory=1Mi".to_owned()]
        );
        assert_eq!(
            resources(&m, "app").0,
            ["cpu=250m".to_owned(), "memory=32Mi".to_owned()]
        );
        // What the manifest now says is what the planner plans from.
        let written = manifest::to_yaml(&m.pod).expect("YAML");
        let again = manifest::read(&written).expect("the manifest written");
        let view = |m: &PodManifest| -> Vec<(String, u64, u64)> {
            m.containers
                .iter()
                .map(|c| (c.name.clone(), c.cpu_millis, c.mem_bytes))
                .collect()
        };
        assert_eq!(view(&again), view(&m));
        assert_eq!(view(&m)[1], ("istio-proxy".into(), 46, 90 << 20));
    }

    #[test]
    fn a_use_too_large_to_request_is_refused() {
        let u = ContainerUsage {
            name: "x".into(),
            cpu: "1m".into(),
            memory: format!("{}", u64::MAX),
        };
        assert!(recommend(&u).is_err());
        let u = ContainerUsage::new("x".into(), 0, 0);
        assert_eq!(recommend(&u), Ok((1, 1 << 20)));
    }

    #[test]
    fn requests_from_another_pods_use_are_refused() {
        let mut m = manifest::read(TRIAL).expect("a manifest");
        let before = m.clone();
        let u = Usage {
            pod: "api".into(),
            seconds: 10,
            containers: vec![ContainerUsage::new("istio-proxy".into(), 40, 78 << 20)],
        };
        assert!(set_requests(&mut m, &u).is_err());
        assert_eq!(m.pod, before.pod);
    }

    #[test]
    fn cpu_stat_usage() {
        let stat = "usage_usec 1234567\nuser_usec 1000000\nsystem_usec 234567\n";
        assert_eq!(cpu_usage_usec(stat), Some(1_234_567));
        assert_eq!(cpu_usage_usec("user_usec 5\n"), None);
        assert_eq!(cpu_usage_usec("usage_usec lots\n"), None);
        assert_eq!(counter("37748736\n"), Some(37_748_736));
        assert_eq!(counter("max\n"), None);
    }

    #[rstest]
    #[case(
        "0::/libpod_parent/libpod-ab/libpod-cd\n",
        Some("libpod_parent/libpod-ab/libpod-cd")
    )]
    #[case("0::/\n", Some(""))]
    // A v1 hierarchy's lines are not the v2 cgroup's.
    #[case("1:name=systemd:/x\n0::/pods/a\n", Some("pods/a"))]
    #[case("1:memory:/x\n", None)]
    #[case("0::/pods/../../etc\n", None)]
    fn cgroup_of_a_process(#[case] text: &str, #[case] path: Option<&str>) {
        assert_eq!(cgroup_of(text), path);
    }

    #[rstest]
    // Half a core over two seconds.
    #[case(1_000_000, 2_000_000, Some(500))]
    // Rounded up: a container that ran at all used some CPU.
    #[case(1, 10_000_000, Some(1))]
    #[case(0, 10_000_000, Some(0))]
    // Two busy cores.
    #[case(20_000_000, 10_000_000, Some(2000))]
    #[case(5, 0, None)]
    #[case(u64::MAX, 1, None)]
    fn millicores_of_a_run(#[case] used: u64, #[case] run: u64, #[case] m: Option<u64>) {
        assert_eq!(millicores(used, run), m);
    }

    fn container(name: &str, cpu_millis: u64) -> Container {
        Container {
            name: name.to_owned(),
            cpu_millis,
            mem_bytes: 1 << 20,
            role: Role::Infrastructure,
            pinned: None,
            crossings: 0,
        }
    }

    fn usage(pod: &str, containers: &[(&str, &str, &str)]) -> Usage {
        Usage {
            pod: pod.to_owned(),
            seconds: 10,
            containers: containers
                .iter()
                .map(|(n, c, m)| ContainerUsage {
                    name: (*n).to_owned(),
                    cpu: (*c).to_owned(),
                    memory: (*m).to_owned(),
                })
                .collect(),
        }
    }

    #[test]
    fn measured_replaces_requested_for_the_containers_it_names() {
        let mut cs = vec![container("app", 500), container("envoy", 100)];
        let u = usage("web", &[("envoy", "730m", "48Mi")]);
        assert_eq!(apply("web", &mut cs, &u), Ok(vec!["envoy".to_owned()]));
        assert_eq!((cs[0].cpu_millis, cs[0].mem_bytes), (500, 1 << 20));
        assert_eq!((cs[1].cpu_millis, cs[1].mem_bytes), (730, 48 << 20));
    }

    #[rstest]
    #[case(usage("db", &[("envoy", "1m", "1Mi")]), "pod db's")]
    #[case(usage("web", &[("redis", "1m", "1Mi")]), "no container redis")]
    #[case(usage("web", &[("envoy", "1m", "1Mi"), ("envoy", "2m", "1Mi")]), "twice")]
    #[case(usage("web", &[("envoy", "lots", "1Mi")]), "cpu")]
    #[case(usage("web", &[("envoy", "1m", "-1Mi")]), "memory")]
    fn a_usage_of_something_else_is_refused(#[case] u: Usage, #[case] why: &str) {
        let mut cs = vec![container("app", 500), container("envoy", 100)];
        let e = apply("web", &mut cs, &u).expect_err("refused");
        assert!(e.contains(why), "{e}");
    }

    #[test]
    fn written_as_read() {
        let u = Usage {
            pod: "web".into(),
            seconds: 10,
            containers: vec![ContainerUsage::new("envoy".into(), 730, (47 << 20) + 1)],
        };
        assert_eq!(u.containers[0].memory, "48Mi");
        let json = serde_json::to_string(&u).expect("json");
        assert_eq!(serde_json::from_str::<Usage>(&json).expect("read"), u);
        assert!(
            serde_json::from_str::<Usage>(r#"{"pod":"w","seconds":1,"containers":[],"x":1}"#)
                .is_err()
        );
    }
}

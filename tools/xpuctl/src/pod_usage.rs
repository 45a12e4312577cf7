// SPDX-License-Identifier: GPL-2.0

//! `xpuctl pod measure`: what a pod's containers use, from their cgroups, over a trial run of
//! the pod under this node's podman (all of it on the host, say, before it is split), for
//! `xpuctl pod plan --usage` to plan from (`xpu_pod::usage`).

use std::{
    fs,
    io::ErrorKind,
    path::{Path, PathBuf},
    thread,
    time::{Duration, Instant},
};

use xpu_pod::{
    node::check_pod_name,
    podman::pods,
    usage::{cgroup_of, counter, cpu_usage_usec, millicores, ContainerUsage, Usage},
};

use crate::{
    link::{err, Error},
    pod_node::podman,
};

/// Where the cgroup (v2) filesystem is.
const CGROUP_ROOT: &str = "/sys/fs/cgroup";
/// The longest run `measure` waits for, seconds.
const MAX_SECONDS: u64 = 3600;

/// The cgroup of container `id` (`name` in the manifest): its first process's.
fn cgroup(id: &str, name: &str) -> Result<PathBuf, Error> {
    let pid = podman(&[
        "container",
        "inspect",
        "--format",
        "{{.State.Pid}}",
        "--",
        id,
    ])?;
    let pid: u32 = pid
        .trim()
        .parse()
        .map_err(|_| err(format!("podman gives container {name} no pid: {pid}")))?;
    if pid == 0 {
        return Err(err(format!("container {name} is not running")));
    }
    let file = format!("/proc/{pid}/cgroup");
    let text = fs::read_to_string(&file).map_err(|e| err(format!("{file}: {e}")))?;
    let path = cgroup_of(&text).ok_or_else(|| err(format!("{file}: no cgroup v2 path")))?;
    Ok(Path::new(CGROUP_ROOT).join(path))
}

fn cpu_usec(dir: &Path) -> Result<u64, Error> {
    let file = dir.join("cpu.stat");
    let text = fs::read_to_string(&file).map_err(|e| err(format!("{}: {e}", file.display())))?;
    cpu_usage_usec(&text).ok_or_else(|| err(format!("{}: no usage_usec", file.display())))
}

/// The most memory the cgroup held since it was made (`memory.peak`, which the kernel keeps
/// from 5.19 on; older ones have no peak, and what the cgroup holds now would understate it).
fn memory(dir: &Path) -> Result<u64, Error> {
    let file = dir.join("memory.peak");
    match fs::read_to_string(&file) {
        Ok(text) => counter(&text).ok_or_else(|| err(format!("{}: not a number", file.display()))),
        Err(e) if e.kind() == ErrorKind::NotFound => Err(err(format!(
            "{}: none (the memory controller is off there, or the kernel keeps no peak)",
            file.display()
        ))),
        Err(e) => Err(err(format!("{}: {e}", file.display()))),
    }
}

/// Measures `pod`'s containers over `seconds`.
pub(crate) fn measure(pod: &str, seconds: u64) -> Result<Usage, Error> {
    check_pod_name(pod).map_err(err)?;
    if !(1..=MAX_SECONDS).contains(&seconds) {
        return Err(err(format!("--seconds {seconds}: from 1 to {MAX_SECONDS}")));
    }
    let all = pods(&podman(&["pod", "ps", "--format", "json"])?).map_err(err)?;
    let p = all
        .into_iter()
        .find(|p| p.name == pod)
        .ok_or_else(|| err(format!("podman has no pod {pod} here")))?;
    if p.containers.is_empty() {
        return Err(err(format!("pod {pod} has no containers to measure")));
    }
    let dirs = p
        .containers
        .iter()
        .zip(&p.container_ids)
        .map(|(c, id)| cgroup(id, &c.name).map(|d| (c.name.clone(), d)))
        .collect::<Result<Vec<_>, _>>()?;
    let before = dirs
        .iter()
        .map(|(_, d)| cpu_usec(d))
        .collect::<Result<Vec<_>, _>>()?;
    let start = Instant::now();
    thread::sleep(Duration::from_secs(seconds));
    let mut containers = Vec::new();
    for ((name, dir), before) in dirs.iter().zip(before) {
        let after = cpu_usec(dir)?;
        let run = u64::try_from(start.elapsed().as_micros()).unwrap_or(u64::MAX);
        let cpu = millicores(after.saturating_sub(before), run)
            .ok_or_else(|| err("the run took no time"))?;
        containers.push(ContainerUsage::new(name.clone(), cpu, memory(dir)?));
    }
    Ok(Usage {
        pod: pod.to_owned(),
        seconds,
        containers,
    })
}

/// The measurement as a table.
pub(crate) fn usage_text(u: &Usage) -> String {
    let mut out = format!("pod {}: measured over {} s\n", u.pod, u.seconds);
    out.push_str(&format!(
        "{:20} {:>7} {:>8}\n",
        "CONTAINER", "CPU", "MEMORY"
    ));
    for c in &u.containers {
        out.push_str(&format!("{:20} {:>7} {:>8}\n", c.name, c.cpu, c.memory));
    }
    out
}

/// A measurement written by `measure --json`, from `file`.
pub(crate) fn read(file: &Path) -> Result<Usage, Error> {
    let text = fs::read_to_string(file).map_err(|e| err(format!("{}: {e}", file.display())))?;
    serde_json::from_str(&text).map_err(|e| err(format!("{}: {e}", file.display())))
}

// SPDX-License-Identifier: GPL-2.0

//! The DPU halves the agent makes: each one a record in the state directory (the host half's
//! address and the half's manifest) and a podman pod made from it.

use std::{
    fs,
    io::ErrorKind,
    path::{Path, PathBuf},
    process::Command,
};

use serde::{Deserialize, Serialize};
use xpu_pod::{
    cni::{format_link_id, LINK_ID_ARG},
    manifest,
    node::{check_pod_name, room, Capacity, PodAddress, PodStatus},
    podman::{half_state, inspect_infra, pods, RuntimePod},
};

use crate::{
    confine,
    podman::podman,
    reap::{peer_of, Peer},
};

/// What the agent keeps of a half it made.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Record {
    address: PodAddress,
    manifest: String,
    /// The number of the host half's link, whose other end the half takes (none: a host
    /// that did not say, which takes the first free link).
    #[serde(default)]
    link_id: Option<u32>,
}

pub(crate) struct Agent {
    state: PathBuf,
    network: String,
    /// Where a half's hostPath volumes may be (`confine`).
    host_paths: Vec<PathBuf>,
    /// The DPU halves' uplink, when the network chains one before xpu-cni: its gateway on
    /// this node, and the prefix length of the pods' addresses.
    gateway: Option<PodAddress>,
}

impl Agent {
    pub(crate) fn open(
        state: PathBuf,
        network: String,
        host_paths: Vec<PathBuf>,
        gateway: Option<PodAddress>,
    ) -> Result<Self, String> {
        fs::create_dir_all(&state).map_err(|e| format!("cannot make {}: {e}", state.display()))?;
        Ok(Agent {
            state,
            network,
            host_paths,
            gateway,
        })
    }

    fn record_path(&self, pod: &str) -> PathBuf {
        self.state.join(format!("{pod}.json"))
    }

    fn manifest_path(&self, pod: &str) -> PathBuf {
        self.state.join(format!("{pod}.yaml"))
    }

    /// The records, by pod. One that cannot be read is left out, and said so.
    fn records(&self) -> Vec<(String, Record)> {
        let Ok(dir) = fs::read_dir(&self.state) else {
            return Vec::new();
        };
        let mut out: Vec<(String, Record)> = dir
            .flatten()
            .filter_map(|e| {
                let path = e.path();
                let pod = path
                    .file_name()?
                    .to_str()?
                    .strip_suffix(".json")?
                    .to_owned();
                check_pod_name(&pod).ok()?;
                match read_record(&path) {
                    Ok(r) => Some((pod, r)),
                    Err(e) => {
                        eprintln!("xpu-dpu-agent: {e}");
                        None
                    }
                }
            })
            .collect();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }

    fn runtime_pods(&self) -> Result<Vec<RuntimePod>, String> {
        pods(&podman(&["pod", "ps", "--format", "json"], &[])?)
    }

    /// The DPU's CPUs and memory less what its halves request.
    pub(crate) fn capacity(&self) -> Result<Capacity, String> {
        let cpus = std::thread::available_parallelism()
            .map_err(|e| format!("cannot count CPUs: {e}"))?
            .get() as u64;
        let meminfo = fs::read_to_string("/proc/meminfo")
            .map_err(|e| format!("cannot read /proc/meminfo: {e}"))?;
        let total = Capacity {
            cpu_millis: cpus * 1000,
            mem_bytes: mem_total(&meminfo).ok_or("/proc/meminfo has no MemTotal")?,
        };
        let taken = self
            .records()
            .into_iter()
            .filter_map(|(_, r)| requests(&r.manifest).ok());
        Ok(room(total, taken))
    }

    /// Makes the DPU half of `pod`. Asked again for the same half, it is done; for another,
    /// it is refused (a pod has one DPU half), as is a pod of the runtime the agent did not
    /// make.
    pub(crate) fn apply(
        &self,
        pod: &str,
        address: PodAddress,
        link_id: Option<u32>,
        text: &str,
    ) -> Result<(), String> {
        let m = manifest::read(text).map_err(|e| format!("pod {pod}: {e}"))?;
        if m.name != pod {
            return Err(format!(
                "pod {pod}: the manifest is pod {}'s, not this one's",
                m.name
            ));
        }
        confine::check(&m.pod, &self.host_paths).map_err(|e| format!("pod {pod}: {e}"))?;
        if let Some(g) = self.gateway {
            if !within(address, g) {
                return Err(format!(
                    "pod {pod}: address {address} is not in this DPU's pod network {g} \
                     (the uplink's gateway and prefix)"
                ));
            }
        }
        // What podman gets is what was checked, written anew: nothing the parser passed over
        // reaches it.
        let text = manifest::to_yaml(&m.pod).map_err(|e| format!("pod {pod}: {e}"))?;
        let record = Record {
            address,
            manifest: text.clone(),
            link_id,
        };
        if let Some((_, had)) = self.records().into_iter().find(|(p, _)| p == pod) {
            let running = self.runtime_pods()?.iter().any(|p| p.name == pod);
            return if had == record && running {
                Ok(())
            } else {
                Err(format!(
                    "pod {pod} already has a DPU half here (address {}): delete it first",
                    had.address
                ))
            };
        }
        if self.runtime_pods()?.iter().any(|p| p.name == pod) {
            return Err(format!(
                "pod {pod}: the DPU runs a pod of that name the agent did not make"
            ));
        }
        let need = requests(&text)?;
        let left = self.capacity()?;
        if need.cpu_millis > left.cpu_millis || need.mem_bytes > left.mem_bytes {
            return Err(format!(
                "pod {pod}: its DPU half requests {}m CPU and {} bytes, the DPU has {}m and {} left",
                need.cpu_millis, need.mem_bytes, left.cpu_millis, left.mem_bytes
            ));
        }
        write_atomic(&self.manifest_path(pod), text.as_bytes())?;
        let json = serde_json::to_vec(&record).map_err(|e| format!("pod {pod}: {e}"))?;
        write_atomic(&self.record_path(pod), &json)?;
        self.play(pod, &record).inspect_err(|_| {
            // Nothing of a half that did not start stays.
            let _ = self.delete(pod);
        })
    }

    /// Starts the half of `record` with podman, in the CNI network of the DPU halves, at the
    /// host half's address and on the other end of its link (CNI_ARGS, which podman passes to
    /// the plugins: the network's IPAM is CNI's static plugin, which takes IP, and GATEWAY,
    /// from there, and xpu-cni takes XPU_LINK_ID; each ignores what is the other's). With an
    /// uplink, the address takes the pod network's prefix and its gateway: the uplink (ptp)
    /// routes through it.
    fn play(&self, pod: &str, record: &Record) -> Result<(), String> {
        let yaml = self.manifest_path(pod);
        let yaml = yaml.to_str().ok_or("the state directory is not UTF-8")?;
        let mut args = match self.gateway {
            Some(g) => format!(
                "IgnoreUnknown=1;IP={}/{};GATEWAY={}",
                record.address.ip, g.prefix, g.ip
            ),
            None => format!("IgnoreUnknown=1;IP={}", record.address),
        };
        if let Some(id) = record.link_id {
            args += &format!(";{LINK_ID_ARG}={}", format_link_id(id));
        }
        podman(
            &["kube", "play", "--network", &self.network, yaml],
            &[("CNI_ARGS", &args)],
        )
        .map(|_| ())
        .map_err(|e| format!("pod {pod}: {e}"))
    }

    /// Removes the DPU half of `pod`, its containers and its namespace (podman calls the CNI
    /// plugin's DEL); done also when there is nothing left of it. Only a half the agent made
    /// (one it has a record of): another pod of the DPU's is not the host's to remove.
    pub(crate) fn delete(&self, pod: &str) -> Result<(), String> {
        if !self.record_path(pod).exists() {
            return Ok(());
        }
        podman(
            &["pod", "rm", "--force", "--ignore", "--time", "0", "--", pod],
            &[],
        )
        .map_err(|e| format!("pod {pod}: {e}"))?;
        for path in [self.record_path(pod), self.manifest_path(pod)] {
            match fs::remove_file(&path) {
                Err(e) if e.kind() != ErrorKind::NotFound => {
                    return Err(format!("cannot remove {}: {e}", path.display()))
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// The halves of the records, with their containers as the runtime has them.
    pub(crate) fn list(&self) -> Result<Vec<PodStatus>, String> {
        let running = self.runtime_pods()?;
        Ok(self
            .records()
            .into_iter()
            .map(|(pod, r)| {
                let containers = running
                    .iter()
                    .find(|p| p.name == pod)
                    .map(|p| p.containers.clone())
                    .unwrap_or_default();
                PodStatus {
                    state: half_state(&containers),
                    pod,
                    address: r.address,
                    containers,
                }
            })
            .collect())
    }

    /// The halves of the records that the runtime has (running or not).
    pub(crate) fn runtime_halves(&self) -> Result<Vec<String>, String> {
        let running = self.runtime_pods()?;
        Ok(self
            .records()
            .into_iter()
            .map(|(pod, _)| pod)
            .filter(|pod| running.iter().any(|p| &p.name == pod))
            .collect())
    }

    /// Makes again the halves whose pods the runtime lost (the DPU restarted with its state
    /// directory): each pod, and how it went.
    pub(crate) fn restore(&self) -> Vec<(String, Result<(), String>)> {
        let running = match self.runtime_pods() {
            Ok(r) => r,
            Err(e) => return vec![(String::from("*"), Err(e))],
        };
        self.records()
            .into_iter()
            .filter(|(pod, _)| !running.iter().any(|p| &p.name == pod))
            .map(|(pod, r)| {
                let outcome = self.play(&pod, &r);
                (pod, outcome)
            })
            .collect()
    }
}

/// The network namespace (its path) of `pod`'s half, as podman has it: none when the pod or
/// its namespace is gone.
pub(crate) fn pod_netns(pod: &str) -> Option<String> {
    let netns = inspect_infra(pod, "{{.NetworkSettings.SandboxKey}}", |a| podman(a, &[])).ok()?;
    let netns = netns.trim();
    (!netns.is_empty()).then(|| netns.to_owned())
}

/// What the split in `netns` says of its peer (the host half): none when it cannot be read
/// (the namespace gone, or not split). Read there by the node's xpuctl (`splitns show
/// --json`).
pub(crate) fn peer_in(netns: &str) -> Option<Peer> {
    let out = Command::new("nsenter")
        .arg(format!("--net={netns}"))
        .args(["xpuctl", "splitns", "show", "--json"])
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    peer_of(&String::from_utf8_lossy(&out.stdout))
}

fn read_record(path: &Path) -> Result<Record, String> {
    let bytes = fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    serde_json::from_slice(&bytes).map_err(|e| format!("{}: {e}", path.display()))
}

/// Whether the pod address `a` is in the pod network of `gateway` (its address and prefix):
/// not the gateway itself, nor the network's own address or its broadcast address (which a
/// network of more than two addresses keeps).
fn within(a: PodAddress, gateway: PodAddress) -> bool {
    let mask = u32::MAX
        .checked_shl(32 - u32::from(gateway.prefix))
        .unwrap_or(0);
    let (a, g) = (u32::from(a.ip), u32::from(gateway.ip));
    let host = a & !mask;
    let ends = gateway.prefix <= 30 && (host == 0 || host == !mask);
    a & mask == g & mask && a != g && !ends
}

/// What a half's containers request, as the planner counts it.
fn requests(text: &str) -> Result<Capacity, String> {
    let m = manifest::read(text).map_err(|e| e.to_string())?;
    Ok(m.containers.iter().fold(
        Capacity {
            cpu_millis: 0,
            mem_bytes: 0,
        },
        |t, c| Capacity {
            cpu_millis: t.cpu_millis.saturating_add(c.cpu_millis),
            mem_bytes: t.mem_bytes.saturating_add(c.mem_bytes),
        },
    ))
}

/// `MemTotal` of /proc/meminfo, in bytes.
fn mem_total(meminfo: &str) -> Option<u64> {
    let line = meminfo.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    kib.checked_mul(1024)
}

/// Writes `path` whole or not at all: a record half written by an agent that died would
/// lose the half it names.
fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), String> {
    let tmp = path.with_extension("tmp");
    fs::write(&tmp, bytes)
        .and_then(|()| fs::rename(&tmp, path))
        .map_err(|e| {
            let _ = fs::remove_file(&tmp);
            format!("cannot write {}: {e}", path.display())
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    const HALF: &str = "kind: Pod
metadata: {name: web}
spec:
  containers:
  - {name: envoy, resources: {requests: {cpu: 500m, memory: 64Mi}}}
  - {name: metrics, resources: {requests: {cpu: 100m, memory: 32Mi}}}
";

    /// The uplink's pod network takes the addresses in its prefix, not its gateway's, not
    /// another network's.
    #[test]
    fn addresses_within_the_pod_network() {
        let a = |s: &str| s.parse::<PodAddress>().expect("an address");
        let gw = a("10.244.1.1/24");
        assert!(within(a("10.244.1.5/32"), gw));
        assert!(within(a("10.244.1.254/32"), gw));
        assert!(!within(a("10.244.1.1/32"), gw));
        assert!(!within(a("10.244.2.5/32"), gw));
        assert!(!within(a("192.168.100.1/32"), gw));
        assert!(!within(a("10.244.1.0/32"), gw));
        assert!(!within(a("10.244.1.255/32"), gw));
        // A /31 has no network or broadcast address (RFC 3021).
        assert!(within(a("10.244.1.0/32"), a("10.244.1.1/31")));
        // A prefix of 32 is the gateway alone: no pod fits.
        assert!(!within(a("10.244.1.5/32"), a("10.244.1.1/32")));
        assert!(within(a("10.9.9.9/32"), a("10.0.0.1/8")));
    }

    #[test]
    fn requests_of_a_half() {
        assert_eq!(
            requests(HALF),
            Ok(Capacity {
                cpu_millis: 600,
                mem_bytes: 96 << 20
            })
        );
        assert!(requests("kind: Service").is_err());
    }

    #[test]
    fn mem_total_of_meminfo() {
        assert_eq!(
            mem_total("MemTotal:        2014020 kB\nMemFree: 1 kB\n"),
            Some(2014020 * 1024)
        );
        assert_eq!(mem_total("MemFree: 1 kB\n"), None);
        assert_eq!(mem_total("MemTotal: lots kB\n"), None);
    }

    #[test]
    fn records_survive_and_bad_ones_are_left_out() {
        let dir = tempfile::tempdir().expect("tempdir");
        let a =
            Agent::open(dir.path().to_owned(), "xpu-dpu".into(), Vec::new(), None).expect("open");
        let r = Record {
            address: "10.244.1.5/24".parse().expect("address"),
            manifest: HALF.into(),
            link_id: Some(0x0a0b_0c0d),
        };
        write_atomic(
            &a.record_path("web"),
            &serde_json::to_vec(&r).expect("json"),
        )
        .expect("write");
        fs::write(dir.path().join("broken.json"), "{").expect("write");
        fs::write(dir.path().join("Bad_Name.json"), "{}").expect("write");
        assert_eq!(a.records(), vec![("web".to_owned(), r)]);
    }
}

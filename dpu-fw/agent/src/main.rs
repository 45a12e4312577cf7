// SPDX-License-Identifier: GPL-2.0

//! `xpu-dpu-agent`: the DPU side of HeteroK8s. The host's `xpuctl pod apply` splits a pod's
//! manifest and asks the agent, over the node's control link, for the DPU half; the agent
//! starts its containers with podman (`podman kube play`, on the CNI network whose plugin is
//! xpu-cni's DPU half) at the host half's address, and removes them when asked. It keeps a
//! record of every half it made, so that after a restart it reports the halves it lost, or
//! makes them again (`--restore`). A half whose host half is gone (removed on the host by the
//! runtime, not by `xpuctl pod delete`) is removed too (`reap`).
//!
//! What the host asks for is a pod's half, not the DPU: a half that would reach past its pod
//! (the DPU's namespaces, privileges, ports, files outside `--allow-host-path`) is refused
//! (`confine`), and the agent touches only the pods it made.
//!
//! ```sh
//! xpu-dpu-agent --listen 192.168.100.2:7780 --network xpu-dpu --state /var/lib/xpu-agent \
//!     --key /etc/xpu/node.key
//! ```

mod confine;
mod halves;
mod podman;
mod reap;
mod serve;

use std::{
    net::SocketAddr,
    path::PathBuf,
    process::ExitCode,
    sync::{Arc, Mutex},
    thread,
    time::Duration,
};

use clap::Parser;
use xpu_pod::{
    auth::{Key, DEFAULT_KEY_FILE},
    node::PodAddress,
};

#[derive(Parser)]
#[command(name = "xpu-dpu-agent", version, about)]
struct Options {
    /// Where the host reaches the agent: the DPU's address on the node's control link
    #[arg(long)]
    listen: SocketAddr,
    /// The CNI network (podman's) that makes pods' DPU halves: xpu-cni with `"half": "dpu"`
    #[arg(long)]
    network: String,
    /// Where the agent keeps its records of the halves it made
    #[arg(long)]
    state: PathBuf,
    /// At start, make again the halves of the records whose pods the runtime no longer has
    /// (a DPU restart); without it they are reported lost
    #[arg(long)]
    restore: bool,
    /// A directory of the DPU whose files the halves may mount (hostPath volumes), repeated
    /// for each; none by default
    #[arg(long = "allow-host-path", value_name = "DIR")]
    host_paths: Vec<PathBuf>,
    /// Remove a half whose peer (the host half) has not been split this many seconds; 0 never
    #[arg(long, default_value_t = 60, value_name = "SECONDS")]
    reap_after: u64,
    /// The DPU halves' uplink, when the network chains one before xpu-cni (CNI's ptp, with
    /// static IPAM): its gateway on this node and the pods' prefix length (10.244.1.1/24).
    /// Each half's address gets that prefix and gateway (CNI_ARGS IP and GATEWAY), and one
    /// outside it is refused; without it, the address as the host gives it
    #[arg(long, value_name = "GATEWAY/PREFIX")]
    gateway: Option<PodAddress>,
    /// The node's key: a request counts only with proof that its sender holds it (a file
    /// only its owner reads; the host's xpuctl has the same, its --key)
    #[arg(long, value_name = "FILE", default_value = DEFAULT_KEY_FILE)]
    key: PathBuf,
}

fn main() -> ExitCode {
    let o = Options::parse();
    let key = match Key::from_file(&o.key) {
        Ok(k) => k,
        Err(e) => {
            eprintln!("xpu-dpu-agent: {e}");
            return ExitCode::FAILURE;
        }
    };
    let agent = match halves::Agent::open(o.state, o.network, o.host_paths, o.gateway) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("xpu-dpu-agent: {e}");
            return ExitCode::FAILURE;
        }
    };
    if o.restore {
        for (pod, outcome) in agent.restore() {
            match outcome {
                Ok(()) => eprintln!("xpu-dpu-agent: pod {pod}: DPU half made again"),
                Err(e) => eprintln!("xpu-dpu-agent: pod {pod}: lost: {e}"),
            }
        }
    }
    let agent = Arc::new(Mutex::new(agent));
    if o.reap_after > 0 {
        let a = Arc::clone(&agent);
        let after = Duration::from_secs(o.reap_after);
        thread::spawn(move || reap::run(&a, after));
    }
    match serve::serve(&agent, &key, o.listen) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xpu-dpu-agent: {e}");
            ExitCode::FAILURE
        }
    }
}

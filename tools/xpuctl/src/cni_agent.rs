// SPDX-License-Identifier: GPL-2.0

//! The pod's ownership agent, as xpu-cni runs it: ADD starts `xpuctl splitns agent` in the
//! pod's namespace, so that a port belongs to the half whose socket binds it and no program of
//! the pod registers one; DEL stops it before it undoes the split (the agent's threads hold
//! the namespace: a namespace the runtime has let go is freed, and its link given back, only
//! once they end). The agent is the pod's network's, as the split is: started with it by
//! whichever runtime calls the plugin (podman, containerd), not by a container of the pod.

use std::{
    fs::{self, File},
    os::unix::process::CommandExt,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    thread,
    time::{Duration, Instant},
};

use rustix::process::{kill_process, Pid, Signal};
use xpu_pod::cni::{CniError, Code, Record};

/// What the agent prints once the namespace's sockets are its ports.
const READY: &str = "follow its sockets";
/// How long ADD waits for it: loading its BPF programs takes seconds on the lab's emulated
/// CPUs.
const READY_WAIT: Duration = Duration::from_secs(90);

/// The agent's log, next to the attachment's record.
pub(crate) fn log_path(record_file: &Path) -> PathBuf {
    record_file.with_extension("agent.log")
}

/// Starts the agent for `r`'s namespace, following `cgroup`; [`ready`] waits for it.
pub(crate) fn spawn(r: &Record, cgroup: &Path, log: &Path) -> Result<Child, CniError> {
    let exe = std::env::current_exe().map_err(|e| fail(format!("no xpuctl to run: {e}")))?;
    let out = File::create(log).map_err(|e| fail(format!("cannot make {}: {e}", log.display())))?;
    let err = out
        .try_clone()
        .map_err(|e| fail(format!("{}: {e}", log.display())))?;
    let mut cmd = Command::new(exe);
    // Named xpuctl whatever the plugin's file is called (xpuctl picks the CNI plugin by its
    // name), and without the runtime's CNI_* variables, which are the plugin's call, not the
    // agent's.
    cmd.arg0("xpuctl");
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("CNI_") {
            cmd.env_remove(k);
        }
    }
    // Its own process group, stdin and stdout away from the runtime's pipes: the runtime
    // reads the plugin's stdout to its end, which must not wait for the agent's.
    cmd.arg("splitns")
        .arg("agent")
        .arg("--cgroup")
        .arg(cgroup)
        .arg("--netns")
        .arg(&r.netns)
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .process_group(0)
        .spawn()
        .map_err(|e| fail(format!("cannot start it: {e}")))
}

/// Waits until the agent `child` follows the namespace's sockets, or ends, or [`READY_WAIT`]
/// passes (it is then stopped).
pub(crate) fn ready(mut child: Child, log: &Path) -> Result<(), CniError> {
    let deadline = Instant::now() + READY_WAIT;
    loop {
        let said = fs::read_to_string(log).unwrap_or_default();
        if said.contains(READY) {
            return Ok(());
        }
        if let Ok(Some(status)) = child.try_wait() {
            return Err(fail(format!("ended ({status}): {}", said.trim())));
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Err(fail(format!(
                "not ready after {} s: {}",
                READY_WAIT.as_secs(),
                said.trim()
            )));
        }
        thread::sleep(Duration::from_millis(100));
    }
}

fn fail(what: String) -> CniError {
    CniError::new(Code::Kernel, format!("the pod's ownership agent: {what}"))
}

/// Whether `pid` is the agent of the namespace `netns` (a pid is reused once its process
/// ends: this one's command line must say so).
pub(crate) fn is_agent(pid: u32, netns: &Path) -> bool {
    let Ok(cmdline) = fs::read(format!("/proc/{pid}/cmdline")) else {
        return false;
    };
    let args: Vec<&[u8]> = cmdline.split(|&b| b == 0).collect();
    let ns = netns.as_os_str().as_encoded_bytes();
    args.windows(2)
        .any(|w| w == [b"splitns".as_slice(), b"agent"])
        && args.windows(2).any(|w| w[0] == b"--netns" && w[1] == ns)
}

/// Stops the agent of `r`, if it still runs.
pub(crate) fn stop(r: &Record) {
    let Some(pid) = r.agent_pid else {
        return;
    };
    if !is_agent(pid, &r.netns) {
        return;
    }
    let Some(p) = i32::try_from(pid).ok().and_then(Pid::from_raw) else {
        return;
    };
    // A moment to go (until then it holds the namespace), then no choice.
    for signal in [Signal::TERM, Signal::KILL] {
        let _ = kill_process(p, signal);
        for _ in 0..50 {
            if !is_agent(pid, &r.netns) {
                return;
            }
            thread::sleep(Duration::from_millis(100));
        }
    }
}

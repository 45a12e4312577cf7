// SPDX-License-Identifier: GPL-2.0

//! Podman, as the agent runs it.

use std::process::Command;

use xpu_pod::podman::failure;

/// Runs `podman ARGS` with `env` added; its stdout, or what it said went wrong.
pub(crate) fn podman(args: &[&str], env: &[(&str, &str)]) -> Result<String, String> {
    let out = Command::new("podman")
        .args(args)
        .envs(env.iter().copied())
        .output()
        .map_err(|e| format!("cannot run podman: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(failure(args, &out.status.to_string(), &out.stderr))
    }
}

// SPDX-License-Identifier: GPL-2.0

//! Podman, as the agent runs it.

use std::process::Command;

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
        let said = String::from_utf8_lossy(&out.stderr);
        // Its last lines say why; the rest is progress.
        let tail: Vec<&str> = said.lines().rev().take(4).collect();
        Err(format!(
            "podman {} failed ({}): {}",
            args.first().copied().unwrap_or(""),
            out.status,
            tail.into_iter().rev().collect::<Vec<_>>().join(" / ")
        ))
    }
}

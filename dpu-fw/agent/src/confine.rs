// SPDX-License-Identifier: GPL-2.0

//! What the agent runs for the host, and what it refuses: the host asks for a pod's half, not
//! for the DPU. A half that would reach past its pod (the DPU's own namespaces, privileges,
//! its ports, its files outside the paths the DPU's operator allows) is refused, whatever the
//! host sends.

use std::path::Path;

use k8s_openapi::api::core::v1::{Container, Pod};

/// Why `pod` may not run on the DPU, if it may not. `host_paths` are the directories whose
/// files a half may mount (`hostPath` volumes at or below one of them).
pub(crate) fn check(pod: &Pod, host_paths: &[impl AsRef<Path>]) -> Result<(), String> {
    let Some(spec) = pod.spec.as_ref() else {
        return Err("no spec".into());
    };
    for (what, on) in [
        ("hostNetwork", spec.host_network),
        ("hostPID", spec.host_pid),
        ("hostIPC", spec.host_ipc),
    ] {
        if on == Some(true) {
            return Err(format!(
                "{what}: a half runs in its pod's namespaces, not the DPU's"
            ));
        }
    }
    let containers = spec
        .containers
        .iter()
        .chain(spec.init_containers.iter().flatten());
    for c in containers {
        container(c)?;
    }
    for v in spec.volumes.iter().flatten() {
        let Some(hp) = v.host_path.as_ref() else {
            continue;
        };
        let path = Path::new(&hp.path);
        // Components, not characters: /opt/envoy-evil is not below /opt/envoy, nor is
        // /opt/envoy/../.. .
        let allowed = path.is_absolute()
            && !path
                .components()
                .any(|c| matches!(c, std::path::Component::ParentDir))
            && host_paths.iter().any(|a| path.starts_with(a.as_ref()));
        if !allowed {
            return Err(format!(
                "volume {}: hostPath {} is not below a path the DPU allows (--allow-host-path)",
                v.name, hp.path
            ));
        }
    }
    Ok(())
}

fn container(c: &Container) -> Result<(), String> {
    if let Some(sc) = c.security_context.as_ref() {
        if sc.privileged == Some(true) {
            return Err(format!("container {}: privileged", c.name));
        }
        let added = sc
            .capabilities
            .as_ref()
            .and_then(|caps| caps.add.as_ref())
            .is_some_and(|a| !a.is_empty());
        if added {
            return Err(format!("container {}: adds capabilities", c.name));
        }
    }
    if c.ports.iter().flatten().any(|p| p.host_port.is_some()) {
        return Err(format!(
            "container {}: a hostPort takes a port of the DPU's own",
            c.name
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(yaml: &str) -> Pod {
        serde_yaml::from_str(yaml).expect("a pod")
    }

    const ALLOWED: &[&str] = &["/opt/envoy", "/usr/bin/prometheus"];

    #[test]
    fn a_plain_half_runs() {
        let p = pod("
kind: Pod
metadata: {name: web}
spec:
  containers:
  - {name: envoy, ports: [{containerPort: 9080}], securityContext: {runAsUser: 1337}}
  volumes:
  - {name: bin, hostPath: {path: /opt/envoy}}
  - {name: conf, hostPath: {path: /opt/envoy/conf/envoy.yaml}}
  - {name: prom, hostPath: {path: /usr/bin/prometheus}}
  - {name: scratch, emptyDir: {}}
");
        assert_eq!(check(&p, ALLOWED), Ok(()));
    }

    #[test]
    fn what_reaches_past_the_pod_is_refused() {
        for (yaml, why) in [
            ("spec: {hostNetwork: true, containers: [{name: a}]}", "hostNetwork"),
            ("spec: {hostPID: true, containers: [{name: a}]}", "hostPID"),
            ("spec: {hostIPC: true, containers: [{name: a}]}", "hostIPC"),
            (
                "spec: {containers: [{name: a, securityContext: {privileged: true}}]}",
                "privileged",
            ),
            (
                "spec: {containers: [{name: a, securityContext: {capabilities: {add: [SYS_ADMIN]}}}]}",
                "adds capabilities",
            ),
            (
                "spec: {initContainers: [{name: i, securityContext: {privileged: true}}], containers: [{name: a}]}",
                "container i: privileged",
            ),
            (
                "spec: {containers: [{name: a, ports: [{containerPort: 22, hostPort: 22}]}]}",
                "hostPort",
            ),
            (
                "spec: {containers: [{name: a}], volumes: [{name: v, hostPath: {path: /}}]}",
                "hostPath / ",
            ),
            (
                "spec: {containers: [{name: a}], volumes: [{name: v, hostPath: {path: /opt/envoy-evil}}]}",
                "hostPath /opt/envoy-evil",
            ),
            (
                "spec: {containers: [{name: a}], volumes: [{name: v, hostPath: {path: /opt/envoy/../../etc}}]}",
                "hostPath /opt/envoy/../../etc",
            ),
            (
                "spec: {containers: [{name: a}], volumes: [{name: v, hostPath: {path: opt/envoy}}]}",
                "hostPath opt/envoy",
            ),
        ] {
            let p = pod(&format!("kind: Pod\nmetadata: {{name: web}}\n{yaml}"));
            let e = check(&p, ALLOWED).expect_err(yaml);
            assert!(e.contains(why), "{yaml}: {e}");
        }
        // No allowed path: no hostPath at all.
        let p = pod("kind: Pod\nspec: {containers: [{name: a}], volumes: [{name: v, hostPath: {path: /opt/envoy}}]}");
        assert!(check(&p, &[] as &[&str]).is_err());
    }
}

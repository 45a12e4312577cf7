// SPDX-License-Identifier: GPL-2.0

//! DPU halves whose host half is gone. A pod removed on the host by anything but `xpuctl pod
//! delete` (the runtime's `podman pod rm`, the host half's CNI DEL or GC) would leave its DPU
//! half behind; the link shows it: the DPU half's peer is no longer split. The host half's
//! goodbye ("unsplit") does not last (the host's CNI DEL then takes the link back to the
//! host's pool, down, and the DPU end forgets its peer: "unknown"), so the agent does not wait
//! for one word but for the pairing to come back: a half whose peer has not been split for
//! `--reap-after` is removed, as `pod delete` removes it. That takes with it the halves of a
//! host that went down for longer (its pods went down with it; a runtime makes them anew, and
//! `xpuctl pod apply` their DPU halves).

use std::{
    collections::HashMap,
    sync::{Mutex, MutexGuard, PoisonError},
    thread,
    time::{Duration, Instant},
};

use crate::halves::{peer_in, pod_netns, Agent};

/// How often the halves' peers are looked at.
const TICK: Duration = Duration::from_secs(5);

/// What a DPU half's split says of its peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Peer {
    /// Split, with this half's address: the host half is there.
    Paired,
    /// Not split (it said goodbye), not heard from, or split for another pod (its link given
    /// to another): no host half of this pod.
    Away,
}

/// The peer in `xpuctl splitns show --json`'s output; none when the namespace is not split
/// (`null`) or the output is not that.
pub(crate) fn peer_of(show: &str) -> Option<Peer> {
    let v: serde_json::Value = serde_json::from_str(show.trim()).ok()?;
    match v.get("peer")?.as_str()? {
        "split" => Some(Peer::Paired),
        "unsplit" | "unknown" | "conflict" => Some(Peer::Away),
        _ => None,
    }
}

/// Since when each half's peer has been away.
#[derive(Debug, Default)]
pub(crate) struct Orphans {
    since: HashMap<String, Instant>,
}

impl Orphans {
    /// Takes what `pod`'s peer is at `now` (none: not known, which changes nothing): whether its
    /// half has been an orphan for `after`.
    pub(crate) fn seen(
        &mut self,
        pod: &str,
        peer: Option<Peer>,
        now: Instant,
        after: Duration,
    ) -> bool {
        match peer {
            Some(Peer::Paired) => {
                self.since.remove(pod);
                false
            }
            Some(Peer::Away) => {
                let since = *self.since.entry(pod.to_owned()).or_insert(now);
                now.saturating_duration_since(since) >= after
            }
            None => self
                .since
                .get(pod)
                .is_some_and(|since| now.saturating_duration_since(*since) >= after),
        }
    }

    /// Forgets the halves not in `pods` (removed, whichever way).
    pub(crate) fn keep(&mut self, pods: &[String]) {
        self.since.retain(|p, _| pods.contains(p));
    }
}

/// The agent, one operation at a time: a request's or the reaper's.
pub(crate) fn lock(agent: &Mutex<Agent>) -> MutexGuard<'_, Agent> {
    agent.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Removes, every [`TICK`], the halves whose peer has been away for `after`.
pub(crate) fn run(agent: &Mutex<Agent>, after: Duration) {
    let mut orphans = Orphans::default();
    // Each half's namespace, looked up once (podman is slow on a DPU's cores): a half made
    // again has another, and a namespace that cannot be read is looked up anew.
    let mut netns: HashMap<String, String> = HashMap::new();
    loop {
        thread::sleep(TICK);
        let pods = match lock(agent).runtime_halves() {
            Ok(p) => p,
            Err(e) => {
                eprintln!("xpu-dpu-agent: reaper: {e}");
                continue;
            }
        };
        orphans.keep(&pods);
        netns.retain(|p, _| pods.contains(p));
        for pod in &pods {
            // Read without the lock (podman and the split, read only), so that requests are
            // not held up by the look; a removal takes it and looks again.
            let peer = |netns: &mut HashMap<String, String>| {
                let path = match netns.get(pod) {
                    Some(p) => p.clone(),
                    None => {
                        let p = pod_netns(pod)?;
                        netns.insert(pod.clone(), p.clone());
                        p
                    }
                };
                let peer = peer_in(&path);
                if peer.is_none() {
                    netns.remove(pod);
                }
                peer
            };
            if !orphans.seen(pod, peer(&mut netns), Instant::now(), after) {
                continue;
            }
            let a = lock(agent);
            // Looked at again under the lock: a pod deleted and applied anew since may be
            // paired.
            netns.remove(pod);
            if peer(&mut netns) == Some(Peer::Paired) {
                orphans.seen(pod, Some(Peer::Paired), Instant::now(), after);
                continue;
            }
            match a.delete(pod) {
                Ok(()) => eprintln!(
                    "xpu-dpu-agent: pod {pod}: no host half paired with it for {} s: DPU half removed",
                    after.as_secs()
                ),
                Err(e) => eprintln!("xpu-dpu-agent: pod {pod}: no host half: {e}"),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_peer_of_a_split() {
        assert_eq!(
            peer_of(r#"{"name":"x","peer":"split","owned":0}"#),
            Some(Peer::Paired)
        );
        for away in ["unsplit", "unknown", "conflict"] {
            assert_eq!(
                peer_of(&format!(r#"{{"peer":"{away}"}}"#)),
                Some(Peer::Away)
            );
        }
        assert_eq!(peer_of(r#"{"peer":"sideways"}"#), None);
        assert_eq!(peer_of("null\n"), None);
        assert_eq!(peer_of("not split"), None);
    }

    #[test]
    fn an_orphan_only_after_its_peer_stays_away() {
        let after = Duration::from_secs(30);
        let t0 = Instant::now();
        let at = |s| t0 + Duration::from_secs(s);
        let mut o = Orphans::default();
        assert!(!o.seen("web", Some(Peer::Away), at(0), after));
        assert!(!o.seen("web", Some(Peer::Away), at(29), after));
        assert!(o.seen("web", Some(Peer::Away), at(30), after));
        // The host half came back: the count starts again.
        assert!(!o.seen("web", Some(Peer::Paired), at(31), after));
        assert!(!o.seen("web", Some(Peer::Away), at(40), after));
        // Not known (the split unread) changes nothing: the count goes on.
        assert!(!o.seen("web", None, at(50), after));
        assert!(o.seen("web", None, at(70), after));
        // Never away, never an orphan.
        assert!(!o.seen("db", None, at(500), after));
        // A pod removed meanwhile is forgotten: made again, it starts from nothing.
        o.keep(&["db".to_owned()]);
        assert!(!o.seen("web", Some(Peer::Away), at(300), after));
    }
}

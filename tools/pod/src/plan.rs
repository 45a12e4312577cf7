// SPDX-License-Identifier: GPL-2.0
//! The offload planner: which of a pod's containers run on the DPU half.
//!
//! The goal is HeteroPod's: free the most host CPU. A container moved to the DPU frees the CPU
//! it asks for on the host and takes it, and its memory, from the DPU's capacity; a container in
//! a request's path (a sidecar proxy) adds link crossings to each request, which must stay
//! within the pod's latency budget. Which containers may move: infrastructure yes, the
//! application no, and a user's placement overrides both ways.
//!
//! A pod has a handful of containers, so the planner tries every placement of the movable ones
//! ([`MAX_MOVABLE`] at most) and takes the best: the optimum, not a heuristic's guess (a greedy
//! choice by CPU misses it whenever two small containers fit where one large one would).
//! Among equally good placements it takes the one that puts the least on the DPU: least
//! memory, then fewest crossings, then fewest containers, then the earliest in the pod's order.

use std::fmt;

/// Where a container runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Host,
    Dpu,
}

impl fmt::Display for Side {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Side::Host => "host",
            Side::Dpu => "dpu",
        })
    }
}

/// What a container is to the pod.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The pod's own program: stays on the host unless the user places it.
    Application,
    /// A sidecar, an agent: may move to the DPU.
    Infrastructure,
}

/// A container as the planner sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Container {
    pub name: String,
    /// CPU it asks for, millicores.
    pub cpu_millis: u64,
    /// Memory it asks for, bytes.
    pub mem_bytes: u64,
    pub role: Role,
    /// The user's placement, which the planner keeps.
    pub pinned: Option<Side>,
    /// Link crossings it adds to each request when it runs on the DPU (a proxy in the request
    /// path: the request and the response each cross once more).
    pub crossings: u32,
}

/// What the DPU half can take, and what the pod allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// DPU CPU free for this pod, millicores.
    pub dpu_cpu_millis: u64,
    /// DPU memory free for this pod, bytes.
    pub dpu_mem_bytes: u64,
    /// Latency the pod lets the offload add to a request, microseconds.
    pub latency_budget_us: u64,
    /// What one link crossing costs, microseconds (one way; `make bench-link` measures it).
    pub crossing_us: u64,
}

/// Why a container runs where it does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reason {
    /// The user placed it.
    Pinned,
    /// An application container: it stays with the host half.
    Application,
    /// Moved: frees its CPU on the host.
    Frees { cpu_millis: u64 },
    /// Fits, but asks for no CPU: moving it frees nothing. (A container that asks for CPU and
    /// fits next to the chosen ones is always chosen: it would free more.)
    FreesNothing,
    /// Would not fit with what is moved: DPU CPU.
    NoDpuCpu { needed: u64, free: u64 },
    /// Would not fit with what is moved: DPU memory.
    NoDpuMemory { needed: u64, free: u64 },
    /// Its crossings would take the pod over its latency budget.
    OverLatencyBudget { added_us: u64, left_us: u64 },
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::Pinned => write!(f, "placed by the user"),
            Reason::Application => write!(f, "the application: stays on the host"),
            Reason::Frees { cpu_millis } => write!(f, "frees {cpu_millis}m of host CPU"),
            Reason::FreesNothing => write!(f, "asks for no CPU: moving it frees nothing"),
            Reason::NoDpuCpu { needed, free } => {
                write!(f, "needs {needed}m of DPU CPU, {free}m left")
            }
            Reason::NoDpuMemory { needed, free } => {
                write!(f, "needs {needed} bytes of DPU memory, {free} left")
            }
            Reason::OverLatencyBudget { added_us, left_us } => {
                write!(
                    f,
                    "would add {added_us} us per request, {left_us} us of budget left"
                )
            }
        }
    }
}

/// One container's placement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placement {
    pub name: String,
    pub side: Side,
    pub reason: Reason,
}

/// The planner's choice, in the pod's container order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub placements: Vec<Placement>,
    /// Host CPU the DPU placements free, millicores.
    pub freed_cpu_millis: u64,
    /// What the DPU half takes.
    pub dpu_cpu_millis: u64,
    pub dpu_mem_bytes: u64,
    /// Latency the placement adds to a request, microseconds.
    pub added_latency_us: u64,
}

impl Plan {
    /// The side a container runs on.
    pub fn side(&self, name: &str) -> Option<Side> {
        self.placements
            .iter()
            .find(|p| p.name == name)
            .map(|p| p.side)
    }
}

/// Why no placement exists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlanError {
    /// What the user placed on the DPU does not fit there.
    PinnedDoesNotFit(String),
    /// Too many movable containers to try every placement.
    TooManyMovable(usize),
    /// Two containers of one name.
    DuplicateName(String),
}

impl fmt::Display for PlanError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PlanError::PinnedDoesNotFit(why) => {
                write!(f, "the containers placed on the DPU do not fit there: {why}")
            }
            PlanError::TooManyMovable(n) => write!(
                f,
                "{n} containers may move: the planner tries every placement of at most {MAX_MOVABLE}; place some by hand"
            ),
            PlanError::DuplicateName(n) => write!(f, "two containers are named {n}"),
        }
    }
}

impl std::error::Error for PlanError {}

/// The most movable containers a plan tries every placement of (2^16 placements, a few ms).
pub const MAX_MOVABLE: usize = 16;

/// What a set of DPU containers adds up to.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Load {
    cpu: u64,
    mem: u64,
    crossings: u64,
    count: u32,
}

impl Load {
    fn with(self, c: &Container) -> Self {
        Load {
            cpu: self.cpu.saturating_add(c.cpu_millis),
            mem: self.mem.saturating_add(c.mem_bytes),
            crossings: self.crossings.saturating_add(u64::from(c.crossings)),
            count: self.count + 1,
        }
    }

    fn latency_us(&self, l: &Limits) -> u64 {
        self.crossings.saturating_mul(l.crossing_us)
    }

    /// Why this load does not fit `l`, naming what `c` (the last added) needs.
    fn misfit(&self, l: &Limits, c: &Container, before: &Load) -> Option<Reason> {
        if self.cpu > l.dpu_cpu_millis {
            return Some(Reason::NoDpuCpu {
                needed: c.cpu_millis,
                free: l.dpu_cpu_millis.saturating_sub(before.cpu),
            });
        }
        if self.mem > l.dpu_mem_bytes {
            return Some(Reason::NoDpuMemory {
                needed: c.mem_bytes,
                free: l.dpu_mem_bytes.saturating_sub(before.mem),
            });
        }
        if self.latency_us(l) > l.latency_budget_us {
            return Some(Reason::OverLatencyBudget {
                added_us: u64::from(c.crossings).saturating_mul(l.crossing_us),
                left_us: l.latency_budget_us.saturating_sub(before.latency_us(l)),
            });
        }
        None
    }

    fn fits(&self, l: &Limits) -> bool {
        self.cpu <= l.dpu_cpu_millis
            && self.mem <= l.dpu_mem_bytes
            && self.latency_us(l) <= l.latency_budget_us
    }
}

/// Chooses where each of `pod`'s containers runs within `limits`.
pub fn plan(pod: &[Container], limits: &Limits) -> Result<Plan, PlanError> {
    for (i, c) in pod.iter().enumerate() {
        if pod[..i].iter().any(|d| d.name == c.name) {
            return Err(PlanError::DuplicateName(c.name.clone()));
        }
    }
    // What the user put on the DPU must fit; the rest is the planner's.
    let mut pinned = Load::default();
    for c in pod.iter().filter(|c| c.pinned == Some(Side::Dpu)) {
        let before = pinned;
        pinned = pinned.with(c);
        if let Some(why) = pinned.misfit(limits, c, &before) {
            return Err(PlanError::PinnedDoesNotFit(format!("{}: {why}", c.name)));
        }
    }
    let movable: Vec<usize> = (0..pod.len())
        .filter(|&i| pod[i].pinned.is_none() && pod[i].role == Role::Infrastructure)
        .collect();
    if movable.len() > MAX_MOVABLE {
        return Err(PlanError::TooManyMovable(movable.len()));
    }
    // Every subset of the movable containers; the best that fits. Better: more CPU freed, then
    // less on the DPU (memory, crossings, count), then the earlier containers.
    let load_of = |mask: u32| {
        movable
            .iter()
            .enumerate()
            .filter(|&(bit, _)| mask & (1 << bit) != 0)
            .fold(pinned, |l, (_, &i)| l.with(&pod[i]))
    };
    // Bit i of a mask is the i-th movable container: of two masks, the one with the earlier
    // first difference set, reversed, is the larger.
    let key = |mask: u32, l: &Load| {
        (
            std::cmp::Reverse(l.cpu),
            l.mem,
            l.crossings,
            l.count,
            std::cmp::Reverse(mask.reverse_bits()),
        )
    };
    let mut best = (0u32, pinned);
    for mask in 1..(1u32 << movable.len()) {
        let l = load_of(mask);
        if l.fits(limits) && key(mask, &l) < key(best.0, &best.1) {
            best = (mask, l);
        }
    }
    let (mask, load) = best;
    let chosen = |i: usize| {
        movable
            .iter()
            .position(|&m| m == i)
            .is_some_and(|bit| mask & (1 << bit) != 0)
    };
    let placements = pod
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let (side, reason) = if let Some(side) = c.pinned {
                (side, Reason::Pinned)
            } else if c.role == Role::Application {
                (Side::Host, Reason::Application)
            } else if chosen(i) {
                (
                    Side::Dpu,
                    Reason::Frees {
                        cpu_millis: c.cpu_millis,
                    },
                )
            } else {
                let why = load.with(c).misfit(limits, c, &load);
                (Side::Host, why.unwrap_or(Reason::FreesNothing))
            };
            Placement {
                name: c.name.clone(),
                side,
                reason,
            }
        })
        .collect();
    Ok(Plan {
        placements,
        freed_cpu_millis: load.cpu,
        dpu_cpu_millis: load.cpu,
        dpu_mem_bytes: load.mem,
        added_latency_us: load.latency_us(limits),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    const MI: u64 = 1 << 20;

    fn infra(name: &str, cpu: u64, mem_mi: u64) -> Container {
        Container {
            name: name.into(),
            cpu_millis: cpu,
            mem_bytes: mem_mi * MI,
            role: Role::Infrastructure,
            pinned: None,
            crossings: 0,
        }
    }

    fn app(name: &str, cpu: u64) -> Container {
        Container {
            role: Role::Application,
            ..infra(name, cpu, 64)
        }
    }

    fn limits(cpu: u64, mem_mi: u64) -> Limits {
        Limits {
            dpu_cpu_millis: cpu,
            dpu_mem_bytes: mem_mi * MI,
            latency_budget_us: 1000,
            crossing_us: 50,
        }
    }

    fn dpu_side(p: &Plan) -> Vec<&str> {
        p.placements
            .iter()
            .filter(|p| p.side == Side::Dpu)
            .map(|p| p.name.as_str())
            .collect()
    }

    /// Cases with a known optimum: what goes to the DPU, and the host CPU it frees.
    #[rstest]
    // Room for all: every infrastructure container moves, the application stays.
    #[case::room_for_all(
        vec![app("app", 2000), infra("envoy", 1000, 256), infra("agent", 200, 64)],
        limits(4000, 1024), vec!["envoy", "agent"], 1200)]
    // Room for one: the one that frees more.
    #[case::room_for_one(
        vec![app("app", 500), infra("envoy", 1000, 128), infra("agent", 300, 64)],
        limits(1000, 1024), vec!["envoy"], 1000)]
    // Greedy by CPU takes 600 and stops; two of 500 free more.
    #[case::not_greedy(
        vec![infra("a", 600, 16), infra("b", 500, 16), infra("c", 500, 16)],
        limits(1000, 1024), vec!["b", "c"], 1000)]
    // Memory binds: the larger CPU does not fit in the DPU's memory.
    #[case::memory_binds(
        vec![infra("big", 800, 900), infra("small", 300, 100), infra("tiny", 200, 100)],
        limits(2000, 512), vec!["small", "tiny"], 500)]
    // The user's placements: an infrastructure container kept on the host, the application moved.
    #[case::user_overrides(
        vec![Container { pinned: Some(Side::Dpu), ..app("app", 100) },
             Container { pinned: Some(Side::Host), ..infra("envoy", 1000, 64) },
             infra("agent", 200, 64)],
        limits(4000, 1024), vec!["app", "agent"], 300)]
    // Pinned containers take room first: what is left fits the smaller one only.
    #[case::pinned_first(
        vec![Container { pinned: Some(Side::Dpu), ..infra("mesh", 700, 64) },
             infra("agent", 400, 64), infra("log", 300, 64)],
        limits(1000, 1024), vec!["mesh", "log"], 1000)]
    // Equal CPU either way: the placement with less memory on the DPU.
    #[case::tie_less_memory(
        vec![infra("fat", 500, 300), infra("lean", 500, 100)],
        limits(500, 1024), vec!["lean"], 500)]
    // Full tie: the earlier container.
    #[case::tie_earlier(
        vec![infra("first", 500, 100), infra("second", 500, 100)],
        limits(500, 1024), vec!["first"], 500)]
    // Full tie between pairs: the pair with the earlier first container.
    #[case::tie_earlier_pair(
        vec![infra("a", 300, 16), infra("b", 250, 16), infra("c", 250, 16), infra("d", 200, 16)],
        limits(500, 1024), vec!["a", "d"], 500)]
    // Nothing fits: all on the host.
    #[case::nothing_fits(
        vec![app("app", 100), infra("envoy", 1000, 64)],
        limits(500, 1024), vec![], 0)]
    fn known_optimum(
        #[case] pod: Vec<Container>,
        #[case] l: Limits,
        #[case] dpu: Vec<&str>,
        #[case] freed: u64,
    ) {
        let p = plan(&pod, &l).expect("a plan");
        assert_eq!(dpu_side(&p), dpu);
        assert_eq!(p.freed_cpu_millis, freed);
        assert!(p.dpu_cpu_millis <= l.dpu_cpu_millis && p.dpu_mem_bytes <= l.dpu_mem_bytes);
    }

    #[test]
    fn latency_budget_keeps_a_proxy_home() {
        let envoy = Container {
            crossings: 2,
            ..infra("envoy", 1000, 128)
        };
        let pod = vec![app("app", 500), envoy, infra("agent", 200, 64)];
        let tight = Limits {
            latency_budget_us: 60,
            ..limits(4000, 1024)
        };
        let p = plan(&pod, &tight).expect("a plan");
        assert_eq!(dpu_side(&p), vec!["agent"]);
        assert_eq!(
            p.placements[1].reason,
            Reason::OverLatencyBudget {
                added_us: 100,
                left_us: 60
            }
        );
        let loose = Limits {
            latency_budget_us: 100,
            ..tight
        };
        let p = plan(&pod, &loose).expect("a plan");
        assert_eq!(dpu_side(&p), vec!["envoy", "agent"]);
        assert_eq!(p.added_latency_us, 100);
    }

    #[test]
    fn reasons_say_why() {
        let pod = vec![
            app("app", 500),
            infra("envoy", 900, 64),
            infra("agent", 300, 64),
            infra("idle", 0, 8),
            infra("cache", 50, 2000),
        ];
        let p = plan(&pod, &limits(1000, 1024)).expect("a plan");
        let reasons: Vec<_> = p.placements.iter().map(|p| p.reason.clone()).collect();
        assert_eq!(
            reasons,
            vec![
                Reason::Application,
                Reason::Frees { cpu_millis: 900 },
                Reason::NoDpuCpu {
                    needed: 300,
                    free: 100
                },
                Reason::FreesNothing,
                Reason::NoDpuMemory {
                    needed: 2000 * MI,
                    free: 1024 * MI - 64 * MI
                },
            ]
        );
        // b fits alone, but the optimum is a and c: the room it would need is theirs.
        let pod = vec![
            infra("a", 500, 16),
            infra("b", 400, 16),
            infra("c", 500, 16),
        ];
        let p = plan(&pod, &limits(1000, 1024)).expect("a plan");
        assert_eq!(dpu_side(&p), vec!["a", "c"]);
        assert_eq!(
            p.placements[1].reason,
            Reason::NoDpuCpu {
                needed: 400,
                free: 0
            }
        );
    }

    #[test]
    fn refusals() {
        let pinned = Container {
            pinned: Some(Side::Dpu),
            ..infra("envoy", 2000, 64)
        };
        assert!(matches!(
            plan(&[pinned], &limits(1000, 1024)),
            Err(PlanError::PinnedDoesNotFit(why)) if why.contains("envoy")
        ));
        let many: Vec<_> = (0..=MAX_MOVABLE)
            .map(|i| infra(&format!("c{i}"), 10, 1))
            .collect();
        assert_eq!(
            plan(&many, &limits(1000, 1024)),
            Err(PlanError::TooManyMovable(MAX_MOVABLE + 1))
        );
        assert_eq!(
            plan(&[infra("x", 1, 1), infra("x", 2, 1)], &limits(1000, 1024)),
            Err(PlanError::DuplicateName("x".into()))
        );
    }

    /// The search against a brute force written differently: over random pods, no placement
    /// that fits frees more than the plan's.
    #[test]
    fn no_placement_frees_more() {
        let mut seed = 0x9e3779b97f4a7c15u64;
        let mut next = |m: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % m
        };
        for _ in 0..300 {
            let n = 1 + next(7) as usize;
            let pod: Vec<_> = (0..n)
                .map(|i| Container {
                    crossings: next(3) as u32,
                    ..infra(&format!("c{i}"), next(1500), next(600))
                })
                .collect();
            let l = Limits {
                latency_budget_us: next(300),
                ..limits(next(3000), next(1200))
            };
            let p = plan(&pod, &l).expect("a plan");
            for mask in 0..(1u32 << n) {
                let on = |i: usize| mask & (1 << i) != 0;
                let sum = |f: &dyn Fn(&Container) -> u64| {
                    pod.iter()
                        .enumerate()
                        .filter(|&(i, _)| on(i))
                        .map(|(_, c)| f(c))
                        .sum::<u64>()
                };
                let fits = sum(&|c| c.cpu_millis) <= l.dpu_cpu_millis
                    && sum(&|c| c.mem_bytes) <= l.dpu_mem_bytes
                    && sum(&|c| u64::from(c.crossings)) * l.crossing_us <= l.latency_budget_us;
                assert!(!fits || sum(&|c| c.cpu_millis) <= p.freed_cpu_millis);
            }
            assert!(p.dpu_cpu_millis <= l.dpu_cpu_millis);
            assert!(p.added_latency_us <= l.latency_budget_us);
        }
    }
}

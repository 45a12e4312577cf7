// SPDX-License-Identifier: GPL-2.0

//! `xpuctl splitns agent`: automatic port ownership for this half of a split namespace.
//!
//! A socket that binds a port in this half owns the port for it, with nobody registering
//! anything: the agent loads cgroup BPF programs (src/bpf/ownership.bpf.c) that see every bind
//! and release of the namespace's TCP and UDP sockets, and claims and frees ports for them in
//! the kernel (`port-add`/`port-del` with the `socket` claim), which tells the other half over
//! the link. A bind to a port the other half owns fails with EADDRINUSE in the program, which
//! reads the other half's ports from a map the agent keeps in step with the kernel's view of
//! the peer (it listens to the family's monitor group).
//!
//! Why here and not in the module: a module has no hook at bind time (LSMs cannot be modules,
//! and the bind path has no notifier), while cgroup BPF programs are the kernel's interface for
//! exactly this (`bind4/6` may refuse with any errno since 5.18; `post_bind4/6` sees the port
//! chosen for port 0; `sock_release` sees the socket go) and are how Cilium and Merbridge hook
//! pods' sockets.
//!
//! Nothing is lost: a port is freed only once the kernel's socket tables (sock_diag) show no
//! socket of the namespace on it, so a listener's accepted connections keep the port until they
//! end; a port still in use is looked at again every [`RECHECK`]. An event the ring had no room
//! for makes the agent rebuild its claims from the socket tables, as it does when it starts
//! (after a restart, say). The kernel keeps this half's claims while the peer is away and sends
//! them when it returns; the agent need not be there for that.

// libbpf-cargo's generated skeleton: its unsafe is the generator's, not ours.
#[allow(
    unsafe_code,
    clippy::all,
    clippy::unwrap_used,
    unreachable_pub,
    dead_code
)]
mod skel {
    include!(concat!(env!("OUT_DIR"), "/ownership.skel.rs"));
}

use std::{
    collections::{BTreeMap, BTreeSet, HashSet},
    fs::File,
    mem::MaybeUninit,
    net::{Ipv4Addr, SocketAddrV4},
    os::fd::AsRawFd,
    path::{Path, PathBuf},
    sync::mpsc::{self, Receiver, RecvTimeoutError, Sender},
    thread,
    time::{Duration, Instant},
};

use libbpf_rs::{
    skel::{OpenSkel, SkelBuilder},
    Link, MapCore, MapFlags, RingBufferBuilder,
};
use neli::{
    consts::socket::NlFamily, nl::NlPayload, router::synchronous::NlRouter,
    socket::synchronous::NlSocketHandle, types::Buffer, utils::Groups,
};
use rustix::{
    io::Errno,
    net::{sockopt, AddressFamily, SocketType},
};
use skel::{OwnershipSkel, OwnershipSkelBuilder};
use xpu_uapi::{
    genl::{claim, cmd, port, splitns, PeerState, FAMILY_NAME, MCGRP_MONITOR},
    sync::Half,
};

use crate::{
    genl::{get_u16, get_u32, Family},
    link::{err, Error},
    sockets,
};

/// How often a freed socket's port that some other socket still holds is looked at again.
const RECHECK: Duration = Duration::from_secs(1);
/// The least time between two readings of the kernel's view (see `serve`).
const REFRESH_GAP: Duration = Duration::from_millis(250);
/// `enum xpu_own_kind` of the BPF programs.
const EV_BIND: u8 = 1;
const EV_RELEASE: u8 = 2;
/// `struct xpu_own_event`: cookie (u64), port (u16), kind (u8), protocol (u8), pad (u32).
const EVENT_LEN: usize = 16;
const EVENT_PORT: usize = 8;
const EVENT_KIND: usize = 10;
// What `parse_event` reads is where the BPF programs write it (their BTF, in the skeleton).
const _: () = {
    use skel::types::xpu_own_event as E;
    use std::mem::{offset_of, size_of};
    assert!(size_of::<E>() == EVENT_LEN);
    assert!(offset_of!(E, cookie) == 0);
    assert!(offset_of!(E, port) == EVENT_PORT);
    assert!(offset_of!(E, kind) == EVENT_KIND);
};
const EEXIST: i32 = Errno::EXIST.raw_os_error();
const ENOENT: i32 = Errno::NOENT.raw_os_error();
const EADDRINUSE: i32 = Errno::ADDRINUSE.raw_os_error();

/// What the agent's threads tell its loop.
enum Msg {
    /// A bind or release of one of the namespace's sockets.
    Event { kind: u8, port: u16, cookie: u64 },
    /// The split namespace changed (its peer, or it is gone): read the kernel's view again.
    Changed,
    /// A thread cannot go on.
    Fatal(String),
}

/// The kernel's view of this split namespace, as far as ownership goes.
struct View {
    half: u32,
    range: (u16, u16),
    /// The other half's ports: its claims and, once paired, its ephemeral range.
    peer: Vec<bool>,
    /// This half's ports held by the `socket` claim.
    socket_claims: BTreeSet<u16>,
}

impl View {
    /// `None`: the namespace is not split (any more).
    fn fetch(fam: &Family) -> Result<Option<Self>, Error> {
        let r = fam.request(
            cmd::SPLITNS_GET,
            &Vec::new(),
            true,
            "cannot read the split namespace",
        )?;
        let Some(r) = r.first() else {
            return Ok(None);
        };
        let half = get_u32(r, splitns::HALF).ok_or_else(|| err("the kernel named no half"))?;
        let range = get_u16(r, splitns::PORT_MIN)
            .zip(get_u16(r, splitns::PORT_MAX))
            .ok_or_else(|| err("the kernel gave no ephemeral range"))?;
        let mut peer = vec![false; 65536];
        let split = get_u32(r, splitns::PEER_STATE) == Some(PeerState::Split as u32);
        if let (true, Some(lo), Some(hi)) = (
            split,
            get_u16(r, splitns::PEER_PORT_MIN),
            get_u16(r, splitns::PEER_PORT_MAX),
        ) {
            for p in lo..=hi {
                peer[usize::from(p)] = true;
            }
        }
        let mut socket_claims = BTreeSet::new();
        for r in fam.request(cmd::PORT_GET, &Vec::new(), true, "cannot list the ports")? {
            let (Some(p), Some(h)) = (get_u16(&r, port::PORT), get_u32(&r, port::HALF)) else {
                continue;
            };
            if h != half {
                peer[usize::from(p)] = true;
            } else if get_u32(&r, port::CLAIM).unwrap_or(0) & claim::SOCKET != 0 {
                socket_claims.insert(p);
            }
        }
        Ok(Some(Self {
            half,
            range,
            peer,
            socket_claims,
        }))
    }

    fn ephemeral(&self, p: u16) -> bool {
        (self.range.0..=self.range.1).contains(&p)
    }
}

/// The agent's state between events.
struct Owner<'a> {
    fam: Family,
    skel: &'a OwnershipSkel<'a>,
    view: View,
    /// What the programs' peer_ports map holds.
    map_peer: Vec<bool>,
    /// Ports whose socket went, and when to look at them.
    pending: BTreeMap<u16, Instant>,
    /// Sockets released but perhaps still in the kernel's tables.
    gone: HashSet<u64>,
    lost_seen: u64,
}

impl Owner<'_> {
    fn counter(&self, i: u32) -> u64 {
        self.skel
            .maps
            .counters
            .lookup(&i.to_ne_bytes(), MapFlags::ANY)
            .ok()
            .flatten()
            .and_then(|v| <[u8; 8]>::try_from(v.as_slice()).ok())
            .map_or(0, u64::from_ne_bytes)
    }

    /// Reads the kernel's view again and brings the programs' map of the peer's ports to it.
    /// Returns `None` once the namespace is no longer split, else whether a port may be ours
    /// to claim again: the other half let ports go, or took some of ours (both halves claimed
    /// them at once, and the host half keeps such a port), and a socket here may hold one.
    fn refresh(&mut self) -> Result<Option<bool>, Error> {
        let Some(view) = View::fetch(&self.fam)? else {
            return Ok(None);
        };
        let yielded = self
            .view
            .socket_claims
            .difference(&view.socket_claims)
            .next()
            .is_some();
        let mut peer_freed = false;
        // The changed entries in one batch: at the start the peer's whole ephemeral range
        // changes, and one update each (12000 system calls) took the agent 8 s to start under
        // TCG.
        let (mut keys, mut values) = (Vec::new(), Vec::new());
        for (p, (&want, have)) in view.peer.iter().zip(self.map_peer.iter()).enumerate() {
            if want != *have {
                peer_freed |= !want;
                keys.extend_from_slice(&u32::try_from(p).unwrap_or(0).to_ne_bytes());
                values.push(u8::from(want));
            }
        }
        if let Ok(n @ 1..) = u32::try_from(values.len()) {
            self.skel
                .maps
                .peer_ports
                .update_batch(&keys, &values, n, MapFlags::ANY, MapFlags::ANY)
                .map_err(|e| err(format!("cannot update the peer's ports: {e}")))?;
        }
        for (have, &want) in self.map_peer.iter_mut().zip(view.peer.iter()) {
            *have = want;
        }
        self.view = view;
        Ok(Some(yielded || peer_freed))
    }

    fn claim(&mut self, p: u16) -> Result<(), Error> {
        if self.view.ephemeral(p) || self.view.socket_claims.contains(&p) {
            return Ok(());
        }
        let attrs = vec![
            (port::PORT, p.to_ne_bytes().to_vec()),
            (port::CLAIM, claim::SOCKET.to_ne_bytes().to_vec()),
        ];
        match self
            .fam
            .request(cmd::PORT_ADD, &attrs, false, &format!("port {p}"))
        {
            Ok(_) => {}
            Err(e) if e.errno() == Some(EEXIST) => {}
            // Both halves bound it at once, and the kernel gave it to the other (the host
            // half wins). The socket here keeps its bind, but no packet from across reaches it.
            Err(e) if e.errno() == Some(EADDRINUSE) => {
                eprintln!(
                    "xpuctl: agent: a socket here bound {e}; the port stays the other half's"
                );
                return Ok(());
            }
            Err(e) => return Err(e),
        }
        self.view.socket_claims.insert(p);
        Ok(())
    }

    fn free(&mut self, p: u16) -> Result<(), Error> {
        let attrs = vec![
            (port::PORT, p.to_ne_bytes().to_vec()),
            (port::CLAIM, claim::SOCKET.to_ne_bytes().to_vec()),
        ];
        match self.fam.request(
            cmd::PORT_DEL,
            &attrs,
            false,
            &format!("cannot free port {p}"),
        ) {
            Ok(_) => {}
            Err(e) if e.errno() == Some(ENOENT) => {}
            Err(e) => return Err(e),
        }
        self.view.socket_claims.remove(&p);
        Ok(())
    }

    /// The namespace's sockets now, less the released ones; forgets released sockets the
    /// kernel no longer lists.
    fn in_use(&mut self) -> Result<BTreeMap<u16, u32>, Error> {
        let (ports, seen) = sockets::ports_in_use(&self.gone)?;
        self.gone.retain(|c| seen.contains(c));
        Ok(ports)
    }

    /// Claims what the namespace's sockets hold and frees the socket claims nothing holds:
    /// at start, after lost events, and when the other half let ports go or took ours.
    fn reconcile(&mut self) -> Result<(), Error> {
        let in_use = self.in_use()?;
        for &p in in_use.keys() {
            // The other half's: a socket here that bound it in the same instant keeps it,
            // without the port (see `claim`); it may be claimed once the other half lets go.
            if !self.view.peer.get(usize::from(p)).copied().unwrap_or(false) {
                self.claim(p)?;
            }
        }
        let stale: Vec<u16> = self
            .view
            .socket_claims
            .iter()
            .copied()
            .filter(|p| !in_use.contains_key(p))
            .collect();
        for p in stale {
            self.free(p)?;
        }
        self.pending.clear();
        Ok(())
    }

    fn event(&mut self, kind: u8, p: u16, cookie: u64) -> Result<(), Error> {
        match kind {
            EV_BIND => {
                self.pending.remove(&p);
                self.claim(p)
            }
            EV_RELEASE => {
                self.gone.insert(cookie);
                self.pending.entry(p).or_insert_with(Instant::now);
                Ok(())
            }
            _ => Ok(()),
        }
    }

    /// Frees the due ports that no socket holds any more; looks again later at the others.
    fn check_pending(&mut self) -> Result<(), Error> {
        let now = Instant::now();
        let due: Vec<u16> = self
            .pending
            .iter()
            .filter(|(_, &t)| t <= now)
            .map(|(&p, _)| p)
            .collect();
        if due.is_empty() {
            return Ok(());
        }
        let in_use = self.in_use()?;
        for p in due {
            if in_use.contains_key(&p) {
                self.pending.insert(p, now + RECHECK);
            } else {
                self.pending.remove(&p);
                if self.view.socket_claims.contains(&p) {
                    self.free(p)?;
                }
            }
        }
        Ok(())
    }

    /// How long the loop may sleep.
    fn timeout(&self) -> Duration {
        let now = Instant::now();
        self.pending
            .values()
            .min()
            .map_or(Duration::from_secs(3600), |t| {
                t.saturating_duration_since(now)
            })
    }
}

/// Teaches the programs this namespace: binds a probe socket whose cookie they know.
fn learn_netns(skel: &OwnershipSkel<'_>) -> Result<(), Error> {
    let fail = |what: &str, e: &dyn std::fmt::Display| err(format!("{what}: {e}"));
    let probe = rustix::net::socket(AddressFamily::INET, SocketType::DGRAM, None)
        .map_err(|e| fail("cannot make a probe socket", &e))?;
    let cookie = sockopt::socket_cookie(&probe).map_err(|e| fail("cannot read its cookie", &e))?;
    skel.maps
        .self_ns
        .update(&0u32.to_ne_bytes(), &cookie.to_ne_bytes(), MapFlags::ANY)
        .map_err(|e| fail("cannot write the probe's cookie", &e))?;
    rustix::net::bind(&probe, &SocketAddrV4::new(Ipv4Addr::LOCALHOST, 0))
        .map_err(|e| fail("cannot bind the probe socket", &e))?;
    let ns = skel
        .maps
        .self_ns
        .lookup(&1u32.to_ne_bytes(), MapFlags::ANY)
        .ok()
        .flatten()
        .and_then(|v| <[u8; 8]>::try_from(v.as_slice()).ok())
        .map_or(0, u64::from_ne_bytes);
    if ns == 0 {
        return Err(err(
            "the BPF programs did not see the agent's own bind: is this process in the cgroup \
             they are attached to?",
        ));
    }
    Ok(())
}

fn attach(skel: &OwnershipSkel<'_>, cgroup: &Path) -> Result<Vec<Link>, Error> {
    // Only cgroup v2 directories have cgroup.controllers.
    if !cgroup.join("cgroup.controllers").exists() {
        return Err(err(format!(
            "{} is not a cgroup v2 directory (`ip netns exec` hides /sys/fs/cgroup: mount \
             the hierarchy elsewhere, mount -t cgroup2 none DIR, and say --cgroup DIR)",
            cgroup.display()
        )));
    }
    let dir =
        File::open(cgroup).map_err(|e| err(format!("cannot open {}: {e}", cgroup.display())))?;
    let fd = dir.as_raw_fd();
    let p = &skel.progs;
    [
        &p.xpu_bind4,
        &p.xpu_bind6,
        &p.xpu_post_bind4,
        &p.xpu_post_bind6,
        &p.xpu_sock_release,
    ]
    .into_iter()
    .map(|prog| {
        prog.attach_cgroup(fd).map_err(|e| {
            err(format!(
                "cannot attach {} to {}: {e}",
                prog.name().to_string_lossy(),
                cgroup.display()
            ))
        })
    })
    .collect()
}

/// Forwards the family's split-namespace notifications (not its port ones: those are ours).
fn monitor(tx: Sender<Msg>) -> Result<(), Error> {
    let (router, _) = NlRouter::connect(NlFamily::Generic, None, Groups::empty())
        .map_err(|e| err(format!("cannot open a generic-netlink socket: {e}")))?;
    let group = router
        .resolve_nl_mcast_group(FAMILY_NAME, MCGRP_MONITOR)
        .map_err(|e| err(format!("cannot find the xpu monitor group: {e}")))?;
    let sock = NlSocketHandle::connect(NlFamily::Generic, None, Groups::new_groups(&[group]))
        .map_err(|e| err(format!("cannot join the xpu monitor group: {e}")))?;
    loop {
        let changed = match sock.recv::<u16, Buffer>() {
            Ok((msgs, _)) => msgs
                .into_iter()
                .any(|m| match m.map(|m| m.nl_payload().clone()) {
                    Ok(NlPayload::Payload(p)) => {
                        p.as_ref().first() == Some(&cmd::SPLITNS_CHANGE_NTF)
                    }
                    _ => false,
                }),
            // ENOBUFS: notifications were dropped; read everything again.
            Err(_) => true,
        };
        if changed && tx.send(Msg::Changed).is_err() {
            return Ok(());
        }
    }
}

fn parse_event(data: &[u8]) -> Option<Msg> {
    let data: &[u8; EVENT_LEN] = data.get(..EVENT_LEN)?.try_into().ok()?;
    let cookie = u64::from_ne_bytes(data[..8].try_into().ok()?);
    let port = u16::from_ne_bytes([data[EVENT_PORT], data[EVENT_PORT + 1]]);
    Some(Msg::Event {
        kind: data[EVENT_KIND],
        port,
        cookie,
    })
}

/// Runs the agent until the namespace is no longer split or something fails.
pub(crate) fn run(cgroup: PathBuf) -> Result<(), Error> {
    let fam = Family::open()?;
    let view = View::fetch(&fam)?.ok_or_else(|| {
        err("this network namespace is not split: run `xpuctl splitns create` first")
    })?;
    let mut storage = MaybeUninit::uninit();
    let skel = OwnershipSkelBuilder::default()
        .open(&mut storage)
        .and_then(|s| s.load())
        .map_err(|e| err(format!("cannot load the ownership BPF programs: {e}")))?;
    let _links = attach(&skel, &cgroup)?;
    learn_netns(&skel)?;

    let (tx, rx) = mpsc::channel();
    let ring_tx = tx.clone();
    let mut ring = RingBufferBuilder::new();
    ring.add(&skel.maps.events, move |data| {
        let msg = parse_event(data)
            .unwrap_or_else(|| Msg::Fatal("a malformed event from the BPF programs".into()));
        i32::from(ring_tx.send(msg).is_err())
    })
    .map_err(|e| err(format!("cannot read the events ring: {e}")))?;
    let ring = ring
        .build()
        .map_err(|e| err(format!("cannot read the events ring: {e}")))?;

    thread::scope(|s| {
        let fatal = tx.clone();
        s.spawn(move || {
            if let Err(e) = monitor(fatal.clone()) {
                let _ = fatal.send(Msg::Fatal(e.to_string()));
            }
        });
        let fatal = tx.clone();
        s.spawn(move || loop {
            if let Err(e) = ring.poll(Duration::from_secs(3600)) {
                let _ = fatal.send(Msg::Fatal(format!("the events ring failed: {e}")));
                return;
            }
        });
        drop(tx);
        let half = if view.half == Half::Host as u32 {
            "host"
        } else {
            "dpu"
        };
        let mut owner = Owner {
            fam,
            skel: &skel,
            map_peer: vec![false; 65536],
            view,
            pending: BTreeMap::new(),
            gone: HashSet::new(),
            lost_seen: 0,
        };
        let result = serve(&mut owner, &rx, half);
        // The scope waits for the threads, which block in the kernel: end the process.
        match result {
            Ok(()) => std::process::exit(0),
            Err(e) => {
                eprintln!("xpuctl: {e}");
                std::process::exit(1)
            }
        }
    })
}

/// The next message within `wait`, if one comes.
fn next(rx: &Receiver<Msg>, wait: Duration) -> Result<Option<Msg>, Error> {
    match rx.recv_timeout(wait) {
        Ok(m) => Ok(Some(m)),
        Err(RecvTimeoutError::Timeout) => Ok(None),
        Err(RecvTimeoutError::Disconnected) => Err(err("the agent's threads ended")),
    }
}

/// Acts on message `m`: an event at once; a change noted in `changed` for the loop.
fn take(owner: &mut Owner<'_>, m: Option<Msg>, changed: &mut bool) -> Result<(), Error> {
    match m {
        Some(Msg::Event { kind, port, cookie }) => owner.event(kind, port, cookie),
        Some(Msg::Changed) => {
            *changed = true;
            Ok(())
        }
        Some(Msg::Fatal(e)) => Err(err(e)),
        None => Ok(()),
    }
}

fn serve(owner: &mut Owner<'_>, rx: &Receiver<Msg>, half: &str) -> Result<(), Error> {
    if owner.refresh()?.is_none() {
        return Ok(());
    }
    owner.lost_seen = owner.counter(0);
    owner.reconcile()?;
    println!("xpuctl: agent: ports of the {half} half follow its sockets");
    let mut refreshed = Instant::now();
    loop {
        // Take everything queued: one refresh and one socket scan serve a whole burst.
        let mut changed = false;
        take(owner, next(rx, owner.timeout())?, &mut changed)?;
        while let Ok(m) = rx.try_recv() {
            take(owner, Some(m), &mut changed)?;
        }
        // Each snapshot of the other half that changes its ports is a notification, so a burst
        // of its claims (a bind storm there) is one each, and a reading of the view lists every
        // port: one reading a claim made the storm cost its square. The view is read at most
        // once a REFRESH_GAP, at the gap's end, this half's events taken meanwhile.
        while changed {
            let left = (refreshed + REFRESH_GAP).saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            take(owner, next(rx, left)?, &mut changed)?;
        }
        if changed {
            let freed = owner.refresh()?;
            // From the reading's end: a reading that takes longer than the gap (thousands of
            // ports under TCG) still leaves the gap to this half's events.
            refreshed = Instant::now();
            match freed {
                None => {
                    println!("xpuctl: agent: the namespace is no longer split");
                    return Ok(());
                }
                Some(true) => owner.reconcile()?,
                Some(false) => {}
            }
        }
        let lost = owner.counter(0);
        if lost != owner.lost_seen {
            eprintln!(
                "xpuctl: agent: {} events lost, rescanning the sockets",
                lost - owner.lost_seen
            );
            owner.lost_seen = lost;
            owner.reconcile()?;
        }
        owner.check_pending()?;
    }
}

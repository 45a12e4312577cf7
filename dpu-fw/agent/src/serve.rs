// SPDX-License-Identifier: GPL-2.0

//! The agent's end of the control link: one request per connection. Each connection opens
//! with a fresh nonce, and a request counts only with its proof that the sender holds the
//! node's key (`xpu_pod::auth`); the reply carries the agent's proof in turn. Anyone on the
//! link can connect, only the host may ask: connections are read each on a thread of its own,
//! within one deadline for the whole request, so a peer that sends nothing, or trickles its
//! bytes, holds no more than its own thread; the requests themselves are carried out one at a
//! time (a pod's half is made or removed whole before the next).

use std::{
    fs::File,
    io::{self, BufReader, Read, Write},
    net::{SocketAddr, TcpListener, TcpStream},
    sync::{
        atomic::{AtomicUsize, Ordering},
        Mutex,
    },
    thread,
    time::{Duration, Instant},
};

use serde::Serialize;
use xpu_pod::{
    auth::{Hello, Key, Proof, MAX_PROOF_LINE, NONCE_LEN},
    node::{printable, read_line, read_line_at_most, read_request, Reply, Request},
};

use crate::{halves::Agent, reap::lock};

/// How long a peer has to send its request and its proof, all of it.
const REQUEST_DEADLINE: Duration = Duration::from_secs(10);
/// How long the agent waits for a peer to take its lines.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// Connections read at once; more are closed at once (a flood of them holds no more).
const MAX_CONNECTIONS: usize = 16;

pub(crate) fn serve(agent: &Mutex<Agent>, key: &Key, listen: SocketAddr) -> Result<(), String> {
    let listener =
        TcpListener::bind(listen).map_err(|e| format!("cannot listen on {listen}: {e}"))?;
    eprintln!("xpu-dpu-agent: listening on {listen}");
    let open = AtomicUsize::new(0);
    thread::scope(|scope| {
        for conn in listener.incoming() {
            let s = match conn {
                Ok(s) => s,
                Err(e) => {
                    eprintln!("xpu-dpu-agent: accept: {e}");
                    continue;
                }
            };
            let slot = Slot::take(&open);
            if slot.is_none() {
                let busy = Reply::Error(format!(
                    "the agent reads {MAX_CONNECTIONS} connections already: try again"
                ));
                let _ = line(&busy, "").and_then(|l| send(&s, &[&l], ""));
                eprintln!("xpu-dpu-agent: {MAX_CONNECTIONS} connections open already: one closed");
                continue;
            }
            let spawned = thread::Builder::new().spawn_scoped(scope, move || {
                // The slot is given back however the thread ends, a panic included.
                let _slot = slot;
                if let Err(e) = answer(agent, key, s) {
                    eprintln!("xpu-dpu-agent: {e}");
                }
            });
            if let Err(e) = spawned {
                eprintln!("xpu-dpu-agent: cannot start a thread for a connection: {e}");
            }
        }
    });
    Ok(())
}

/// One of the [`MAX_CONNECTIONS`] connections read at once, given back when dropped.
struct Slot<'a>(&'a AtomicUsize);

impl<'a> Slot<'a> {
    fn take(open: &'a AtomicUsize) -> Option<Self> {
        open.fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
            (n < MAX_CONNECTIONS).then_some(n + 1)
        })
        .ok()
        .map(|_| Slot(open))
    }
}

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A connection read against one deadline: each read waits at most what is left of it.
struct Deadline<'a> {
    stream: &'a TcpStream,
    until: Instant,
}

impl Read for Deadline<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let left = self.until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the request took too long",
            ));
        }
        self.stream.set_read_timeout(Some(left))?;
        let mut s = self.stream;
        s.read(buf)
    }
}

/// A fresh nonce, from the kernel's generator.
fn nonce() -> Result<[u8; NONCE_LEN], String> {
    let mut n = [0; NONCE_LEN];
    File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut n))
        .map_err(|e| format!("cannot read /dev/urandom: {e}"))?;
    Ok(n)
}

/// `msg` as one line.
fn line(msg: &impl Serialize, peer: &str) -> Result<String, String> {
    serde_json::to_string(msg).map_err(|e| format!("{peer}: {e}"))
}

fn send(mut stream: &TcpStream, lines: &[&str], peer: &str) -> Result<(), String> {
    let mut out = String::new();
    for l in lines {
        out.push_str(l);
        out.push('\n');
    }
    stream
        .write_all(out.as_bytes())
        .map_err(|e| format!("{peer}: cannot answer: {e}"))
}

fn answer(agent: &Mutex<Agent>, key: &Key, stream: TcpStream) -> Result<(), String> {
    let peer = stream
        .peer_addr()
        .map_or_else(|_| "?".to_owned(), |a| a.to_string());
    stream
        .set_write_timeout(Some(WRITE_TIMEOUT))
        .map_err(|e| format!("{peer}: {e}"))?;
    let nonce = nonce()?;
    send(&stream, &[&line(&Hello::new(&nonce), &peer)?], &peer)?;
    let mut reader = BufReader::new(Deadline {
        stream: &stream,
        until: Instant::now() + REQUEST_DEADLINE,
    });
    let (request, reply) = match read_line(&mut reader) {
        Err(e) => (String::new(), Reply::Error(format!("the request: {e}"))),
        Ok(request) => {
            let proof = read_line_at_most(&mut reader, MAX_PROOF_LINE).and_then(|p| {
                serde_json::from_str::<Proof>(&p).map_err(|e| format!("bad proof: {e}"))
            });
            let reply = match proof {
                Err(e) => Reply::Error(format!("the request's proof: {e}")),
                // Nothing of a request without its proof is read further.
                Ok(p) if !key.verify(&nonce, &request, &p) => Reply::Error(
                    "the request's proof does not hold: the sender has not the node's key".into(),
                ),
                Ok(_) => match read_request(&request) {
                    Err(e) => Reply::Error(e),
                    Ok(r) => handle(&lock(agent), r),
                },
            };
            (request, reply)
        }
    };
    if let Reply::Error(e) = &reply {
        // What a peer sent may be in it: escaped before it reaches the log.
        eprintln!("xpu-dpu-agent: {peer}: {}", printable(e));
    }
    let out = line(&reply, &peer)?;
    let proved = key.prove_reply(&nonce, &request, &out);
    send(&stream, &[&out, &line(&proved, &peer)?], &peer)
}

fn handle(agent: &Agent, r: Request) -> Reply {
    let done = |r: Result<(), String>| r.map_or_else(Reply::Error, |()| Reply::Done);
    match r {
        Request::Capacity => agent.capacity().map_or_else(Reply::Error, Reply::Capacity),
        Request::Apply {
            pod,
            address,
            manifest,
            link_id,
        } => done(agent.apply(&pod, address, link_id, &manifest)),
        Request::Delete { pod } => done(agent.delete(&pod)),
        Request::List => agent.list().map_or_else(Reply::Error, Reply::Pods),
    }
}

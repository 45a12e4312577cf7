// SPDX-License-Identifier: GPL-2.0

//! The agent's end of the control link: one request per connection, answered in turn (a pod's
//! half is made or removed whole before the next request is read). Each connection opens with
//! a fresh nonce, and a request counts only with its proof that the sender holds the node's key
//! (`xpu_pod::auth`): anyone on the link can connect, only the host may ask.

use std::{
    fs::File,
    io::{BufReader, Read, Write},
    net::{SocketAddr, TcpListener, TcpStream},
    sync::Mutex,
    time::Duration,
};

use serde::Serialize;
use xpu_pod::{
    auth::{Hello, Key, Proof, NONCE_LEN},
    node::{read_line, read_request, Reply, Request},
};

use crate::{halves::Agent, reap::lock};

/// How long a peer may take to send its request: one that stalls does not hold the agent.
const READ_TIMEOUT: Duration = Duration::from_secs(10);

pub(crate) fn serve(agent: &Mutex<Agent>, key: &Key, listen: SocketAddr) -> Result<(), String> {
    let listener =
        TcpListener::bind(listen).map_err(|e| format!("cannot listen on {listen}: {e}"))?;
    eprintln!("xpu-dpu-agent: listening on {listen}");
    for conn in listener.incoming() {
        match conn {
            Ok(s) => {
                if let Err(e) = answer(agent, key, s) {
                    eprintln!("xpu-dpu-agent: {e}");
                }
            }
            Err(e) => eprintln!("xpu-dpu-agent: accept: {e}"),
        }
    }
    Ok(())
}

/// A fresh nonce, from the kernel's generator.
fn nonce() -> Result<[u8; NONCE_LEN], String> {
    let mut n = [0; NONCE_LEN];
    File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut n))
        .map_err(|e| format!("cannot read /dev/urandom: {e}"))?;
    Ok(n)
}

/// Writes `msg` as one line.
fn send(stream: &TcpStream, msg: &impl Serialize, peer: &str) -> Result<(), String> {
    let mut out = serde_json::to_string(msg).map_err(|e| format!("{peer}: {e}"))?;
    out.push('\n');
    let mut w = stream;
    w.write_all(out.as_bytes())
        .map_err(|e| format!("{peer}: cannot answer: {e}"))
}

fn answer(agent: &Mutex<Agent>, key: &Key, stream: TcpStream) -> Result<(), String> {
    let peer = stream
        .peer_addr()
        .map_or_else(|_| "?".to_owned(), |a| a.to_string());
    stream
        .set_read_timeout(Some(READ_TIMEOUT))
        .and_then(|()| stream.set_write_timeout(Some(READ_TIMEOUT)))
        .map_err(|e| format!("{peer}: {e}"))?;
    let nonce = nonce()?;
    send(&stream, &Hello::new(&nonce), &peer)?;
    let mut reader = BufReader::new(&stream);
    let reply = match read_line(&mut reader) {
        Err(e) => Reply::Error(format!("the request: {e}")),
        Ok(line) => {
            let proof = read_line(&mut reader).and_then(|p| {
                serde_json::from_str::<Proof>(&p).map_err(|e| format!("bad proof: {e}"))
            });
            match proof {
                Err(e) => Reply::Error(format!("the request's proof: {e}")),
                // Nothing of a request without its proof is read further.
                Ok(p) if !key.verify(&nonce, &line, &p) => Reply::Error(
                    "the request's proof does not hold: the sender has not the node's key".into(),
                ),
                Ok(_) => match read_request(&line) {
                    Err(e) => Reply::Error(e),
                    Ok(r) => handle(&lock(agent), r),
                },
            }
        }
    };
    if let Reply::Error(e) = &reply {
        eprintln!("xpu-dpu-agent: {peer}: {e}");
    }
    send(&stream, &reply, &peer)
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

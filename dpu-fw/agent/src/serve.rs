// SPDX-License-Identifier: GPL-2.0

//! The agent's end of the control link: one request per connection, answered in turn (a pod's
//! half is made or removed whole before the next request is read).

use std::{
    io::{BufReader, Write},
    net::{SocketAddr, TcpListener, TcpStream},
    sync::Mutex,
    time::Duration,
};

use xpu_pod::node::{read_line, read_request, Reply, Request};

use crate::{halves::Agent, reap::lock};

/// How long a peer may take to send its request: one that stalls does not hold the agent.
const READ_TIMEOUT: Duration = Duration::from_secs(10);

pub(crate) fn serve(agent: &Mutex<Agent>, listen: SocketAddr) -> Result<(), String> {
    let listener =
        TcpListener::bind(listen).map_err(|e| format!("cannot listen on {listen}: {e}"))?;
    eprintln!("xpu-dpu-agent: listening on {listen}");
    for conn in listener.incoming() {
        match conn {
            Ok(s) => {
                if let Err(e) = answer(agent, s) {
                    eprintln!("xpu-dpu-agent: {e}");
                }
            }
            Err(e) => eprintln!("xpu-dpu-agent: accept: {e}"),
        }
    }
    Ok(())
}

fn answer(agent: &Mutex<Agent>, stream: TcpStream) -> Result<(), String> {
    let peer = stream
        .peer_addr()
        .map_or_else(|_| "?".to_owned(), |a| a.to_string());
    stream
        .set_read_timeout(Some(READ_TIMEOUT))
        .and_then(|()| stream.set_write_timeout(Some(READ_TIMEOUT)))
        .map_err(|e| format!("{peer}: {e}"))?;
    let reply = match read_line(BufReader::new(&stream)) {
        Err(e) => Reply::Error(format!("the request: {e}")),
        Ok(line) => match read_request(&line) {
            Err(e) => Reply::Error(e),
            Ok(r) => handle(&lock(agent), r),
        },
    };
    if let Reply::Error(e) = &reply {
        eprintln!("xpu-dpu-agent: {peer}: {e}");
    }
    let mut out = serde_json::to_string(&reply).map_err(|e| format!("{peer}: {e}"))?;
    out.push('\n');
    (&stream)
        .write_all(out.as_bytes())
        .map_err(|e| format!("{peer}: cannot answer: {e}"))
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

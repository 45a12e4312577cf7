// SPDX-License-Identifier: GPL-2.0

//! The agent's end of the control link: one request per connection, answered in turn (a pod's
//! half is made or removed whole before the next request is read).

use std::{
    io::{BufRead, BufReader, Read, Write},
    net::{SocketAddr, TcpListener, TcpStream},
    time::Duration,
};

use xpu_pod::node::{read_request, Reply, Request, MAX_LINE};

use crate::halves::Agent;

/// How long a peer may take to send its request: one that stalls does not hold the agent.
const READ_TIMEOUT: Duration = Duration::from_secs(10);

pub(crate) fn serve(agent: &Agent, listen: SocketAddr) -> Result<(), String> {
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

fn answer(agent: &Agent, stream: TcpStream) -> Result<(), String> {
    let peer = stream
        .peer_addr()
        .map_or_else(|_| "?".to_owned(), |a| a.to_string());
    stream
        .set_read_timeout(Some(READ_TIMEOUT))
        .and_then(|()| stream.set_write_timeout(Some(READ_TIMEOUT)))
        .map_err(|e| format!("{peer}: {e}"))?;
    let mut line = String::new();
    let reply = match BufReader::new(&stream)
        .take(MAX_LINE as u64 + 1)
        .read_line(&mut line)
    {
        Err(e) => Reply::Error(format!("cannot read the request: {e}")),
        Ok(_) if !line.ends_with('\n') => Reply::Error(format!(
            "the request is not one line of at most {MAX_LINE} bytes"
        )),
        Ok(_) => match read_request(line.trim_end()) {
            Err(e) => Reply::Error(e),
            Ok(r) => handle(agent, r),
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
        } => done(agent.apply(&pod, address, &manifest)),
        Request::Delete { pod } => done(agent.delete(&pod)),
        Request::List => agent.list().map_or_else(Reply::Error, Reply::Pods),
    }
}

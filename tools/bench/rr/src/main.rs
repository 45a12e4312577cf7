// SPDX-License-Identifier: GPL-2.0
//! `xpu-rr`: one request/response flow over UDP, for `make bench-scale`.
//!
//! sockperf paces a fixed rate by spinning on the clock, so its client burns a CPU whatever the
//! link does: useless where the CPU a link costs at light load is the measure. This client
//! sleeps between requests, keeps one request in flight, and reports every round trip.

mod client;
mod server;
mod stats;

use clap::{Parser, Subcommand};
use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

#[derive(Parser)]
#[command(
    name = "xpu-rr",
    version,
    about = "UDP request/response load: closed loop or a fixed rate"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Answer every request with its own bytes, until killed.
    Server {
        /// Address and port to listen on.
        #[arg(long)]
        bind: SocketAddr,
    },
    /// Send requests, one in flight, and print a JSON summary of the round trips.
    Client {
        /// The server's address and port.
        #[arg(long)]
        connect: SocketAddr,
        /// Requests per second, each sent at its scheduled time (sleeping in between); without
        /// it, the next request goes as soon as the reply arrives (closed loop: saturation).
        #[arg(long)]
        rate: Option<f64>,
        /// Seconds of measurement, after the warm-up.
        #[arg(long, default_value_t = 3.0)]
        seconds: f64,
        /// Seconds of requests before the measurement (not reported).
        #[arg(long, default_value_t = 0.2, conflicts_with = "start_at")]
        warmup: f64,
        /// When the measurement starts, in seconds since the Unix epoch (requests before it
        /// warm up): flows started one after another measure the same seconds, and a caller
        /// can take the CPU it reads for that window alone, not for starting processes.
        #[arg(long)]
        start_at: Option<f64>,
        /// Request and reply size in bytes (at least 8: the sequence number).
        #[arg(long, default_value_t = 64)]
        size: usize,
        /// Milliseconds after which a request without reply counts as lost.
        #[arg(long, default_value_t = 200)]
        timeout_ms: u64,
        /// Writes every round trip, in nanoseconds, one per line, to this file.
        #[arg(long)]
        rtt_file: Option<std::path::PathBuf>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let res = match cli.cmd {
        Cmd::Server { bind } => server::run(bind),
        Cmd::Client {
            connect,
            rate,
            seconds,
            warmup,
            start_at,
            size,
            timeout_ms,
            rtt_file,
        } => client::warmup_until(start_at, warmup)
            .and_then(|warmup| {
                client::Load::new(
                    rate,
                    seconds,
                    warmup,
                    size,
                    Duration::from_millis(timeout_ms),
                )
            })
            .and_then(|load| client::run(connect, &load))
            .and_then(|report| report.write(rtt_file.as_deref())),
    };
    match res {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xpu-rr: {e}");
            ExitCode::FAILURE
        }
    }
}

// SPDX-License-Identifier: GPL-2.0

//! `xpuctl`: control tool for xpu links and split network namespaces.

mod agent;
mod cni;
mod cni_agent;
mod cxl;
mod edge;
mod genl;
mod intercept;
mod link;
mod pod;
mod pod_node;
mod pod_usage;
mod sockets;
mod splitns;
mod stats;

/// Netlink attributes to send: (type, payload).
type Attrs = Vec<(u16, Vec<u8>)>;

/// `s` as the inside of a JSON string: quotes, backslashes and control characters escaped.
fn json_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if u32::from(c) < 0x20 => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out
}

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "xpuctl",
    version,
    about = "Control xpu links and split network namespaces"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// xpu links (rtnetlink)
    #[command(subcommand)]
    Link(link::LinkCommand),
    /// Split network namespaces (generic netlink, family xpu)
    #[command(subcommand)]
    Splitns(splitns::SplitnsCommand),
    /// Ports of a split namespace's halves
    #[command(subcommand)]
    Port(splitns::PortCommand),
    /// CXL mode's memory
    #[command(subcommand)]
    Cxl(CxlCommand),
    /// A Kubernetes pod's containers across the host and the DPU
    #[command(subcommand)]
    Pod(pod::PodCommand),
    /// A link's counters, and its split namespace's if it has one here
    Stats {
        /// The xpu device
        name: String,
        /// Print JSON
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum CxlCommand {
    /// The window for `modprobe xpu $(xpuctl cxl window)`: the CXL memory device's volatile
    /// region (made if there is none), as the module's parameters cxl_base and cxl_size
    Window {
        /// Print JSON (the region's name, base and size)
        #[arg(long)]
        json: bool,
    },
}

fn main() -> ExitCode {
    // Run as `xpu-cni` (a link in the runtime's CNI directory): the CNI plugin, which speaks
    // the CNI protocol instead of this command line. Before SIGPIPE's default comes back: a
    // delegate that exits unread must give an error, not kill the plugin.
    let argv0 = std::env::args_os().next().unwrap_or_default();
    if std::path::Path::new(&argv0).file_name() == Some("xpu-cni".as_ref()) {
        return cni::main();
    }
    // As C tools do: a reader that went away (`xpuctl port list | grep -q 80`) ends xpuctl
    // quietly, instead of a panic in println! (Rust ignores SIGPIPE by default).
    sigpipe::reset();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Link(cmd) => link::run(cmd),
        Command::Splitns(cmd) => splitns::run_splitns(cmd),
        Command::Port(cmd) => splitns::run_port(cmd),
        Command::Cxl(CxlCommand::Window { json }) => cxl::run(json),
        Command::Pod(cmd) => pod::run(cmd),
        Command::Stats { name, json } => stats::run(&name, json),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xpuctl: {e}");
            ExitCode::FAILURE
        }
    }
}

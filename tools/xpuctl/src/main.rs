// SPDX-License-Identifier: GPL-2.0

//! `xpuctl`: control tool for xpu links (and, later, split network namespaces).

mod link;

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
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Link(cmd) => link::run(cmd),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xpuctl: {e}");
            ExitCode::FAILURE
        }
    }
}

// SPDX-License-Identifier: GPL-2.0

//! `xpu-fabric`: serve one shared window with doorbells to the VMs of an xpu link.
//!
//! ```sh
//! xpu-fabric -S /tmp/xpu.sock -l 4M -n 5 &
//! qemu-system-x86_64 ... -chardev socket,path=/tmp/xpu.sock,id=xpu \
//!     -device ivshmem-doorbell,chardev=xpu,vectors=5
//! ```
//!
//! CXL mode (`--cxl FILE`): the window is the CXL memory both VMs back their cxl-type3 device
//! with (`-object memory-backend-file,share=on,mem-path=FILE`), and the fabric's own window
//! only carries the doorbells.

use std::{fs::OpenOptions, os::fd::AsFd, process::ExitCode};

use clap::Parser;
use nix::sys::{
    signal::{SigSet, Signal},
    signalfd::{SfdFlags, SignalFd},
};
use xpu_fabric::{options::Options, server::Server};

fn main() -> ExitCode {
    let opts = Options::parse();
    // SIGINT and SIGTERM end the daemon cleanly (the socket file is removed): they are read
    // from a signalfd in the server's poll loop rather than handled asynchronously.
    let mut signals = SigSet::empty();
    signals.add(Signal::SIGINT);
    signals.add(Signal::SIGTERM);
    let stop = signals
        .thread_block()
        .and_then(|()| SignalFd::with_flags(&signals, SfdFlags::SFD_CLOEXEC));
    let stop = match stop {
        Ok(s) => s,
        Err(e) => {
            eprintln!("xpu-fabric: cannot set up signal handling: {e}");
            return ExitCode::FAILURE;
        }
    };
    // The medium first: a bad path must not leave a socket that VMs connect to.
    let medium = match &opts.cxl {
        Some(path) => match OpenOptions::new().read(true).write(true).open(path) {
            Ok(f) => Some(f),
            Err(e) => {
                eprintln!(
                    "xpu-fabric: cannot open the CXL medium {}: {e}",
                    path.display()
                );
                return ExitCode::FAILURE;
            }
        },
        None => None,
    };
    let server = Server::bind(&opts.socket, opts.size, opts.vectors, opts.verbose);
    let server = match (server, medium) {
        (Ok(s), Some(m)) => s.with_medium(m).map_err(|e| {
            let path = opts.cxl.as_deref().unwrap_or(std::path::Path::new(""));
            format!("the CXL medium {}: {e}", path.display())
        }),
        (Ok(s), None) => Ok(s),
        (Err(e), _) => Err(format!("cannot serve on {}: {e}", opts.socket.display())),
    };
    let mut server = match server {
        Ok(s) => s,
        Err(e) => {
            eprintln!("xpu-fabric: {e}");
            return ExitCode::FAILURE;
        }
    };
    if opts.verbose {
        eprintln!(
            "xpu-fabric: serving {} bytes with {} vector(s) per peer on {}",
            opts.size,
            opts.vectors,
            opts.socket.display()
        );
    }
    match server.run(stop.as_fd()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xpu-fabric: {e}");
            ExitCode::FAILURE
        }
    }
}

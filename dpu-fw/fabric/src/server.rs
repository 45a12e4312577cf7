// SPDX-License-Identifier: GPL-2.0

//! The server: one shared window, an id and a set of eventfds per connected VM, and the
//! notices that keep every VM's view of its peers current.

use std::{
    ffi::CStr,
    fs,
    io::{self, Read},
    os::{
        fd::{AsFd, BorrowedFd, OwnedFd},
        unix::{fs::FileTypeExt, net::UnixListener, net::UnixStream},
    },
    path::{Path, PathBuf},
};

use nix::{
    fcntl::{fcntl, FcntlArg, SealFlag},
    poll::{poll, PollFd, PollFlags, PollTimeout},
    sys::{
        eventfd::{EfdFlags, EventFd},
        memfd::{memfd_create, MFdFlags},
    },
    unistd::ftruncate,
};

use crate::protocol::{send, PROTOCOL_VERSION, SHM_MESSAGE};

/// The window's name, as it shows in /proc/PID/fd of the daemon and of each QEMU.
const SHM_NAME: &CStr = c"xpu-fabric";

/// Peer ids are 16 bits: the guest's doorbell register takes `(peer << 16) | vector`.
const MAX_PEERS: usize = 1 << 16;

/// One connected VM.
struct Peer {
    id: u16,
    sock: UnixStream,
    /// Writing to `vectors[i]` raises MSI-X vector `i` in this peer's guest.
    vectors: Vec<EventFd>,
}

/// A running fabric: the listening socket, the window and the connected peers.
pub struct Server {
    listener: UnixListener,
    path: PathBuf,
    shm: OwnedFd,
    vectors: u16,
    peers: Vec<Peer>,
    verbose: bool,
}

impl Server {
    /// Creates the window (`size` bytes, sealed against resizing so that no VM can shrink it
    /// under another's mapping) and listens on `path`. A socket file left by a daemon that
    /// died is replaced; one that a live server answers on is not.
    pub fn bind(path: &Path, size: u64, vectors: u16, verbose: bool) -> io::Result<Self> {
        let shm = memfd_create(
            SHM_NAME,
            MFdFlags::MFD_CLOEXEC | MFdFlags::MFD_ALLOW_SEALING,
        )?;
        let len = i64::try_from(size).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
        ftruncate(&shm, len)?;
        fcntl(
            &shm,
            FcntlArg::F_ADD_SEALS(
                SealFlag::F_SEAL_SHRINK | SealFlag::F_SEAL_GROW | SealFlag::F_SEAL_SEAL,
            ),
        )?;
        let listener = match UnixListener::bind(path) {
            Ok(l) => l,
            Err(e) if e.kind() == io::ErrorKind::AddrInUse => {
                remove_stale_socket(path)?;
                UnixListener::bind(path)?
            }
            Err(e) => return Err(e),
        };
        listener.set_nonblocking(true)?;
        Ok(Self {
            listener,
            path: path.to_owned(),
            shm,
            vectors,
            peers: Vec::new(),
            verbose,
        })
    }

    /// Serves until `stop` becomes readable (a signalfd in the daemon, an eventfd in tests).
    pub fn run(&mut self, stop: BorrowedFd<'_>) -> io::Result<()> {
        loop {
            let (stopped, new_conn, gone) = {
                let mut fds = vec![
                    PollFd::new(stop, PollFlags::POLLIN),
                    PollFd::new(self.listener.as_fd(), PollFlags::POLLIN),
                ];
                fds.extend(
                    self.peers
                        .iter()
                        .map(|p| PollFd::new(p.sock.as_fd(), PollFlags::POLLIN)),
                );
                match poll(&mut fds, PollTimeout::NONE) {
                    Ok(_) => {}
                    Err(nix::errno::Errno::EINTR) => continue,
                    Err(e) => return Err(e.into()),
                }
                let ready = |f: &PollFd<'_>| f.revents().is_some_and(|r| !r.is_empty());
                let gone: Vec<u16> = fds[2..]
                    .iter()
                    .zip(&self.peers)
                    .filter(|(f, _)| ready(f))
                    .map(|(_, p)| p.id)
                    .collect();
                (ready(&fds[0]), ready(&fds[1]), gone)
            };
            if stopped {
                return Ok(());
            }
            for id in gone {
                // A client never sends: data or end of file both mean it is leaving.
                if let Some(i) = self.peers.iter().position(|p| p.id == id) {
                    let mut byte = [0u8; 1];
                    let _ = (&self.peers[i].sock).read(&mut byte);
                    self.disconnect(id);
                }
            }
            if new_conn {
                self.accept_all()?;
            }
        }
    }

    /// Ids of the connected peers, in connection order.
    pub fn peer_ids(&self) -> Vec<u16> {
        self.peers.iter().map(|p| p.id).collect()
    }

    fn accept_all(&mut self) -> io::Result<()> {
        loop {
            match self.listener.accept() {
                Ok((sock, _)) => self.connect(sock),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::ConnectionAborted => continue,
                Err(e) => return Err(e),
            }
        }
    }

    /// The lowest id no connected peer has.
    fn free_id(&self) -> Option<u16> {
        (0..MAX_PEERS)
            .filter_map(|i| u16::try_from(i).ok())
            .find(|id| self.peers.iter().all(|p| p.id != *id))
    }

    /// Welcomes a new VM: its id and the window, its peers' vectors, then its own; and tells
    /// every other peer about it. A VM that cannot take its welcome is dropped; another peer
    /// that cannot take the notice is disconnected.
    fn connect(&mut self, sock: UnixStream) {
        let Some(id) = self.free_id() else {
            eprintln!("xpu-fabric: {MAX_PEERS} peers connected already; refusing another");
            return;
        };
        let vectors: io::Result<Vec<EventFd>> = (0..self.vectors)
            .map(|_| {
                EventFd::from_flags(EfdFlags::EFD_NONBLOCK | EfdFlags::EFD_CLOEXEC)
                    .map_err(io::Error::from)
            })
            .collect();
        let vectors = match vectors {
            Ok(v) => v,
            Err(e) => {
                eprintln!("xpu-fabric: no eventfds for a new peer: {e}");
                return;
            }
        };
        let peer = Peer { id, sock, vectors };
        if let Err(e) = self.welcome(&peer) {
            eprintln!("xpu-fabric: peer {id} left during its setup: {e}");
            return;
        }
        let mut failed = Vec::new();
        for other in &self.peers {
            if peer
                .vectors
                .iter()
                .try_for_each(|v| send(other.sock.as_fd(), id.into(), Some(v.as_fd())))
                .is_err()
            {
                failed.push(other.id);
            }
        }
        if self.verbose {
            eprintln!("xpu-fabric: peer {id} connected");
        }
        self.peers.push(peer);
        for other in failed {
            self.disconnect(other);
        }
    }

    fn welcome(&self, peer: &Peer) -> io::Result<()> {
        let sock = peer.sock.as_fd();
        send(sock, PROTOCOL_VERSION, None)?;
        send(sock, peer.id.into(), None)?;
        send(sock, SHM_MESSAGE, Some(self.shm.as_fd()))?;
        for other in &self.peers {
            for v in &other.vectors {
                send(sock, other.id.into(), Some(v.as_fd()))?;
            }
        }
        for v in &peer.vectors {
            send(sock, peer.id.into(), Some(v.as_fd()))?;
        }
        Ok(())
    }

    /// Forgets peer `id` and tells the others (its id without an fd). Its eventfds close with
    /// it; the others' copies stay valid, but nothing listens on them any more.
    fn disconnect(&mut self, id: u16) {
        let Some(i) = self.peers.iter().position(|p| p.id == id) else {
            return;
        };
        self.peers.remove(i);
        if self.verbose {
            eprintln!("xpu-fabric: peer {id} disconnected");
        }
        let failed: Vec<u16> = self
            .peers
            .iter()
            .filter(|p| send(p.sock.as_fd(), id.into(), None).is_err())
            .map(|p| p.id)
            .collect();
        for other in failed {
            self.disconnect(other);
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.path);
    }
}

/// Removes the socket file at `path` if no server answers on it.
fn remove_stale_socket(path: &Path) -> io::Result<()> {
    let is_socket = fs::symlink_metadata(path)?.file_type().is_socket();
    if !is_socket {
        return Err(io::Error::new(
            io::ErrorKind::AlreadyExists,
            "exists and is not a socket",
        ));
    }
    if UnixStream::connect(path).is_ok() {
        return Err(io::Error::new(
            io::ErrorKind::AddrInUse,
            "another fabric daemon serves it",
        ));
    }
    fs::remove_file(path)
}

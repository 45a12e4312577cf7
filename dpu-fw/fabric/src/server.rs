// SPDX-License-Identifier: GPL-2.0

//! The server: one shared window, an id and a set of eventfds per connected VM, and the
//! notices that keep every VM's view of its peers current.

use std::{
    collections::{BTreeMap, BTreeSet},
    ffi::CStr,
    fs::{self, File},
    io,
    os::{
        fd::{AsFd, BorrowedFd, OwnedFd},
        unix::{fs::FileTypeExt, net::UnixListener, net::UnixStream},
    },
    path::{Path, PathBuf},
    thread,
    time::{Duration, Instant},
};

use nix::{
    errno::Errno,
    fcntl::{fcntl, FcntlArg, Flock, FlockArg, SealFlag},
    poll::{poll, PollFd, PollFlags, PollTimeout},
    sys::{
        eventfd::{EfdFlags, EventFd},
        memfd::{memfd_create, MFdFlags},
        uio::{pread, pwrite},
    },
    unistd::ftruncate,
};
use xpu_uapi::shm::{window_within, SideHeader, SideState, MAGIC, MIN_WINDOW_SIZE};

use crate::protocol::{send, PROTOCOL_VERSION, SHM_MESSAGE};

/// The window's name, as it shows in /proc/PID/fd of the daemon and of each QEMU.
const SHM_NAME: &CStr = c"xpu-fabric";

/// The memory that holds the xpu sides' window when it is not the fabric's own (CXL mode: the
/// file both VMs back their CXL memory device with), and its size.
struct Medium {
    file: File,
    size: u64,
}

/// One connected VM.
struct Peer {
    id: u16,
    sock: UnixStream,
    /// The ids whose eventfds this VM's QEMU holds (its own included): it keeps them until it
    /// exits, since the fabric never announces a departure ([`Server::disconnect`]).
    knows: BTreeSet<u16>,
}

/// A running fabric: the listening socket, the window and the connected peers.
///
/// Drop order: the socket file is removed (in `drop`) while `_lock` is still held, so another
/// daemon cannot have bound the path in between.
pub struct Server {
    listener: UnixListener,
    path: PathBuf,
    /// `PATH.lock`, held for the daemon's life: one daemon per socket path.
    _lock: Flock<File>,
    shm: OwnedFd,
    size: u64,
    /// Where the xpu sides' window is, when it is not `shm` ([`Server::with_medium`]).
    medium: Option<Medium>,
    vectors: u16,
    peers: Vec<Peer>,
    /// Each id's eventfds (writing to the `i`-th raises MSI-X vector `i` in the guest that has
    /// the id): made when the id is first given, and kept for the daemon's life, so that a VM
    /// that takes a departed VM's id takes its eventfds too ([`Server::disconnect`]).
    doorbells: BTreeMap<u16, Vec<EventFd>>,
    verbose: bool,
}

impl Server {
    /// Creates the window (`size` bytes, sealed against resizing so that no VM can shrink it
    /// under another's mapping) and listens on `path`. A socket file left by a daemon that
    /// died is replaced; a path another live daemon holds is refused, without disturbing it.
    pub fn bind(path: &Path, size: u64, vectors: u16, verbose: bool) -> io::Result<Self> {
        let lock = lock_path(path)?;
        let shm = memfd_create(
            SHM_NAME,
            MFdFlags::MFD_CLOEXEC | MFdFlags::MFD_ALLOW_SEALING,
        )?;
        let len = i64::try_from(size).map_err(|_| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                "window size does not fit in off_t",
            )
        })?;
        ftruncate(&shm, len)?;
        fcntl(
            &shm,
            FcntlArg::F_ADD_SEALS(
                SealFlag::F_SEAL_SHRINK | SealFlag::F_SEAL_GROW | SealFlag::F_SEAL_SEAL,
            ),
        )?;
        // We hold the lock: a socket file there was left by a daemon that is gone.
        remove_stale_socket(path)?;
        let listener = UnixListener::bind(path)?;
        listener.set_nonblocking(true)?;
        Ok(Self {
            listener,
            path: path.to_owned(),
            _lock: lock,
            shm,
            size,
            medium: None,
            vectors,
            peers: Vec::new(),
            doorbells: BTreeMap::new(),
            verbose,
        })
    }

    /// The xpu sides' window is in `file`, not in the fabric's window: in CXL mode each VM maps
    /// `file` as its CXL memory device (QEMU: `memory-backend-file,share=on,mem-path=FILE`), and
    /// the fabric's own window only carries the doorbells. A departed side's half is marked
    /// `Down` there ([`Server::link_down`]). The window is the file's first power-of-two bytes
    /// (`window_within`), as `xpuctl cxl window` gives the driver a region's, so the halves are
    /// at 0 and half that.
    pub fn with_medium(mut self, file: File) -> io::Result<Self> {
        let len = file.metadata()?.len();
        let size = window_within(len).ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{len} bytes are fewer than the smallest window ({MIN_WINDOW_SIZE})"),
            )
        })?;
        self.medium = Some(Medium { file, size });
        Ok(self)
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
                    Err(Errno::EINTR) => continue,
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
            // A client never sends: data, end of file or an error all mean it is leaving (as
            // in QEMU's server). Nothing is read; closing the socket discards it.
            self.disconnect(gone);
            if new_conn {
                self.accept_all();
            }
        }
    }

    /// Accepts what is waiting. Running out of descriptors or memory refuses the newcomer but
    /// keeps every link already up; the pause keeps the (level-triggered) poll from spinning
    /// while the condition lasts.
    fn accept_all(&mut self) {
        loop {
            match self.listener.accept() {
                Ok((sock, _)) => {
                    // A VM that restarts (its old QEMU gone, a new one connecting) gets its
                    // old id back even when both arrive while we are busy: its departure is
                    // already on the old socket.
                    let gone = self.departed();
                    self.disconnect(gone);
                    self.connect(sock);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::ConnectionAborted => continue,
                Err(e) => {
                    eprintln!("xpu-fabric: cannot accept a connection: {e}");
                    thread::sleep(Duration::from_millis(100));
                    return;
                }
            }
        }
    }

    /// The peers whose socket says they have left (data, end of file or an error; see `run`),
    /// without waiting.
    fn departed(&self) -> Vec<u16> {
        let mut fds: Vec<PollFd<'_>> = self
            .peers
            .iter()
            .map(|p| PollFd::new(p.sock.as_fd(), PollFlags::POLLIN))
            .collect();
        if poll(&mut fds, PollTimeout::ZERO).is_err() {
            return Vec::new();
        }
        fds.iter()
            .zip(&self.peers)
            .filter(|(f, _)| f.revents().is_some_and(|r| !r.is_empty()))
            .map(|(_, p)| p.id)
            .collect()
    }

    /// The lowest id no connected peer has. QEMU's own server counts up instead; reusing the
    /// lowest keeps ids small and gives a VM that restarts (a DPU reboot) its old id back.
    fn free_id(&self) -> Option<u16> {
        (0..=u16::MAX).find(|id| self.peers.iter().all(|p| p.id != *id))
    }

    /// Welcomes a new VM: its id and the window, its peers' vectors, then its own; and tells
    /// every other peer about it. A VM that cannot take its welcome is dropped; another peer
    /// that cannot take the notice is disconnected.
    fn connect(&mut self, sock: UnixStream) {
        // Non-blocking (accept does not inherit it): a VM that stops reading must cost itself
        // its link when its buffer fills, not stall the daemon and every other link.
        if let Err(e) = sock.set_nonblocking(true) {
            eprintln!("xpu-fabric: cannot set up a new connection: {e}");
            return;
        }
        let Some(id) = self.free_id() else {
            // Ids are 16 bits: the guest's doorbell register takes `(peer << 16) | vector`.
            eprintln!("xpu-fabric: 65536 peers connected already; refusing another");
            return;
        };
        if let Err(e) = self.take_doorbells(id) {
            eprintln!("xpu-fabric: no eventfds for a new peer: {e}");
            return;
        }
        let peer = Peer {
            id,
            sock,
            knows: self.peers.iter().map(|p| p.id).chain([id]).collect(),
        };
        if let Err(e) = self.welcome(&peer) {
            eprintln!("xpu-fabric: peer {id} left during its setup: {e}");
            return;
        }
        // Those that knew the id (they were there when a VM had it before) hold these very
        // eventfds: announcing them again would be refused ("too many eventfds").
        let mut failed = Vec::new();
        let mine = self.doorbells.get(&id).map_or(&[][..], Vec::as_slice);
        for other in self.peers.iter_mut().filter(|o| !o.knows.contains(&id)) {
            if mine
                .iter()
                .try_for_each(|v| send(other.sock.as_fd(), id.into(), Some(v.as_fd())))
                .is_err()
            {
                failed.push(other.id);
            }
            other.knows.insert(id);
        }
        if self.verbose {
            eprintln!("xpu-fabric: peer {id} connected");
        }
        self.peers.push(peer);
        self.disconnect(failed);
    }

    /// Makes id `id`'s eventfds, or, if a VM had the id before, clears the doorbells rung at
    /// them while nobody had it (they would raise stale interrupts in the newcomer).
    fn take_doorbells(&mut self, id: u16) -> io::Result<()> {
        if let Some(v) = self.doorbells.get(&id) {
            for e in v {
                // Non-blocking: EAGAIN when nothing was rung.
                let _ = e.read();
            }
            return Ok(());
        }
        let v = (0..self.vectors)
            .map(|_| {
                EventFd::from_flags(EfdFlags::EFD_NONBLOCK | EfdFlags::EFD_CLOEXEC)
                    .map_err(io::Error::from)
            })
            .collect::<io::Result<Vec<_>>>()?;
        self.doorbells.insert(id, v);
        Ok(())
    }

    fn welcome(&self, peer: &Peer) -> io::Result<()> {
        let sock = peer.sock.as_fd();
        send_setup(sock, PROTOCOL_VERSION, None)?;
        send_setup(sock, peer.id.into(), None)?;
        send_setup(sock, SHM_MESSAGE, Some(self.shm.as_fd()))?;
        for id in self.peers.iter().map(|p| p.id).chain([peer.id]) {
            for v in self.doorbells.get(&id).into_iter().flatten() {
                send_setup(sock, id.into(), Some(v.as_fd()))?;
            }
        }
        Ok(())
    }

    /// Forgets the peers in `ids`. Unlike QEMU's ivshmem-server, it does not tell the others
    /// (the id without an fd): on that notice QEMU's ivshmem device (7.2, and upstream as of
    /// this writing) frees the peer's eventfd array in `close_peer_eventfds()` but keeps the
    /// pointer, and writes into the freed array when a VM with the same id connects: a
    /// use-after-free that aborts the surviving VM's QEMU ("malloc_consolidate(): unaligned
    /// fastbin chunk"). QEMU's server avoids it by never reusing an id; xpu needs the id back
    /// (it is the side: 0 the host, 1 the DPU). So the survivors keep the departed id's
    /// eventfds, the fabric keeps them too, and a VM that takes the id gets them: the
    /// survivors' doorbells reach it with no notice at all. What a departure means to xpu,
    /// the fabric says in the window ([`Server::link_down`]).
    fn disconnect(&mut self, ids: Vec<u16>) {
        for id in ids {
            let Some(i) = self.peers.iter().position(|p| p.id == id) else {
                continue;
            };
            self.peers.remove(i);
            if self.verbose {
                eprintln!("xpu-fabric: peer {id} disconnected");
            }
            self.link_down(id);
        }
    }
}

impl Server {
    /// Peer `id` is gone (its VM died, or its QEMU closed the socket): if it was an xpu side
    /// (ids 0 and 1 own the two halves of the window), mark its half `Down` and ring the
    /// others' control vector (0). This is the fabric's link-down event, as a PCIe link
    /// reports a surprise removal: without it the survivor could only notice by polling.
    fn link_down(&self, id: u16) {
        if id > 1 {
            return;
        }
        let (window, size) = match &self.medium {
            Some(m) => (m.file.as_fd(), m.size),
            None => (self.shm.as_fd(), self.size),
        };
        let half = i64::from(id) * i64::try_from(size / 2).unwrap_or(i64::MAX);
        let mut magic = [0u8; 4];
        let is_xpu = pread(window, &mut magic, half).is_ok() && u32::from_le_bytes(magic) == MAGIC;
        if !is_xpu {
            return;
        }
        let state = half + std::mem::offset_of!(SideHeader, state) as i64;
        let down = (SideState::Down as u32).to_le_bytes();
        if let Err(e) = pwrite(window, &down, state) {
            eprintln!("xpu-fabric: cannot mark peer {id}'s half down: {e}");
            return;
        }
        for p in &self.peers {
            if let Some(ctrl) = self.doorbells.get(&p.id).and_then(|v| v.first()) {
                let _ = ctrl.write(1);
            }
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.path);
    }
}

/// How long a newcomer may leave its setup unread before it is dropped.
const SETUP_PATIENCE: Duration = Duration::from_secs(2);

/// Sends part of a newcomer's setup. QEMU reads its setup in one go as the VM starts, but a
/// busy machine can hold it back a moment, and with many peers a welcome is longer than a
/// socket buffer: so wait for room, for a while, rather than drop the newcomer at once. (An
/// established peer that stops reading is dropped at once: it is not starting, it is stuck.)
fn send_setup(sock: BorrowedFd<'_>, value: i64, fd: Option<BorrowedFd<'_>>) -> io::Result<()> {
    let deadline = Instant::now() + SETUP_PATIENCE;
    loop {
        match send(sock, value, fd) {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return Err(e);
                }
                let ms = u16::try_from(left.as_millis()).unwrap_or(u16::MAX);
                let mut fds = [PollFd::new(sock, PollFlags::POLLOUT)];
                match poll(&mut fds, PollTimeout::from(ms)) {
                    Ok(_) | Err(Errno::EINTR) => {}
                    Err(e) => return Err(e.into()),
                }
            }
            r => return r,
        }
    }
}

/// Takes `PATH.lock`, or says which daemon has it. The lock, not a probe connection, decides
/// whether a socket file is stale: a probe would join the live fabric as a peer, and every VM
/// would see it come and go.
fn lock_path(path: &Path) -> io::Result<Flock<File>> {
    let mut name = path.as_os_str().to_owned();
    name.push(".lock");
    let file = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&name)?;
    Flock::lock(file, FlockArg::LockExclusiveNonblock).map_err(|(_, e)| match e {
        Errno::EWOULDBLOCK => io::Error::new(
            io::ErrorKind::AddrInUse,
            "another xpu-fabric serves this socket",
        ),
        e => e.into(),
    })
}

/// Removes a socket file at `path` (left by a daemon that died: the caller holds the lock).
/// Anything else at that path is left alone and refused.
fn remove_stale_socket(path: &Path) -> io::Result<()> {
    match fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_socket() => fs::remove_file(path),
        Ok(_) => Err(io::Error::new(
            io::ErrorKind::AlreadyExists,
            "exists and is not a socket",
        )),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

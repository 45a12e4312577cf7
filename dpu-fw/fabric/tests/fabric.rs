// SPDX-License-Identifier: GPL-2.0

//! The fabric daemon against clients that speak QEMU's side of the ivshmem protocol.

use std::{
    io::{IoSliceMut, Read, Write},
    os::{
        fd::{AsFd, AsRawFd, FromRawFd, OwnedFd},
        unix::net::UnixStream,
    },
    path::PathBuf,
    thread::{self, JoinHandle},
    time::Duration,
};

use clap::Parser;
use nix::{
    poll::{poll, PollFd, PollFlags, PollTimeout},
    sys::{
        eventfd::{EfdFlags, EventFd},
        socket::{recvmsg, ControlMessageOwned, MsgFlags},
        stat::fstat,
        uio::{pread, pwrite},
    },
    unistd::{ftruncate, read, write},
};
use rstest::rstest;
use tempfile::TempDir;
use xpu_fabric::{
    options::{parse_size, Options, SizeError},
    server::Server,
};

const VECTORS: u16 = 3;
const SIZE: u64 = 1 << 20;

/// A server on a fresh socket, in a thread, stopped when dropped.
struct Fabric {
    _dir: TempDir,
    path: PathBuf,
    stop: EventFd,
    thread: Option<JoinHandle<()>>,
}

impl Fabric {
    fn start() -> Self {
        Self::start_with(None)
    }

    /// A fabric whose xpu window is `medium` (CXL mode), if given.
    fn start_with(medium: Option<std::fs::File>) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("fabric.sock");
        let stop = EventFd::from_flags(EfdFlags::EFD_CLOEXEC).expect("eventfd");
        let stop_fd = stop.as_fd().try_clone_to_owned().expect("dup");
        let mut server = Server::bind(&path, SIZE, VECTORS, false).expect("bind");
        if let Some(m) = medium {
            server = server.with_medium(m).expect("medium");
        }
        let thread = thread::spawn(move || server.run(stop_fd.as_fd()).expect("run"));
        Self {
            _dir: dir,
            path,
            stop,
            thread: Some(thread),
        }
    }

    fn connect(&self) -> Client {
        let sock = UnixStream::connect(&self.path).expect("connect");
        sock.set_read_timeout(Some(Duration::from_secs(5)))
            .expect("timeout");
        Client { sock }
    }

    /// Connects a VM after the `present` ones (clients that read, with their ids, in
    /// connection order) and reads the whole exchange: the welcome, each present peer's
    /// vectors, the newcomer's own, and the notice each present peer gets.
    fn join(&self, present: &[&Joined]) -> Joined {
        let mut joined = self.arrive(present);
        joined.seen_by = present
            .iter()
            .map(|p| p.client.vectors(joined.id))
            .collect();
        joined
    }

    /// Connects a VM that takes the id of one that left while the `present` ones were there:
    /// they hold that id's eventfds already, so they are told nothing (`seen_by` is empty).
    fn rejoin(&self, present: &[&Joined]) -> Joined {
        let joined = self.arrive(present);
        for p in present {
            p.client.nothing_pending();
        }
        joined
    }

    /// Connects a VM and reads what it is sent: the welcome, each present peer's vectors and
    /// its own. What the present peers are sent is for the caller to read.
    fn arrive(&self, present: &[&Joined]) -> Joined {
        let client = self.connect();
        let (id, shm) = client.welcome();
        let sees = present.iter().map(|p| client.vectors(p.id)).collect();
        let own = client.vectors(id);
        Joined {
            client,
            id,
            shm,
            own,
            sees,
            seen_by: Vec::new(),
        }
    }

    fn stop(&mut self) {
        self.stop.write(1).expect("stop");
        if let Some(t) = self.thread.take() {
            t.join().expect("server thread");
        }
    }
}

impl Drop for Fabric {
    fn drop(&mut self) {
        if thread::panicking() {
            // A test already failed: stop the server, but do not panic again (that aborts).
            let _ = self.stop.write(1);
            if let Some(t) = self.thread.take() {
                let _ = t.join();
            }
        } else {
            self.stop();
        }
    }
}

/// A VM that joined, and what it and the peers before it were given.
struct Joined {
    client: Client,
    id: i64,
    shm: OwnedFd,
    /// Its own vectors.
    own: Vec<OwnedFd>,
    /// The vectors of each peer that was there before it, in order.
    sees: Vec<Vec<OwnedFd>>,
    /// Its vectors as each of those peers received them.
    seen_by: Vec<Vec<OwnedFd>>,
}

/// QEMU's end of the socket.
struct Client {
    sock: UnixStream,
}

impl Client {
    /// The next message: its value and the fd that came with it.
    fn recv(&self) -> (i64, Option<OwnedFd>) {
        let mut buf = [0u8; 8];
        let mut iov = [IoSliceMut::new(&mut buf)];
        let mut space = nix::cmsg_space!([std::os::fd::RawFd; 1]);
        let msg = recvmsg::<()>(
            self.sock.as_raw_fd(),
            &mut iov,
            Some(&mut space),
            MsgFlags::MSG_CMSG_CLOEXEC,
        )
        .expect("recvmsg");
        assert_eq!(msg.bytes, 8, "a message is one int64");
        assert!(
            !msg.flags.contains(MsgFlags::MSG_CTRUNC),
            "more than one fd in a message"
        );
        let mut fd = None;
        for c in msg.cmsgs().expect("cmsgs") {
            if let ControlMessageOwned::ScmRights(fds) = c {
                assert_eq!(fds.len(), 1, "one fd per message");
                fd = Some(own(fds[0]));
            }
        }
        (i64::from_le_bytes(buf), fd)
    }

    /// The welcome: version, own id and the window; returns (own id, window).
    fn welcome(&self) -> (i64, OwnedFd) {
        assert!(matches!(self.recv(), (0, None)), "version 0 first");
        let (id, none) = self.recv();
        assert!(none.is_none(), "the id comes without an fd");
        let (shm_tag, shm) = self.recv();
        assert_eq!(shm_tag, -1);
        (id, shm.expect("the window's fd"))
    }

    /// Asserts that no message comes (within a moment).
    fn nothing_pending(&self) {
        self.sock
            .set_read_timeout(Some(Duration::from_millis(200)))
            .expect("timeout");
        let got = (&self.sock).read(&mut [0u8; 8]);
        assert!(got.is_err(), "unexpected message: {got:?}");
        self.sock
            .set_read_timeout(Some(Duration::from_secs(5)))
            .expect("timeout");
    }

    /// `VECTORS` messages for peer `id`, each with an eventfd.
    fn vectors(&self, id: i64) -> Vec<OwnedFd> {
        (0..VECTORS)
            .map(|_| {
                let (got, fd) = self.recv();
                assert_eq!(got, id, "vectors of peer {id}");
                fd.expect("a vector comes with its eventfd")
            })
            .collect()
    }
}

/// Takes ownership of a descriptor that arrived by SCM_RIGHTS (nix hands them over raw).
#[allow(unsafe_code)]
fn own(fd: std::os::fd::RawFd) -> OwnedFd {
    // SAFETY: recvmsg just installed `fd` in this process for this message; nothing else
    // refers to it, so this is its only owner.
    unsafe { OwnedFd::from_raw_fd(fd) }
}

fn ring(fd: &OwnedFd) {
    write(fd, &1u64.to_ne_bytes()).expect("doorbell write");
}

/// Waits up to 5 s for a doorbell at `fd`, and takes it.
fn wait_rung(fd: &OwnedFd) -> u64 {
    let mut fds = [PollFd::new(fd.as_fd(), PollFlags::POLLIN)];
    poll(&mut fds, PollTimeout::from(5000u16)).expect("poll");
    rung(fd)
}

fn rung(fd: &OwnedFd) -> u64 {
    let mut b = [0u8; 8];
    read(fd, &mut b).expect("eventfd read");
    u64::from_ne_bytes(b)
}

#[test]
fn first_peer_gets_the_window_and_its_vectors() {
    let fabric = Fabric::start();
    let a = fabric.join(&[]);
    assert_eq!(a.id, 0);
    assert_eq!(fstat(&a.shm).expect("fstat").st_size, SIZE as i64);
    assert_eq!(a.own.len(), usize::from(VECTORS));
}

#[test]
fn peers_share_the_window_and_ring_each_other() {
    let fabric = Fabric::start();
    let a = fabric.join(&[]);
    let b = fabric.join(&[&a]);
    assert_eq!(b.id, 1);
    let (b_sees_a, a_sees_b) = (&b.sees[0], &b.seen_by[0]);

    // One window: what A writes, B reads.
    pwrite(&a.shm, b"xpu window", 4096).expect("pwrite");
    let mut got = [0u8; 10];
    pread(&b.shm, &mut got, 4096).expect("pread");
    assert_eq!(&got, b"xpu window");

    // Doorbells: B rings A's vector 2, A sees it on its own vector 2 only; and back.
    ring(&b_sees_a[2]);
    assert_eq!(rung(&a.own[2]), 1);
    for v in &a.own[..2] {
        assert!(read(v, &mut [0u8; 8]).is_err(), "another vector of A fired");
    }
    ring(&a_sees_b[0]);
    ring(&a_sees_b[0]);
    assert_eq!(rung(&b.own[0]), 2);
}

#[test]
fn the_window_cannot_be_resized_by_a_peer() {
    let fabric = Fabric::start();
    let (_, shm) = fabric.connect().welcome();
    assert!(ftruncate(&shm, 4096).is_err(), "a peer shrank the window");
    assert!(
        ftruncate(&shm, (SIZE * 2) as i64).is_err(),
        "a peer grew the window"
    );
}

/// QEMU's ivshmem device frees a peer's eventfds on a departure notice and then writes into
/// them if the id comes back (server.rs, `disconnect`): so no notice, and the id comes back
/// with the same eventfds, which the survivors hold already.
#[test]
fn a_departure_is_not_announced_and_the_id_comes_back_with_its_eventfds() {
    let fabric = Fabric::start();
    let a = fabric.join(&[]);
    let b = fabric.join(&[&a]);
    let b_sees_a = &b.sees[0];
    // Rung while A is gone: must not reach the VM that takes its id.
    drop(a);
    ring(&b_sees_a[2]);

    let c = fabric.rejoin(&[&b]);
    assert_eq!(c.id, 0, "the free id is given again");
    assert!(
        read(&c.own[2], &mut [0u8; 8]).is_err(),
        "a doorbell rung at the departed peer reached the newcomer"
    );
    // B's copies of id 0's eventfds reach C; C reaches B.
    ring(&b_sees_a[1]);
    assert_eq!(rung(&c.own[1]), 1);
    ring(&c.sees[0][0]);
    assert_eq!(rung(&b.own[0]), 1);
}

/// The state word of the side header at the start of half `id` (uapi/src/shm.rs).
fn side_state(shm: &OwnedFd, id: u64) -> u32 {
    let mut b = [0u8; 4];
    pread(shm, &mut b, (id * SIZE / 2 + 16) as i64).expect("pread");
    u32::from_le_bytes(b)
}

#[test]
fn a_departed_xpu_side_is_marked_down_and_the_other_rung() {
    let fabric = Fabric::start();
    let a = fabric.join(&[]);
    let b = fabric.join(&[&a]);
    // A is an xpu side: its half (0) starts with the magic, and it is Up.
    pwrite(&a.shm, &xpu_uapi::shm::MAGIC.to_le_bytes(), 0).expect("pwrite");
    pwrite(
        &a.shm,
        &(xpu_uapi::shm::SideState::Up as u32).to_le_bytes(),
        16,
    )
    .expect("pwrite");

    drop(a);
    // The link-down event: B's control vector fires, and A's half says Down.
    assert_eq!(wait_rung(&b.own[0]), 1, "B's control vector did not fire");
    assert_eq!(side_state(&b.shm, 0), xpu_uapi::shm::SideState::Down as u32);
    b.client.nothing_pending();
}

#[rstest]
#[case::a_power_of_two(4 * SIZE)]
#[case::not_a_power_of_two(6 * SIZE)]
fn in_cxl_mode_the_departed_side_is_marked_down_in_the_medium(#[case] len: u64) {
    // The medium is larger than the fabric's window (a CXL region is 256 MiB), so its halves
    // are elsewhere: the window is its first power-of-two bytes (as xpuctl gives the driver),
    // and half 1 starts at MEDIUM / 2.
    const MEDIUM: u64 = 4 * SIZE;
    let file = tempfile::tempfile().expect("tempfile");
    file.set_len(len).expect("set_len");
    let fabric = Fabric::start_with(Some(file.try_clone().expect("dup")));
    let a = fabric.join(&[]);
    let b = fabric.join(&[&a]);
    let state = |off: u64| {
        let mut w = [0u8; 4];
        pread(&file, &mut w, (off + 16) as i64).expect("pread");
        u32::from_le_bytes(w)
    };
    let up = (xpu_uapi::shm::SideState::Up as u32).to_le_bytes();
    // B is side 1: its half is at MEDIUM / 2 in the medium. The fabric's window holds an xpu
    // header too, which the fabric must leave alone.
    for (fd, off) in [(file.as_fd(), MEDIUM / 2), (b.shm.as_fd(), SIZE / 2)] {
        pwrite(fd, &xpu_uapi::shm::MAGIC.to_le_bytes(), off as i64).expect("pwrite");
        pwrite(fd, &up, (off + 16) as i64).expect("pwrite");
    }

    drop(b);
    assert_eq!(wait_rung(&a.own[0]), 1, "A's control vector did not fire");
    assert_eq!(
        state(MEDIUM / 2),
        xpu_uapi::shm::SideState::Down as u32,
        "B's half of the medium is not Down"
    );
    assert_eq!(
        side_state(&a.shm, 1),
        xpu_uapi::shm::SideState::Up as u32,
        "the fabric wrote into its own window"
    );
}

#[test]
fn a_medium_smaller_than_a_window_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = tempfile::tempfile().expect("tempfile");
    file.set_len(xpu_uapi::shm::MIN_WINDOW_SIZE - 1)
        .expect("set_len");
    let server = Server::bind(&dir.path().join("s"), SIZE, VECTORS, false).expect("bind");
    let err = server
        .with_medium(file)
        .err()
        .expect("a medium smaller than a window was taken");
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
}

#[test]
fn a_departed_peer_that_is_not_an_xpu_side_is_left_alone() {
    let fabric = Fabric::start();
    let a = fabric.join(&[]);
    let b = fabric.join(&[&a]);
    // No magic in A's half: the window is someone else's business.
    pwrite(&a.shm, &7u32.to_le_bytes(), 16).expect("pwrite");

    drop(a);
    // Once the id is free again, the fabric has seen A leave.
    assert_eq!(fabric.rejoin(&[&b]).id, 0);
    assert!(
        read(&b.own[0], &mut [0u8; 8]).is_err(),
        "B's control vector fired"
    );
    assert_eq!(
        side_state(&b.shm, 0),
        7,
        "the fabric wrote into a non-xpu window"
    );
}

#[test]
fn a_gap_in_the_ids_is_filled_with_the_old_eventfds() {
    let fabric = Fabric::start();
    let a = fabric.join(&[]);
    let mut b = fabric.join(&[&a]);
    let c = fabric.join(&[&a, &b]);
    assert_eq!(c.id, 2);

    let a_sees_b = std::mem::take(&mut b.seen_by[0]);
    let c_sees_b = &c.sees[1];
    drop(b);
    let d = fabric.rejoin(&[&a, &c]);
    assert_eq!(d.id, 1, "the free id 1 is given again");
    ring(&a_sees_b[2]);
    assert_eq!(rung(&d.own[2]), 1);
    ring(&c_sees_b[0]);
    assert_eq!(rung(&d.own[0]), 1);
    // A newcomer on a fresh id is announced as ever.
    let e = fabric.join(&[&a, &c, &d]);
    assert_eq!(e.id, 3);
}

#[test]
fn a_client_that_sends_is_disconnected() {
    let fabric = Fabric::start();
    let a = fabric.join(&[]);
    (&a.client.sock).write_all(b"x").expect("write");
    // The server closes A (a reset, as A's byte was never read).
    let mut rest = Vec::new();
    if let Err(e) = (&a.client.sock).read_to_end(&mut rest) {
        assert_eq!(
            e.kind(),
            std::io::ErrorKind::ConnectionReset,
            "A's socket: {e}"
        );
    }
    let b = fabric.connect();
    assert_eq!(b.welcome().0, 0, "A's id is free again");
}

#[test]
fn a_client_that_never_reads_does_not_stall_the_others() {
    let fabric = Fabric::start();
    // Connects and never reads: each new id's vectors pile up in this socket until its buffer
    // is full. Then the server must drop it and go on (its id 0 becomes free again); a server
    // that blocked on it would leave the next welcome unanswered (recv times out).
    let stuck = fabric.connect();
    // Clients that read everything and stay, so that every newcomer gets a fresh id.
    let mut live: Vec<(i64, Client)> = Vec::new();
    for _ in 0..2000 {
        let x = fabric.connect();
        let (id, _) = x.welcome();
        if id == 0 {
            drop(stuck);
            return;
        }
        // The vectors of every peer there, in connection order, then its own.
        x.vectors(0);
        for (i, _) in &live {
            x.vectors(*i);
        }
        x.vectors(id);
        for (_, c) in &live {
            c.vectors(id);
        }
        live.push((id, x));
    }
    panic!("the client that never reads was never dropped");
}

#[rstest]
#[case("4096", Ok(4096))]
#[case("64K", Ok(65536))]
#[case("4M", Ok(4 << 20))]
#[case("1g", Ok(1 << 30))]
#[case("3M", Err(SizeError::NotPowerOfTwo(3 << 20)))]
#[case("2048", Err(SizeError::OutOfRange(2048)))]
#[case("2G", Err(SizeError::OutOfRange(2 << 30)))]
#[case("", Err(SizeError::Syntax))]
#[case("M", Err(SizeError::Syntax))]
#[case("-4M", Err(SizeError::Syntax))]
#[case("4MB", Err(SizeError::Syntax))]
#[case("99999999999999999999G", Err(SizeError::Syntax))]
#[case("17179869184G", Err(SizeError::Syntax))]
fn sizes(#[case] arg: &str, #[case] want: Result<u64, SizeError>) {
    assert_eq!(parse_size(arg), want);
}

#[rstest]
#[case(&["-n", "0"])]
#[case(&["-n", "65"])]
#[case(&["-l", "3M"])]
#[case(&["--bogus"])]
fn bad_options_are_refused(#[case] args: &[&str]) {
    let argv = std::iter::once("xpu-fabric").chain(args.iter().copied());
    assert!(Options::try_parse_from(argv).is_err());
}

#[test]
fn defaults() {
    let o = Options::try_parse_from(["xpu-fabric"]).expect("defaults parse");
    assert_eq!((o.size, o.vectors), (4 << 20, 1));
}

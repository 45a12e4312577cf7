// SPDX-License-Identifier: GPL-2.0
//! The client: one request in flight, either back to back (closed loop) or each at its
//! scheduled time at a fixed rate, sleeping in between (no spinning: the CPU it uses is the
//! CPU its requests cost).

use crate::stats::percentile;
use serde::Serialize;
use std::io::{self, ErrorKind, Write};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
use std::path::Path;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const SEQ_LEN: usize = 8;
// The largest UDP payload over IPv4.
const MAX_SIZE: usize = 65507;
// The longest window, warm-up or timeout taken: a day (no Instant arithmetic can overflow).
const MAX_SECONDS: Duration = Duration::from_secs(86_400);

/// What to send: validated, so a run never starts with a load it cannot carry out.
pub(crate) struct Load {
    rate: Option<f64>,
    seconds: Duration,
    warmup: Duration,
    size: usize,
    timeout: Duration,
}

fn invalid(msg: String) -> io::Error {
    io::Error::new(ErrorKind::InvalidInput, msg)
}

fn secs(what: &str, v: f64) -> io::Result<Duration> {
    Duration::try_from_secs_f64(v)
        .map_err(|_| invalid(format!("{what} must be seconds >= 0, not {v}")))
}

impl Load {
    pub(crate) fn new(
        rate: Option<f64>,
        seconds: f64,
        warmup: f64,
        size: usize,
        timeout: Duration,
    ) -> io::Result<Self> {
        if let Some(r) = rate {
            if !(r.is_finite() && r > 0.0) {
                return Err(invalid(format!(
                    "--rate must be a positive number, not {r}"
                )));
            }
        }
        let seconds = secs("--seconds", seconds)?;
        if seconds.is_zero() || seconds > MAX_SECONDS {
            return Err(invalid(format!(
                "--seconds must be more than 0 and at most {}",
                MAX_SECONDS.as_secs()
            )));
        }
        if let Some(r) = rate {
            // At least one request in the window: the schedule's times then fit a Duration.
            if r * seconds.as_secs_f64() < 1.0 {
                return Err(invalid(format!(
                    "--rate {r} sends nothing in {} s",
                    seconds.as_secs_f64()
                )));
            }
        }
        if !(SEQ_LEN..=MAX_SIZE).contains(&size) {
            return Err(invalid(format!(
                "--size must be {SEQ_LEN}..={MAX_SIZE}, not {size}"
            )));
        }
        if timeout.is_zero() {
            return Err(invalid("--timeout-ms must be more than 0".into()));
        }
        let warmup = secs("--warmup", warmup)?;
        if warmup > MAX_SECONDS || timeout > MAX_SECONDS {
            return Err(invalid(format!(
                "the warm-up and the timeout are at most {} s",
                MAX_SECONDS.as_secs()
            )));
        }
        Ok(Self {
            rate,
            seconds,
            warmup,
            size,
            timeout,
        })
    }
}

/// The warm-up in seconds: until `start_at` (seconds since the Unix epoch) if given, else
/// `warmup`. A start time already past is an error: the flow would measure other seconds than
/// its caller's.
pub(crate) fn warmup_until(start_at: Option<f64>, warmup: f64) -> io::Result<f64> {
    let Some(at) = start_at else {
        return Ok(warmup);
    };
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_err(io::Error::other)?;
    let left = at - now.as_secs_f64();
    if !left.is_finite() || left < 0.0 {
        return Err(invalid(format!(
            "--start-at {at}: {:.3} s ago (the caller gave too little time to start)",
            -left
        )));
    }
    if left > MAX_SECONDS.as_secs_f64() {
        return Err(invalid(format!("--start-at {at}: more than a day ahead")));
    }
    Ok(left)
}

/// The measurement: counts over the measured seconds, the round trips' percentiles and the
/// round trips themselves (written apart: callers pool them across flows).
#[derive(Serialize)]
pub(crate) struct Report {
    requests: u64,
    replies: u64,
    lost: u64,
    /// Requests of the fixed rate's schedule not sent: their time had passed when the client
    /// could send (a reply that came late, or the client woken late).
    missed: u64,
    seconds: f64,
    per_second: f64,
    p50_us: Option<f64>,
    p99_us: Option<f64>,
    p999_us: Option<f64>,
    #[serde(skip)]
    rtt_ns: Vec<u64>,
}

impl Report {
    fn new(requests: u64, missed: u64, seconds: f64, mut rtt_ns: Vec<u64>) -> Self {
        rtt_ns.sort_unstable();
        let us = |q| percentile(&rtt_ns, q).map(|ns| ns as f64 / 1e3);
        let replies = rtt_ns.len() as u64;
        Self {
            requests,
            replies,
            lost: requests - replies,
            missed,
            seconds,
            per_second: replies as f64 / seconds,
            p50_us: us(0.5),
            p99_us: us(0.99),
            p999_us: us(0.999),
            rtt_ns,
        }
    }

    /// Prints the summary as one JSON line; writes the round trips to `rtt_file` if given.
    pub(crate) fn write(&self, rtt_file: Option<&Path>) -> io::Result<()> {
        if let Some(path) = rtt_file {
            let mut f = io::BufWriter::new(std::fs::File::create(path)?);
            for ns in &self.rtt_ns {
                writeln!(f, "{ns}")?;
            }
            f.flush()?;
        }
        println!("{}", serde_json::to_string(self).map_err(io::Error::other)?);
        Ok(())
    }
}

/// Waits for the reply to `seq`, skipping late replies to earlier requests. None on timeout.
fn await_reply(sock: &UdpSocket, seq: u64, buf: &mut [u8]) -> io::Result<Option<Instant>> {
    loop {
        match sock.recv(buf) {
            Ok(n) if n >= SEQ_LEN && buf[..SEQ_LEN] == seq.to_le_bytes() => {
                return Ok(Some(Instant::now()))
            }
            Ok(_) => continue,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                return Ok(None)
            }
            Err(e) => return Err(e),
        }
    }
}

pub(crate) fn run(server: SocketAddr, load: &Load) -> io::Result<Report> {
    let any: SocketAddr = match server {
        SocketAddr::V4(_) => (Ipv4Addr::UNSPECIFIED, 0).into(),
        SocketAddr::V6(_) => (Ipv6Addr::UNSPECIFIED, 0).into(),
    };
    let sock = UdpSocket::bind(any)?;
    sock.connect(server)?;
    sock.set_read_timeout(Some(load.timeout))?;
    let mut req = vec![0u8; load.size];
    let mut reply = vec![0u8; MAX_SIZE];

    let start = Instant::now();
    let measure_from = start + load.warmup;
    let end = measure_from + load.seconds;
    let (mut requests, mut missed, mut rtt_ns) = (0u64, 0u64, Vec::new());
    let mut slot = 0u64;
    for seq in 0u64.. {
        if let Some(rate) = load.rate {
            // Each request has its time slot; a slot whose successor is already due when the
            // client gets to it is skipped and counted, not sent late: catching up would send
            // back to back, a closed loop inside a light load.
            let due = |k: u64| start + Duration::from_secs_f64(k as f64 / rate);
            let now = Instant::now();
            while due(slot + 1) <= now && due(slot) < end {
                if due(slot) >= measure_from {
                    missed += 1;
                }
                slot += 1;
            }
            if due(slot) >= end {
                break;
            }
            if let Some(wait) = due(slot).checked_duration_since(now) {
                std::thread::sleep(wait);
            }
            slot += 1;
        }
        let sent = Instant::now();
        if sent >= end {
            break;
        }
        req[..SEQ_LEN].copy_from_slice(&seq.to_le_bytes());
        sock.send(&req)
            .map_err(|e| io::Error::new(e.kind(), format!("send to {server}: {e}")))?;
        let got = await_reply(&sock, seq, &mut reply)
            .map_err(|e| io::Error::new(e.kind(), format!("receive from {server}: {e}")))?;
        if sent >= measure_from {
            requests += 1;
            if let Some(at) = got {
                rtt_ns.push(at.duration_since(sent).as_nanos() as u64);
            }
        }
    }
    // The window is fixed; requests are counted by when they were sent within it.
    Ok(Report::new(
        requests,
        missed,
        load.seconds.as_secs_f64(),
        rtt_ns,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case(Some(0.0), 1.0, 64, "--rate")]
    #[case(Some(f64::NAN), 1.0, 64, "--rate")]
    #[case(None, 0.0, 64, "--seconds")]
    #[case(None, -1.0, 64, "--seconds")]
    #[case(None, 1.0, 4, "--size")]
    #[case(None, 1.0, 70000, "--size")]
    #[case(None, 100_000.0, 64, "--seconds")]
    #[case(Some(0.5), 1.0, 64, "--rate")]
    fn bad_loads_are_refused(
        #[case] rate: Option<f64>,
        #[case] seconds: f64,
        #[case] size: usize,
        #[case] names: &str,
    ) {
        let e = Load::new(rate, seconds, 0.0, size, Duration::from_millis(10)).err();
        assert!(e.is_some_and(|e| e.to_string().contains(names)));
    }

    fn echo_server() -> SocketAddr {
        let sock = UdpSocket::bind("127.0.0.1:0").expect("bind");
        let addr = sock.local_addr().expect("addr");
        std::thread::spawn(move || {
            let mut buf = [0u8; 2048];
            while let Ok((n, from)) = sock.recv_from(&mut buf) {
                let _ = sock.send_to(&buf[..n], from);
            }
        });
        addr
    }

    #[test]
    fn a_start_time_in_the_past_is_refused() {
        let past = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("clock")
            .as_secs_f64()
            - 1.0;
        let e = warmup_until(Some(past), 0.2).expect_err("a past start");
        assert!(e.to_string().contains("ago"), "{e}");
        let w = warmup_until(Some(past + 1.5), 0.2).expect("a future start");
        assert!(w > 0.0 && w <= 0.5, "{w}");
        assert_eq!(warmup_until(None, 0.2).expect("no start"), 0.2);
    }

    /// This thread's CPU time so far, in clock ticks (user and system, /proc/thread-self/stat).
    fn thread_cpu_ticks() -> u64 {
        let stat = std::fs::read_to_string("/proc/thread-self/stat").expect("stat");
        // The fields after the command's closing parenthesis; utime and stime are 14 and 15.
        let rest = &stat[stat.rfind(')').expect("comm") + 2..];
        let f: Vec<&str> = rest.split_whitespace().collect();
        f[11].parse::<u64>().expect("utime") + f[12].parse::<u64>().expect("stime")
    }

    #[test]
    fn a_fixed_rate_sends_on_schedule_and_sleeps() {
        let load = Load::new(Some(200.0), 0.5, 0.0, 64, Duration::from_millis(200)).expect("load");
        let server = echo_server();
        let (started, cpu0) = (Instant::now(), thread_cpu_ticks());
        let r = run(server, &load).expect("run");
        let cpu = thread_cpu_ticks() - cpu0;
        // 100 requests due in 0.5 s at 200/s; on a loaded machine the last few may come due
        // after the deadline's check, none more than that.
        assert!((90..=100).contains(&r.requests), "{} requests", r.requests);
        assert_eq!(r.lost, 0);
        assert!(started.elapsed() >= Duration::from_millis(490));
        assert!(r.p50_us.is_some_and(|p| p > 0.0));
        // Paced by sleeping: a spinning client would use the whole 0.5 s (50 ticks at 100 Hz).
        assert!(cpu < 15, "the client used {cpu} ticks of CPU in 0.5 s");
    }

    #[test]
    fn closed_loop_goes_faster_than_a_light_rate() {
        let load = Load::new(None, 0.3, 0.0, 64, Duration::from_millis(200)).expect("load");
        let r = run(echo_server(), &load).expect("run");
        // Closed loop over loopback: well above a paced 200/s, even on a loaded machine.
        assert!(r.per_second > 400.0, "{} per second", r.per_second);
        assert_eq!((r.lost, r.missed), (0, 0));
    }

    #[test]
    fn slots_passed_during_a_late_reply_are_skipped_not_sent_back_to_back() {
        // Answers the first request after 100 ms, the others at once.
        let sock = UdpSocket::bind("127.0.0.1:0").expect("bind");
        let addr = sock.local_addr().expect("addr");
        std::thread::spawn(move || {
            let mut buf = [0u8; 2048];
            let mut first = true;
            while let Ok((n, from)) = sock.recv_from(&mut buf) {
                if std::mem::take(&mut first) {
                    std::thread::sleep(Duration::from_millis(100));
                }
                let _ = sock.send_to(&buf[..n], from);
            }
        });
        // 100/s for 0.5 s: a slot every 10 ms; the first reply takes 100 ms, about 9 slots.
        let load = Load::new(Some(100.0), 0.5, 0.0, 64, Duration::from_millis(500)).expect("load");
        let r = run(addr, &load).expect("run");
        assert!((8..=10).contains(&r.missed), "{} missed", r.missed);
        assert_eq!(
            r.requests + r.missed,
            50,
            "{} sent, {} missed",
            r.requests,
            r.missed
        );
        assert_eq!(r.lost, 0);
    }

    #[test]
    fn a_server_that_never_answers_loses_every_request() {
        let silent = UdpSocket::bind("127.0.0.1:0").expect("bind");
        let load = Load::new(Some(50.0), 0.2, 0.0, 64, Duration::from_millis(5)).expect("load");
        let r = run(silent.local_addr().expect("addr"), &load).expect("run");
        // 10 slots; a loaded machine may skip some (counted as missed), not all.
        assert!(
            r.requests >= 5 && r.requests + r.missed <= 10,
            "{} + {}",
            r.requests,
            r.missed
        );
        assert_eq!(r.replies, 0);
        assert_eq!(r.lost, r.requests);
        assert!(r.p50_us.is_none());
    }
}

// SPDX-License-Identifier: GPL-2.0

//! Command-line options, checked before anything is created.

use std::{fmt, path::PathBuf};

use clap::Parser;

/// QEMU's ivshmem device takes at most 64 vectors (MSI-X table size of its model).
pub const MAX_VECTORS: u16 = 64;
/// The smallest window: one page.
pub const MIN_SIZE: u64 = 4096;
/// The largest window we serve: 1 GiB (the xpu driver's window is far smaller).
pub const MAX_SIZE: u64 = 1 << 30;

/// Command-line arguments of `xpu-fabric`.
#[derive(Debug, Parser)]
#[command(
    name = "xpu-fabric",
    version,
    about = "Shared memory and doorbells for xpu links between VMs (QEMU ivshmem-doorbell server)"
)]
pub struct Options {
    /// UNIX socket the VMs connect to (QEMU: -chardev socket,path=PATH)
    #[arg(short = 'S', long, default_value = "/tmp/xpu-fabric.sock")]
    pub socket: PathBuf,
    /// Size of the shared window, a power of two, with an optional K, M or G suffix
    #[arg(short = 'l', long, default_value = "4M", value_parser = parse_size)]
    pub size: u64,
    /// Interrupt vectors per peer (QEMU: -device ivshmem-doorbell,vectors=N)
    #[arg(short = 'n', long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=i64::from(MAX_VECTORS)))]
    pub vectors: u16,
    /// CXL mode: the file the VMs back their CXL memory device with, which holds the xpu
    /// window (a departed side is marked down there); the fabric's own window then only
    /// carries the doorbells
    #[arg(long, value_name = "FILE")]
    pub cxl: Option<PathBuf>,
    /// Print connects and disconnects
    #[arg(short, long)]
    pub verbose: bool,
}

/// Why a size was refused.
#[derive(Debug, PartialEq, Eq)]
pub enum SizeError {
    /// Not a number with an optional K, M or G suffix.
    Syntax,
    /// Not a power of two.
    NotPowerOfTwo(u64),
    /// Outside [`MIN_SIZE`]..=[`MAX_SIZE`].
    OutOfRange(u64),
}

impl fmt::Display for SizeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Syntax => write!(f, "expected a number of bytes, optionally with K, M or G"),
            Self::NotPowerOfTwo(n) => write!(f, "{n} is not a power of two"),
            Self::OutOfRange(n) => write!(f, "{n} is outside {MIN_SIZE}..={MAX_SIZE} bytes"),
        }
    }
}

impl std::error::Error for SizeError {}

/// Parses a window size: `65536`, `64K`, `4M`, `1G`. QEMU maps the window as a PCI BAR, which
/// must be a power of two.
pub fn parse_size(s: &str) -> Result<u64, SizeError> {
    let (digits, shift) = match s.as_bytes().last() {
        Some(b'k' | b'K') => (&s[..s.len() - 1], 10),
        Some(b'm' | b'M') => (&s[..s.len() - 1], 20),
        Some(b'g' | b'G') => (&s[..s.len() - 1], 30),
        _ => (s, 0),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(SizeError::Syntax);
    }
    let n: u64 = digits.parse().map_err(|_| SizeError::Syntax)?;
    let n = n
        .checked_shl(shift)
        .filter(|v| v >> shift == n)
        .ok_or(SizeError::Syntax)?;
    if !(MIN_SIZE..=MAX_SIZE).contains(&n) {
        return Err(SizeError::OutOfRange(n));
    }
    if !n.is_power_of_two() {
        return Err(SizeError::NotPowerOfTwo(n));
    }
    Ok(n)
}

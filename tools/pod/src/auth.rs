// SPDX-License-Identifier: GPL-2.0
//! Who may ask a DPU's agent: a host that holds the node's key. The agent answers on the node's
//! control link, which every process of the host can reach, and it starts and removes pods: a
//! request must show that its sender holds the key, a secret the operator gives both sides of
//! the node (a file only root reads, as the kubelet's client key is).
//!
//! The agent opens each connection with a fresh random nonce ([`Hello`]); the host sends its
//! request's line, then a [`Proof`]: HMAC-SHA256 under the key of the nonce and that line. The
//! key never crosses the link, a proof is good for one request only (a changed request fails
//! it), and one recorded off the link is good for no later connection (its nonce is gone).
//! The link's I/O is the agent's and xpuctl's; both read the key with [`Key::from_file`].

use std::{fs, os::unix::fs::PermissionsExt, path::Path};

use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

/// Bytes of a nonce.
pub const NONCE_LEN: usize = 32;
/// The fewest bytes a key may have: 128 bits.
pub const MIN_KEY_LEN: usize = 16;
/// Where the node's key is by default, on both sides.
pub const DEFAULT_KEY_FILE: &str = "/etc/xpu/node.key";

type HmacSha256 = Hmac<Sha256>;

/// The node's key.
#[derive(Clone, PartialEq, Eq)]
pub struct Key(Vec<u8>);

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // A key is not printed, not even in a debug message.
        f.write_str("Key(..)")
    }
}

impl Key {
    /// The key in a key file's `text`: its bytes, white space around them taken off (a key
    /// written as hex, `openssl rand -hex 32`, is its hex text), at least [`MIN_KEY_LEN`].
    pub fn from_text(text: &[u8]) -> Result<Self, String> {
        let key = text.trim_ascii();
        if key.len() < MIN_KEY_LEN {
            return Err(format!(
                "the key has {} bytes, fewer than {MIN_KEY_LEN}",
                key.len()
            ));
        }
        Ok(Key(key.to_vec()))
    }

    /// The key in the file `path`, which only its owner may read ([`check_mode`]).
    pub fn from_file(path: &Path) -> Result<Self, String> {
        let what = |e: String| format!("the node's key {}: {e}", path.display());
        let meta = fs::metadata(path).map_err(|e| what(e.to_string()))?;
        check_mode(meta.permissions().mode()).map_err(what)?;
        let text = fs::read(path).map_err(|e| what(e.to_string()))?;
        Self::from_text(&text).map_err(what)
    }

    fn mac(&self, nonce: &[u8], line: &str) -> HmacSha256 {
        // HMAC takes a key of any length (RFC 2104): this cannot fail.
        let mut m = <HmacSha256 as Mac>::new_from_slice(&self.0)
            .unwrap_or_else(|_| unreachable!("HMAC takes a key of any length"));
        m.update(nonce);
        m.update(line.as_bytes());
        m
    }

    /// The proof of `line`, a request's line, for the connection whose nonce is `nonce`.
    pub fn prove(&self, nonce: &[u8; NONCE_LEN], line: &str) -> Proof {
        Proof {
            mac: hex(&self.mac(nonce, line).finalize().into_bytes()),
        }
    }

    /// Whether `proof` proves `line` for `nonce` (compared in constant time: the time it takes
    /// says nothing of how much of a forged proof was right).
    pub fn verify(&self, nonce: &[u8; NONCE_LEN], line: &str, proof: &Proof) -> bool {
        unhex(&proof.mac).is_some_and(|mac| self.mac(nonce, line).verify_slice(&mac).is_ok())
    }
}

/// Whether a key file's permission bits keep it the owner's: no access for the group or
/// others, as ssh wants of a private key.
pub fn check_mode(mode: u32) -> Result<(), String> {
    if mode & 0o077 == 0 {
        Ok(())
    } else {
        Err(format!(
            "its mode {:o} lets others than its owner read it (chmod 600)",
            mode & 0o777
        ))
    }
}

/// The agent's first line on a connection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Hello {
    /// [`NONCE_LEN`] random bytes, hex.
    pub nonce: String,
}

impl Hello {
    pub fn new(nonce: &[u8; NONCE_LEN]) -> Self {
        Hello { nonce: hex(nonce) }
    }

    /// The nonce, if it is one.
    pub fn nonce(&self) -> Option<[u8; NONCE_LEN]> {
        unhex(&self.nonce)?.try_into().ok()
    }
}

/// The host's line after its request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Proof {
    /// HMAC-SHA256 of the nonce and the request's line under the node's key, hex.
    pub mac: String,
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if s.len() % 2 != 0 || !s.is_ascii() {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use rstest::rstest;

    use super::*;

    const NONCE: [u8; NONCE_LEN] = [7; NONCE_LEN];
    const LINE: &str = r#"{"op":"delete","pod":"web"}"#;

    fn key(s: &str) -> Key {
        Key::from_text(s.as_bytes()).expect("a key")
    }

    /// RFC 4231's test case 2: the MAC is HMAC-SHA256, of the nonce then the line.
    #[test]
    fn hmac_sha256_of_nonce_and_line() {
        let k = Key(b"Jefe".to_vec());
        let m = k
            .mac(b"what do ya want ", "for nothing?")
            .finalize()
            .into_bytes();
        assert_eq!(
            hex(&m),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn a_proof_holds_for_its_line_and_nonce_only() {
        let k = key("00112233445566778899aabbccddeeff");
        let p = k.prove(&NONCE, LINE);
        assert!(k.verify(&NONCE, LINE, &p));
        assert!(!k.verify(&NONCE, r#"{"op":"delete","pod":"api"}"#, &p));
        assert!(!k.verify(&[8; NONCE_LEN], LINE, &p));
        assert!(!key("ffeeddccbbaa99887766554433221100").verify(&NONCE, LINE, &p));
        let mut forged = p.clone();
        forged
            .mac
            .replace_range(0..2, if &p.mac[0..2] == "00" { "01" } else { "00" });
        assert!(!k.verify(&NONCE, LINE, &forged));
    }

    #[rstest]
    #[case("")]
    #[case("zz")]
    #[case("abc")]
    #[case("é1")]
    fn malformed_proofs_fail(#[case] mac: &str) {
        let k = key("00112233445566778899aabbccddeeff");
        assert!(!k.verify(&NONCE, LINE, &Proof { mac: mac.into() }));
    }

    #[test]
    fn keys_and_their_files() {
        assert_eq!(key("  0123456789abcdef\n"), key("0123456789abcdef"));
        assert!(Key::from_text(b"short\n").is_err());
        assert!(Key::from_text(b"   \n").is_err());
        assert_eq!(format!("{:?}", key("0123456789abcdef")), "Key(..)");
        assert!(check_mode(0o100600).is_ok());
        assert!(check_mode(0o100400).is_ok());
        assert!(check_mode(0o100640).is_err());
        assert!(check_mode(0o100604).is_err());
    }

    #[test]
    fn hellos_carry_a_nonce() {
        let h = Hello::new(&NONCE);
        assert_eq!(h.nonce(), Some(NONCE));
        assert_eq!(Hello { nonce: "07".into() }.nonce(), None);
        assert_eq!(
            Hello {
                nonce: "xyz".into()
            }
            .nonce(),
            None
        );
    }
}

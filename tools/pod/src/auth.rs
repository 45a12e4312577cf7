// SPDX-License-Identifier: GPL-2.0
//! Who may ask a DPU's agent: a host that holds the node's key. The agent answers on the node's
//! control link, which every process of the host can reach, and it starts and removes pods: a
//! request must show that its sender holds the key, a secret the operator gives both sides of
//! the node (a file only root reads, as the kubelet's client key is).
//!
//! The agent opens each connection with a fresh random nonce ([`Hello`]); the host sends its
//! request's line, then a [`Proof`]: HMAC-SHA256 under the key of the nonce and that line. The
//! agent answers with its reply's line and a proof of the nonce, the request and the reply, so
//! the host knows the answer is its agent's (a process of the DPU that took the agent's port
//! while it restarted has no key). The key never crosses the link, a proof is good for one
//! exchange only (a changed request or reply fails it), and one recorded off the link is good
//! for no later connection (its nonce is gone). The two kinds of proof are of messages that
//! begin differently, so neither can stand for the other. One key per node: a request proved
//! for one node's agent would be good for another's that had the same key.
//! The link's I/O is the agent's and xpuctl's; both read the key with [`Key::from_file`].

use std::{fs::File, io::Read, os::unix::fs::PermissionsExt, path::Path};

use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

/// Bytes of a nonce.
pub const NONCE_LEN: usize = 32;
/// The fewest bytes a key's text may have: 32, which hold 128 bits written as hex (`openssl
/// rand -hex 16`), the least a key written so carries.
pub const MIN_KEY_LEN: usize = 32;
/// Where the node's key is by default, on both sides.
pub const DEFAULT_KEY_FILE: &str = "/etc/xpu/node.key";

type HmacSha256 = Hmac<Sha256>;

/// The node's key.
#[derive(Clone)]
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

    /// The key in the file `path`, which only its owner may read ([`check_mode`]): the mode
    /// of the file opened, not of whatever the path names a moment before.
    pub fn from_file(path: &Path) -> Result<Self, String> {
        let what = |e: String| format!("the node's key {}: {e}", path.display());
        let mut f = File::open(path).map_err(|e| what(e.to_string()))?;
        let meta = f.metadata().map_err(|e| what(e.to_string()))?;
        check_mode(meta.permissions().mode()).map_err(what)?;
        let mut text = Vec::new();
        f.read_to_end(&mut text).map_err(|e| what(e.to_string()))?;
        Self::from_text(&text).map_err(what)
    }

    /// HMAC-SHA256 under the key of `parts`, in order.
    fn mac(&self, parts: &[&[u8]]) -> HmacSha256 {
        // HMAC takes a key of any length (RFC 2104): this cannot fail.
        let mut m = <HmacSha256 as Mac>::new_from_slice(&self.0)
            .unwrap_or_else(|_| unreachable!("HMAC takes a key of any length"));
        for p in parts {
            m.update(p);
        }
        m
    }

    /// What a request's proof is of: the connection's nonce and the request's line.
    fn request_mac(&self, nonce: &[u8; NONCE_LEN], request: &str) -> HmacSha256 {
        self.mac(&[REQUEST, nonce, request.as_bytes()])
    }

    /// What a reply's proof is of: the nonce, the request and the reply (a NUL between them,
    /// which neither line has).
    fn reply_mac(&self, nonce: &[u8; NONCE_LEN], request: &str, reply: &str) -> HmacSha256 {
        self.mac(&[REPLY, nonce, request.as_bytes(), b"\0", reply.as_bytes()])
    }

    /// The proof of `request`, a request's line, for the connection whose nonce is `nonce`.
    pub fn prove(&self, nonce: &[u8; NONCE_LEN], request: &str) -> Proof {
        Proof::of(self.request_mac(nonce, request))
    }

    /// Whether `proof` proves `request` for `nonce` (compared in constant time: the time it
    /// takes says nothing of how much of a forged proof was right).
    pub fn verify(&self, nonce: &[u8; NONCE_LEN], request: &str, proof: &Proof) -> bool {
        proof.holds(self.request_mac(nonce, request))
    }

    /// The proof of `reply`, the agent's answer to `request` on the connection of `nonce`.
    pub fn prove_reply(&self, nonce: &[u8; NONCE_LEN], request: &str, reply: &str) -> Proof {
        Proof::of(self.reply_mac(nonce, request, reply))
    }

    /// Whether `proof` proves `reply` to `request` for `nonce` (in constant time).
    pub fn verify_reply(
        &self,
        nonce: &[u8; NONCE_LEN],
        request: &str,
        reply: &str,
        proof: &Proof,
    ) -> bool {
        proof.holds(self.reply_mac(nonce, request, reply))
    }
}

/// What a request's proof begins with.
const REQUEST: &[u8] = b"xpu-node request\0";
/// What a reply's proof begins with.
const REPLY: &[u8] = b"xpu-node reply\0";

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

/// The line after a request (the host's) and after a reply (the agent's).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Proof {
    /// HMAC-SHA256 under the node's key, hex.
    pub mac: String,
}

impl Proof {
    fn of(m: HmacSha256) -> Self {
        Proof {
            mac: hex(&m.finalize().into_bytes()),
        }
    }

    fn holds(&self, m: HmacSha256) -> bool {
        unhex(&self.mac).is_some_and(|mac| m.verify_slice(&mac).is_ok())
    }
}

/// The most bytes a proof's line takes: its MAC and the JSON around it, with room to spare;
/// a peer's longer line is refused unread.
pub const MAX_PROOF_LINE: usize = 128;

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if s.len() % 2 != 0 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
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

    const KEY: &str = "00112233445566778899aabbccddeeff";
    const OTHER: &str = "ffeeddccbbaa99887766554433221100";

    /// RFC 4231's test case 2: the MAC is HMAC-SHA256, of its parts in order.
    #[test]
    fn hmac_sha256_of_the_parts() {
        let k = Key(b"Jefe".to_vec());
        let m = k
            .mac(&[b"what do ya want ", b"for nothing?"])
            .finalize()
            .into_bytes();
        assert_eq!(
            hex(&m),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn a_proof_holds_for_its_line_and_nonce_only() {
        let k = key(KEY);
        let p = k.prove(&NONCE, LINE);
        assert!(k.verify(&NONCE, LINE, &p));
        assert!(!k.verify(&NONCE, r#"{"op":"delete","pod":"api"}"#, &p));
        assert!(!k.verify(&[8; NONCE_LEN], LINE, &p));
        assert!(!key(OTHER).verify(&NONCE, LINE, &p));
        let mut forged = p.clone();
        forged
            .mac
            .replace_range(0..2, if &p.mac[0..2] == "00" { "01" } else { "00" });
        assert!(!k.verify(&NONCE, LINE, &forged));
    }

    /// A reply's proof holds for its reply to its request on its connection, and a request's
    /// proof is no reply's (nor the other way round).
    #[test]
    fn a_reply_proof_holds_for_its_exchange_only() {
        let k = key(KEY);
        let reply = r#"{"done":null}"#;
        let p = k.prove_reply(&NONCE, LINE, reply);
        assert!(k.verify_reply(&NONCE, LINE, reply, &p));
        assert!(!k.verify_reply(&NONCE, LINE, r#"{"error":"no"}"#, &p));
        assert!(!k.verify_reply(&NONCE, r#"{"op":"list"}"#, reply, &p));
        assert!(!k.verify_reply(&[8; NONCE_LEN], LINE, reply, &p));
        assert!(!key(OTHER).verify_reply(&NONCE, LINE, reply, &p));
        assert!(!k.verify(&NONCE, LINE, &p));
        assert!(!k.verify_reply(&NONCE, LINE, "", &k.prove(&NONCE, LINE)));
    }

    #[rstest]
    #[case("")]
    #[case("zz")]
    #[case("abc")]
    #[case("é1")]
    #[case("+a")]
    fn malformed_proofs_fail(#[case] mac: &str) {
        let k = key(KEY);
        assert!(!k.verify(&NONCE, LINE, &Proof { mac: mac.into() }));
    }

    #[test]
    fn keys_and_their_files() {
        assert_eq!(key(&format!("  {KEY}\n")).0, key(KEY).0);
        assert!(Key::from_text(b"0123456789abcdef\n").is_err());
        assert!(Key::from_text(b"   \n").is_err());
        assert_eq!(format!("{:?}", key(KEY)), "Key(..)");
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

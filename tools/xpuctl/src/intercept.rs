// SPDX-License-Identifier: GPL-2.0

//! `xpuctl splitns intercept`: Istio's sidecar interception (its REDIRECT mode, the rules its
//! init container writes) for a split pod whose sidecar runs on the DPU half (or, with
//! `--sidecar host`, on the host half, as an ordinary pod's does), as input for
//! `iptables-restore --noflush`, or with `--ipv6` for `ip6tables-restore --noflush` (Istio's
//! IPv6 rules: `::1` and the inbound passthrough source `::6` for `127.0.0.1` and `127.0.0.6`).
//!
//! The sidecar learns the original destination with `SO_ORIGINAL_DST`, which reads the
//! conntrack entry of the proxy's own network namespace: the redirect must happen in the half
//! the proxy runs in. So every rule is the sidecar's half's, and the other half gets none. What
//! differs from Istio's rules, and why:
//! - The host half's outgoing connections reach the DPU half through the link (its default
//!   route, `splitns create --edge`), not through an OUTPUT chain of the proxy's kernel: TCP
//!   that comes in on the link goes to `ISTIO_REDIRECT` (REDIRECT takes the link's address,
//!   the pod address `--edge` put there). The proxy's exemption by UID needs no counterpart
//!   there: the proxy is on the DPU half. With the sidecar on the host half, this rule goes:
//!   there, what comes in on the link is the pod's inbound traffic, which Istio's own rules
//!   capture, and the host half's outgoing connections pass its OUTPUT chain, as in any pod.
//! - The other half's loopback traffic (a host container calling `127.0.0.1:15000`, the
//!   application answering the proxy's inbound connections) is delivered through `lo` without
//!   the conntrack entry its own half made, so PREROUTING would take it for new inbound
//!   traffic: `-i lo` returns first, as Istio's TPROXY mode does for `lo`.
//!
//! Everything else (ports, chains, the inbound exclusions, `127.0.0.6`, the hairpin) is Istio's.

use clap::Args;
use xpu_uapi::sync::Half;

/// The proxy's side of the interception, with Istio's defaults.
#[derive(Args)]
pub(crate) struct InterceptArgs {
    /// The proxy's outbound capture port (istio-iptables -p)
    #[arg(long, default_value_t = 15001)]
    outbound_port: u16,
    /// The proxy's inbound capture port (istio-iptables -z)
    #[arg(long, default_value_t = 15006)]
    inbound_port: u16,
    /// The proxy's UID and GID: its own traffic is never captured (istio-iptables -u, -g)
    #[arg(long, default_value_t = 1337)]
    proxy_uid: u32,
    /// Inbound ports not captured (istio-iptables -d)
    #[arg(long, value_delimiter = ',', default_value = "15090,15021,15020")]
    exclude_inbound_ports: Vec<u16>,
    /// The half the sidecar runs in, which gets every rule
    #[arg(long, value_enum, default_value_t = SidecarHalf::Dpu)]
    sidecar: SidecarHalf,
    /// The IPv6 rules, for ip6tables-restore (Istio's init also runs `ip -6 addr add ::6/128
    /// dev lo`, the inbound passthrough source)
    #[arg(long)]
    ipv6: bool,
}

/// Where the sidecar runs: on the DPU half (the offload), or on the host half (as in a pod
/// without a DPU; the DPU half only forwards).
#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum SidecarHalf {
    Host,
    Dpu,
}

/// The ruleset for this half of split pod `name`, whose link is `dev`.
pub(crate) fn rules(a: &InterceptArgs, half: Half, name: &str, dev: &str) -> String {
    let mut out = format!(
        "# Istio's sidecar interception (REDIRECT mode{}) for split pod '{name}', {} half\n",
        if a.ipv6 { ", IPv6" } else { "" },
        if half == Half::Host { "host" } else { "DPU" }
    );
    let sidecar = match a.sidecar {
        SidecarHalf::Host => Half::Host,
        SidecarHalf::Dpu => Half::Dpu,
    };
    if half != sidecar {
        out += if half == Half::Host {
            "# Nothing here: the sidecar runs on the DPU half, and the host half's traffic\n\
             # is intercepted there (its way out is the link, the DPU half is its edge).\n"
        } else {
            "# Nothing here: the sidecar runs on the host half, which intercepts its own\n\
             # traffic; the DPU half only forwards it.\n"
        };
        return out;
    }
    let (p, z, u) = (a.outbound_port, a.inbound_port, a.proxy_uid);
    // Localhost, and the source of the proxy's inbound passthrough connections.
    let (lo, passthrough) = if a.ipv6 {
        ("::1/128", "::6/128")
    } else {
        ("127.0.0.1/32", "127.0.0.6/32")
    };
    let mut r = vec![
        "*nat".to_string(),
        ":ISTIO_INBOUND - [0:0]".into(),
        ":ISTIO_REDIRECT - [0:0]".into(),
        ":ISTIO_IN_REDIRECT - [0:0]".into(),
        ":ISTIO_OUTPUT - [0:0]".into(),
        "-A ISTIO_INBOUND -p tcp --dport 15008 -j RETURN".into(),
        format!("-A ISTIO_REDIRECT -p tcp -j REDIRECT --to-ports {p}"),
        format!("-A ISTIO_IN_REDIRECT -p tcp -j REDIRECT --to-ports {z}"),
    ];
    if half == Half::Dpu {
        // xpu: the host half's outgoing connections, which Istio catches in OUTPUT there.
        r.push(format!("-A PREROUTING -i {dev} -p tcp -j ISTIO_REDIRECT"));
    }
    // xpu: the other half's loopback traffic is not inbound traffic.
    r.push("-A PREROUTING -i lo -p tcp -j RETURN".into());
    r.push("-A PREROUTING -p tcp -j ISTIO_INBOUND".into());
    for port in &a.exclude_inbound_ports {
        r.push(format!("-A ISTIO_INBOUND -p tcp --dport {port} -j RETURN"));
    }
    r.push("-A ISTIO_INBOUND -p tcp -j ISTIO_IN_REDIRECT".into());
    r.push("-A OUTPUT -j ISTIO_OUTPUT".into());
    r.push(format!("-A ISTIO_OUTPUT -o lo -s {passthrough} -j RETURN"));
    for m in ["uid", "gid"] {
        r.push(format!(
            "-A ISTIO_OUTPUT -o lo ! -d {lo} -p tcp ! --dport 15008 \
             -m owner --{m}-owner {u} -j ISTIO_IN_REDIRECT"
        ));
        r.push(format!(
            "-A ISTIO_OUTPUT -o lo -m owner ! --{m}-owner {u} -j RETURN"
        ));
        r.push(format!(
            "-A ISTIO_OUTPUT -m owner --{m}-owner {u} -j RETURN"
        ));
    }
    r.push(format!("-A ISTIO_OUTPUT -d {lo} -j RETURN"));
    r.push("-A ISTIO_OUTPUT -j ISTIO_REDIRECT".into());
    r.push("COMMIT".into());
    for l in r {
        out += &l;
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        a: InterceptArgs,
    }

    fn dpu(args: &[&str]) -> String {
        let cli = Cli::parse_from([&["x"], args].concat());
        rules(&cli.a, Half::Dpu, "web", "xpu1")
    }

    #[test]
    fn host_half_gets_no_rules() {
        let cli = Cli::parse_from(["x"]);
        let out = rules(&cli.a, Half::Host, "web", "xpu0");
        assert!(out.lines().all(|l| l.starts_with('#')), "{out}");
    }

    #[test]
    fn a_host_sidecar_leaves_the_dpu_half_none() {
        let cli = Cli::parse_from(["x", "--sidecar", "host"]);
        let out = rules(&cli.a, Half::Dpu, "web", "xpu1");
        assert!(out.lines().all(|l| l.starts_with('#')), "{out}");
    }

    #[test]
    fn a_host_sidecar_is_istio_without_the_link() {
        let cli = Cli::parse_from(["x", "--sidecar", "host"]);
        let host = rules(&cli.a, Half::Host, "web", "xpu0");
        assert!(!host.contains("-i xpu0"), "{host}");
        // Everything else is the DPU half's ruleset with the sidecar there.
        let rest = |s: &str| {
            s.lines()
                .skip(1)
                .filter(|l| !l.contains("-i xpu"))
                .map(str::to_string)
                .collect::<Vec<_>>()
        };
        assert_eq!(rest(&host), rest(&dpu(&[])));
        assert!(host.contains("-A PREROUTING -i lo -p tcp -j RETURN\n"));
    }

    #[test]
    fn dpu_half_is_istio_plus_the_link() {
        let out = dpu(&[]);
        let pos = |l: &str| {
            out.lines()
                .position(|x| x == l)
                .unwrap_or_else(|| panic!("missing '{l}' in\n{out}"))
        };
        // The link's outbound and lo's return come before Istio's inbound capture.
        let link = pos("-A PREROUTING -i xpu1 -p tcp -j ISTIO_REDIRECT");
        let lo = pos("-A PREROUTING -i lo -p tcp -j RETURN");
        let inbound = pos("-A PREROUTING -p tcp -j ISTIO_INBOUND");
        assert!(link < inbound && lo < inbound);
        pos("-A ISTIO_REDIRECT -p tcp -j REDIRECT --to-ports 15001");
        pos("-A ISTIO_IN_REDIRECT -p tcp -j REDIRECT --to-ports 15006");
        pos("-A ISTIO_OUTPUT -o lo -s 127.0.0.6/32 -j RETURN");
        pos("-A ISTIO_OUTPUT -m owner --uid-owner 1337 -j RETURN");
        // Each excluded port returns before the capture.
        let capture = pos("-A ISTIO_INBOUND -p tcp -j ISTIO_IN_REDIRECT");
        for p in [15090, 15021, 15020] {
            assert!(pos(&format!("-A ISTIO_INBOUND -p tcp --dport {p} -j RETURN")) < capture);
        }
        assert_eq!(out.lines().last(), Some("COMMIT"));
    }

    #[test]
    fn ports_and_uid_follow_the_flags() {
        let out = dpu(&[
            "--outbound-port",
            "16001",
            "--inbound-port",
            "16006",
            "--proxy-uid",
            "2000",
            "--exclude-inbound-ports",
            "9000",
        ]);
        assert!(out.contains("REDIRECT --to-ports 16001\n"));
        assert!(out.contains("REDIRECT --to-ports 16006\n"));
        assert!(out.contains("--uid-owner 2000 -j RETURN\n"));
        assert!(out.contains("--dport 9000 -j RETURN\n"));
        assert!(!out.contains("--dport 15090"));
    }

    #[test]
    fn ipv6_names_ipv6_loopback_and_passthrough() {
        let (v4, v6) = (dpu(&[]), dpu(&["--ipv6"]));
        assert!(
            v6.contains("-A ISTIO_OUTPUT -o lo -s ::6/128 -j RETURN\n"),
            "{v6}"
        );
        assert!(
            v6.contains("-A ISTIO_OUTPUT -d ::1/128 -j RETURN\n"),
            "{v6}"
        );
        assert!(!v6.contains("127.0.0."), "{v6}");
        // Nothing else differs.
        let strip = |s: &str| {
            s.lines()
                .skip(1)
                .map(|l| {
                    l.replace("::6/128", "127.0.0.6/32")
                        .replace("::1/128", "127.0.0.1/32")
                })
                .collect::<Vec<_>>()
        };
        assert_eq!(strip(&v4), strip(&v6));
    }
}

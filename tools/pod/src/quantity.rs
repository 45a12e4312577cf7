// SPDX-License-Identifier: GPL-2.0
//! Kubernetes resource quantities (`500m`, `1.5`, `128Mi`, `1G`, `2e3`), as the API server
//! reads them (k8s.io/apimachinery's `resource.Quantity`), into the units the planner counts:
//! CPU in millicores, memory in bytes. Fractions below the unit round up, as Kubernetes does
//! when it asks for a quantity's value at a scale (`MilliValue`, `Value`).

use std::fmt;

/// A quantity that is not one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadQuantity(pub String);

impl fmt::Display for BadQuantity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "'{}' is not a Kubernetes quantity (such as 500m, 1.5, 128Mi, 1G)",
            self.0
        )
    }
}

impl std::error::Error for BadQuantity {}

/// The quantity as an exact fraction `num / den` of its base unit.
fn parse(s: &str) -> Result<(u128, u128), BadQuantity> {
    let bad = || BadQuantity(s.to_owned());
    // As the API server: no spaces, no sign but '+'.
    let t = s;
    let (number, suffix) = t.split_at(
        t.find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '+'))
            .unwrap_or(t.len()),
    );
    let number = number.strip_prefix('+').unwrap_or(number);
    let (int, frac) = number.split_once('.').unwrap_or((number, ""));
    if int.is_empty() && frac.is_empty()
        || !(int.chars().chain(frac.chars())).all(|c| c.is_ascii_digit())
    {
        return Err(bad());
    }
    let digits = format!("{int}{frac}");
    let mut num: u128 = if digits.is_empty() {
        0
    } else {
        digits.parse().map_err(|_| bad())?
    };
    let mut den: u128 = 10u128
        .checked_pow(u32::try_from(frac.len()).map_err(|_| bad())?)
        .ok_or_else(bad)?;
    // Binary suffixes, decimal suffixes, or a decimal exponent.
    let (mul, div): (u128, u128) = match suffix {
        "" => (1, 1),
        "Ki" => (1 << 10, 1),
        "Mi" => (1 << 20, 1),
        "Gi" => (1 << 30, 1),
        "Ti" => (1 << 40, 1),
        "Pi" => (1 << 50, 1),
        "Ei" => (1 << 60, 1),
        "n" => (1, 1_000_000_000),
        "u" => (1, 1_000_000),
        "m" => (1, 1_000),
        "k" => (1_000, 1),
        "M" => (1_000_000, 1),
        "G" => (1_000_000_000, 1),
        "T" => (1_000_000_000_000, 1),
        "P" => (1_000_000_000_000_000, 1),
        "E" => (1_000_000_000_000_000_000, 1),
        e if e.starts_with(['e', 'E']) => {
            let exp: i32 = e[1..].parse().map_err(|_| bad())?;
            let p = 10u128.checked_pow(exp.unsigned_abs()).ok_or_else(bad)?;
            if exp >= 0 {
                (p, 1)
            } else {
                (1, p)
            }
        }
        _ => return Err(bad()),
    };
    num = num.checked_mul(mul).ok_or_else(bad)?;
    den = den.checked_mul(div).ok_or_else(bad)?;
    Ok((num, den))
}

/// `num / den * scale`, rounded up, if it fits.
fn scaled(s: &str, scale: u128) -> Result<u64, BadQuantity> {
    let (num, den) = parse(s)?;
    let v = num
        .checked_mul(scale)
        .map(|n| n.div_ceil(den))
        .ok_or_else(|| BadQuantity(s.to_owned()))?;
    u64::try_from(v).map_err(|_| BadQuantity(s.to_owned()))
}

/// A CPU quantity in millicores (`500m` is 500, `1.5` is 1500).
pub fn cpu_millis(s: &str) -> Result<u64, BadQuantity> {
    scaled(s, 1000)
}

/// A memory quantity in bytes (`128Mi` is 134217728, `1G` is 1000000000).
pub fn bytes(s: &str) -> Result<u64, BadQuantity> {
    scaled(s, 1)
}

/// `bytes` as a quantity in mebibytes, rounded up (`48Mi`): what a person reads, and what
/// [`bytes`] reads back at least as large.
pub fn mebibytes(bytes: u64) -> String {
    format!("{}Mi", bytes.div_ceil(1 << 20))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[test]
    fn mebibytes_round_up_and_read_back() {
        assert_eq!(mebibytes(0), "0Mi");
        assert_eq!(mebibytes(48 << 20), "48Mi");
        assert_eq!(mebibytes((47 << 20) + 1), "48Mi");
        assert_eq!(bytes(&mebibytes(12345)), Ok(1 << 20));
    }

    #[rstest]
    #[case("500m", 500)]
    #[case("1", 1000)]
    #[case("1.5", 1500)]
    #[case("0.1", 100)]
    #[case(".25", 250)]
    #[case("1e-1", 100)]
    #[case("100u", 1)] // rounds up, as Kubernetes' MilliValue
    #[case("0", 0)]
    #[case("+2", 2000)]
    fn cpu(#[case] s: &str, #[case] want: u64) {
        assert_eq!(cpu_millis(s), Ok(want));
    }

    #[rstest]
    #[case("128Mi", 128 << 20)]
    #[case("1Gi", 1 << 30)]
    #[case("1G", 1_000_000_000)]
    #[case("500M", 500_000_000)]
    #[case("64Ki", 65536)]
    #[case("1000", 1000)]
    #[case("1e3", 1000)]
    #[case("1.5Ki", 1536)]
    #[case("1500m", 2)] // 1.5 bytes: rounds up
    fn memory(#[case] s: &str, #[case] want: u64) {
        assert_eq!(bytes(s), Ok(want));
    }

    #[rstest]
    #[case("")]
    #[case("m")]
    #[case("1x")]
    #[case("-1")]
    #[case("1.2.3")]
    #[case("1Mb")]
    #[case("1e")]
    #[case("99999999999Ei")]
    #[case(" 1")]
    fn refused(#[case] s: &str) {
        assert_eq!(bytes(s), Err(BadQuantity(s.to_owned())));
    }
}

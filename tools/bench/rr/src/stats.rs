// SPDX-License-Identifier: GPL-2.0
//! Percentiles of round trips, by nearest rank (the value at or below which the fraction `q` of
//! the samples lie, itself a sample: no interpolation between two round trips that happened).

/// The `q`-quantile (0 < q <= 1) of `sorted` (ascending), or None if it is empty.
pub(crate) fn percentile(sorted: &[u64], q: f64) -> Option<u64> {
    if sorted.is_empty() || !(q > 0.0 && q <= 1.0) {
        return None;
    }
    // Nearest rank: the smallest sample with at least q*n samples at or below it.
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted.get(rank.clamp(1, sorted.len()) - 1).copied()
}

#[cfg(test)]
mod tests {
    use super::percentile;
    use rstest::rstest;

    #[rstest]
    #[case(&[], 0.5, None)]
    #[case(&[7], 0.5, Some(7))]
    #[case(&[7], 0.999, Some(7))]
    #[case(&[1, 2, 3, 4], 0.5, Some(2))]
    #[case(&[1, 2, 3, 4], 0.51, Some(3))]
    #[case(&[1, 2, 3, 4], 1.0, Some(4))]
    #[case(&[1, 2, 3, 4], 0.0, None)]
    #[case(&[1, 2, 3, 4], 1.5, None)]
    fn nearest_rank(#[case] sorted: &[u64], #[case] q: f64, #[case] want: Option<u64>) {
        assert_eq!(percentile(sorted, q), want);
    }

    #[test]
    fn p99_of_a_hundred_is_the_99th() {
        let v: Vec<u64> = (1..=100).collect();
        assert_eq!(percentile(&v, 0.99), Some(99));
        assert_eq!(percentile(&v, 0.999), Some(100));
    }
}

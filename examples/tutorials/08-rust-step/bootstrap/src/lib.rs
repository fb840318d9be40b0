//! The Rust step of tutorial 08: a bootstrap interval of one genre's median
//! gross, resampling its movies ten thousand times.

use std::collections::BTreeMap;

use mfw::prelude::*;

/// Resamples drawn per genre: enough for a stable 90% interval.
const RESAMPLES: usize = 10_000;

/// xorshift64*: small, fast, and the same numbers on every machine.
struct XorShift(u64);

impl XorShift {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % n as u64) as usize
    }
}

fn median(sorted: &[f64]) -> f64 {
    let mid = sorted.len() / 2;
    if sorted.len().is_multiple_of(2) {
        (sorted[mid - 1] + sorted[mid]) / 2.0
    } else {
        sorted[mid]
    }
}

/// The Rust part of MedianRangeFlow.
#[derive(FlowSpec)]
pub struct Bootstrap;

#[steps(external = ["join"])]
impl Bootstrap {
    /// The 5th and 95th percentiles of the medians of the resamples.
    #[step]
    fn bootstrap(&self, cx: &mut Context) -> StepResult {
        let genre: String = cx.input()?;
        let by_genre: BTreeMap<String, Vec<f64>> = cx.get("gross_by_genre")?;
        let grosses = by_genre
            .get(&genre)
            .filter(|g| !g.is_empty())
            .ok_or_else(|| Error::msg(format!("no movies of the genre {genre}")))?;
        let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
        let mut sample = vec![0.0; grosses.len()];
        let mut medians: Vec<f64> = (0..RESAMPLES)
            .map(|_| {
                for slot in sample.iter_mut() {
                    *slot = grosses[rng.below(grosses.len())];
                }
                sample.sort_by(f64::total_cmp);
                median(&sample)
            })
            .collect();
        medians.sort_by(f64::total_cmp);
        cx.set("genre", &genre)?;
        cx.set("low", &medians[RESAMPLES * 5 / 100])?;
        cx.set("high", &medians[RESAMPLES * 95 / 100])?;
        cx.next("join")
    }
}

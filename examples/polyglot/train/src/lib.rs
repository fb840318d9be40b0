//! The Rust step of the polyglot flow: fits one bagged forest of stumps per
//! foreach item on the points the Python start step loaded.

use mfw::prelude::*;

/// A tiny deterministic generator (SplitMix64).
struct SplitMix(u64);

impl SplitMix {
    fn next_f64(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64
    }
}

fn fit_stump(mut sample: Vec<(f64, f64)>) -> (f64, f64, f64) {
    sample.sort_by(|a, b| a.0.total_cmp(&b.0));
    let total: f64 = sample.iter().map(|p| p.1).sum();
    let mut best = (f64::INFINITY, 0.5, 0.0, 0.0);
    let mut left = 0.0;
    for i in 1..sample.len() {
        left += sample[i - 1].1;
        let (ml, mr) = (left / i as f64, (total - left) / (sample.len() - i) as f64);
        let sse: f64 = sample
            .iter()
            .enumerate()
            .map(|(j, p)| (p.1 - if j < i { ml } else { mr }).powi(2))
            .sum();
        if sse < best.0 {
            best = (sse, (sample[i - 1].0 + sample[i].0) / 2.0, ml, mr);
        }
    }
    (best.1, best.2, best.3)
}

/// The Rust part of PolyglotFlow.
#[derive(FlowSpec)]
pub struct PolyglotTrain;

#[steps(external = ["join"])]
impl PolyglotTrain {
    /// Fits a forest of `input` stumps; reports its error on every point.
    #[step]
    fn train(&self, cx: &mut Context) -> StepResult {
        let n_trees: usize = cx.input()?;
        let points: Vec<(f64, f64)> = cx.get("points")?;
        if points.is_empty() {
            return Err(Error::msg("no points to train on"));
        }
        let mut rng = SplitMix(42);
        let stumps: Vec<(f64, f64, f64)> = (0..n_trees)
            .map(|_| {
                let sample = (0..points.len())
                    .map(|_| points[(rng.next_f64() * points.len() as f64) as usize])
                    .collect();
                fit_stump(sample)
            })
            .collect();
        let predict = |x: f64| {
            stumps
                .iter()
                .map(|&(split, l, r)| if x < split { l } else { r })
                .sum::<f64>()
                / stumps.len() as f64
        };
        let mse = points
            .iter()
            .map(|&(x, y)| (predict(x) - y).powi(2))
            .sum::<f64>()
            / points.len() as f64;
        cx.set("rmse", &mse.sqrt())?;
        cx.set("trained_n_trees", &n_trees)?;
        // Who started the run, as every language's `current` tells it.
        cx.set("trained_by", &cx.run().username)?;
        cx.next("join")
    }
}

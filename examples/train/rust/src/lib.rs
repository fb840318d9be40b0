//! Metaflow's n_trees example: train one model per forest size in
//! parallel, keep the best.

use mfw::prelude::*;
use serde::{Deserialize, Serialize};

/// A bagged forest of regression stumps: small, deterministic, and better
/// with more trees.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Forest {
    /// Each stump: split point, value left of it, value right of it.
    pub stumps: Vec<(f64, f64, f64)>,
}

impl Forest {
    fn predict(&self, x: f64) -> f64 {
        let sum: f64 = self
            .stumps
            .iter()
            .map(|&(split, left, right)| if x < split { left } else { right })
            .sum();
        sum / self.stumps.len().max(1) as f64
    }
}

/// A tiny deterministic generator (SplitMix64), so results are the same on
/// every machine and every run.
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

/// y = x² with a little noise, on [0, 1).
fn dataset(seed: u64, n: usize) -> Vec<(f64, f64)> {
    let mut rng = SplitMix(seed);
    (0..n)
        .map(|_| {
            let x = rng.next_f64();
            (x, x * x + 0.1 * (rng.next_f64() - 0.5))
        })
        .collect()
}

/// The stump minimising squared error on `sample`.
fn fit_stump(sample: &[(f64, f64)]) -> (f64, f64, f64) {
    let mut sorted = sample.to_vec();
    sorted.sort_by(|a, b| a.0.total_cmp(&b.0));
    let total: f64 = sorted.iter().map(|p| p.1).sum();
    let mut best = (f64::INFINITY, 0.5, 0.0, 0.0);
    let mut left_sum = 0.0;
    for i in 1..sorted.len() {
        left_sum += sorted[i - 1].1;
        let (nl, nr) = (i as f64, (sorted.len() - i) as f64);
        let (ml, mr) = (left_sum / nl, (total - left_sum) / nr);
        let sse: f64 = sorted[..i].iter().map(|p| (p.1 - ml).powi(2)).sum::<f64>()
            + sorted[i..].iter().map(|p| (p.1 - mr).powi(2)).sum::<f64>();
        if sse < best.0 {
            best = (sse, (sorted[i - 1].0 + sorted[i].0) / 2.0, ml, mr);
        }
    }
    (best.1, best.2, best.3)
}

fn train(n_trees: usize) -> Forest {
    let data = dataset(1, 200);
    let mut rng = SplitMix(42);
    let stumps = (0..n_trees)
        .map(|_| {
            let sample: Vec<(f64, f64)> = (0..data.len())
                .map(|_| data[(rng.next_f64() * data.len() as f64) as usize])
                .collect();
            fit_stump(&sample)
        })
        .collect();
    Forest { stumps }
}

fn rmse(forest: &Forest) -> f64 {
    let test = dataset(2, 100);
    let mse: f64 = test
        .iter()
        .map(|&(x, y)| (forest.predict(x) - y).powi(2))
        .sum::<f64>()
        / test.len() as f64;
    mse.sqrt()
}

/// Trains a forest per size in parallel and keeps the lowest error.
#[derive(FlowSpec)]
pub struct TrainFlow;

#[steps]
impl TrainFlow {
    /// The sizes to try.
    #[step]
    fn start(&self, cx: &mut Context) -> StepResult {
        cx.set("n_trees", &[16u32, 32, 64])?;
        cx.next_foreach("train", "n_trees")
    }

    /// Fits one forest and measures it on held-out data.
    #[step(retry(times = 2))]
    fn train(&self, cx: &mut Context) -> StepResult {
        let n_trees: u32 = cx.input()?;
        let forest = train(n_trees as usize);
        cx.set("rmse", &rmse(&forest))?;
        cx.set("model", &forest)?;
        cx.next("join")
    }

    /// Keeps the best.
    #[step]
    fn join(&self, cx: &mut Context, inputs: &mut Inputs) -> StepResult {
        let rmses: Vec<f64> = inputs.values("rmse")?;
        let best = rmses.iter().copied().fold(f64::INFINITY, f64::min);
        cx.set("best_rmse", &best)?;
        cx.set("rmses", &rmses)?;
        cx.next("end")
    }

    /// Reports it.
    #[step]
    fn end(&self, cx: &mut Context) -> StepResult {
        let best: f64 = cx.get("best_rmse")?;
        println!("best rmse: {best:.4}");
        Ok(())
    }
}

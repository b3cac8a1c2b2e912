//! GRPO advantages of one group of rollouts.
//!
//! Consensus-critical: the miner writes these into its window file and the validator
//! recomputes them, so the arithmetic is fixed exactly:
//!
//! ```text
//! n    = len(r)                                   (as f64)
//! mean = (((0 + r_0) + r_1) + ... + r_{n-1}) / n  every r_i widened f32 -> f64, left to right
//! var  = (((0 + d_0^2) + d_1^2) + ...) / n        d_i = r_i - mean, in f64, left to right
//! std  = sqrt(var)                                IEEE-754 sqrt (correctly rounded)
//! a_i  = f32((r_i - mean) / max(std, 1e-8))       one rounding to f32 (round to nearest even)
//! ```
//!
//! `d_i^2` is `d_i * d_i` (no fused multiply-add). The population standard deviation is
//! used, as in the reference. A group whose rewards are all equal gets all-zero advantages.

use super::EnvError;

/// Floor on the standard deviation, so an all-equal group divides by a positive number.
pub const ADVANTAGE_STD_FLOOR: f64 = 1e-8;

/// Advantages `a_i = (r_i - mean) / max(popstd, 1e-8)` of one group, in the order given.
///
/// An empty group gives an empty vector; a NaN or infinite reward is an error.
pub fn grpo_advantages(rewards: &[f32]) -> Result<Vec<f32>, EnvError> {
    if let Some((index, &value)) = rewards.iter().enumerate().find(|(_, r)| !r.is_finite()) {
        return Err(EnvError::NonFiniteReward { index, value });
    }
    if rewards.is_empty() {
        return Ok(Vec::new());
    }
    let n = rewards.len() as f64;
    let mean = rewards.iter().fold(0.0f64, |acc, &r| acc + f64::from(r)) / n;
    let var = rewards.iter().fold(0.0f64, |acc, &r| {
        let d = f64::from(r) - mean;
        acc + d * d
    }) / n;
    let std = var.sqrt().max(ADVANTAGE_STD_FLOOR);
    Ok(rewards.iter().map(|&r| ((f64::from(r) - mean) / std) as f32).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn standardizes_a_group() {
        let a = grpo_advantages(&[1.0, 0.0, 0.0, 1.0]).expect("finite");
        assert_eq!(a, vec![1.0, -1.0, -1.0, 1.0]);
        let a = grpo_advantages(&[0.2, 1.0, 0.2, 0.2, 0.0]).expect("finite");
        let sum: f32 = a.iter().sum();
        assert!(sum.abs() < 1e-5, "{a:?}");
        let var = a.iter().map(|x| x * x).sum::<f32>() / a.len() as f32;
        assert!((var - 1.0).abs() < 1e-5, "{a:?}");
        assert!(a[1] > a[0] && a[0] > a[4]);
    }

    #[test]
    fn equal_rewards_give_zero() {
        assert_eq!(grpo_advantages(&[0.5; 16]).expect("finite"), vec![0.0; 16]);
        assert_eq!(grpo_advantages(&[0.3]).expect("finite"), vec![0.0]);
        assert!(grpo_advantages(&[]).expect("finite").is_empty());
    }

    #[test]
    fn rejects_non_finite() {
        let err = grpo_advantages(&[0.0, f32::NAN]).expect_err("nan");
        assert!(matches!(err, EnvError::NonFiniteReward { index: 1, .. }));
        assert!(grpo_advantages(&[f32::INFINITY]).is_err());
    }
}

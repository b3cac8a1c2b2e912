//! The analytic forgery bound: how likely a miner without the hidden state passes the
//! hidden-state check, from the measured distribution of honest projections.
//!
//! A projection passes when `|claimed − p_k| ≤ τ·rms(h)`, that is when `z = p_k/rms(h)` lies
//! within `τ` of `claimed/rms(h)`: inside an interval of width `2τ`. A forger who does not
//! know `h` passes projection `k` with probability at most the largest mass that any interval
//! of width `2τ` holds under the distribution of `z_k`. That mass is measured with a sliding
//! window over the sorted honest `z_k`, plus a stated margin for sampling error:
//! `m_k = m̂_k + 3·√(m̂_k(1 − m̂_k)/n) + 9/(2n)` (a 3-sigma upper bound).
//!
//! The headline bound uses one projection only, `m = max_k m_k`, and needs no independence:
//! `log2 P ≤ K · log2 m`. The all-projections figure beside it multiplies the `m_k`, corrected
//! by `1/√det(R)` for the measured correlation matrix `R` (exact for jointly Gaussian `z` and
//! small boxes: the density at the mode grows by that factor), and is only reported.

use grail_protocol::commitment::PROJECTIONS;
use serde_json::{json, Value};

/// Sigmas of the margin on each measured mass.
const MARGIN_SIGMAS: f64 = 3.0;

/// Largest share of `values` inside any closed interval of width `width`.
pub(crate) fn max_window_mass(values: &mut [f64], width: f64) -> f64 {
    if values.is_empty() {
        return 1.0;
    }
    values.sort_by(f64::total_cmp);
    let mut best = 0usize;
    let mut hi = 0usize;
    for lo in 0..values.len() {
        while hi < values.len() && values[hi] - values[lo] <= width {
            hi += 1;
        }
        best = best.max(hi - lo);
    }
    best as f64 / values.len() as f64
}

/// `m̂ + 3·√(m̂(1 − m̂)/n) + 9/(2n)`, capped at 1.
pub(crate) fn upper_mass(measured: f64, n: usize) -> f64 {
    let n = n.max(1) as f64;
    let z = MARGIN_SIGMAS;
    (measured + z * (measured * (1.0 - measured) / n).sqrt() + z * z / (2.0 * n)).min(1.0)
}

/// Pearson correlation matrix of the projections.
fn correlations(z: &[[f64; PROJECTIONS]]) -> [[f64; PROJECTIONS]; PROJECTIONS] {
    let n = z.len().max(1) as f64;
    let mut mean = [0.0; PROJECTIONS];
    for row in z {
        for k in 0..PROJECTIONS {
            mean[k] += row[k] / n;
        }
    }
    let mut cov = [[0.0; PROJECTIONS]; PROJECTIONS];
    for row in z {
        for a in 0..PROJECTIONS {
            for b in 0..PROJECTIONS {
                cov[a][b] += (row[a] - mean[a]) * (row[b] - mean[b]) / n;
            }
        }
    }
    let mut r = [[0.0; PROJECTIONS]; PROJECTIONS];
    for a in 0..PROJECTIONS {
        for b in 0..PROJECTIONS {
            let d = (cov[a][a] * cov[b][b]).sqrt();
            r[a][b] = if d > 0.0 { cov[a][b] / d } else { f64::from(u8::from(a == b)) };
        }
    }
    r
}

/// Determinant by Gaussian elimination with partial pivoting.
fn determinant(mut m: [[f64; PROJECTIONS]; PROJECTIONS]) -> f64 {
    let mut det = 1.0;
    for c in 0..PROJECTIONS {
        let p = (c..PROJECTIONS).max_by(|&a, &b| m[a][c].abs().total_cmp(&m[b][c].abs()));
        let Some(p) = p else { return 0.0 };
        if m[p][c] == 0.0 {
            return 0.0;
        }
        if p != c {
            m.swap(p, c);
            det = -det;
        }
        det *= m[c][c];
        let pivot = m[c];
        for row in m.iter_mut().skip(c + 1) {
            let f = row[c] / pivot[c];
            for (x, p) in row.iter_mut().zip(pivot).skip(c) {
                *x -= f * p;
            }
        }
    }
    det
}

/// What the per-file bound needs besides the projections.
#[derive(Debug, Clone, Copy)]
pub(crate) struct FileShape {
    /// Rollouts forward-checked per file (`VerifyParams::rollouts_checked`).
    pub(crate) rollouts_checked: u32,
    /// The shortest honest completion measured, in tokens.
    pub(crate) shortest_completion: usize,
}

/// The bound's JSON: headline `analytic_forgery_bound_log2` and how it was computed.
///
/// A rollout shorter than `K` has all of its `n < K` positions challenged, so its own bound is
/// only `n · log2 m`. A file fails as a whole when one checked rollout fails, so a forger who
/// forges every rollout passes a file with at most `Σ_i min(n_i, K) · log2 m` over the checked
/// rollouts: `file_forgery_bound_log2_shortest` takes every checked rollout as short as the
/// shortest honest completion measured.
pub(crate) fn forgery_bound(
    z: &[[f64; PROJECTIONS]],
    tolerance: f64,
    k: u32,
    file: FileShape,
) -> Value {
    let n = z.len();
    let mut measured = [0.0; PROJECTIONS];
    let mut mass = [1.0; PROJECTIONS];
    for p in 0..PROJECTIONS {
        let mut values: Vec<f64> = z.iter().map(|row| row[p]).collect();
        measured[p] = max_window_mass(&mut values, 2.0 * tolerance);
        mass[p] = upper_mass(measured[p], n);
    }
    let single = mass.iter().copied().fold(0.0, f64::max);
    let r = correlations(z);
    let mut max_corr = 0.0f64;
    for (a, row) in r.iter().enumerate() {
        for (b, &v) in row.iter().enumerate() {
            if a != b {
                max_corr = max_corr.max(v.abs());
            }
        }
    }
    let det = determinant(r);
    let joint =
        if det > 0.0 { (mass.iter().product::<f64>() / det.sqrt()).min(single) } else { single };
    let short = file.shortest_completion.min(k as usize) as f64;
    let file_log2 = f64::from(file.rollouts_checked) * short * single.log2();
    let k = f64::from(k);
    json!({
        "analytic_forgery_bound_log2": k * single.log2(),
        "file_forgery_bound_log2_shortest": file_log2,
        "file_bound": {
            "formula": "log2 P <= rollouts_checked * min(shortest_completion, k) * log2(m)",
            "rollouts_checked": file.rollouts_checked,
            "shortest_completion": file.shortest_completion,
        },
        "analytic_bound": {
            "formula": "log2 P <= k * projections_used * log2(per_projection_mass)",
            "per_projection_mass": single,
            "projections_used": 1,
            "k": k,
            "tolerance": tolerance,
            "window_width": 2.0 * tolerance,
            "honest_positions": n,
            "measured_mass_per_projection": measured,
            "upper_mass_per_projection": mass,
            "margin": "m + 3*sqrt(m(1-m)/n) + 9/(2n)",
            "correlation_matrix": r,
            "max_abs_correlation": max_corr,
            "correlation_determinant": det,
            "projections": PROJECTIONS,
            "all_projections_mass": joint,
            "all_projections_bound_log2": k * joint.log2(),
            "all_projections_note": "product of the masses / sqrt(det R), assuming jointly \
                Gaussian z; reported, not used for the headline",
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_mass_counts_the_densest_interval() {
        let mut v = vec![0.0, 0.05, 0.1, 0.5, 0.9, 1.0];
        assert_eq!(max_window_mass(&mut v, 0.1), 0.5);
        let mut v = vec![3.0, 1.0, 2.0];
        assert!((max_window_mass(&mut v, 0.5) - 1.0 / 3.0).abs() < 1e-12);
        assert_eq!(max_window_mass(&mut [], 0.1), 1.0);
    }

    #[test]
    fn margin_is_above_the_measurement_and_capped() {
        assert!(upper_mass(0.04, 10_000) > 0.04);
        assert!(upper_mass(0.04, 10_000) < 0.05);
        assert_eq!(upper_mass(0.99, 1), 1.0);
    }

    #[test]
    fn determinant_of_identity_and_singular() {
        let mut id = [[0.0; PROJECTIONS]; PROJECTIONS];
        for (i, row) in id.iter_mut().enumerate() {
            row[i] = 1.0;
        }
        assert!((determinant(id) - 1.0).abs() < 1e-12);
        let singular = [[1.0; PROJECTIONS]; PROJECTIONS];
        assert!(determinant(singular).abs() < 1e-12);
    }

    #[test]
    fn uniform_projections_give_the_interval_share() {
        // z uniform on [0, 1) in every projection: an interval of width 0.1 holds about 10%.
        let z: Vec<[f64; PROJECTIONS]> =
            (0..10_000).map(|i| [f64::from(i) / 10_000.0; PROJECTIONS]).collect();
        let shape = FileShape { rollouts_checked: 16, shortest_completion: 2 };
        let b = forgery_bound(&z, 0.05, 32, shape);
        let file = b["file_forgery_bound_log2_shortest"].as_f64().unwrap_or(0.0);
        let per_position = b["analytic_forgery_bound_log2"].as_f64().unwrap_or(0.0) / 32.0;
        assert!((file - 32.0 * per_position).abs() < 1e-9, "16 rollouts x 2 positions: {file}");
        let m = b["analytic_bound"]["upper_mass_per_projection"][0].as_f64().unwrap_or(1.0);
        assert!((0.1..0.12).contains(&m), "{m}");
        let log2 = b["analytic_forgery_bound_log2"].as_f64().unwrap_or(0.0);
        assert!((32.0 * 0.1f64.log2()..32.0 * 0.12f64.log2()).contains(&log2), "{log2}");
    }
}

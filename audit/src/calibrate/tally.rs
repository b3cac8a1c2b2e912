//! Runs the validator's own forward checks ([`grail_validator::pipeline::forward`]) on one rollout and
//! tallies each check apart (per position and per rollout), the whole pipeline's verdict, and
//! the worst distance of each check against its tolerance.

use grail_protocol::commitment::{rms, PROJECTIONS};
use grail_protocol::verify_params::VerifyParams;
use grail_protocol::window_file::Rollout;
use serde_json::{json, Value};

use super::CalibrateError;
use grail_validator::pipeline::forward::{
    check_commitments, check_logprobs, check_rollout_forward, check_sampling, logprob_statistics,
    sampling_pass, ForwardContext, ForwardStats, PositionRows,
};

/// Passes of one check, per position and per rollout.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct CheckCount {
    pub(crate) positions: u64,
    pub(crate) positions_passed: u64,
    pub(crate) rollouts: u64,
    pub(crate) rollouts_passed: u64,
}

impl CheckCount {
    fn add(&mut self, positions: usize, passed: usize, rollout_ok: bool) {
        self.positions += positions as u64;
        self.positions_passed += passed as u64;
        self.rollouts += 1;
        self.rollouts_passed += u64::from(rollout_ok);
    }

    fn json(&self) -> Value {
        json!({
            "position_pass_rate": rate(self.positions_passed, self.positions),
            "rollout_pass_rate": rate(self.rollouts_passed, self.rollouts),
            "positions": self.positions,
            "rollouts": self.rollouts,
        })
    }
}

/// `passed / tried`, or null when nothing was tried.
pub(crate) fn rate(passed: u64, tried: u64) -> Value {
    if tried == 0 {
        Value::Null
    } else {
        json!(passed as f64 / tried as f64)
    }
}

/// Everything measured over a set of rollouts.
#[derive(Debug, Clone, Default)]
pub(crate) struct Tally {
    pub(crate) sampling: CheckCount,
    pub(crate) logprob: CheckCount,
    pub(crate) commitment: CheckCount,
    /// Rollouts that pass every forward check (`check_rollout_forward`).
    pub(crate) pipeline_passed: u64,
    /// The whole pipeline's verdict per rollout, in order.
    pub(crate) passed: Vec<bool>,
    /// Largest `|u_t − interval|` of any position whose `u_t` lies outside its exact interval.
    pub(crate) worst_boundary_distance: f64,
    /// Per rollout, in order: that largest distance over its own positions (0 when every
    /// `u_t` lies inside its token's exact interval).
    pub(crate) boundary_distance: Vec<f64>,
    pub(crate) worst_logprob_median: f64,
    pub(crate) worst_logprob_quantile: f64,
    /// Largest commitment distance (relative to `rms(h)`) over every position.
    pub(crate) worst_commit_distance: f64,
    /// `p_k / rms(h)` of the validator's hidden state at every position, when collected.
    pub(crate) z: Vec<[f64; PROJECTIONS]>,
    /// Every position's commitment distance, so that pass rates at other tolerances can be
    /// read off.
    pub(crate) commit_distances: Vec<f64>,
    /// Sum of the raw projections `p_k`, for the constant forger.
    pub(crate) projection_sum: [f64; PROJECTIONS],
}

impl Tally {
    /// Checks rollout `i` (`challenged`: its K commitment positions) against `rows`.
    pub(crate) fn evaluate(
        &mut self,
        i: usize,
        rows: &impl PositionRows,
        rollout: &Rollout,
        challenged: &[u32],
        ctx: &ForwardContext<'_>,
        collect_z: bool,
    ) -> Result<(), CalibrateError> {
        let n = rollout.completion_tokens.len();
        let params = ctx.params;
        let checking = |source| CalibrateError::Check { rollout: i, source };
        let protocol = |position, op| {
            move |source| CalibrateError::Protocol { rollout: i, position, op, source }
        };

        let pass = sampling_pass(rows, rollout, ctx).map_err(checking)?;
        let sampling_ok = check_sampling(i, &pass, params).is_ok();
        self.sampling.add(n, n - pass.misses.len(), sampling_ok);
        let own = pass.worst_exact_distance;
        self.worst_boundary_distance = self.worst_boundary_distance.max(own);
        self.boundary_distance.push(own);

        let logprob_ok = check_logprobs(i, &rollout.logprobs, &pass.recomputed, params).is_ok();
        let close = rollout
            .logprobs
            .iter()
            .zip(&pass.recomputed)
            .filter(|(&c, &r)| (f64::from(c) - f64::from(r)).abs() <= params.logprob_quantile_max)
            .count();
        self.logprob.add(n, close, logprob_ok);
        let (median, quantile) =
            logprob_statistics(&rollout.logprobs, &pass.recomputed, params.logprob_quantile);
        self.worst_logprob_median = self.worst_logprob_median.max(median);
        self.worst_logprob_quantile = self.worst_logprob_quantile.max(quantile);

        let mut commit_passed = 0;
        for t in 0..n {
            let hidden = rows.hidden_at(t).ok_or(CalibrateError::NoRow {
                rollout: i,
                position: t,
                what: "hidden",
            })?;
            let claimed = rollout.commitments.get(t).copied().unwrap_or(0);
            let check = ctx
                .key
                .check(hidden, claimed, params.commit_tolerance)
                .map_err(protocol(t, "commitment check"))?;
            commit_passed += usize::from(check.accepted);
            self.worst_commit_distance = self.worst_commit_distance.max(check.worst_distance);
            self.commit_distances.push(check.worst_distance);
            let p = ctx.key.project(hidden).map_err(protocol(t, "projection"))?;
            for (s, v) in self.projection_sum.iter_mut().zip(p) {
                *s += v;
            }
            if collect_z {
                let r = rms(hidden);
                if r > 0.0 {
                    self.z.push(p.map(|v| v / r));
                }
            }
        }
        let commit_ok =
            check_commitments(i, rows, rollout, challenged, ctx).map_err(checking)?.is_ok();
        self.commitment.add(n, commit_passed, commit_ok);

        let mut stats = ForwardStats::default();
        let whole = check_rollout_forward(i, rows, rollout, challenged, ctx, &mut stats)
            .map_err(checking)?;
        self.pipeline_passed += u64::from(whole.is_ok());
        self.passed.push(whole.is_ok());
        Ok(())
    }

    /// Rollouts evaluated.
    pub(crate) fn rollouts(&self) -> u64 {
        self.sampling.rollouts
    }

    /// Share of rollouts passing the whole pipeline.
    pub(crate) fn pass_rate(&self) -> Value {
        rate(self.pipeline_passed, self.rollouts())
    }

    /// The honest source's figures: pass rates and worst distances against tolerances.
    pub(crate) fn honest_json(&self, params: &VerifyParams) -> Value {
        let with = |count: &CheckCount, extra: Value| {
            let mut v = count.json();
            if let (Some(map), Value::Object(more)) = (v.as_object_mut(), extra) {
                map.extend(more);
            }
            v
        };
        json!({
            "positions": self.sampling.positions,
            "rollouts": self.rollouts(),
            "pass_rate": self.pass_rate(),
            "checks": {
                "hidden_state": with(&self.commitment, json!({
                    "worst_distance": self.worst_commit_distance,
                    "distance_quantiles": self.distance_quantiles(),
                    "tolerance": params.commit_tolerance,
                    "worst_over_tolerance": self.worst_commit_distance / params.commit_tolerance,
                })),
                "logprob": with(&self.logprob, json!({
                    "worst_median": self.worst_logprob_median,
                    "median_max": params.logprob_median_max,
                    "worst_median_over_max":
                        self.worst_logprob_median / params.logprob_median_max,
                    "worst_quantile": self.worst_logprob_quantile,
                    "quantile_max": params.logprob_quantile_max,
                    "worst_quantile_over_max":
                        self.worst_logprob_quantile / params.logprob_quantile_max,
                })),
                "sampling": with(&self.sampling, json!({
                    "worst_miss_distance": self.worst_boundary_distance,
                    "tolerance": params.sampling_tolerance,
                    "worst_over_tolerance":
                        self.worst_boundary_distance / params.sampling_tolerance,
                })),
            },
        })
    }

    /// A forger's figures: per-position and per-rollout pass rates of each check.
    pub(crate) fn forger_json(&self) -> Value {
        json!({
            "rollouts": self.rollouts(),
            "positions": self.sampling.positions,
            "rollout_pass_rate": self.pass_rate(),
            "checks": {
                "hidden_state": self.commitment.json(),
                "logprob": self.logprob.json(),
                "sampling": self.sampling.json(),
            },
            "worst_commit_distance": self.worst_commit_distance,
            "commit_distance_quantiles": self.distance_quantiles(),
        })
    }

    /// Quantiles of the per-position commitment distance (nearest rank).
    fn distance_quantiles(&self) -> Value {
        let mut d = self.commit_distances.clone();
        d.sort_by(f64::total_cmp);
        let at = |q: f64| {
            let n = d.len();
            if n == 0 {
                return Value::Null;
            }
            let rank = ((q * n as f64).ceil() as usize).clamp(1, n);
            json!(d[rank - 1])
        };
        json!({ "min": at(0.0), "p01": at(0.01), "p10": at(0.1), "p50": at(0.5), "max": at(1.0) })
    }
}

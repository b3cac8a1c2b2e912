//! Stage 6: every rollout's reward and success recomputed from its decoded completion (the
//! final stop token dropped, as the miner scores it). Environments sum in f64 and round once,
//! so the claimed reward must equal the recomputed one bit for bit.

use grail_challenges::assembly::Scorer;
use grail_challenges::env::Problem;
use grail_protocol::window_file::WindowFile;

use super::{Failure, StageResult};
use crate::state::Stage;

/// Checks every rollout's reward and success with the miner's own [`Scorer`] (the window's
/// environment, the model's tokenizer and stop tokens); `problems[j]` is problem `j` (from
/// stage 4).
pub fn check_rewards(
    file: &WindowFile,
    problems: &[Problem],
    scorer: &Scorer<'_>,
) -> StageResult<()> {
    for (i, r) in file.rollouts.iter().enumerate() {
        let fail = |reason: String| Failure::new(Stage::Reward, format!("rollout {i}: {reason}"));
        let problem = problems
            .get(r.problem_index as usize)
            .ok_or_else(|| fail(format!("no problem {}", r.problem_index)))?;
        let (reward, success) = scorer
            .score(r.problem_index, r.rollout_index, problem, &r.completion_tokens)
            .map_err(|e| fail(e.to_string()))?;
        if reward.to_bits() != r.reward.to_bits() {
            return Err(fail(format!(
                "claimed reward {} but the completion scores {reward}",
                r.reward
            )));
        }
        if success != r.success {
            return Err(fail(format!(
                "claimed success {} but the completion's is {success}",
                r.success
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::pipeline::structure::check_structure;
    use crate::pipeline::testutil::Fixture;

    #[test]
    fn honest_rewards_pass_and_forged_ones_fail() {
        let f = Fixture::new(6);
        let file = f.file(2);
        let problems = check_structure(&file, &f.structure_context()).unwrap().unwrap();
        let ctx = f.reward_context();
        check_rewards(&file, &problems, &ctx).unwrap();

        let mut forged = file.clone();
        forged.rollouts[20].reward += 0.25;
        let err = check_rewards(&forged, &problems, &ctx).unwrap_err();
        assert_eq!(err.stage, Stage::Reward);
        assert!(
            err.reason.contains("rollout 20") && err.reason.contains("claimed reward"),
            "{err}"
        );

        let mut lucky = file.clone();
        lucky.rollouts[2].success ^= true;
        let err = check_rewards(&lucky, &problems, &ctx).unwrap_err();
        assert!(err.reason.contains("claimed success"), "{err}");

        // The last-ulp difference counts too.
        let mut ulp = file;
        let r = &mut ulp.rollouts[0].reward;
        *r = f32::from_bits(r.to_bits() + 1);
        assert!(check_rewards(&ulp, &problems, &ctx).is_err());
    }

    #[test]
    fn a_correct_answer_is_scored_as_such() {
        let f = Fixture::new(6);
        let file = f.file_with_answer(1);
        let problems = check_structure(&file, &f.structure_context()).unwrap().unwrap();
        check_rewards(&file, &problems, &f.reward_context()).unwrap();
        assert!(file.rollouts.iter().any(|r| r.success), "the fixture answers correctly once");
    }
}

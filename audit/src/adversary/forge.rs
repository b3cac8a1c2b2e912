//! The forgeries that edit an honest file: of the attacker's own file, or of the victim's.

use anyhow::{bail, ensure, Context};
use grail_chain::ChainSource;
use grail_miner::window_loop::Miner;
use grail_protocol::codec::{decode, encode, Limits};
use grail_protocol::keys::HotkeyPair;
use grail_protocol::params::GROUP_SIZE;
use grail_protocol::window_file::{Rollout, WindowFile};
use grail_validator::state::Stage;

use super::models::cheaper_sampler;
use super::{resealed, Attack, Expect};

pub(super) fn forge_from_victim(
    attack: Attack,
    pair: &HotkeyPair,
    victim_pair: &HotkeyPair,
    victim: Vec<u8>,
    max_file_bytes: u64,
) -> anyhow::Result<(Vec<u8>, Expect)> {
    Ok(match attack {
        Attack::CopyUnsigned => {
            let text = format!("the header names {}, not {}", victim_pair.hotkey(), pair.hotkey());
            (victim, Expect::absent(&[&text]))
        }
        Attack::CopyResigned => {
            let mut file = decode(&victim, &Limits::default())?;
            file.header.hotkey = pair.hotkey();
            let text = "rollout 0: prompt tokens are not those of problem 0";
            (resealed(pair, file)?, Expect::at(Stage::Rollouts, &[text]))
        }
        Attack::Oversized => {
            let mut bytes = victim;
            let size = usize::try_from(max_file_bytes)?.saturating_add(1);
            ensure!(bytes.len() < size, "the honest file is already over the limit");
            bytes.resize(size, 0);
            let text = format!("is {size} bytes, over the limit of {max_file_bytes}");
            (bytes, Expect::absent(&[&text]))
        }
        Attack::Truncated => {
            let mut bytes = victim;
            bytes.truncate(bytes.len() / 2);
            (bytes, Expect::absent(&["does not parse: ", "the file ends early (truncated)"]))
        }
        other => bail!("{other:?} is not made from the victim's file"),
    })
}

/// The first rollout of `file` with at least `min_len` tokens.
fn first_with(file: &WindowFile, min_len: usize) -> anyhow::Result<(usize, &Rollout)> {
    file.rollouts
        .iter()
        .enumerate()
        .find(|(_, r)| r.completion_tokens.len() >= min_len)
        .with_context(|| format!("no rollout of {min_len} tokens or more to forge"))
}

pub(super) fn forge_own<C: ChainSource>(
    attack: Attack,
    miner: &mut Miner<C>,
    mut file: WindowFile,
) -> anyhow::Result<(Vec<u8>, Expect)> {
    let honest = file.clone();
    let rollouts = &mut file.rollouts;
    let expect = match attack {
        Attack::ZeroCommitments => {
            rollouts.iter_mut().for_each(|r| r.commitments.fill(0));
            Expect::at(Stage::Commitments, &["rollout 0 position 0: commitment 00000000"])
        }
        Attack::ConstantCommitments => {
            for r in rollouts.iter_mut() {
                let c = r.commitments.first().copied().unwrap_or(0);
                r.commitments.fill(c);
            }
            // One-token rollouts are unchanged; the first longer one fails at position 1.
            let (i, r) = first_with(&honest, 2)?;
            let text = format!("rollout {i} position 1: commitment {:08x}", r.commitments[0]);
            Expect::at(Stage::Commitments, &[&text])
        }
        Attack::ShiftedCommitments => {
            rollouts.iter_mut().for_each(|r| r.commitments.rotate_right(1));
            let (i, r) = first_with(&honest, 2)?;
            let last = r.commitments[r.commitments.len() - 1];
            let text = format!("rollout {i} position 0: commitment {last:08x}");
            Expect::at(Stage::Commitments, &[&text])
        }
        Attack::ForgedToken => {
            let vocab = u32::try_from(miner.engine.spec().vocab_size).context("vocabulary")?;
            let stop_ids = miner.engine.config().stop_token_ids.clone();
            for r in rollouts.iter_mut() {
                let t = r.completion_tokens.len() / 2;
                let Some(&old) = r.completion_tokens.get(t) else { continue };
                let mut new = (old + vocab / 2) % vocab;
                while new == old || stop_ids.contains(&new) {
                    new = (new + 1) % vocab;
                }
                r.completion_tokens[t] = new;
            }
            let t = honest.rollouts[0].completion_tokens.len() / 2;
            let text = format!("rollout 0: the token at position {t} is not the sample");
            Expect::at(Stage::Sampling, &[&text])
        }
        Attack::ForgedReward => {
            rollouts.iter_mut().for_each(|r| r.reward += 0.5);
            let text = format!("rollout 0: claimed reward {}", honest.rollouts[0].reward + 0.5);
            Expect::at(Stage::Reward, &[&text])
        }
        Attack::ForgedSuccess => {
            rollouts.iter_mut().for_each(|r| r.success = !r.success);
            let text = format!("rollout 0: claimed success {}", !honest.rollouts[0].success);
            Expect::at(Stage::Reward, &[&text])
        }
        Attack::NanLogprobs => {
            for r in rollouts.iter_mut() {
                let t = r.logprobs.len() / 2;
                if let Some(l) = r.logprobs.get_mut(t) {
                    *l = f32::NAN;
                }
            }
            let t = honest.rollouts[0].logprobs.len() / 2;
            let text = format!("rollout 0: logprob NaN at position {t} is not a finite number");
            Expect::at(Stage::Rollouts, &[&text])
        }
        Attack::WrongPrompt => {
            let group = GROUP_SIZE as usize;
            let other = rollouts[group].prompt_tokens.clone();
            rollouts[3].prompt_tokens = other;
            Expect::at(Stage::Rollouts, &["rollout 3: prompt tokens are not those of problem 0"])
        }
        Attack::SkippedProblem => {
            let group = GROUP_SIZE as usize;
            for r in rollouts.iter_mut().filter(|r| r.problem_index == 1) {
                r.problem_index = 2;
            }
            let text =
                format!("rollout {group}: is problem 2 rollout 0, expected problem 1 rollout 0");
            Expect::at(Stage::Rollouts, &[&text])
        }
        Attack::BadSignature => {
            let r = rollouts.first_mut().context("an empty file")?;
            r.signature[0] ^= 1;
            let expect =
                Expect::absent(&["not signed by", "signature of rollout 0 does not verify"]);
            return Ok((encode(&file)?, expect));
        }
        Attack::CheaperSampler => {
            file.rollouts = cheaper_sampler(miner, &file, 1.3)?;
            let Some((i, t)) = first_difference(&honest.rollouts, &file.rollouts) else {
                bail!("the cheaper sampler drew the honest tokens in every rollout: no forgery")
            };
            let (rollout, position) = (format!("rollout {i}: "), format!("position {t}"));
            Expect::at(Stage::Sampling, &[&rollout, &position])
        }
        other => bail!("{other:?} is not made from the attacker's own file"),
    };
    Ok((resealed(&miner.pair, file)?, expect))
}

/// The first `(rollout, position)` where the completions of `b` leave those of `a`.
pub(super) fn first_difference(a: &[Rollout], b: &[Rollout]) -> Option<(usize, usize)> {
    a.iter().zip(b).enumerate().find_map(|(i, (x, y))| {
        let (x, y) = (&x.completion_tokens, &y.completion_tokens);
        let t = x.iter().zip(y).position(|(p, q)| p != q);
        t.or_else(|| (x.len() != y.len()).then(|| x.len().min(y.len()))).map(|t| (i, t))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rollout(tokens: &[u32]) -> Rollout {
        crate::calibrate::test_rollout(tokens, &vec![0; tokens.len()])
    }

    #[test]
    fn the_first_difference_is_found_by_rollout_then_position() {
        let a = [rollout(&[1, 2, 3]), rollout(&[4, 5])];
        assert_eq!(first_difference(&a, &a), None);
        assert_eq!(first_difference(&a, &[rollout(&[1, 2, 3]), rollout(&[4, 6])]), Some((1, 1)));
        assert_eq!(first_difference(&a, &[rollout(&[1, 2]), rollout(&[4, 5])]), Some((0, 2)));
        assert_eq!(first_difference(&a, &[rollout(&[9]), rollout(&[4, 6])]), Some((0, 0)));
    }
}

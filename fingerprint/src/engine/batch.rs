//! Decoding several groups in one batch: each group's prompt is run once at batch 1, its rows
//! join the running batch, and rows that finish leave it, so the batch stays full while groups
//! come and go ([`Engine::generate_groups`]; [`Engine::generate_group`] is the one-group case).
//!
//! # Why the results do not depend on the company a row keeps
//! All rows of a batch share one cache length `T`. A row's real context (prompt and tokens so
//! far, `len` positions) sits right-aligned in its `T` positions, behind `T − len` zeros that the
//! attention mask hides, and its position ids are its own. Two facts about ONNX Runtime's CPU
//! kernels make every row's logits and hidden states bitwise those it would have alone:
//! - a row's outputs do not depend on the other rows, nor on how many there are;
//! - left padding by a whole multiple of a small width (4 on the kernels measured by
//!   `fixtures/scripts/check_batch_invariance.py`) leaves a row's reductions over the context
//!   unchanged bit for bit; other amounts, and padding on the right, do not.
//!
//! So a group joins only at a step where `T − P` is a multiple of
//! [`EngineOptions::pad_alignment`](super::EngineOptions::pad_alignment), and every re-layout
//! keeps each row's padding such a multiple. A test holds the results to the one-group path bit
//! for bit; `grail-audit bench miner` checks it again on the machine it runs on.

use ort::value::DynValue;
use rand_chacha::ChaCha20Rng;

use super::decode::{advance_rows, StepFeeds};
use super::rollout::{check_request, GeneratedRollout, Picker, RolloutState, StepRules};
use super::tensors::{realign, RowSource};
use super::Engine;
use crate::error::{Error, Result};

/// One group for [`Engine::generate_groups`]: a prompt and one sampling stream per rollout.
#[derive(Debug, Clone)]
pub struct GroupJob {
    /// The rendered prompt's token ids.
    pub prompt: Vec<u32>,
    /// One stream per rollout, as in [`GroupRequest::streams`](super::GroupRequest::streams).
    pub streams: Vec<ChaCha20Rng>,
}

/// What every group of one [`Engine::generate_groups`] call shares.
#[derive(Debug, Clone, Copy)]
pub struct GroupSettings<'a> {
    /// Sampling temperature (finite, > 0).
    pub temperature: f32,
    /// Length cap of a completion (>= 1).
    pub max_new_tokens: usize,
    /// Tokens that end a completion.
    pub stop_ids: &'a [u32],
    /// When given, every token gets a hidden-state commitment.
    pub commitment: Option<&'a grail_protocol::commitment::CommitmentKey>,
}

/// What one [`Engine::generate_groups`] call did, for benches and tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BatchStats {
    /// Groups generated.
    pub groups: usize,
    /// Decoding steps (forward passes after the prompts').
    pub steps: usize,
    /// Rows summed over steps.
    pub row_steps: usize,
    /// Of those, rows that had already finished (padding the batch until the next re-layout).
    pub idle_row_steps: usize,
    /// The most groups that had rows in one step.
    pub most_groups_at_once: usize,
    /// Groups that joined a batch at a longer cache length than their prompt (left-padded).
    pub padded_joins: usize,
}

/// A group whose rows are being generated.
struct InFlight {
    /// Its index in the order the source handed groups out.
    id: usize,
    /// Its rows' states, taken when the group is handed to the sink.
    rows: Vec<RolloutState>,
}

/// A prefilled group waiting for room and for a step where its padding is aligned.
struct Pending {
    group: usize,
    prompt_len: usize,
    cache: Vec<DynValue>,
}

/// The running batch: row `k` is row `rows[k].1` of group `rows[k].0`, with `lens[k]` real
/// positions right-aligned in the cache's `length`.
struct Batch {
    rows: Vec<(usize, usize)>,
    lens: Vec<usize>,
    length: usize,
    cache: Vec<DynValue>,
}

impl Engine {
    /// Generates groups from `source` with up to `rows` rows decoding together, several groups
    /// at a time, and hands each finished group to `sink` with its index in the order `source`
    /// gave it (groups finish out of order). `source` is asked for a group whenever one could
    /// start; `None` means no more. Every rollout is bitwise what [`Engine::generate_group`]
    /// makes of its group alone (see the module doc). A group larger than `rows` runs alone.
    pub fn generate_groups<E, S, K>(
        &mut self,
        settings: &GroupSettings<'_>,
        rows: usize,
        mut source: S,
        sink: K,
    ) -> std::result::Result<BatchStats, E>
    where
        E: From<Error>,
        S: FnMut() -> std::result::Result<Option<GroupJob>, E>,
        K: FnMut(usize, Vec<GeneratedRollout>) -> std::result::Result<(), E>,
    {
        let rules = StepRules {
            max_new_tokens: settings.max_new_tokens,
            stop_ids: settings.stop_ids,
            commitment: settings.commitment,
        };
        let mut exhausted = false;
        self.run_groups(
            &rules,
            rows,
            || {
                if exhausted {
                    return Ok(None);
                }
                let Some(job) = source()? else {
                    exhausted = true;
                    return Ok(None);
                };
                let pickers = job
                    .streams
                    .into_iter()
                    .map(|s| Picker::Sample {
                        stream: Box::new(s),
                        temperature: settings.temperature,
                    })
                    .collect();
                Ok(Some((job.prompt, pickers, settings.temperature)))
            },
            sink,
        )
    }

    /// The scheduler behind [`Engine::generate_groups`]; `source` gives a prompt, one picker per
    /// rollout and the temperature to check.
    pub(crate) fn run_groups<E, S, K>(
        &mut self,
        rules: &StepRules<'_>,
        capacity: usize,
        mut source: S,
        mut sink: K,
    ) -> std::result::Result<BatchStats, E>
    where
        E: From<Error>,
        S: FnMut() -> std::result::Result<Option<(Vec<u32>, Vec<Picker>, f32)>, E>,
        K: FnMut(usize, Vec<GeneratedRollout>) -> std::result::Result<(), E>,
    {
        let spec = *self.spec();
        let (vocab, hidden) = (spec.vocab_size, spec.hidden_size);
        let align = self.options().pad_alignment.max(1);
        let threads = self.sampling_threads();
        let mut groups: Vec<Option<InFlight>> = Vec::new();
        let mut pending: Option<Pending> = None;
        let mut batch = Batch { rows: Vec::new(), lens: Vec::new(), length: 0, cache: Vec::new() };
        let mut exhausted = false;
        let mut stats = BatchStats::default();
        loop {
            let running = batch.rows.iter().filter(|&&(g, r)| row_running(&groups, g, r)).count();
            // Ask for the next group while there is room for one more row.
            if pending.is_none() && !exhausted && running < capacity.max(1) {
                match source()? {
                    None => exhausted = true,
                    Some((prompt, pickers, temperature)) => {
                        check_request(&prompt, temperature, rules, vocab, hidden)?;
                        let id = groups.len();
                        stats.groups += 1;
                        let mut rows: Vec<RolloutState> = pickers
                            .into_iter()
                            .map(|p| RolloutState::new(p, rules.max_new_tokens))
                            .collect();
                        // Token 0 of every rollout comes from the prompt's last row.
                        let p = prompt.len();
                        let cache = self.run_prompt(&prompt, |logits, states| {
                            let work = rows.iter_mut().map(|r| (p - 1, r)).collect();
                            advance_rows(work, (logits, vocab), (states, hidden), rules, threads)
                        })?;
                        let left = rows.iter().any(RolloutState::running);
                        groups.push(Some(InFlight { id, rows }));
                        if !left {
                            finish_group(&mut groups, id, &mut sink)?;
                        } else {
                            pending = Some(Pending { group: id, prompt_len: p, cache });
                        }
                        continue;
                    }
                }
            }

            // Join the waiting group when it fits and its padding would be aligned; drop
            // finished rows once enough of them pile up.
            let joins = pending.as_ref().is_some_and(|w| {
                let size = group_rows(&groups, w.group);
                let fits = running == 0 || running + size <= capacity;
                let aligned = running == 0 || (batch.length.abs_diff(w.prompt_len)) % align == 0;
                fits && aligned
            });
            let idle = batch.rows.len() - running;
            let threshold = self.options().drop_finished;
            let drops =
                (threshold > 0 && idle > 0 && (idle >= threshold || 2 * idle >= batch.rows.len()))
                    || (running == 0 && idle > 0);
            if joins || drops {
                let joining = if joins { pending.take() } else { None };
                if joining.as_ref().is_some_and(|w| running > 0 && batch.length > w.prompt_len) {
                    stats.padded_joins += 1;
                }
                batch = relayout(&groups, &batch, joining.as_ref())?;
            }
            if batch.rows.is_empty() {
                if pending.is_none() && exhausted {
                    return Ok(stats);
                }
                continue;
            }

            let b = batch.rows.len();
            let length = batch.length;
            stats.steps += 1;
            stats.row_steps += b;
            stats.idle_row_steps +=
                batch.rows.iter().filter(|&&(g, r)| !row_running(&groups, g, r)).count();
            let mut present: Vec<usize> = batch.rows.iter().map(|&(g, _)| g).collect();
            present.dedup();
            stats.most_groups_at_once = stats.most_groups_at_once.max(present.len());
            let mut attention_mask = Vec::with_capacity(b * (length + 1));
            for &len in &batch.lens {
                attention_mask.extend(std::iter::repeat_n(0, length - len));
                attention_mask.extend(std::iter::repeat_n(1, len + 1));
            }
            let feeds = StepFeeds {
                batch: b,
                seq: 1,
                input_ids: batch
                    .rows
                    .iter()
                    .map(|&(g, r)| last_token(&groups, g, r).map_or(0, i64::from))
                    .collect(),
                attention_mask,
                position_ids: batch.lens.iter().map(|&l| l as i64).collect(),
            };
            let cache = std::mem::take(&mut batch.cache);
            batch.cache = self.run_step(feeds, cache, |logits, states| {
                let work = batch_work(&mut groups, &batch.rows);
                advance_rows(work, (logits, vocab), (states, hidden), rules, threads)
            })?;
            batch.length += 1;
            batch.lens.iter_mut().for_each(|l| *l += 1);
            // Groups whose last row just stopped go to the sink.
            let mut done: Vec<usize> = Vec::new();
            for flight in groups.iter().flatten() {
                if !flight.rows.iter().any(RolloutState::running) {
                    done.push(flight.id);
                }
            }
            for id in done {
                finish_group(&mut groups, id, &mut sink)?;
            }
        }
    }
}

fn row_running(groups: &[Option<InFlight>], g: usize, r: usize) -> bool {
    groups.get(g).and_then(Option::as_ref).and_then(|f| f.rows.get(r)).is_some_and(|s| s.running())
}

fn last_token(groups: &[Option<InFlight>], g: usize, r: usize) -> Option<u32> {
    groups.get(g).and_then(Option::as_ref).and_then(|f| f.rows.get(r)).and_then(|s| s.last_token())
}

fn group_rows(groups: &[Option<InFlight>], g: usize) -> usize {
    groups.get(g).and_then(Option::as_ref).map_or(0, |f| f.rows.len())
}

/// Hands group `id` to the sink and forgets its rows.
fn finish_group<E, K>(
    groups: &mut [Option<InFlight>],
    id: usize,
    sink: &mut K,
) -> std::result::Result<(), E>
where
    E: From<Error>,
    K: FnMut(usize, Vec<GeneratedRollout>) -> std::result::Result<(), E>,
{
    let Some(group) = groups.get_mut(id).and_then(Option::take) else {
        return Err(Error::Request { problem: format!("group {id} finished twice") }.into());
    };
    sink(group.id, group.rows.into_iter().map(RolloutState::finish).collect())
}

/// The `(batch row, state)` pairs of a step, in batch-row order.
fn batch_work<'g>(
    groups: &'g mut [Option<InFlight>],
    rows: &[(usize, usize)],
) -> Vec<(usize, &'g mut RolloutState)> {
    // Rows of groups already handed to the sink have no state left to advance.
    let mut index: Vec<((usize, usize), usize)> = rows
        .iter()
        .enumerate()
        .filter(|&(_, &(g, r))| {
            groups.get(g).and_then(Option::as_ref).is_some_and(|f| r < f.rows.len())
        })
        .map(|(k, &gr)| (gr, k))
        .collect();
    index.sort_unstable();
    let mut wanted = index.into_iter().peekable();
    let mut work = Vec::with_capacity(rows.len());
    for (g, slot) in groups.iter_mut().enumerate() {
        let Some(flight) = slot.as_mut() else { continue };
        for (r, state) in flight.rows.iter_mut().enumerate() {
            if let Some((_, k)) = wanted.next_if(|&(gr, _)| gr == (g, r)) {
                work.push((k, state));
            }
        }
    }
    work
}

/// The batch without its finished rows and with `joining`'s rows after them, re-laid out at
/// the shortest length that holds every row. Every row's padding stays a multiple of the
/// alignment: the kept rows' lengths all differ from the old length by such multiples, and a
/// group only joins when its prompt does too.
fn relayout(
    groups: &[Option<InFlight>],
    batch: &Batch,
    joining: Option<&Pending>,
) -> Result<Batch> {
    let mut sources = Vec::new();
    let (mut rows, mut lens) = (Vec::new(), Vec::new());
    for (k, (&(g, r), &len)) in batch.rows.iter().zip(&batch.lens).enumerate() {
        if row_running(groups, g, r) {
            sources.push(RowSource::Batch { row: k, len });
            rows.push((g, r));
            lens.push(len);
        }
    }
    if let Some(w) = joining {
        for r in 0..group_rows(groups, w.group) {
            if row_running(groups, w.group, r) {
                sources.push(RowSource::Prompt);
                rows.push((w.group, r));
                lens.push(w.prompt_len);
            }
        }
    }
    let length = lens.iter().copied().max().unwrap_or(0);
    if rows.is_empty() {
        return Ok(Batch { rows, lens, length, cache: Vec::new() });
    }
    let layers = batch.cache.len().max(joining.map_or(0, |w| w.cache.len()));
    let mut cache = Vec::with_capacity(layers);
    for i in 0..layers {
        cache.push(realign(
            batch.cache.get(i),
            joining.and_then(|w| w.cache.get(i)),
            &sources,
            length,
        )?);
    }
    Ok(Batch { rows, lens, length, cache })
}

//! What a soaked validator must show at the end:
//! - each window's transcript replays, fault free, to the verdicts and weights it recorded
//!   (`grail-validator replay`): faults changed nothing in how the files it held were judged;
//! - every window it reported is still in its state database;
//! - against the reference (a fresh validator that takes every file by the store's times),
//!   each verdict that differs is explained by intake: the two held different files (one read
//!   it after the cutoff, having been down or stalled), or the same file with other unique
//!   counts (duplicates are owned by the earliest upload, and each validator times uploads by
//!   its own first read). Weights that differ in a window are explained when a verdict of the
//!   scoring span differs that way. Any other difference is a mismatch.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::RangeInclusive;
use std::path::{Path, PathBuf};

use anyhow::Context;
use grail_validator::pipeline::fetch::hotkey_of_key;
use grail_validator::state::{State, Verdict};
use grail_validator::transcript::Transcript;

use crate::procs::Proc;
use crate::subnet::{Subnet, WEIGHTS_SPAN};

/// One validator's result.
#[derive(Debug)]
pub(crate) struct Check {
    pub(crate) name: String,
    /// Windows whose weights were compared with the reference's.
    pub(crate) compared: u64,
    /// `(window, why)` for each failed check: a transcript that does not replay, a missing
    /// file, a window not in the state, a difference from the reference that intake does not
    /// explain.
    pub(crate) mismatches: Vec<(u64, String)>,
    /// Windows the validator reported done that its state does not hold.
    pub(crate) lost: Vec<u64>,
    /// Windows reported done (across all its runs).
    pub(crate) reported: usize,
    /// Log lines of windows taken by the store's times, and of windows not verified.
    pub(crate) backfilled: usize,
    pub(crate) skipped: usize,
    /// Transcripts replayed to the recorded verdicts and weights.
    pub(crate) replayed: u64,
    /// Verdicts that differ from the reference's because the two held different files, and
    /// because duplicates were ordered by other first-read times.
    pub(crate) other_file: u64,
    pub(crate) other_order: u64,
    /// Windows whose weights differ from the reference's through those verdicts.
    pub(crate) weights_differ: Vec<u64>,
}

impl Check {
    pub(crate) fn json(&self) -> serde_json::Value {
        serde_json::json!({
            "name": self.name,
            "windows_reported": self.reported,
            "backfilled": self.backfilled,
            "skipped": self.skipped,
            "replayed": self.replayed,
            "mismatches": self.mismatches.iter().map(|(w, why)| serde_json::json!({"window": w, "why": why})).collect::<Vec<_>>(),
            "lost": self.lost,
            "vs_reference": {
                "verdicts_other_file": self.other_file,
                "verdicts_other_duplicate_order": self.other_order,
                "windows_weights_differ": self.weights_differ,
            },
        })
    }
}

/// How many of `windows` have reference weights that give a miner (a uid other than the burn
/// uid 0) a nonzero weight, and how many miners do in all. Weights that only ever name the
/// burn uid would make the comparison show nothing.
pub(crate) fn weighted(
    reference: &Path,
    windows: RangeInclusive<u64>,
) -> anyhow::Result<(u64, usize)> {
    let mut with_miners = 0;
    let mut miners = BTreeSet::new();
    for w in windows {
        let path = reference.join(format!("weights/{w}.json"));
        let text = std::fs::read_to_string(&path).with_context(|| format!("{}", path.display()))?;
        let file: serde_json::Value =
            serde_json::from_str(&text).with_context(|| format!("{}", path.display()))?;
        let uids: Vec<u64> = file["uids"].as_array().map_or_else(Vec::new, |a| {
            a.iter().filter_map(serde_json::Value::as_u64).filter(|&u| u != 0).collect()
        });
        if !uids.is_empty() {
            with_miners += 1;
        }
        miners.extend(uids);
    }
    Ok((with_miners, miners.len()))
}

fn transcript_path(data: &Path, w: u64) -> PathBuf {
    data.join(format!("transcripts/{w}.json"))
}

/// Why one miner's verdicts differ between two transcripts of a window.
#[derive(Debug, PartialEq, Eq)]
enum Cause {
    File,
    Order,
}

/// The CID each miner's file had in `t` (`None`: held none).
fn cids(t: &Transcript) -> BTreeMap<String, Option<String>> {
    t.objects
        .iter()
        .filter_map(|o| Some((hotkey_of_key(&o.key, t.window)?.to_ss58(), o.cid.clone())))
        .collect()
}

/// Each held file's CID and upload time: what orders duplicates.
fn uploads(t: &Transcript) -> BTreeSet<(Option<&str>, u64)> {
    t.objects.iter().map(|o| (o.cid.as_deref(), o.uploaded_unix)).collect()
}

fn without_counts(v: &Verdict) -> Verdict {
    Verdict { unique_verified: 0, unique_estimated: 0, ..v.clone() }
}

/// Each differing verdict of `ours` against `theirs`: its cause, or why it is unexplained.
fn differences(ours: &Transcript, theirs: &Transcript) -> Vec<Result<Cause, String>> {
    let (our_cids, their_cids) = (cids(ours), cids(theirs));
    let uploads_differ = uploads(ours) != uploads(theirs);
    let by_key = |vs: &[Verdict]| -> BTreeMap<String, Verdict> {
        vs.iter().map(|v| (v.hotkey.to_ss58(), v.clone())).collect()
    };
    let (a, b) = (by_key(&ours.outcome.verdicts), by_key(&theirs.outcome.verdicts));
    let mut out = Vec::new();
    for key in a.keys().chain(b.keys()).collect::<BTreeSet<_>>() {
        let (Some(x), Some(y)) = (a.get(key), b.get(key)) else {
            out.push(Err(format!("miner {key} has a verdict in only one of the two")));
            continue;
        };
        if x == y {
            continue;
        }
        let file = |c: &BTreeMap<String, Option<String>>| c.get(key).cloned().flatten();
        if file(&our_cids) != file(&their_cids) {
            out.push(Ok(Cause::File));
        } else if uploads_differ && without_counts(x) == without_counts(y) {
            out.push(Ok(Cause::Order));
        } else {
            out.push(Err(format!(
                "miner {key}: the same file judged {:?}/{:?} here, {:?}/{:?} by the reference",
                x.stage, x.result, y.stage, y.result
            )));
        }
    }
    out
}

/// Checks validator `v` (data folder `data`) against the reference's data folder.
pub(crate) fn validator(
    net: &Subnet,
    v: &Proc,
    data: &Path,
    reference: &Path,
    windows: RangeInclusive<u64>,
) -> anyhow::Result<Check> {
    let out = std::fs::read_to_string(v.stdout_path()).unwrap_or_default();
    let reported: BTreeSet<u64> = out
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter_map(|line| line["window"].as_u64())
        .collect();
    let log = std::fs::read_to_string(v.stderr_path()).unwrap_or_default();
    let state = State::open_read_only(data)
        .with_context(|| format!("{}: state database in {}", v.name, data.display()))?;
    let mut lost = Vec::new();
    for &w in &reported {
        if !state.is_processed(w)? {
            lost.push(w);
        }
    }
    let mut check = Check {
        name: v.name.clone(),
        compared: 0,
        mismatches: Vec::new(),
        lost,
        reported: reported.len(),
        backfilled: log.matches("files taken by the store's times").count(),
        skipped: log.matches("window not verified").count(),
        replayed: 0,
        other_file: 0,
        other_order: 0,
        weights_differ: Vec::new(),
    };
    let mut verdicts_differ = BTreeSet::new();
    for w in windows {
        check.compared += 1;
        if !state.is_processed(w)? {
            check.mismatches.push((w, "not in the state database".into()));
        }
        let ours = transcript_path(data, w);
        let replay =
            net.replay_command(&ours).output().context("running grail-validator replay")?;
        if replay.status.success() {
            check.replayed += 1;
        } else {
            let why = String::from_utf8_lossy(&replay.stderr);
            let why = why.lines().filter(|l| l.starts_with("difference")).collect::<Vec<_>>();
            check
                .mismatches
                .push((w, format!("its transcript does not replay: {}", why.join("; "))));
        }
        let (ours, theirs) =
            match (Transcript::read(&ours), Transcript::read(&transcript_path(reference, w))) {
                (Ok(a), Ok(b)) => (a, b),
                (Err(e), _) => {
                    check.mismatches.push((w, format!("no transcript: {e}")));
                    continue;
                }
                (_, Err(e)) => {
                    check.mismatches.push((w, format!("the reference has no transcript: {e}")));
                    continue;
                }
            };
        for d in differences(&ours, &theirs) {
            verdicts_differ.insert(w);
            match d {
                Ok(Cause::File) => check.other_file += 1,
                Ok(Cause::Order) => check.other_order += 1,
                Err(why) => check.mismatches.push((w, why)),
            }
        }
        let read = |dir: &Path| std::fs::read(dir.join(format!("weights/{w}.json")));
        match (read(data), read(reference)) {
            (Ok(a), Ok(b)) if a == b => {}
            (Ok(_), Ok(_)) => {
                let span = w.saturating_sub(WEIGHTS_SPAN - 1)..=w;
                if verdicts_differ.range(span).next().is_some() {
                    check.weights_differ.push(w);
                } else {
                    check.mismatches.push((
                        w,
                        "weights differ from the reference's with the same verdicts in the span"
                            .into(),
                    ));
                }
            }
            (Err(e), _) => check.mismatches.push((w, format!("no weights file: {e}"))),
            (_, Err(e)) => {
                check.mismatches.push((w, format!("the reference has no weights file: {e}")));
            }
        }
    }
    Ok(check)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use grail_validator::state::Stage;

    use super::*;

    fn honest() -> Transcript {
        let path =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/transcripts/honest.json");
        Transcript::read(&path).unwrap()
    }

    #[test]
    fn differences_are_explained_only_by_intake() {
        let ours = honest();
        assert!(differences(&ours, &ours).is_empty());

        // The reference held another file for miner 0 (or none): intake.
        let mut theirs = ours.clone();
        theirs.objects[0].cid = None;
        theirs.outcome.verdicts[0].unique_verified = 0;
        assert_eq!(differences(&ours, &theirs), vec![Ok(Cause::File)]);

        // Same files, other upload times, other unique counts: duplicate order.
        let mut theirs = ours.clone();
        theirs.objects[1].uploaded_unix += 1;
        theirs.outcome.verdicts[0].unique_verified -= 1;
        theirs.outcome.verdicts[0].unique_estimated -= 1;
        assert_eq!(differences(&ours, &theirs), vec![Ok(Cause::Order)]);

        // Other counts from the same files at the same times: not intake.
        let mut theirs = ours.clone();
        theirs.outcome.verdicts[0].unique_verified -= 1;
        assert!(matches!(differences(&ours, &theirs)[..], [Err(_)]));

        // The same file judged at another stage: not intake.
        let mut theirs = ours.clone();
        theirs.outcome.verdicts[2].stage = Stage::Sampling;
        let d = differences(&ours, &theirs);
        assert!(matches!(&d[..], [Err(why)] if why.contains("the same file judged")), "{d:?}");

        // A verdict only one of them has.
        let mut theirs = ours.clone();
        theirs.outcome.verdicts.pop();
        assert!(matches!(&differences(&ours, &theirs)[..], [Err(why)] if why.contains("only one")));
    }
}

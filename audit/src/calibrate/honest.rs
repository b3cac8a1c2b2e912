//! Honest drift sources: rollouts an honest miner generates one way, verified another way, by
//! the validator's own checks.

use grail_fingerprint::{Engine, EngineOptions};
use grail_protocol::params::GROUP_SIZE;
use grail_protocol::window_file::Rollout;
use serde_json::{json, Value};

use super::progress::Phase;
use super::rows::{verify_set, Padding};
use super::tally::Tally;
use super::{CalibrateError, Setup};

/// Each rollout of `base` generated again alone (a batch of one, same stream).
fn generated_alone(
    setup: &Setup,
    engine: &mut Engine,
    base: &[Rollout],
) -> Result<Vec<Rollout>, CalibrateError> {
    let mut out = base.to_vec();
    let phase = Phase::start("generating each rollout alone", out.len(), "rollouts");
    for (i, r) in out.iter_mut().enumerate() {
        let (j, k) = (i / GROUP_SIZE as usize, i % GROUP_SIZE as usize);
        let mut request = setup.work.request(j, true);
        request.streams = vec![request.streams[k].clone()];
        let g = engine
            .generate_group(&request)
            .map_err(|source| CalibrateError::GenerateAlone { group: j, rollout: k, source })?
            .pop()
            .ok_or(CalibrateError::NoRollout { group: j, rollout: k })?;
        r.completion_tokens = g.tokens;
        r.logprobs = g.logprobs;
        r.commitments = g.commitments;
        phase.advance(1);
    }
    Ok(out)
}

/// One source's entry.
fn entry(source: &str, generated: &str, verified: &str, tally: &Tally, setup: &Setup) -> Value {
    let mut v = tally.honest_json(&setup.params);
    v["source"] = json!(source);
    v["generated"] = json!(generated);
    v["verified"] = json!(verified);
    tracing::info!(source, pass_rate = %v["pass_rate"], "honest source measured");
    v
}

/// Measures every honest source. `standard` is the engine that generated `base`; `other` runs
/// with the other thread count. The standard path runs over all of `base`, the other sources
/// over its first `honest_n` rollouts. Returns the entries and the standard path's tally (whose
/// projections feed the analytic bound and the constant forger).
pub(crate) fn measure(
    setup: &Setup,
    standard: &mut Engine,
    other: &mut Engine,
    all: &[Rollout],
    honest_n: usize,
) -> Result<(Vec<Value>, Tally), CalibrateError> {
    let hotkey = setup.work.pair.hotkey();
    let ctx = setup.context(&hotkey);
    let batch = setup.prefill_batch;
    let (t1, t2) = (setup.threads.0, setup.threads.1);
    let group = format!("decoded in a group of {GROUP_SIZE}, {t1} thread(s)");
    let prefill = format!("shared-prompt prefill of {batch}, {t1} thread(s)");
    let mut out = Vec::new();

    let mut std_tally = Tally::default();
    verify_set(standard, all, &ctx, batch, Padding::Shared, &mut std_tally, true)?;
    out.push(entry("decode vs prefill (standard path)", &group, &prefill, &std_tally, setup));
    let base = &all[..honest_n.min(all.len())];

    let mut tally = Tally::default();
    verify_set(other, base, &ctx, batch, Padding::Shared, &mut tally, false)?;
    let verified = format!("shared-prompt prefill of {batch}, {t2} thread(s)");
    out.push(entry(&format!("intra-op threads {t1} vs {t2}"), &group, &verified, &tally, setup));

    let mut tally = Tally::default();
    verify_set(standard, base, &ctx, 1, Padding::Shared, &mut tally, false)?;
    let verified = format!("shared-prompt prefill of 1, {t1} thread(s)");
    out.push(entry(&format!("batch {GROUP_SIZE} vs 1"), &group, &verified, &tally, setup));

    let alone = generated_alone(setup, standard, base)?;
    let mut tally = Tally::default();
    verify_set(standard, &alone, &ctx, batch, Padding::Shared, &mut tally, false)?;
    let generated = format!("decoded alone (batch 1), {t1} thread(s)");
    out.push(entry(&format!("batch 1 vs {batch}"), &generated, &prefill, &tally, setup));

    let mut tally = Tally::default();
    verify_set(standard, base, &ctx, batch, Padding::Right, &mut tally, false)?;
    let verified = format!("full right-padded prefill of {batch}, {t1} thread(s)");
    out.push(entry("full vs shared-prompt prefill", &group, &verified, &tally, setup));

    let mut tally = Tally::default();
    verify_set(standard, base, &ctx, batch, Padding::Left, &mut tally, false)?;
    let verified = format!("left-padded prefill of {batch}, {t1} thread(s)");
    out.push(entry("left vs right padding", &group, &verified, &tally, setup));

    out.push(match setup.compare_device {
        None => json!({
            "source": format!("{} vs CUDA", device_label(setup.engine_options.device)),
            "status": "not measured: no --compare-device given",
        }),
        Some(device) => {
            let source = format!("{} vs {device}", device_label(setup.engine_options.device));
            let options = EngineOptions { device, ..setup.engine_options };
            match Engine::load(&setup.model, &options) {
                Ok(mut engine) => {
                    let mut tally = Tally::default();
                    verify_set(&mut engine, base, &ctx, batch, Padding::Shared, &mut tally, false)?;
                    let verified = format!("shared-prompt prefill of {batch} on {device}");
                    entry(&source, &group, &verified, &tally, setup)
                }
                // Recorded, not fatal: the CPU sources above still stand.
                Err(e) => json!({"source": source, "status": format!("not measured: {e}")}),
            }
        }
    });
    out.push(json!({
        "source": "second inference engine",
        "status": "not measured: only ONNX Runtime is wired in",
    }));
    Ok((out, std_tally))
}

/// `CPU` for the CPU (as the sources have always been named), else the device as parsed.
fn device_label(device: grail_fingerprint::Device) -> String {
    match device {
        grail_fingerprint::Device::Cpu => "CPU".into(),
        other => other.to_string(),
    }
}

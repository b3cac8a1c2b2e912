//! The miner's Prometheus metrics, recorded through the `metrics` crate into the process's
//! recorder, which `grail-miner mine --metrics.listen` installs and serves; without it every
//! call here records nothing.

use metrics::{
    counter, describe_counter, describe_gauge, describe_histogram, gauge, histogram, Unit,
};

use crate::window_loop::WindowReport;

/// Upper bounds (seconds) of the upload histogram.
pub const UPLOAD_BUCKETS: [f64; 10] = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 15.0];

/// The upload histogram's name.
pub const UPLOAD_SECONDS: &str = "grail_miner_upload_seconds";

/// The help text and unit of every family.
pub fn describe() {
    describe_counter!("grail_miner_windows_mined_total", "Windows whose file was uploaded.");
    describe_counter!("grail_miner_rollouts_total", "Rollouts uploaded, over all windows.");
    describe_counter!("grail_miner_tokens_total", "Completion tokens uploaded, over all windows.");
    describe_counter!(
        "grail_miner_upload_bytes_total",
        Unit::Bytes,
        "Bytes of window files uploaded."
    );
    describe_counter!(
        "grail_miner_errors_total",
        "Windows that failed, by source: beacon, store, chain, other."
    );
    describe_gauge!(
        "grail_miner_tokens_per_second",
        "Completion tokens per second of generation with proofs, in the latest window."
    );
    describe_gauge!(
        "grail_miner_rollouts_per_second",
        "Rollouts per second of generation, in the latest window."
    );
    describe_gauge!("grail_miner_groups", "Groups (problems of 16 rollouts) in the latest window.");
    describe_gauge!("grail_miner_last_window", "The latest window whose file was uploaded.");
    describe_gauge!(
        "grail_miner_upload_bytes",
        Unit::Bytes,
        "Size of the latest window file uploaded."
    );
    describe_histogram!(UPLOAD_SECONDS, Unit::Seconds, "Wall seconds of one window file's upload.");
    describe_gauge!(
        "grail_miner_info",
        "1, labelled with the model id, the device and the hotkey."
    );
    // The error series exist from the start, at zero.
    for source in ["beacon", "store", "chain", "other"] {
        counter!("grail_miner_errors_total", "source" => source).absolute(0);
    }
}

/// The model, device and hotkey the miner runs with.
pub fn info(model_id: &str, device: &str, hotkey: &str) {
    gauge!(
        "grail_miner_info",
        "model_id" => model_id.to_owned(),
        "device" => device.to_owned(),
        "hotkey" => hotkey.to_owned()
    )
    .set(1.0);
}

/// A window's file uploaded, in `upload_s` seconds.
pub fn window_mined(report: &WindowReport, upload_s: f64) {
    counter!("grail_miner_windows_mined_total").increment(1);
    counter!("grail_miner_rollouts_total").increment(report.rollouts as u64);
    counter!("grail_miner_tokens_total").increment(report.completion_tokens as u64);
    counter!("grail_miner_upload_bytes_total").increment(report.bytes as u64);
    gauge!("grail_miner_tokens_per_second").set(report.tokens_per_s);
    gauge!("grail_miner_rollouts_per_second")
        .set(report.rollouts as f64 / report.generation_s.max(1e-9));
    gauge!("grail_miner_groups").set(f64::from(report.problems));
    gauge!("grail_miner_last_window").set(report.window as f64);
    gauge!("grail_miner_upload_bytes").set(report.bytes as f64);
    histogram!(UPLOAD_SECONDS).record(upload_s.max(0.0));
}

/// A window that failed, counted by where its error came from.
pub fn window_failed(e: &anyhow::Error) {
    counter!("grail_miner_errors_total", "source" => error_source(e)).increment(1);
}

/// `beacon`, `store`, `chain` or `other`: the first of the project's error types in `e`'s
/// chain.
pub fn error_source(e: &anyhow::Error) -> &'static str {
    e.chain()
        .find_map(|c| {
            if c.is::<grail_drand::DrandError>() {
                Some("beacon")
            } else if c.is::<grail_storage::StoreError>() {
                Some("store")
            } else if c.is::<grail_chain::ChainError>() {
                Some("chain")
            } else {
                None
            }
        })
        .unwrap_or("other")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_are_counted_by_their_source() {
        let beacon = anyhow::Error::new(grail_drand::DrandError::RoundZero).context("window 3");
        assert_eq!(error_source(&beacon), "beacon");
        let chain = anyhow::Error::new(grail_chain::ChainError::Unavailable {
            source_name: "ws://x".into(),
            detail: "down".into(),
        });
        assert_eq!(error_source(&chain.context("the first block")), "chain");
        assert_eq!(error_source(&anyhow::anyhow!("signing")), "other");
    }
}

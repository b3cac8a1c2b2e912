use super::*;
use crate::scoring::tests::{hk, verdict};

#[test]
fn a_full_disk_under_the_state_database_is_retried_and_other_database_errors_are_not() {
    let sqlite = |code| ValidatorError::Sqlite {
        op: "commit a window",
        source: rusqlite::Error::SqliteFailure(rusqlite::ffi::Error::new(code), None),
    };
    assert!(retryable(&sqlite(rusqlite::ffi::SQLITE_FULL)));
    assert!(!retryable(&sqlite(rusqlite::ffi::SQLITE_CORRUPT)));
    assert!(!retryable(&ValidatorError::WindowAlreadyRecorded { window: 3 }));
}

/// A crash between a window's commit and its weights' emission: the next start emits them
/// and, with nothing left before `until_window`, processes no window again.
#[tokio::test]
async fn a_committed_window_without_weights_gets_them_at_start() {
    use grail_chain::LocalClockChain;
    use grail_drand::{dev, ClientOptions};
    let dir = tempfile::tempdir().expect("tempdir");
    let metagraph = Metagraph {
        netuid: Some(9),
        burn_uid: 0,
        neurons: vec![crate::metagraph::Neuron { uid: 1, hotkey: hk(1) }],
    };
    let metagraph_path = dir.path().join("metagraph.json");
    std::fs::write(&metagraph_path, serde_json::to_vec(&metagraph).expect("json")).expect("write");
    let mut state = State::open(dir.path()).expect("state");
    state
        .record_window(&crate::state::WindowOutcome {
            window: 5,
            beacon_round: 1,
            randomness: [0; 32],
            processed_at_unix: 0,
            files: 1,
            verdicts: vec![verdict(1, VerdictResult::Pass, 10)],
            exclusions: vec![],
        })
        .expect("record");
    let tiny = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/models/tiny");
    let options = grail_fingerprint::EngineOptions { intra_threads: Some(1), ..Default::default() };
    let config = LiveConfig {
        network: NetworkParams::default(),
        verify: VerifyParams::default(),
        weights: WeightsConfig { span_windows: 2, cap_per_window: 10, ..Default::default() },
        data_dir: dir.path().to_path_buf(),
        metagraph: MetagraphSource::File(metagraph_path),
        transcripts: false,
        from_window: None,
        until_window: Some(5),
        beacon_timeout: Duration::from_secs(1),
        poll_interval: Duration::from_millis(200),
        trust_store_times: false,
        retain_windows: 0,
        pace_fraction: crate::pace::DEFAULT_PACE_FRACTION,
        min_miners: crate::pace::DEFAULT_MIN_MINERS,
    };
    let pace = crate::pace::Pace::new(config.pace());
    let drand = DrandClient::new(
        dev::dev_chain_info(0, 1).expect("chain"),
        vec!["http://127.0.0.1:9".into()],
        ClientOptions::default(),
    )
    .expect("client");
    let mut v = Validator {
        config,
        verifier: ModelVerifier::load(&tiny, &options).expect("model"),
        models: WindowModels::new(tiny.clone(), options, None),
        drand,
        chain: LocalClockChain::new(0, 12).expect("chain"),
        stores: MinerStores::shared(
            grail_storage::WindowStore::open_local(&dir.path().join("storage")).expect("store"),
        ),
        state,
        sink: FileSink::new(dir.path(), Some(9)),
        live: LiveStatus::new(Some(9)),
        pace,
        emitted: None,
    };
    let mut lines = 0;
    v.run(&mut |_: &WindowLine| lines += 1).await.expect("run");
    assert_eq!(lines, 0);
    let (window, weights) = v.state.latest_weights().expect("read").expect("emitted");
    assert_eq!(window, 5);
    assert_eq!(weights.uids, vec![0, 1]);
    assert!(v.sink.path(5).exists());
    assert_eq!(v.live.chain_weights().map(|c| c.window), Some(5));
}

#[test]
fn only_source_failures_are_retried() {
    let beacon = PipelineError::Beacon { which: "challenge", window: 1, reason: "x".into() };
    assert!(retryable(&beacon.into()));
    assert!(retryable(&PipelineError::Chain { reason: "x".into() }.into()));
    assert!(!retryable(&PipelineError::Setup { reason: "x".into() }.into()));
    let pruned = ValidatorError::StatePruned { block: 8, reason: "x".into() };
    assert!(!retryable(&pruned), "a pruned node never gets the state back");
    assert!(!retryable(&ValidatorError::WindowAlreadyRecorded { window: 3 }));
    let emfile = std::io::Error::from_raw_os_error(24);
    let io = ValidatorError::Io { op: "read metagraph", path: "m.json".into(), source: emfile };
    assert!(retryable(&io), "running out of file handles heals when connections close");
}

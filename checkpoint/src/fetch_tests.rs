use super::*;
use crate::{manifest_key, publish};
use grail_protocol::checkpoint::manifest_json;
use grail_protocol::keys::HotkeyPair;
use grail_protocol::params::{EnvironmentSpec, GenerationParams};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/models").join(name)
}

fn trainer() -> HotkeyPair {
    HotkeyPair::from_mini_secret(&[5; 32]).expect("seed")
}

struct Setup {
    _tmp: tempfile::TempDir,
    store: WindowStore,
    checkpoints: Checkpoints,
}

fn setup() -> Setup {
    let tmp = tempfile::tempdir().expect("tmp");
    let store = WindowStore::open_local(&tmp.path().join("store")).expect("store");
    let source = CheckpointSource {
        store: store.clone(),
        config: StorageConfig::default(),
        trainer: trainer().hotkey(),
        cache: tmp.path().join("cache"),
        max_file_bytes: DEFAULT_MAX_FILE_BYTES,
    };
    Setup { _tmp: tmp, store, checkpoints: Checkpoints::new(source) }
}

async fn publish_at(s: &Setup, model: &str, window: u64, pair: &HotkeyPair) -> CheckpointManifest {
    let generation = GenerationParams { max_new_tokens: 24, ..GenerationParams::default() };
    publish(&fixture(model), &s.store, pair, window, EnvironmentSpec::default(), generation, |_| {})
        .await
        .expect("published")
        .manifest
}

#[tokio::test]
async fn published_checkpoints_are_fetched_checked_and_scheduled_by_window() {
    let mut s = setup();
    let first = publish_at(&s, "tiny", 10, &trainer()).await;
    let second = publish_at(&s, "tiny-other", 20, &trainer()).await;
    assert_ne!(first.model_id, second.model_id);
    let got = s.checkpoints.refresh().await.expect("refresh");
    assert_eq!(got.accepted, vec![10, 20]);
    assert!(got.refused.is_empty() && got.retry.is_empty(), "{got:?}");

    assert!(s.checkpoints.for_window(9).is_none());
    for (window, want) in [(10, &first), (19, &first), (20, &second), (1000, &second)] {
        let c = s.checkpoints.for_window(window).expect("a checkpoint");
        assert_eq!(&c.manifest, want, "window {window}");
        let id = grail_fingerprint::model_id(&c.dir.join("model.onnx")).expect("model_id");
        assert_eq!(id.to_string(), want.model_id);
    }
    // A second refresh reads nothing new, and a republish of a window is refused.
    assert!(s.checkpoints.refresh().await.expect("refresh").accepted.is_empty());
    let again = publish(
        &fixture("tiny"),
        &s.store,
        &trainer(),
        10,
        EnvironmentSpec::default(),
        GenerationParams::default(),
        |_| {},
    )
    .await
    .expect_err("republished");
    assert!(again.to_string().contains("already has a checkpoint manifest"), "{again}");
}

#[tokio::test]
async fn a_manifest_of_another_key_or_forged_is_refused_and_the_previous_checkpoint_holds() {
    let mut s = setup();
    let first = publish_at(&s, "tiny", 10, &trainer()).await;
    let other = HotkeyPair::from_mini_secret(&[6; 32]).expect("seed");
    publish_at(&s, "tiny-other", 20, &other).await;
    let mut forged = publish_at(&s, "tiny-other", 30, &trainer()).await;
    forged.generation.temperature = 1.5;
    s.store.put(&manifest_key(30), manifest_json(&forged)).await.expect("put");

    let got = s.checkpoints.refresh().await.expect("refresh");
    assert_eq!(got.accepted, vec![10]);
    let reasons: Vec<&str> = got.refused.iter().map(|r| r.reason.as_str()).collect();
    assert_eq!(reasons.len(), 2, "{reasons:?}");
    assert!(
        reasons[0].starts_with("checkpoints/manifests/20.json: trainer: invalid value"),
        "{}",
        reasons[0]
    );
    assert!(reasons[0].contains("is not the configured trainer"), "{}", reasons[0]);
    assert!(
        reasons[1].starts_with("checkpoints/manifests/30.json: signature of checkpoint manifest of window 30 does not verify"),
        "{}",
        reasons[1]
    );

    assert_eq!(s.checkpoints.for_window(35).expect("held").manifest, first);
    // Refused manifests are not read again while unchanged.
    let again = s.checkpoints.refresh().await.expect("refresh");
    assert!(again.refused.is_empty() && again.accepted.is_empty(), "{again:?}");
}

#[tokio::test]
async fn a_file_whose_content_differs_is_refused_and_nothing_is_cached() {
    let mut s = setup();
    let m = publish_at(&s, "tiny", 10, &trainer()).await;
    let key = format!("{}tokenizer.json", m.location);
    s.store.put(&key, b"{\"changed\": true}".to_vec()).await.expect("put");
    let got = s.checkpoints.refresh().await.expect("refresh");
    assert!(got.accepted.is_empty());
    let reason = &got.refused[0].reason;
    assert!(reason.starts_with("checkpoints/manifests/10.json: file tokenizer.json:"), "{reason}");
    assert!(reason.contains("bytes, but the manifest says"), "{reason}");
    assert!(s.checkpoints.for_window(10).is_none());
    let cache = &s.checkpoints.source().cache;
    assert!(!cache.join(&m.model_id).exists());
}

#[tokio::test]
async fn weights_that_are_not_the_named_model_are_refused() {
    let mut s = setup();
    let mut m = publish_at(&s, "tiny", 10, &trainer()).await;
    m.model_id = publish_at(&s, "tiny-other", 11, &trainer()).await.model_id;
    grail_protocol::checkpoint::sign_manifest(&trainer(), &mut m).expect("signs");
    s.store.put(&manifest_key(10), manifest_json(&m)).await.expect("put");
    let got = s.checkpoints.refresh().await.expect("refresh");
    assert_eq!(got.accepted, vec![11]);
    let reason = &got.refused[0].reason;
    assert!(reason.contains("the files' weights have model_id"), "{reason}");
    assert!(reason.contains(&format!("but the manifest names {}", m.model_id)), "{reason}");
}

#[test]
fn manifest_names_are_plain_decimal_windows() {
    assert_eq!(window_of_key("checkpoints/manifests/12.json"), Some(12));
    for bad in [
        "checkpoints/manifests/012.json",
        "checkpoints/manifests/+1.json",
        "checkpoints/manifests/.json",
        "checkpoints/manifests/1.json.tmp",
        "x/1.json",
    ] {
        assert_eq!(window_of_key(bad), None, "{bad}");
    }
}

#[tokio::test]
async fn readers_sharing_a_cache_each_get_the_checked_files() {
    let s = setup();
    let m = publish_at(&s, "tiny", 10, &trainer()).await;
    let source = s.checkpoints.source().clone();
    let (mut a, mut b) = (Checkpoints::new(source.clone()), Checkpoints::new(source));
    let (x, y) = tokio::join!(a.refresh(), b.refresh());
    assert_eq!((x.expect("a").accepted, y.expect("b").accepted), (vec![10], vec![10]));
    for c in [&a, &b] {
        let got = c.for_window(10).expect("accepted");
        assert_eq!(got.dir, source_cache(&s).join(&m.model_id));
    }
    let left: Vec<_> = std::fs::read_dir(source_cache(&s)).expect("cache").collect();
    assert_eq!(left.len(), 1, "only the model's folder stays: {left:?}");
}

fn source_cache(s: &Setup) -> PathBuf {
    s.checkpoints.source().cache.clone()
}

#[tokio::test]
async fn a_store_with_no_manifests_yet_holds_no_checkpoint() {
    let mut s = setup();
    let got = s.checkpoints.refresh().await.expect("an empty store lists");
    assert!(got.accepted.is_empty() && got.refused.is_empty() && got.retry.is_empty());
    assert!(s.checkpoints.for_window(u64::MAX).is_none());
}

#[tokio::test]
async fn an_oversized_manifest_is_refused_not_retried() {
    let mut s = setup();
    s.store.put(&manifest_key(10), vec![b' '; 70_000]).await.expect("put");
    let got = s.checkpoints.refresh().await.expect("refresh");
    assert!(got.retry.is_empty(), "{got:?}");
    let reason = &got.refused[0].reason;
    assert_eq!(
        reason,
        "checkpoints/manifests/10.json: 70000 bytes exceed the manifest limit 65536"
    );
}

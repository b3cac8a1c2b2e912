#![allow(clippy::unwrap_used)]

use std::time::{Duration, SystemTime};

use super::*;

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap()
}

/// Put, head, list and bounded get against any store.
async fn exercise(store: &WindowStore) {
    let before = SystemTime::now() - Duration::from_secs(2);
    let key = "windows/7/5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY.grail";
    let info = store.put(key, b"hello window".to_vec()).await.unwrap();
    assert_eq!(info.key, key);
    assert_eq!(info.size, 12);
    assert!(info.last_modified >= before, "{info:?}");
    assert!(info.last_modified <= SystemTime::now() + Duration::from_secs(2), "{info:?}");
    assert_eq!(store.head(key).await.unwrap(), Some(info.clone()));
    assert_eq!(store.head("windows/7/missing.grail").await.unwrap(), None);

    store.put("windows/7/a.grail", vec![1; 3]).await.unwrap();
    store.put("windows/8/b.grail", vec![2; 5]).await.unwrap();
    let listed: Vec<(String, u64)> =
        store.list("windows/7").await.unwrap().into_iter().map(|o| (o.key, o.size)).collect();
    assert_eq!(listed, vec![(key.to_owned(), 12), ("windows/7/a.grail".to_owned(), 3)]);
    assert!(store.list("windows/9").await.unwrap().is_empty());

    assert_eq!(store.get_bounded(key, 12).await.unwrap(), b"hello window");
    match store.get_bounded(key, 11).await {
        Err(StoreError::TooLarge { size: 12, limit: 11, .. }) => {}
        other => panic!("expected TooLarge, got {other:?}"),
    }
    assert!(matches!(
        store.get_bounded("windows/7/missing.grail", 100).await,
        Err(StoreError::Store { op: "get", .. })
    ));
    let (read, bytes) = store.read(key, 12).await.unwrap().unwrap();
    assert_eq!((read.size, &bytes[..]), (12, &b"hello window"[..]));
    assert!(matches!(store.read(key, 11).await, Err(StoreError::TooLarge { limit: 11, .. })));
    assert!(store.read("windows/7/missing.grail", 100).await.unwrap().is_none());
    assert!(store.probe("windows/7/missing.grail").await.unwrap().is_none());
    assert!(store.probe("windows/70/missing.grail").await.unwrap().is_none());
    let probed = store.probe(key).await.unwrap().unwrap();
    assert_eq!(probed.size, 12);
    assert!(probed.version.is_some(), "{probed:?}");
    // Replacing an object replaces its size and version.
    let again = store.put(key, vec![0; 4]).await.unwrap();
    assert_eq!(again.size, 4);
    let replaced = store.probe(key).await.unwrap().unwrap();
    assert_eq!(replaced.size, 4);
    assert_ne!(replaced.version, probed.version);
}

/// A local store reads regular files only: a link to a file or to a folder, a FIFO and a
/// socket are refused without being followed or opened for reading (a FIFO would block).
#[test]
fn local_reads_follow_no_link_and_open_no_special_file() {
    let dir = tempfile::tempdir().unwrap();
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("secret"), b"outside the store").unwrap();
    std::fs::create_dir_all(outside.path().join("w")).unwrap();
    std::fs::write(outside.path().join("w/x.grail"), b"outside").unwrap();
    let store = WindowStore::open_local(dir.path()).unwrap();
    let root = dir.path().join("windows");
    std::fs::create_dir_all(root.join("1")).unwrap();
    std::os::unix::fs::symlink(outside.path().join("secret"), root.join("1/link.grail")).unwrap();
    std::os::unix::fs::symlink(outside.path().join("w"), root.join("2")).unwrap();
    let fifo = root.join("1/fifo.grail");
    let made = std::process::Command::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(made.success());
    let _socket = std::os::unix::net::UnixListener::bind(root.join("1/socket.grail")).unwrap();
    std::fs::create_dir_all(root.join("1/folder.grail")).unwrap();
    let rt = rt();
    for (key, kind) in [
        ("windows/1/link.grail", "a symbolic link"),
        ("windows/2/x.grail", "a symbolic link"),
        ("windows/1/fifo.grail", "a FIFO"),
        ("windows/1/socket.grail", "a socket"),
        ("windows/1/folder.grail", "a folder"),
    ] {
        for got in [
            rt.block_on(store.read(key, 1 << 20)).map(|o| o.map(|(i, _)| i)),
            rt.block_on(store.probe(key)),
        ] {
            match got {
                Err(StoreError::NotRegular { kind: k, .. }) => assert_eq!(k, kind, "{key}"),
                other => panic!("{key}: expected NotRegular, got {other:?}"),
            }
        }
    }
}

/// An operation that does not answer within the store's timeout is an error, not a hang.
#[test]
fn a_store_that_does_not_answer_times_out() {
    let dir = tempfile::tempdir().unwrap();
    let store = WindowStore::open_local(dir.path()).unwrap().with_timeout(Duration::from_millis(1));
    let rt = rt();
    // A slow local read: a big file under a 1 ms budget on the blocking pool.
    rt.block_on(store.put("windows/1/big.grail", vec![7; 64 << 20])).unwrap();
    let mut timed_out = false;
    for _ in 0..20 {
        if let Err(StoreError::Timeout { op, seconds: 0, .. }) =
            rt.block_on(store.read("windows/1/big.grail", 128 << 20))
        {
            assert_eq!(op, "get");
            timed_out = true;
            break;
        }
    }
    assert!(timed_out, "a 64 MiB read never exceeded 1 ms");
}

#[test]
fn local_folder_is_created_and_works() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("nested/storage");
    let store =
        WindowStore::open(&StorageConfig { path: Some(root.clone()), ..Default::default() })
            .unwrap();
    assert!(root.is_dir());
    assert!(store.description().starts_with("local folder "), "{}", store.description());
    rt().block_on(exercise(&store));
    // Objects are plain files under the folder, at their keys.
    assert_eq!(std::fs::read(root.join("windows/7/a.grail")).unwrap(), vec![1; 3]);
}

#[test]
fn file_url_opens_a_local_folder() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("file://{}", dir.path().join("s").display());
    let store = WindowStore::open(&StorageConfig { url: Some(url), ..Default::default() }).unwrap();
    rt().block_on(async {
        store.put("windows/1/x.grail", vec![9]).await.unwrap();
    });
    assert!(dir.path().join("s/windows/1/x.grail").is_file());
}

#[test]
fn bad_configuration_is_one_clear_error() {
    let err =
        WindowStore::open(&StorageConfig { url: Some("gs://bucket".into()), ..Default::default() })
            .unwrap_err();
    assert!(err.to_string().contains("storage.url"), "{err}");
    let err = WindowStore::open(&StorageConfig { url: Some("s3://".into()), ..Default::default() })
        .unwrap_err();
    assert!(err.to_string().contains("no bucket"), "{err}");
    // A file where the folder should be.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("f");
    std::fs::write(&file, b"x").unwrap();
    let err =
        WindowStore::open(&StorageConfig { path: Some(file), ..Default::default() }).unwrap_err();
    assert!(matches!(err, StoreError::CreateDir { .. }), "{err}");
}

#[test]
fn bad_keys_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let store = WindowStore::open_local(dir.path()).unwrap();
    let err = rt().block_on(store.put("windows/../x", vec![1])).unwrap_err();
    assert!(matches!(err, StoreError::BadKey { .. }), "{err}");
}

#[test]
fn the_secret_key_is_not_shown() {
    let shown = format!(
        "{:?}",
        StorageConfig { secret_access_key: Some("hunter2".into()), ..Default::default() }
    );
    assert!(!shown.contains("hunter2"), "{shown}");
}

/// Against a real S3-compatible server: scripts/test-s3.sh starts `moto_server`, sets
/// GRAIL_TEST_S3_ENDPOINT and GRAIL_TEST_S3_BUCKET (an existing bucket) and runs the ignored
/// tests of this crate.
#[test]
#[ignore = "needs an S3-compatible server: scripts/test-s3.sh runs it"]
fn s3_compatible_server() {
    let endpoint = std::env::var("GRAIL_TEST_S3_ENDPOINT").expect("GRAIL_TEST_S3_ENDPOINT");
    let bucket = std::env::var("GRAIL_TEST_S3_BUCKET").expect("GRAIL_TEST_S3_BUCKET");
    let cfg = StorageConfig {
        url: Some(format!("s3://{bucket}/grail-test")),
        endpoint: Some(endpoint),
        region: Some("us-east-1".into()),
        access_key_id: Some("testing".into()),
        secret_access_key: Some("testing".into()),
        allow_http: Some(true),
        ..Default::default()
    };
    let store = WindowStore::open(&cfg).unwrap();
    rt().block_on(exercise(&store));
    eprintln!("exercised {}", store.description());
}

/// A miner's part of a store: the same operations with keys relative to `{miner}/`, and
/// nothing outside it reachable through it.
#[test]
fn a_miners_part_holds_only_its_own_keys() {
    let rt = rt();
    let dir = tempfile::tempdir().unwrap();
    let root = WindowStore::open_local(dir.path()).unwrap();
    let a = root.for_miner("5A").unwrap();
    rt.block_on(exercise(&a));
    let key = "windows/7/5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY.grail";
    assert!(dir.path().join("5A").join(key).is_file(), "written under the miner's folder");
    assert!(a.description().ends_with("(5A/)"), "{}", a.description());
    // Another miner's part, and the root, do not see it under the same key.
    let b = root.for_miner("5B").unwrap();
    assert_eq!(rt.block_on(b.probe(key)).unwrap(), None);
    assert_eq!(rt.block_on(root.probe(key)).unwrap(), None);
    // What B plants under A's name stays in B's part.
    rt.block_on(b.put("windows/9/planted.grail", b"x".to_vec())).unwrap();
    assert_eq!(rt.block_on(a.probe("windows/9/planted.grail")).unwrap(), None);
    let (info, _) = rt.block_on(b.read("windows/9/planted.grail", 10)).unwrap().unwrap();
    assert_eq!(info.key, "windows/9/planted.grail");
    // A link in place of a miner's folder is not followed.
    std::os::unix::fs::symlink(dir.path().join("5A"), dir.path().join("5C")).unwrap();
    let c = root.for_miner("5C").unwrap();
    assert!(matches!(rt.block_on(c.probe(key)), Err(StoreError::NotRegular { .. })));
    for bad in ["", "a/b", "..", "."] {
        assert!(matches!(root.for_miner(bad), Err(StoreError::BadKey { .. })), "{bad:?}");
    }
}

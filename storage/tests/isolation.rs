//! A store someone else named is opened without this process's credentials: against a
//! recording HTTP server on loopback, the validator's own store (`WindowStore::open`) signs
//! with the `AWS_*` variables of the environment, and a store opened with
//! `WindowStore::open_isolated` sends no trace of them: unsigned without keys, signed with the
//! named keys only. One test in its own process, since it sets environment variables.

#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

use grail_storage::{StorageConfig, WindowStore};

const VALIDATOR_KEY_ID: &str = "AKIDVALIDATORPRIVATE";
const VALIDATOR_SECRET: &str = "validator-secret-never-sent";
const VALIDATOR_TOKEN: &str = "validator-session-token";

/// Answers every request with 404 and keeps each request's head, lowercased.
fn recorder() -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let kept = seen.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut head = String::new();
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                head.push_str(&line.to_lowercase());
            }
            kept.lock().unwrap().push(head);
            let _ = stream.write_all(
                b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            );
        }
    });
    (url, seen)
}

fn config(endpoint: &str, keys: Option<(&str, &str)>) -> StorageConfig {
    StorageConfig {
        url: Some("s3://miner-bucket/part".into()),
        endpoint: Some(endpoint.into()),
        region: Some("us-east-1".into()),
        access_key_id: keys.map(|k| k.0.into()),
        secret_access_key: keys.map(|k| k.1.into()),
        allow_http: Some(true),
        ..Default::default()
    }
}

/// The request heads `store` sends for one probe.
fn probe(store: &WindowStore, seen: &Mutex<Vec<String>>) -> Vec<String> {
    seen.lock().unwrap().clear();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let found = rt.block_on(store.probe("windows/7/x.grail")).unwrap();
    assert_eq!(found, None);
    let heads = seen.lock().unwrap().clone();
    assert!(!heads.is_empty(), "the store sent no request");
    assert!(heads.iter().all(|h| h.contains("/miner-bucket/part/windows/7/x.grail")), "{heads:?}");
    heads
}

#[test]
fn a_named_store_never_sees_the_environments_credentials() {
    std::env::set_var("AWS_ACCESS_KEY_ID", VALIDATOR_KEY_ID);
    std::env::set_var("AWS_SECRET_ACCESS_KEY", VALIDATOR_SECRET);
    std::env::set_var("AWS_SESSION_TOKEN", VALIDATOR_TOKEN);
    let (endpoint, seen) = recorder();
    let leaked = |h: &String| {
        h.contains(&VALIDATOR_KEY_ID.to_lowercase())
            || h.contains(&VALIDATOR_TOKEN.to_lowercase())
            || h.contains(VALIDATOR_SECRET)
    };

    // The process's own store takes the environment's keys: what the check below looks for.
    let own = WindowStore::open(&config(&endpoint, None)).unwrap();
    let heads = probe(&own, &seen);
    assert!(heads.iter().all(leaked), "the environment's keys sign the own store: {heads:?}");

    // Named without keys: unsigned, nothing of the environment.
    let anonymous = WindowStore::open_isolated(&config(&endpoint, None)).unwrap();
    let heads = probe(&anonymous, &seen);
    assert!(!heads.iter().any(leaked), "{heads:?}");
    assert!(!heads.iter().any(|h| h.contains("authorization:")), "unsigned: {heads:?}");
    assert!(!heads.iter().any(|h| h.contains("x-amz-security-token")), "{heads:?}");

    // Named with read keys: signed with those only.
    let keyed =
        WindowStore::open_isolated(&config(&endpoint, Some(("AKIDMINERREAD", "read")))).unwrap();
    let heads = probe(&keyed, &seen);
    assert!(!heads.iter().any(leaked), "{heads:?}");
    assert!(heads.iter().all(|h| h.contains("credential=akidminerread/")), "{heads:?}");

    // A named local folder is not created.
    let tmp = tempfile::tempdir().unwrap();
    let missing = tmp.path().join("nowhere");
    let named =
        StorageConfig { url: Some(format!("file://{}", missing.display())), ..Default::default() };
    let err = WindowStore::open_isolated(&named).unwrap_err().to_string();
    assert!(err.contains("storage.url") && err.contains("no such folder"), "{err}");
    assert!(!missing.exists());
}

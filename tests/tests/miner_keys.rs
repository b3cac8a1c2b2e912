//! `grail-miner keygen` / `keys show` / `keys sign` against the real `bittensor-wallet` pip
//! package (btwallet), in the venv that `scripts/bittensor-venv.sh` makes (the first test to
//! need it runs the script; it is idempotent and fast once the venv exists).
//! Needs the binary: `cargo build -p grail-miner --bins`.

// Helpers outside #[test] fns panic on purpose: a panic is a test failure.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use grail_protocol::keys::Hotkey;
use grail_tests::{bin, repo_root};
use serde_json::Value;

/// The venv's python, made once per test process.
fn python() -> &'static Path {
    static PYTHON: OnceLock<PathBuf> = OnceLock::new();
    PYTHON.get_or_init(|| {
        let root = repo_root();
        let out =
            Command::new("bash").arg(root.join("scripts/bittensor-venv.sh")).output().unwrap();
        assert!(
            out.status.success(),
            "scripts/bittensor-venv.sh failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        root.join(".venv-bittensor/bin/python")
    })
}

/// Runs `code` in the venv with `args` as `sys.argv[1:]`; returns the JSON of the last stdout
/// line (btwallet may print progress lines before it).
fn py(code: &str, args: &[&str]) -> Value {
    let out = Command::new(python()).arg("-c").arg(code).args(args).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "python failed: {}\n{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(stdout.lines().last().unwrap()).unwrap()
}

fn miner(args: &[&str]) -> Output {
    // GRAIL_* from the caller's environment must not leak into the test.
    Command::new(bin("grail-miner"))
        .args(args)
        .env_remove("GRAIL_WALLET_PATH")
        .env_remove("GRAIL_WALLET_NAME")
        .env_remove("GRAIL_WALLET_HOTKEY")
        .env_remove("GRAIL_OVERWRITE")
        .env_remove("GRAIL_LOG_LEVEL")
        .output()
        .unwrap()
}

/// Exit 0, one JSON line on stdout, nothing but `info` log lines on stderr.
fn expect_ok(out: &Output) -> Value {
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "exit {:?}, stderr: {stderr}", out.status);
    assert_eq!(stdout.lines().count(), 1, "{stdout}");
    assert!(stderr.lines().all(|l| l.contains(" INFO ")), "{stderr}");
    serde_json::from_str(stdout.trim()).unwrap()
}

/// Non-zero exit, nothing on stdout, one `error:` line on stderr containing every needle.
fn expect_err(out: &Output, needles: &[&str]) {
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "unexpected success: {stdout}");
    assert!(stdout.is_empty(), "{stdout}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.starts_with("error: "), "{stderr}");
    for needle in needles {
        assert!(stderr.contains(needle), "expected {needle:?} in: {stderr}");
    }
}

/// `--wallet.path DIR --wallet.name miner --wallet.hotkey HOTKEY`.
fn wallet_flags<'a>(dir: &'a str, hotkey: &'a str) -> [&'a str; 6] {
    ["--wallet.path", dir, "--wallet.name", "miner", "--wallet.hotkey", hotkey]
}

fn keygen(dir: &str, hotkey: &str) -> Value {
    expect_ok(&miner(&[&["keygen"][..], &wallet_flags(dir, hotkey)].concat()))
}

fn show(dir: &str, hotkey: &str) -> Output {
    miner(&[&["keys", "show"][..], &wallet_flags(dir, hotkey)].concat())
}

#[test]
fn keygen_then_show_round_trips_and_refuses_to_overwrite() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().to_str().unwrap();
    let made = keygen(dir, "hk");
    let ss58 = made["ss58"].as_str().unwrap();
    let hotkey = Hotkey::from_ss58(ss58).unwrap();
    assert_eq!(made["public_key"], hex::encode(hotkey.as_bytes()));
    assert_eq!(expect_ok(&show(dir, "hk")), made);

    let secret = tmp.path().join("miner/hotkeys/hk");
    assert!(tmp.path().join("miner/hotkeys/hkpub.txt").is_file());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&secret).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }

    // The environment carries the same settings as the flags.
    let out = Command::new(bin("grail-miner"))
        .args(["keys", "show"])
        .env("GRAIL_WALLET_PATH", dir)
        .env("GRAIL_WALLET_NAME", "miner")
        .env("GRAIL_WALLET_HOTKEY", "hk")
        .output()
        .unwrap();
    assert_eq!(expect_ok(&out), made);

    let again = miner(&[&["keygen"][..], &wallet_flags(dir, "hk")].concat());
    expect_err(&again, &[secret.to_str().unwrap(), "--overwrite"]);
    assert_eq!(expect_ok(&show(dir, "hk")), made, "a refused keygen must not change the key");
    let replaced =
        expect_ok(&miner(&[&["keygen", "--overwrite"][..], &wallet_flags(dir, "hk")].concat()));
    assert_ne!(replaced["ss58"], made["ss58"]);
    assert_eq!(expect_ok(&show(dir, "hk")), replaced);
}

#[test]
fn our_signature_verifies_in_bittensor_wallet() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().to_str().unwrap();
    let made = keygen(dir, "hk");
    let message = "677261696c2f76312f74657374206d657373616765";
    let signed = expect_ok(&miner(
        &[&["keys", "sign", "--message-hex", message][..], &wallet_flags(dir, "hk")].concat(),
    ));
    assert_eq!(signed["ss58"], made["ss58"]);
    let sig = signed["signature"].as_str().unwrap();
    assert_eq!(sig.len(), 128);

    let verdicts = py(
        "import sys, json\n\
         from bittensor_wallet import Keypair\n\
         ss58, msg, sig = sys.argv[1], bytes.fromhex(sys.argv[2]), bytes.fromhex(sys.argv[3])\n\
         kp = Keypair(ss58_address=ss58)\n\
         print(json.dumps([kp.verify(msg, sig), kp.verify(msg + b'!', sig)]))",
        &[made["ss58"].as_str().unwrap(), message, sig],
    );
    assert_eq!(verdicts, serde_json::json!([true, false]));

    let bad =
        miner(&[&["keys", "sign", "--message-hex", "zz"][..], &wallet_flags(dir, "hk")].concat());
    expect_err(&bad, &["--message-hex"]);
}

/// Creates a hotkey with btwallet itself; returns its ss58 and a signature of `message_hex`
/// made by btwallet.
fn btwallet_hotkey(dir: &str, hotkey: &str, message_hex: &str) -> (String, String) {
    let made = py(
        "import sys, json\n\
         from bittensor_wallet import Wallet\n\
         w = Wallet(name='miner', hotkey=sys.argv[2], path=sys.argv[1])\n\
         w.create_new_hotkey(use_password=False, overwrite=True, suppress=True)\n\
         sig = w.hotkey.sign(bytes.fromhex(sys.argv[3]))\n\
         print(json.dumps({'ss58': w.hotkey.ss58_address, 'sig': sig.hex()}))",
        &[dir, hotkey, message_hex],
    );
    (made["ss58"].as_str().unwrap().to_owned(), made["sig"].as_str().unwrap().to_owned())
}

#[test]
fn a_btwallet_hotkey_is_read_as_it_is() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().to_str().unwrap();
    let message = "00112233";
    let (ss58, sig) = btwallet_hotkey(dir, "bt", message);
    let shown = expect_ok(&show(dir, "bt"));
    assert_eq!(shown["ss58"], ss58.as_str());
    // btwallet's signature verifies under the key we read, and ours in btwallet's terms.
    let hotkey = Hotkey::from_ss58(&ss58).unwrap();
    hotkey
        .verify(&hex::decode(message).unwrap(), &hex::decode(&sig).unwrap().try_into().unwrap())
        .unwrap();
    let signed = expect_ok(&miner(
        &[&["keys", "sign", "--message-hex", message][..], &wallet_flags(dir, "bt")].concat(),
    ));
    let ours: [u8; 64] =
        hex::decode(signed["signature"].as_str().unwrap()).unwrap().try_into().unwrap();
    hotkey.verify(&hex::decode(message).unwrap(), &ours).unwrap();
}

#[test]
fn our_keygen_output_loads_in_bittensor_wallet() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().to_str().unwrap();
    let made = keygen(dir, "ours");
    let message = "deadbeef";
    let loaded = py(
        "import sys, json\n\
         from bittensor_wallet import Wallet\n\
         w = Wallet(name='miner', hotkey='ours', path=sys.argv[1])\n\
         sig = w.hotkey.sign(bytes.fromhex(sys.argv[2]))\n\
         print(json.dumps({'ss58': w.hotkey.ss58_address, 'pub': w.hotkeypub.ss58_address,\n\
                           'public_key': w.hotkey.public_key.hex(), 'sig': sig.hex()}))",
        &[dir, message],
    );
    assert_eq!(loaded["ss58"], made["ss58"]);
    assert_eq!(loaded["pub"], made["ss58"], "hotkeypub file");
    assert_eq!(loaded["public_key"], made["public_key"]);
    // btwallet signs with the secret it read from our file; the signature verifies under our key.
    let hotkey = Hotkey::from_ss58(made["ss58"].as_str().unwrap()).unwrap();
    let sig: [u8; 64] = hex::decode(loaded["sig"].as_str().unwrap()).unwrap().try_into().unwrap();
    hotkey.verify(&hex::decode(message).unwrap(), &sig).unwrap();
}

#[test]
fn a_missing_hotkey_file_is_named() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().to_str().unwrap();
    let path = tmp.path().join("miner/hotkeys/absent");
    let out = show(dir, "absent");
    expect_err(&out, &[path.to_str().unwrap(), "cannot read hotkey file"]);
    // The OS reason appears once, not repeated by the error chain.
    assert_eq!(String::from_utf8_lossy(&out.stderr).matches("os error").count(), 1);
}

#[test]
fn a_tampered_ss58_address_is_named() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().to_str().unwrap();
    keygen(dir, "hk");
    let other = keygen(dir, "other");
    let path = tmp.path().join("miner/hotkeys/hk");
    let mut json: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    json["ss58Address"] = other["ss58"].clone();
    std::fs::write(&path, serde_json::to_vec(&json).unwrap()).unwrap();
    expect_err(&show(dir, "hk"), &[path.to_str().unwrap(), "ss58Address"]);
}

#[test]
fn an_encrypted_btwallet_hotkey_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().to_str().unwrap();
    btwallet_hotkey(dir, "enc", "00");
    py(
        "import sys, json\n\
         from bittensor_wallet import Wallet\n\
         w = Wallet(name='miner', hotkey='enc', path=sys.argv[1])\n\
         w.hotkey_file.encrypt('correct horse battery staple 1!')\n\
         print(json.dumps(w.hotkey_file.is_encrypted()))",
        &[dir],
    );
    let path = tmp.path().join("miner/hotkeys/enc");
    assert!(std::fs::read(&path).unwrap().starts_with(b"$NACL"));
    expect_err(
        &show(dir, "enc"),
        &[path.to_str().unwrap(), "encrypted hotkeys are not supported; use an unencrypted hotkey"],
    );
}

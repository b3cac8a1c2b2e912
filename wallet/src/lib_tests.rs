use super::*;

/// A hotkey file written by `bittensor-wallet` 4.1.1 (`Wallet.create_new_hotkey`), verbatim.
const BTWALLET_FILE: &str = r#"{"cryptoType":1,"secretPhrase":"capable exhibit detect custom local glimpse focus item craft goat egg enjoy","privateKey":"0x9122f50130a9d16fe65e330180701fe468c53a00bca3e3d7e2d10382e913fd0aa017cac7dbc9fe253e755ddbbb113496f7a2f1d07a6b49b283ea2cf7b43c5ed1","ss58Address":"5DULmUwAWnExGZPmN5G97X7vRNCU4SpqQgedb6ZMpT8WESFS","publicKey":"0x3e43213d7583bea3a6314fb753d34be0f419a030a68de4b7950ad6238d56aa58","accountId":"0x3e43213d7583bea3a6314fb753d34be0f419a030a68de4b7950ad6238d56aa58","secretSeed":"0x8f915f1c1c4067cf2311c3cf49fd0b5487c7ee3e9cb28e80ec363ab5c2a80017"}"#;
const BTWALLET_SS58: &str = "5DULmUwAWnExGZPmN5G97X7vRNCU4SpqQgedb6ZMpT8WESFS";

fn parse(json: &Value) -> Result<LoadedHotkey, WalletError> {
    parse_hotkey_file(Path::new("w/hotkeys/h"), &serde_json::to_vec(json).unwrap())
}

fn btwallet() -> Value {
    serde_json::from_str(BTWALLET_FILE).unwrap()
}

fn field_of(err: &WalletError) -> &'static str {
    match err {
        WalletError::Field { field, .. } | WalletError::Mismatch { field, .. } => field,
        other => panic!("expected a field error, got {other}"),
    }
}

/// The Ed25519 layout of a canonical expanded secret: the scalar's 32 little-endian bytes
/// shifted left by 3 bits (times the cofactor 8), the nonce unchanged.
fn ed25519_layout(canonical: &[u8; 64]) -> [u8; 64] {
    let mut out = *canonical;
    let mut carry = 0u8;
    for b in &mut out[..32] {
        let next = *b >> 5;
        *b = (*b << 3) | carry;
        carry = next;
    }
    out
}

#[test]
fn reads_a_btwallet_file_from_its_secret_seed() {
    let key = parse_hotkey_file(Path::new("h"), BTWALLET_FILE.as_bytes()).unwrap();
    assert_eq!(key.source, SecretSource::SecretSeed);
    assert_eq!(key.pair.hotkey().to_ss58(), BTWALLET_SS58);
    // btwallet 4 stores privateKey in the canonical layout, which we write too.
    assert_eq!(
        format!("0x{}", hex::encode(key.pair.secret_key_bytes())),
        btwallet()["privateKey"].as_str().unwrap()
    );
}

#[test]
fn reads_private_key_only_files_in_both_layouts() {
    let mut json = btwallet();
    json.as_object_mut().unwrap().remove("secretSeed");
    let key = parse(&json).unwrap();
    assert_eq!(
        (key.source, key.pair.hotkey().to_ss58()),
        (SecretSource::PrivateKey, BTWALLET_SS58.into())
    );

    let canonical = key.pair.secret_key_bytes();
    json["privateKey"] = format!("0x{}", hex::encode(ed25519_layout(&canonical))).into();
    let key = parse(&json).unwrap();
    assert_eq!(key.source, SecretSource::PrivateKeyEd25519);
    assert_eq!(key.pair.hotkey().to_ss58(), BTWALLET_SS58);
    // With only ss58Address to go by, the layout is still found.
    let mut only_ss58 = json.clone();
    for field in ["publicKey", "accountId"] {
        only_ss58.as_object_mut().unwrap().remove(field);
    }
    assert_eq!(parse(&only_ss58).unwrap().source, SecretSource::PrivateKeyEd25519);
    // The old layout alongside a seed is accepted as the same key.
    json["secretSeed"] = btwallet()["secretSeed"].clone();
    assert_eq!(parse(&json).unwrap().source, SecretSource::SecretSeed);
}

#[test]
fn a_private_key_only_file_signs_like_the_seed() {
    let mut json = btwallet();
    json.as_object_mut().unwrap().remove("secretSeed");
    let pair = parse(&json).unwrap().pair;
    let sig = pair.sign(b"grail");
    let from_seed = parse(&btwallet()).unwrap().pair;
    from_seed.hotkey().verify(b"grail", &sig).unwrap();
}

#[test]
fn each_tampered_field_is_named() {
    let other = HotkeyPair::from_mini_secret(&[9u8; 32]).unwrap();
    let other_hex = format!("0x{}", hex::encode(other.hotkey().0));
    let cases: [(&str, Value); 6] = [
        ("ss58Address", other.hotkey().to_ss58().into()),
        ("publicKey", other_hex.clone().into()),
        ("accountId", other_hex.into()),
        ("privateKey", format!("0x{}", hex::encode(other.secret_key_bytes())).into()),
        ("secretSeed", "0x1234".into()),
        ("publicKey", 17.into()),
    ];
    for (field, value) in cases {
        let mut json = btwallet();
        json[field] = value;
        let err = parse(&json).unwrap_err();
        assert_eq!(field_of(&err), field, "{err}");
        assert!(err.to_string().contains(field), "{err}");
    }
    let mut json = btwallet();
    json["ss58Address"] = "5notbase58!".into();
    assert_eq!(field_of(&parse(&json).unwrap_err()), "ss58Address");
}

#[test]
fn without_secret_seed_a_tampered_public_key_names_the_field() {
    let mut json = btwallet();
    json.as_object_mut().unwrap().remove("secretSeed");
    json["publicKey"] = format!("0x{}", "11".repeat(32)).into();
    let err = parse(&json).unwrap_err();
    assert_eq!(field_of(&err), "publicKey", "{err}");
}

#[test]
fn rejects_encrypted_non_json_ed25519_and_secretless_files() {
    let path = Path::new("w/hotkeys/h");
    for prefix in ["$NACL\x01\x02", "$ANSIBLE_VAULT;1.1;AES256\n", "gAAAAABk"] {
        let err = parse_hotkey_file(path, prefix.as_bytes()).unwrap_err();
        assert!(matches!(err, WalletError::Encrypted { .. }), "{err}");
        assert!(err.to_string().contains("encrypted hotkeys are not supported"), "{err}");
        assert!(err.to_string().contains("w/hotkeys/h"), "{err}");
    }
    assert!(matches!(parse_hotkey_file(path, b"[1]"), Err(WalletError::NotJson { .. })));
    let mut json = btwallet();
    json["cryptoType"] = 0.into();
    assert!(matches!(parse(&json), Err(WalletError::CryptoType { .. })));
    let json = serde_json::json!({"ss58Address": BTWALLET_SS58, "secretPhrase": "a b c"});
    assert!(matches!(parse(&json), Err(WalletError::NoSecret { .. })));
}

#[cfg(unix)]
fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn write_then_read_round_trips_and_refuses_to_overwrite() {
    let dir = tempfile::tempdir().unwrap();
    let loc = WalletLocation { path: dir.path().into(), name: "w".into(), hotkey: "h".into() };
    let pair = write_hotkey(&loc, &[5u8; 32], false).unwrap();
    assert_eq!(loc.hotkey_file(), dir.path().join("w/hotkeys/h"));
    let read = read_hotkey_file(&loc.hotkey_file()).unwrap();
    assert_eq!((read.pair.hotkey(), read.source), (pair.hotkey(), SecretSource::SecretSeed));

    let public: Value =
        serde_json::from_slice(&fs::read(dir.path().join("w/hotkeys/hpub.txt")).unwrap()).unwrap();
    let public_hex = format!("0x{}", hex::encode(pair.hotkey().0));
    assert_eq!(public["ss58Address"], pair.hotkey().to_ss58());
    assert_eq!(public["publicKey"], public_hex.as_str());
    assert_eq!(public["accountId"], public_hex.as_str());
    assert_eq!(public["cryptoType"], 1);
    assert!(public.get("secretSeed").is_none() && public.get("privateKey").is_none());
    #[cfg(unix)]
    assert_eq!(mode(&loc.hotkey_file()), 0o600);

    let err = write_hotkey(&loc, &[6u8; 32], false).unwrap_err();
    assert!(matches!(err, WalletError::Exists { .. }), "{err}");
    assert_eq!(read_hotkey_file(&loc.hotkey_file()).unwrap().pair.hotkey(), pair.hotkey());
    let replaced = write_hotkey(&loc, &[6u8; 32], true).unwrap();
    assert_ne!(replaced.hotkey(), pair.hotkey());
    assert_eq!(read_hotkey_file(&loc.hotkey_file()).unwrap().pair.hotkey(), replaced.hotkey());
    // No temporary files are left behind.
    assert_eq!(fs::read_dir(dir.path().join("w/hotkeys")).unwrap().count(), 2);
}

#[test]
fn generated_keys_differ_and_names_are_checked() {
    let dir = tempfile::tempdir().unwrap();
    let loc = |hotkey: &str| WalletLocation {
        path: dir.path().into(),
        name: "w".into(),
        hotkey: hotkey.into(),
    };
    let a = generate_hotkey(&loc("a"), false).unwrap();
    let b = generate_hotkey(&loc("b"), false).unwrap();
    assert_ne!(a.hotkey(), b.hotkey());
    for bad in ["", "..", "x/y"] {
        let err = generate_hotkey(&loc(bad), false).unwrap_err();
        assert!(matches!(err, WalletError::InvalidName { .. }), "{err}");
    }
}

#[test]
fn a_missing_file_names_its_path() {
    let err = read_hotkey_file(Path::new("/nonexistent/w/hotkeys/h")).unwrap_err();
    assert!(matches!(err, WalletError::Read { .. }));
    assert!(err.to_string().contains("/nonexistent/w/hotkeys/h"), "{err}");
}

#[test]
fn tilde_expands_to_home() {
    if let Some(home) = std::env::var_os("HOME") {
        assert_eq!(expand_tilde(Path::new("~/x")), PathBuf::from(home).join("x"));
    }
    assert_eq!(expand_tilde(Path::new("/a/~")), PathBuf::from("/a/~"));
}

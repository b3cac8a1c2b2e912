//! Bittensor wallet hotkey files, read and written as the `bittensor-wallet` package (btwallet 4)
//! does: `{path}/{name}/hotkeys/{hotkey}` holds the secret JSON (mode 0600) and
//! `{path}/{name}/hotkeys/{hotkey}pub.txt` the public JSON beside it.
//!
//! Any unencrypted sr25519 hotkey file is read as it is: `secretSeed` when present, else the
//! 64-byte `privateKey` in either layout in use (btwallet 4's canonical scalar, or the Ed25519
//! layout of older Python wallets). The stored public fields must agree with the derived key.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use grail_protocol::keys::{ss58_decode, Hotkey, HotkeyPair};
use grail_storage::durable::{self, Access};
use serde::Serialize;
use serde_json::{Map, Value};

/// `cryptoType` of an sr25519 key in Bittensor key files (ed25519 is 0).
pub const CRYPTO_TYPE_SR25519: u64 = 1;

/// Prefixes of the encrypted key-file formats Bittensor has used: NaCl secretbox (current),
/// Ansible Vault and Fernet (legacy).
const ENCRYPTED_PREFIXES: &[&[u8]] = &[b"$NACL", b"$ANSIBLE_VAULT", b"gAAAAA"];

/// What went wrong with a wallet file. Every variant names the file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WalletError {
    /// The file could not be read (missing, unreadable).
    // The OS error is in the message, so it is not also a `source` (anyhow would print it twice).
    #[error("cannot read hotkey file {path}: {error}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The OS error.
        error: io::Error,
    },
    /// A file or folder could not be written.
    #[error("cannot write {path}: {error}")]
    Write {
        /// The file or folder.
        path: PathBuf,
        /// The OS error.
        error: io::Error,
    },
    /// The hotkey exists and overwriting was not asked for.
    #[error("hotkey file {path} already exists; refusing to overwrite it (pass --overwrite)")]
    Exists {
        /// The file.
        path: PathBuf,
    },
    /// The file is encrypted with a password.
    #[error(
        "hotkey file {path} is encrypted: encrypted hotkeys are not supported; use an \
         unencrypted hotkey"
    )]
    Encrypted {
        /// The file.
        path: PathBuf,
    },
    /// The file is not a JSON object.
    #[error("hotkey file {path} is not a JSON key file: {reason}")]
    NotJson {
        /// The file.
        path: PathBuf,
        /// The parser's reason.
        reason: String,
    },
    /// A field is malformed (wrong JSON type, bad hex, wrong length, bad key material).
    #[error("hotkey file {path}: field {field}: {reason}")]
    Field {
        /// The file.
        path: PathBuf,
        /// The JSON field.
        field: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// A stored field disagrees with the key derived from the secret.
    #[error("hotkey file {path}: field {field} is {found}, but the key derived from {from} is {derived}")]
    Mismatch {
        /// The file.
        path: PathBuf,
        /// The disagreeing field.
        field: &'static str,
        /// Its stored value.
        found: String,
        /// The secret field the key was derived from.
        from: &'static str,
        /// The derived value, in the field's format.
        derived: String,
    },
    /// Neither `secretSeed` nor `privateKey` is present.
    #[error(
        "hotkey file {path} has neither secretSeed nor privateKey, so it cannot sign \
         (mnemonic-only and public-only files are not supported)"
    )]
    NoSecret {
        /// The file.
        path: PathBuf,
    },
    /// The key is not sr25519.
    #[error("hotkey file {path}: cryptoType {found} is not sr25519 ({CRYPTO_TYPE_SR25519}); only sr25519 hotkeys are supported")]
    CryptoType {
        /// The file.
        path: PathBuf,
        /// The stored `cryptoType`.
        found: String,
    },
    /// A wallet or hotkey name that is not a single path component.
    #[error("invalid {what} {name:?}: must be a non-empty name without '/' and not '.' or '..'")]
    InvalidName {
        /// `wallet name` or `hotkey name`.
        what: &'static str,
        /// The name given.
        name: String,
    },
    /// The operating system's random number generator failed.
    #[error("the operating system's random number generator failed: {0}")]
    Rng(String),
}

/// Where a hotkey lives: `{path}/{name}/hotkeys/{hotkey}`, as Bittensor's `--wallet.path`,
/// `--wallet.name` and `--wallet.hotkey`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WalletLocation {
    /// The wallets folder (Bittensor's default `~/.bittensor/wallets`), `~` already expanded.
    pub path: PathBuf,
    /// The wallet (coldkey) name.
    pub name: String,
    /// The hotkey name.
    pub hotkey: String,
}

impl WalletLocation {
    /// The secret hotkey file, `{path}/{name}/hotkeys/{hotkey}`.
    pub fn hotkey_file(&self) -> PathBuf {
        self.path.join(&self.name).join("hotkeys").join(&self.hotkey)
    }

    /// The public file beside it, `{path}/{name}/hotkeys/{hotkey}pub.txt` (btwallet's name).
    pub fn hotkeypub_file(&self) -> PathBuf {
        self.path.join(&self.name).join("hotkeys").join(format!("{}pub.txt", self.hotkey))
    }

    fn check_names(&self) -> Result<(), WalletError> {
        for (what, name) in [("wallet name", &self.name), ("hotkey name", &self.hotkey)] {
            if name.is_empty() || name == "." || name == ".." || name.contains(['/', '\\']) {
                return Err(WalletError::InvalidName { what, name: name.clone() });
            }
        }
        Ok(())
    }
}

/// Expands a leading `~` to `$HOME`, as Bittensor does with `--wallet.path`.
pub fn expand_tilde(path: &Path) -> PathBuf {
    let Ok(rest) = path.strip_prefix("~") else { return path.to_path_buf() };
    match std::env::var_os("HOME") {
        Some(home) => PathBuf::from(home).join(rest),
        None => path.to_path_buf(),
    }
}

/// Which field of the file the key pair came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecretSource {
    /// The 32-byte mini secret `secretSeed` (what btwallet writes, and what we prefer).
    SecretSeed,
    /// `privateKey` in btwallet 4's layout (canonical scalar, then nonce).
    PrivateKey,
    /// `privateKey` in the Ed25519 layout of older Python wallets (scalar times 8, then nonce).
    PrivateKeyEd25519,
}

/// A hotkey read from a wallet file.
#[derive(Debug, Clone)]
pub struct LoadedHotkey {
    /// The signing pair.
    pub pair: HotkeyPair,
    /// Where the secret came from.
    pub source: SecretSource,
}

/// Reads and checks the hotkey file at `path` (see the module docs).
pub fn read_hotkey_file(path: &Path) -> Result<LoadedHotkey, WalletError> {
    let bytes =
        fs::read(path).map_err(|error| WalletError::Read { path: path.to_path_buf(), error })?;
    parse_hotkey_file(path, &bytes)
}

/// Parses and checks the contents of a hotkey file; `path` only names it in errors.
pub fn parse_hotkey_file(path: &Path, bytes: &[u8]) -> Result<LoadedHotkey, WalletError> {
    let trimmed = bytes.trim_ascii_start();
    if ENCRYPTED_PREFIXES.iter().any(|p| trimmed.starts_with(p)) {
        return Err(WalletError::Encrypted { path: path.to_path_buf() });
    }
    let obj: Map<String, Value> = serde_json::from_slice(bytes)
        .map_err(|e| WalletError::NotJson { path: path.to_path_buf(), reason: e.to_string() })?;
    let file = Fields { path, obj: &obj };

    if let Some(ct) = obj.get("cryptoType").filter(|v| !v.is_null()) {
        if ct.as_u64() != Some(CRYPTO_TYPE_SR25519) {
            return Err(WalletError::CryptoType {
                path: path.to_path_buf(),
                found: ct.to_string(),
            });
        }
    }
    let public_key = file.hex::<32>("publicKey")?;
    let account_id = file.hex::<32>("accountId")?;
    let ss58 = file.string("ss58Address")?;
    let seed = file.hex::<32>("secretSeed")?;
    let private_key = file.hex::<64>("privateKey")?;

    let (pair, source) = match (seed, private_key) {
        (Some(seed), private_key) => {
            let pair =
                HotkeyPair::from_mini_secret(&seed).map_err(|e| file.bad("secretSeed", &e))?;
            if let Some(pk) = private_key {
                // Both present: they must be the same key.
                let (from_pk, _) = pair_from_private_key(&file, &pk, Some(pair.hotkey()))?;
                file.expect_same("privateKey", "secretSeed", &from_pk.hotkey(), &pair.hotkey())?;
            }
            (pair, SecretSource::SecretSeed)
        }
        (None, Some(pk)) => {
            // The stored public key picks the layout; a bad ss58Address is reported below.
            let from_ss58 = ss58.and_then(|a| ss58_decode(a).ok()).map(|(_, key)| key);
            let stored = public_key.or(account_id).or(from_ss58).map(Hotkey);
            pair_from_private_key(&file, &pk, stored)?
        }
        (None, None) => return Err(WalletError::NoSecret { path: path.to_path_buf() }),
    };

    let from = match source {
        SecretSource::SecretSeed => "secretSeed",
        SecretSource::PrivateKey | SecretSource::PrivateKeyEd25519 => "privateKey",
    };
    let derived = pair.hotkey();
    if let Some(pk) = public_key {
        file.expect_same("publicKey", from, &Hotkey(pk), &derived)?;
    }
    if let Some(id) = account_id {
        file.expect_same("accountId", from, &Hotkey(id), &derived)?;
    }
    if let Some(addr) = ss58 {
        // Compare keys, not strings, so another network's prefix of the same key still reads.
        let (_, key) = ss58_decode(addr).map_err(|e| file.bad("ss58Address", &e))?;
        if key != derived.0 {
            return Err(WalletError::Mismatch {
                path: path.to_path_buf(),
                field: "ss58Address",
                found: addr.to_owned(),
                from,
                derived: derived.to_ss58(),
            });
        }
    }
    Ok(LoadedHotkey { pair, source })
}

/// Builds the pair from a 64-byte `privateKey`, choosing the layout whose public key equals
/// `expected` (btwallet 4's first); without `expected`, btwallet 4's layout.
fn pair_from_private_key(
    file: &Fields<'_>,
    bytes: &[u8; 64],
    expected: Option<Hotkey>,
) -> Result<(HotkeyPair, SecretSource), WalletError> {
    let canonical = HotkeyPair::from_secret_key_bytes(bytes).ok();
    let ed25519 = HotkeyPair::from_ed25519_secret_bytes(bytes).ok();
    let candidates =
        [(canonical, SecretSource::PrivateKey), (ed25519, SecretSource::PrivateKeyEd25519)];
    let matching = candidates
        .iter()
        .find(|(pair, _)| pair.as_ref().is_some_and(|p| expected.is_none_or(|e| p.hotkey() == e)))
        .or_else(|| candidates.iter().find(|(pair, _)| pair.is_some()));
    match matching {
        Some((Some(pair), source)) => Ok((pair.clone(), *source)),
        _ => Err(file.bad("privateKey", &"not a valid sr25519 expanded secret in either layout")),
    }
}

/// Field access with errors that name the file and the field.
struct Fields<'a> {
    path: &'a Path,
    obj: &'a Map<String, Value>,
}

impl Fields<'_> {
    fn bad(&self, field: &'static str, reason: &dyn std::fmt::Display) -> WalletError {
        WalletError::Field { path: self.path.to_path_buf(), field, reason: reason.to_string() }
    }

    /// A string field; absent, null and "" all read as absent.
    fn string(&self, field: &'static str) -> Result<Option<&str>, WalletError> {
        match self.obj.get(field) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) if s.is_empty() => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(other) => Err(self.bad(field, &format!("expected a string, found {other}"))),
        }
    }

    /// A hex field of exactly `N` bytes, with or without `0x`.
    fn hex<const N: usize>(&self, field: &'static str) -> Result<Option<[u8; N]>, WalletError> {
        let Some(s) = self.string(field)? else { return Ok(None) };
        let digits = s.strip_prefix("0x").unwrap_or(s);
        let mut out = [0u8; N];
        hex::decode_to_slice(digits, &mut out).map_err(|e| {
            self.bad(field, &format!("expected {N} bytes as hex ({} digits): {e}", 2 * N))
        })?;
        Ok(Some(out))
    }

    fn expect_same(
        &self,
        field: &'static str,
        from: &'static str,
        found: &Hotkey,
        derived: &Hotkey,
    ) -> Result<(), WalletError> {
        if found == derived {
            return Ok(());
        }
        Err(WalletError::Mismatch {
            path: self.path.to_path_buf(),
            field,
            found: format!("0x{}", hex::encode(found.0)),
            from,
            derived: format!("0x{}", hex::encode(derived.0)),
        })
    }
}

/// The secret file as btwallet 4 writes it (same fields, same order).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SecretFileJson {
    crypto_type: u64,
    secret_phrase: Option<String>,
    private_key: String,
    ss58_address: String,
    public_key: String,
    account_id: String,
    secret_seed: String,
}

/// The public file as btwallet 4 writes it.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PublicFileJson {
    ss58_address: String,
    public_key: String,
    crypto_type: u64,
    account_id: String,
}

/// Generates a hotkey from a fresh 32-byte mini secret from the OS random number generator and
/// writes it to `location` (see [`write_hotkey`]).
pub fn generate_hotkey(
    location: &WalletLocation,
    overwrite: bool,
) -> Result<HotkeyPair, WalletError> {
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).map_err(|e| WalletError::Rng(e.to_string()))?;
    write_hotkey(location, &seed, overwrite)
}

/// Writes the hotkey of mini secret `seed` to `location`: the secret file (mode 0600) and the
/// public file beside it, each replaced atomically. Refuses to replace an existing hotkey file
/// unless `overwrite`.
pub fn write_hotkey(
    location: &WalletLocation,
    seed: &[u8; 32],
    overwrite: bool,
) -> Result<HotkeyPair, WalletError> {
    location.check_names()?;
    let secret_path = location.hotkey_file();
    if !overwrite && secret_path.exists() {
        return Err(WalletError::Exists { path: secret_path });
    }
    let pair = HotkeyPair::from_mini_secret(seed)
        .map_err(|e| WalletError::Rng(format!("unusable seed: {e}")))?;
    let hotkey = pair.hotkey();
    let public_hex = format!("0x{}", hex::encode(hotkey.0));
    let secret = SecretFileJson {
        crypto_type: CRYPTO_TYPE_SR25519,
        secret_phrase: None,
        private_key: format!("0x{}", hex::encode(pair.secret_key_bytes())),
        ss58_address: hotkey.to_ss58(),
        public_key: public_hex.clone(),
        account_id: public_hex.clone(),
        secret_seed: format!("0x{}", hex::encode(seed)),
    };
    let public = PublicFileJson {
        ss58_address: hotkey.to_ss58(),
        public_key: public_hex.clone(),
        crypto_type: CRYPTO_TYPE_SR25519,
        account_id: public_hex,
    };

    let dir = secret_path.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(dir).map_err(|error| WalletError::Write { path: dir.into(), error })?;
    write_atomically(&secret_path, &json_bytes(&secret_path, &secret)?)?;
    let public_path = location.hotkeypub_file();
    write_atomically(&public_path, &json_bytes(&public_path, &public)?)?;
    Ok(pair)
}

/// Compact JSON, as btwallet writes it. Serializing these plain structs cannot fail; the
/// error is mapped anyway rather than unwrapped.
fn json_bytes(path: &Path, value: &impl Serialize) -> Result<Vec<u8>, WalletError> {
    serde_json::to_vec(value)
        .map_err(|e| WalletError::Write { path: path.to_path_buf(), error: io::Error::other(e) })
}

/// Writes a key file durably and owner-only ([`grail_storage::durable`]), so a reader never
/// sees a half-written key and the secret is never world-readable.
fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), WalletError> {
    durable::write_file(path, bytes, Access::OwnerOnly)
        .map_err(|e| WalletError::Write { path: e.path, error: e.source })
}

#[cfg(test)]
#[path = "lib_tests.rs"]
mod tests;

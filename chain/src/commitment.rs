//! Miners' commitments: where a miner's window files are and how to read them, published with
//! `Commitments.set_commitment(netuid, info)` and read back by validators from
//! `Commitments.CommitmentOf(netuid, hotkey)`.
//!
//! # The grail commitment format
//!
//! A commitment is 1 to 3 fields ([`MAX_FIELDS`], the runtime's `MaxFields`), each a
//! `Data::Raw` of at most 128 bytes ([`MAX_RAW_BYTES`]) of UTF-8:
//!
//! | field | content | when |
//! |-------|---------|------|
//! | 0 | `grail1 ` (with its space) then the store URL: `s3://<bucket>[/<prefix>]`, or `file:///<absolute/folder>` (a local folder, for development) | always |
//! | 1 | settings: space-separated `key=value` pairs from `endpoint=<https://host[:port]>`, `region=<name>`, `allow_http=true`, each key at most once, in any order | s3 only, optional |
//! | 2 | read-only credentials: `<access_key_id>:<secret_access_key>` (split at the first `:`) | s3 only, optional |
//!
//! Rules, each refused with a [`CommitmentError`] that names the field:
//!
//! - field 0 is the prefix `grail1 ` followed by the URL; so the URL has at most 121 bytes;
//! - `s3://`: a bucket of `[A-Za-z0-9._-]`, then optionally `/` and a prefix of non-empty
//!   `/`-separated segments (no empty segment, no trailing `/`); `file://`: a path starting
//!   with `/`; neither has whitespace or control characters; any other scheme is refused;
//! - field 1 may be empty (no settings) so that field 2 can follow; `endpoint` is
//!   `https://host[:port]` (host of `[A-Za-z0-9.-]`, nothing after the port), or `http://...`
//!   when `allow_http=true` is given too; `region` is `[A-Za-z0-9_-]+`; `allow_http` takes
//!   only `true` (absent means false); any other key is refused;
//! - field 2: both parts non-empty printable ASCII without whitespace, the key id without
//!   `:`; absent means anonymous reads (a public bucket);
//! - a `file://` store takes field 0 alone.
//!
//! [`MinerCommitment::to_fields`] writes the canonical form: settings in the order `endpoint`,
//! `region`, `allow_http`; field 1 only when it has a setting or field 2 follows; field 2
//! only with credentials. Example (three fields):
//!
//! ```text
//! field 0: grail1 s3://grail-miner-7/windows
//! field 1: endpoint=https://0123abcd.r2.cloudflarestorage.com region=auto
//! field 2: AKIAIOSFODNN7EXAMPLE:wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY
//! ```
//!
//! and a development store: `grail1 file:///srv/grail/miner-7` as its only field.
//!
//! The credentials are public once on chain: they must be read-only, the miner's write
//! credentials stay private.
//!
//! # On-chain types (pallet-commitments, checked against finney's metadata in the tests)
//!
//! `Data` has a hand-written SCALE codec: byte 0 = `None`; `1..=129` = `Raw` of `n − 1`
//! bytes (the metadata's variants `Raw0`..`Raw128`, each one field `[u8; N]`); 130
//! `BlakeTwo256`, 131 `Sha256`, 132 `Keccak256`, 133 `ShaThree256` (32 bytes each); 134
//! `TimelockEncrypted { encrypted: BoundedVec<u8, 1024>, reveal_round: u64 }`; 135
//! `ResetBondsFlag`; 136 `BigRaw(BoundedVec<u8, 512>)`. `CommitmentInfo { fields:
//! BoundedVec<Data, 3> }`. `Registration { deposit: u64 (Balance), block: u32 (BlockNumber),
//! info: CommitmentInfo }`.

use parity_scale_codec::{Compact, Decode, Encode, Error as CodecError, Input, Output};
use scale_value::Value;

/// The prefix of field 0 (with its space).
pub const PREFIX: &str = "grail1 ";
/// Fields a commitment holds at most (the runtime's `MaxFields`).
pub const MAX_FIELDS: usize = 3;
/// Bytes of a `Data::Raw` at most.
pub const MAX_RAW_BYTES: usize = 128;
/// Bytes of a `Data::TimelockEncrypted` ciphertext at most.
pub const MAX_TIMELOCK_BYTES: usize = 1024;
/// Bytes of a `Data::BigRaw` at most.
pub const MAX_BIGRAW_BYTES: usize = 512;

/// Why fields are not a grail commitment. `field` is the field's index (0, 1, 2).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CommitmentError {
    #[error("commitment: no fields; field 0 (`{PREFIX}<store url>`) is required")]
    NoFields,
    #[error("commitment: {count} fields, at most {MAX_FIELDS}")]
    TooManyFields { count: usize },
    #[error("commitment field {field}: {len} bytes, over the limit of {MAX_RAW_BYTES}")]
    TooLong { field: usize, len: usize },
    #[error("commitment field {field}: not UTF-8")]
    NotUtf8 { field: usize },
    #[error("commitment field {field}: is not a `Data::Raw` but {kind}")]
    NotRaw { field: usize, kind: &'static str },
    #[error("commitment field {field}: does not start with `{PREFIX}`")]
    MissingPrefix { field: usize },
    #[error(
        "commitment field {field}: store URL `{url}` has an unknown scheme (s3:// or file://)"
    )]
    UnknownScheme { field: usize, url: String },
    #[error("commitment field {field}: store URL `{url}`: {reason}")]
    BadUrl { field: usize, url: String, reason: String },
    #[error("commitment field {field}: unknown setting `{key}` (endpoint, region or allow_http)")]
    UnknownSetting { field: usize, key: String },
    #[error("commitment field {field}: setting `{setting}`: {reason}")]
    BadSetting { field: usize, setting: String, reason: String },
    #[error("commitment field {field}: a file:// store takes field 0 alone (settings and credentials are for s3)")]
    NotForFileStore { field: usize },
    #[error(
        "commitment field {field}: credentials `<access_key_id>:<secret_access_key>`: {reason}"
    )]
    BadCredentials { field: usize, reason: String },
}

/// Where a miner's window files are and how to read them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MinerCommitment {
    /// `s3://bucket[/prefix]` or `file:///absolute/folder`.
    pub store_url: String,
    /// `https://host[:port]` (s3 only; absent: the client's default).
    pub endpoint: Option<String>,
    /// The store's region (s3 only).
    pub region: Option<String>,
    /// Whether an `http://` endpoint is allowed (s3 only).
    pub allow_http: bool,
    /// Read-only `(access_key_id, secret_access_key)`; `None`: anonymous (s3 only).
    pub read_credentials: Option<(String, String)>,
}

enum Scheme {
    S3,
    File,
}

impl MinerCommitment {
    /// The commitment's fields in the canonical form (see the module docs), checked as
    /// [`MinerCommitment::from_fields`] checks them.
    pub fn to_fields(&self) -> Result<Vec<Vec<u8>>, CommitmentError> {
        let mut fields = vec![format!("{PREFIX}{}", self.store_url)];
        let mut settings = Vec::new();
        if let Some(e) = &self.endpoint {
            settings.push(format!("endpoint={e}"));
        }
        if let Some(r) = &self.region {
            settings.push(format!("region={r}"));
        }
        if self.allow_http {
            settings.push("allow_http=true".to_owned());
        }
        if !settings.is_empty() || self.read_credentials.is_some() {
            fields.push(settings.join(" "));
        }
        if let Some((id, secret)) = &self.read_credentials {
            fields.push(format!("{id}:{secret}"));
        }
        let fields: Vec<Vec<u8>> = fields.into_iter().map(String::into_bytes).collect();
        let parsed = Self::from_fields(&fields)?;
        if parsed.read_credentials != self.read_credentials {
            return Err(CommitmentError::BadCredentials {
                field: 2,
                reason: "the access key id contains `:`".into(),
            });
        }
        if &parsed != self {
            // Only a value that the settings' text cannot carry gets here.
            return Err(CommitmentError::BadSetting {
                field: 1,
                setting: String::from_utf8_lossy(fields.get(1).map_or(&[][..], Vec::as_slice))
                    .into_owned(),
                reason: "a value does not survive being written and read back".into(),
            });
        }
        Ok(fields)
    }

    /// Parses the raw bytes of a commitment's fields.
    pub fn from_fields(fields: &[Vec<u8>]) -> Result<Self, CommitmentError> {
        if fields.is_empty() {
            return Err(CommitmentError::NoFields);
        }
        if fields.len() > MAX_FIELDS {
            return Err(CommitmentError::TooManyFields { count: fields.len() });
        }
        let mut texts = Vec::with_capacity(fields.len());
        for (field, bytes) in fields.iter().enumerate() {
            if bytes.len() > MAX_RAW_BYTES {
                return Err(CommitmentError::TooLong { field, len: bytes.len() });
            }
            texts.push(std::str::from_utf8(bytes).map_err(|_| CommitmentError::NotUtf8 { field })?);
        }
        let url =
            texts[0].strip_prefix(PREFIX).ok_or(CommitmentError::MissingPrefix { field: 0 })?;
        let scheme = check_url(url)?;
        let mut out = Self {
            store_url: url.to_owned(),
            endpoint: None,
            region: None,
            allow_http: false,
            read_credentials: None,
        };
        if let Scheme::File = scheme {
            if fields.len() > 1 {
                // Name the field that carries something (credentials: field 2).
                let field = (1..fields.len()).find(|&i| !fields[i].is_empty()).unwrap_or(1);
                return Err(CommitmentError::NotForFileStore { field });
            }
            return Ok(out);
        }
        if let Some(settings) = texts.get(1) {
            out.parse_settings(settings)?;
        }
        if let Some(credentials) = texts.get(2) {
            out.read_credentials = Some(parse_credentials(credentials)?);
        }
        Ok(out)
    }

    /// Parses the fields as they are on chain: each must be a `Data::Raw`.
    pub fn from_data(fields: &[Data]) -> Result<Self, CommitmentError> {
        Self::from_fields(&raw_fields(fields)?)
    }

    fn parse_settings(&mut self, text: &str) -> Result<(), CommitmentError> {
        const FIELD: usize = 1;
        let bad = |setting: &str, reason: &str| CommitmentError::BadSetting {
            field: FIELD,
            setting: setting.to_owned(),
            reason: reason.to_owned(),
        };
        let mut seen: Vec<&str> = Vec::new();
        for setting in text.split(' ') {
            if setting.is_empty() {
                if text.is_empty() {
                    continue;
                }
                return Err(bad(text, "settings are separated by single spaces"));
            }
            let (key, value) =
                setting.split_once('=').ok_or_else(|| bad(setting, "not key=value"))?;
            if !matches!(key, "endpoint" | "region" | "allow_http") {
                return Err(CommitmentError::UnknownSetting { field: FIELD, key: key.to_owned() });
            }
            if seen.contains(&key) {
                return Err(bad(setting, "given twice"));
            }
            seen.push(key);
            if value.is_empty() {
                return Err(bad(setting, "empty value"));
            }
            match key {
                "endpoint" => self.endpoint = Some(value.to_owned()),
                "region" => {
                    if !value.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
                        return Err(bad(setting, "a region is [A-Za-z0-9_-]"));
                    }
                    self.region = Some(value.to_owned());
                }
                _ => {
                    if value != "true" {
                        return Err(bad(setting, "allow_http takes only `true`"));
                    }
                    self.allow_http = true;
                }
            }
        }
        if let Some(endpoint) = &self.endpoint {
            let setting = format!("endpoint={endpoint}");
            let rest = if let Some(rest) = endpoint.strip_prefix("https://") {
                rest
            } else if let Some(rest) = endpoint.strip_prefix("http://") {
                if !self.allow_http {
                    return Err(bad(&setting, "an http:// endpoint needs allow_http=true"));
                }
                rest
            } else {
                return Err(bad(&setting, "the endpoint is https://host[:port]"));
            };
            let (host, port) = match rest.split_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (rest, None),
            };
            let host_ok = !host.is_empty()
                && host.chars().all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-');
            let port_ok = port.is_none_or(|p| {
                !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) && p.parse::<u16>().is_ok()
            });
            if !host_ok || !port_ok {
                return Err(bad(&setting, "the endpoint is https://host[:port], nothing after"));
            }
        }
        Ok(())
    }
}

fn check_url(url: &str) -> Result<Scheme, CommitmentError> {
    const FIELD: usize = 0;
    let bad = |reason: &str| CommitmentError::BadUrl {
        field: FIELD,
        url: url.to_owned(),
        reason: reason.to_owned(),
    };
    if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(bad("whitespace or control characters"));
    }
    if let Some(rest) = url.strip_prefix("s3://") {
        let (bucket, prefix) = match rest.split_once('/') {
            Some((b, p)) => (b, Some(p)),
            None => (rest, None),
        };
        if bucket.is_empty() {
            return Err(bad("no bucket"));
        }
        if !bucket.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')) {
            return Err(bad("a bucket is [A-Za-z0-9._-]"));
        }
        if prefix.is_some_and(|p| p.split('/').any(str::is_empty)) {
            return Err(bad("an empty prefix segment (`//`, or a trailing `/`)"));
        }
        return Ok(Scheme::S3);
    }
    if let Some(path) = url.strip_prefix("file://") {
        if !path.starts_with('/') {
            return Err(bad("a file:// store is an absolute folder, file:///path"));
        }
        return Ok(Scheme::File);
    }
    Err(CommitmentError::UnknownScheme { field: FIELD, url: url.to_owned() })
}

fn parse_credentials(text: &str) -> Result<(String, String), CommitmentError> {
    let bad =
        |reason: &str| CommitmentError::BadCredentials { field: 2, reason: reason.to_owned() };
    let (id, secret) = text.split_once(':').ok_or_else(|| bad("no `:`"))?;
    if id.is_empty() || secret.is_empty() {
        return Err(bad("an empty key id or secret"));
    }
    if !text.chars().all(|c| c.is_ascii_graphic()) {
        return Err(bad("only printable ASCII without whitespace"));
    }
    Ok((id.to_owned(), secret.to_owned()))
}

/// The bytes of each field, which must all be `Data::Raw`.
pub fn raw_fields(fields: &[Data]) -> Result<Vec<Vec<u8>>, CommitmentError> {
    fields
        .iter()
        .enumerate()
        .map(|(field, d)| match d {
            Data::Raw(b) => Ok(b.as_slice().to_vec()),
            other => Err(CommitmentError::NotRaw { field, kind: other.kind() }),
        })
        .collect()
}

/// At most `N` bytes (a `BoundedVec<u8, N>`: compact length, then the bytes; a longer one
/// does not decode).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BoundedBytes<const N: usize>(Vec<u8>);

impl<const N: usize> BoundedBytes<N> {
    /// `bytes` if they are at most `N`.
    pub fn new(bytes: Vec<u8>) -> Option<Self> {
        (bytes.len() <= N).then_some(Self(bytes))
    }

    pub fn as_slice(&self) -> &[u8] {
        &self.0
    }

    pub fn into_vec(self) -> Vec<u8> {
        self.0
    }
}

impl<const N: usize> Encode for BoundedBytes<N> {
    fn size_hint(&self) -> usize {
        self.0.size_hint()
    }

    fn encode_to<T: Output + ?Sized>(&self, dest: &mut T) {
        self.0.encode_to(dest);
    }
}

impl<const N: usize> Decode for BoundedBytes<N> {
    fn decode<I: Input>(input: &mut I) -> Result<Self, CodecError> {
        let len = Compact::<u32>::decode(input)?.0 as usize;
        if len > N {
            return Err("BoundedVec exceeds its limit".into());
        }
        let mut bytes = vec![0u8; len];
        input.read(&mut bytes)?;
        Ok(Self(bytes))
    }
}

/// pallet-commitments' `Data`, with its codec (see the module docs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Data {
    None,
    /// Up to 128 bytes, stored directly.
    Raw(BoundedBytes<MAX_RAW_BYTES>),
    BlakeTwo256([u8; 32]),
    Sha256([u8; 32]),
    Keccak256([u8; 32]),
    ShaThree256([u8; 32]),
    /// A timelock ciphertext, revealed by the chain once `reveal_round`'s pulse is stored.
    TimelockEncrypted {
        encrypted: BoundedBytes<MAX_TIMELOCK_BYTES>,
        reveal_round: u64,
    },
    /// Asks the chain to reset the committer's bonds.
    ResetBondsFlag,
    /// Up to 512 bytes, stored directly.
    BigRaw(BoundedBytes<MAX_BIGRAW_BYTES>),
}

impl Data {
    /// `Raw(bytes)` if they are at most 128.
    pub fn raw(bytes: &[u8]) -> Option<Self> {
        BoundedBytes::new(bytes.to_vec()).map(Self::Raw)
    }

    /// Whether it is `TimelockEncrypted`.
    pub fn is_timelock_encrypted(&self) -> bool {
        matches!(self, Self::TimelockEncrypted { .. })
    }

    /// The variant's name (`Raw` for every `RawN`).
    pub fn kind(&self) -> &'static str {
        match self {
            Self::None => "None",
            Self::Raw(_) => "Raw",
            Self::BlakeTwo256(_) => "BlakeTwo256",
            Self::Sha256(_) => "Sha256",
            Self::Keccak256(_) => "Keccak256",
            Self::ShaThree256(_) => "ShaThree256",
            Self::TimelockEncrypted { .. } => "TimelockEncrypted",
            Self::ResetBondsFlag => "ResetBondsFlag",
            Self::BigRaw(_) => "BigRaw",
        }
    }

    /// The bytes pallet-commitments counts against `MaxSpace` (`len_for_rate_limit`).
    pub fn len_for_rate_limit(&self) -> u64 {
        let n = match self {
            Self::None | Self::ResetBondsFlag => 0,
            Self::Raw(b) => b.as_slice().len(),
            Self::BlakeTwo256(_) | Self::Sha256(_) | Self::Keccak256(_) | Self::ShaThree256(_) => {
                32
            }
            Self::TimelockEncrypted { encrypted, .. } => encrypted.as_slice().len(),
            Self::BigRaw(b) => b.as_slice().len(),
        };
        n as u64
    }

    /// The value subxt encodes against the metadata's `Data` type (variant names as there:
    /// `Raw0`..`Raw128` with one `[u8; N]` field).
    pub fn to_value(&self) -> Value {
        let hash = |name: &str, h: &[u8; 32]| Value::unnamed_variant(name, [Value::from_bytes(h)]);
        match self {
            Self::None => Value::unnamed_variant("None", []),
            Self::Raw(b) => raw_value(b.as_slice()),
            Self::BlakeTwo256(h) => hash("BlakeTwo256", h),
            Self::Sha256(h) => hash("Sha256", h),
            Self::Keccak256(h) => hash("Keccak256", h),
            Self::ShaThree256(h) => hash("ShaThree256", h),
            Self::TimelockEncrypted { encrypted, reveal_round } => Value::named_variant(
                "TimelockEncrypted",
                [
                    ("encrypted", Value::from_bytes(encrypted.as_slice())),
                    ("reveal_round", Value::u128(u128::from(*reveal_round))),
                ],
            ),
            Self::ResetBondsFlag => Value::unnamed_variant("ResetBondsFlag", []),
            Self::BigRaw(b) => Value::unnamed_variant("BigRaw", [Value::from_bytes(b.as_slice())]),
        }
    }
}

/// The value of `Data::Raw{len}(bytes)`; bytes over 128 name a variant the metadata lacks, so
/// encoding it fails.
pub fn raw_value(bytes: &[u8]) -> Value {
    Value::unnamed_variant(format!("Raw{}", bytes.len()), [Value::from_bytes(bytes)])
}

impl Encode for Data {
    fn encode_to<T: Output + ?Sized>(&self, dest: &mut T) {
        let hash = |dest: &mut T, tag: u8, h: &[u8; 32]| {
            dest.push_byte(tag);
            dest.write(h);
        };
        match self {
            Self::None => dest.push_byte(0),
            Self::Raw(b) => {
                // At most 128 bytes by construction: the tag is 1..=129.
                dest.push_byte(b.as_slice().len() as u8 + 1);
                dest.write(b.as_slice());
            }
            Self::BlakeTwo256(h) => hash(dest, 130, h),
            Self::Sha256(h) => hash(dest, 131, h),
            Self::Keccak256(h) => hash(dest, 132, h),
            Self::ShaThree256(h) => hash(dest, 133, h),
            Self::TimelockEncrypted { encrypted, reveal_round } => {
                dest.push_byte(134);
                encrypted.encode_to(dest);
                reveal_round.encode_to(dest);
            }
            Self::ResetBondsFlag => dest.push_byte(135),
            Self::BigRaw(b) => {
                dest.push_byte(136);
                b.encode_to(dest);
            }
        }
    }
}

impl Decode for Data {
    fn decode<I: Input>(input: &mut I) -> Result<Self, CodecError> {
        Ok(match input.read_byte()? {
            0 => Self::None,
            n @ 1..=129 => {
                let mut bytes = vec![0u8; usize::from(n - 1)];
                input.read(&mut bytes)?;
                Self::Raw(BoundedBytes(bytes))
            }
            130 => Self::BlakeTwo256(<[u8; 32]>::decode(input)?),
            131 => Self::Sha256(<[u8; 32]>::decode(input)?),
            132 => Self::Keccak256(<[u8; 32]>::decode(input)?),
            133 => Self::ShaThree256(<[u8; 32]>::decode(input)?),
            134 => Self::TimelockEncrypted {
                encrypted: BoundedBytes::decode(input)?,
                reveal_round: u64::decode(input)?,
            },
            135 => Self::ResetBondsFlag,
            136 => Self::BigRaw(BoundedBytes::decode(input)?),
            _ => return Err("invalid leading byte".into()),
        })
    }
}

/// `CommitmentInfo { fields: BoundedVec<Data, MaxFields = 3> }`: more fields do not decode.
#[derive(Debug, Clone, PartialEq, Eq, Default, Encode)]
pub struct CommitmentInfo {
    pub fields: Vec<Data>,
}

impl Decode for CommitmentInfo {
    fn decode<I: Input>(input: &mut I) -> Result<Self, CodecError> {
        let len = Compact::<u32>::decode(input)?.0 as usize;
        if len > MAX_FIELDS {
            return Err("BoundedVec exceeds its limit".into());
        }
        let fields = (0..len).map(|_| Data::decode(input)).collect::<Result<_, _>>()?;
        Ok(Self { fields })
    }
}

impl CommitmentInfo {
    /// The value subxt encodes against the metadata's `CommitmentInfo` (the call's `info`).
    pub fn to_value(&self) -> Value {
        fields_value(self.fields.iter().map(Data::to_value))
    }
}

/// `CommitmentInfo { fields }` as a value.
pub fn fields_value(fields: impl IntoIterator<Item = Value>) -> Value {
    Value::named_composite([("fields", Value::unnamed_composite(fields))])
}

/// `CommitmentOf(netuid, who)`: `Registration<Balance = u64, MaxFields, BlockNumber = u32>`.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
pub struct Registration {
    /// Held on deposit (subtensor's `InitialDeposit` and `FieldDeposit` are 0).
    pub deposit: u64,
    /// The block of the latest `set_commitment`.
    pub block: u32,
    pub info: CommitmentInfo,
}

impl Registration {
    /// The bytes of each field, which must all be `Data::Raw`.
    pub fn raw_fields(&self) -> Result<Vec<Vec<u8>>, CommitmentError> {
        raw_fields(&self.info.fields)
    }
}

#[cfg(test)]
#[path = "commitment_tests.rs"]
mod tests;

//! The one error type of the protocol crate. Every variant names what was wrong and, for a
//! bound, the limit, so a rejected miner learns exactly why.

/// Errors of the pure protocol computations and of the window-file decoder.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProtocolError {
    /// A network parameter that must be positive was zero.
    #[error("parameter {name} must be positive")]
    ZeroParameter {
        /// The parameter's name.
        name: &'static str,
    },
    /// Time or block arithmetic left the range of u64.
    #[error("{what} overflows u64")]
    Overflow {
        /// The computation that overflowed.
        what: &'static str,
    },
    /// The sampler was given an empty logits slice.
    #[error("logits are empty")]
    EmptyLogits,
    /// A logit was NaN or infinite.
    #[error("logit {index} is not finite ({value})")]
    NonFiniteLogit {
        /// Vocabulary index of the logit.
        index: usize,
        /// Its value.
        value: f32,
    },
    /// The temperature was not finite and positive.
    #[error("temperature {0} must be finite and positive")]
    BadTemperature(f32),
    /// A uniform draw was outside `[0, 1)`.
    #[error("uniform draw {0} is outside [0, 1)")]
    BadUniform(f64),
    /// A token id is not in the vocabulary.
    #[error("token {token} is outside the vocabulary of {vocab} tokens")]
    TokenOutOfVocabulary {
        /// The token id.
        token: u32,
        /// Vocabulary size.
        vocab: usize,
    },
    /// A length, count or size exceeds its limit.
    #[error("{field}: {value} exceeds the limit {limit}")]
    TooLarge {
        /// The field, with its rollout when there is one (`completion_tokens of rollout 3`).
        field: String,
        /// The value found.
        value: u64,
        /// The largest value allowed.
        limit: u64,
    },
    /// Two lengths that must agree do not (logprobs vs completion tokens).
    #[error("{field}: {found} values, but {expected} are required")]
    LengthMismatch {
        /// The field.
        field: String,
        /// How many there are.
        found: u64,
        /// How many there must be.
        expected: u64,
    },
    /// A field holds a value the format does not allow.
    #[error("{field}: invalid value ({reason})")]
    InvalidValue {
        /// The field.
        field: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The input ended inside a field.
    #[error("{field}: the file ends early (truncated)")]
    Truncated {
        /// The field being read.
        field: String,
    },
    /// Bytes follow the last rollout.
    #[error("trailing bytes after the last rollout")]
    TrailingBytes,
    /// The file does not start with the window-file magic.
    #[error("bad magic {found:02x?}: not a grail window file")]
    BadMagic {
        /// The first bytes found.
        found: [u8; 8],
    },
    /// The file's format version is not one this code reads.
    #[error("format version {found} is not supported (expected {expected})")]
    UnsupportedFormat {
        /// Version found.
        found: u32,
        /// Version supported.
        expected: u32,
    },
    /// The underlying reader failed (not an end of file).
    #[error("reading {field}: {source}")]
    Read {
        /// The field being read.
        field: String,
        /// The reader's error.
        #[source]
        source: std::io::Error,
    },
    /// An SS58 address did not parse.
    #[error("invalid SS58 address {address:?}: {reason}")]
    Ss58 {
        /// The address as given.
        address: String,
        /// What is wrong with it.
        reason: String,
    },
    /// Key material did not parse.
    #[error("invalid sr25519 {what}: {reason}")]
    Key {
        /// Which key part (mini secret, public key, signature).
        what: &'static str,
        /// The parser's reason.
        reason: String,
    },
    /// A signature does not verify.
    #[error("signature of {what} does not verify under {hotkey}")]
    BadSignature {
        /// What was signed (`header`, `rollout 3`).
        what: String,
        /// The SS58 address of the claimed signer.
        hotkey: String,
    },
    /// A Merkle proof is malformed or its index is out of range.
    #[error("merkle proof: {reason}")]
    BadProof {
        /// What is wrong with it.
        reason: String,
    },
    /// A hidden state does not match the commitment key, or holds a non-finite value.
    #[error("hidden state: {reason}")]
    BadHiddenState {
        /// What is wrong with it.
        reason: String,
    },
}

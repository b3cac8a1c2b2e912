//! The one error type of the drand module. Variants name the field, the round and the chain
//! involved, so a user can tell which input was wrong.

/// Everything that can go wrong while reading chain info, verifying a beacon or fetching one.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DrandError {
    /// A hex field did not decode.
    #[error("bad hex in `{field}`: {error}")]
    BadHex {
        /// JSON field (or flag) name.
        field: &'static str,
        /// What the hex decoder said (in the message, so not also a `source`).
        error: hex::FromHexError,
    },
    /// A byte field has the wrong length for the chain's scheme.
    #[error("`{field}` has {actual} bytes, expected {expected}")]
    WrongLength {
        /// JSON field (or flag) name.
        field: &'static str,
        /// Required length in bytes.
        expected: usize,
        /// Length found.
        actual: usize,
    },
    /// A chained beacon came without its previous signature.
    #[error("`previous_signature` is required for round {round} on chained chain {chain}")]
    MissingPreviousSignature {
        /// Round of the beacon.
        round: u64,
        /// Chain label.
        chain: String,
    },
    /// An unchained beacon came with a previous signature, which its scheme never signs.
    #[error("`previous_signature` given for round {round}, but chain {chain} is unchained")]
    UnexpectedPreviousSignature {
        /// Round of the beacon.
        round: u64,
        /// Chain label.
        chain: String,
    },
    /// The signature is a valid point but not the chain's signature of this round.
    #[error("`signature` does not verify for round {round} on chain {chain}")]
    BadSignature {
        /// Round of the beacon.
        round: u64,
        /// Chain label.
        chain: String,
    },
    /// The signature bytes are not a point of the right group.
    #[error("`signature` for round {round} on chain {chain} is not a valid curve point: {detail}")]
    InvalidSignaturePoint {
        /// Round of the beacon.
        round: u64,
        /// Chain label.
        chain: String,
        /// What the decoder said.
        detail: String,
    },
    /// The beacon's claimed randomness is not sha256(signature).
    #[error("`randomness` of round {round} is {claimed}, but sha256(signature) is {actual}")]
    RandomnessMismatch {
        /// Round of the beacon.
        round: u64,
        /// Claimed randomness (hex).
        claimed: String,
        /// sha256(signature) (hex).
        actual: String,
    },
    /// Round 0 is the genesis and carries no signature.
    #[error("`round` must be at least 1 (round 0 has no beacon)")]
    RoundZero,
    /// A time before the chain's genesis has no round.
    #[error("time {time} is before genesis {genesis} of chain {chain}")]
    BeforeGenesis {
        /// Unix time asked about (seconds).
        time: u64,
        /// Genesis of the chain (unix seconds).
        genesis: u64,
        /// Chain label.
        chain: String,
    },
    /// Round/time arithmetic left the u64 range.
    #[error("round {round} is out of range for chain {chain} (time overflows u64)")]
    Overflow {
        /// Round or time that overflowed.
        round: u64,
        /// Chain label.
        chain: String,
    },
    /// `period` outside 1..=u32::MAX seconds.
    #[error("`period` must be between 1 and {max} seconds, got {got}")]
    BadPeriod {
        /// Period found.
        got: u64,
        /// Largest period drand can encode.
        max: u64,
    },
    /// A scheme this crate does not verify.
    #[error("unsupported `schemeID` {0:?} (supported: pedersen-bls-chained, pedersen-bls-unchained, bls-unchained-g1-rfc9380)")]
    UnsupportedScheme(String),
    /// The chain's public key is not a valid point.
    #[error("`public_key` of chain {chain} is not a valid curve point: {detail}")]
    BadPublicKey {
        /// Chain label.
        chain: String,
        /// What the decoder said.
        detail: String,
    },
    /// Chain info whose `hash` is not the hash of its own fields.
    #[error("chain info `hash` is {claimed}, but its fields hash to {computed}")]
    ChainHashMismatch {
        /// Hash written in the info (hex).
        claimed: String,
        /// Hash computed from the fields (hex).
        computed: String,
    },
    /// Chain info that disagrees with the pinned chain.
    #[error("chain info from {source_name} disagrees with pinned chain {chain} in `{field}`: expected {expected}, got {got}")]
    InfoMismatch {
        /// Where the info came from (relay URL or file).
        source_name: String,
        /// Chain label.
        chain: String,
        /// The field that differs.
        field: &'static str,
        /// Pinned value.
        expected: String,
        /// Value found.
        got: String,
    },
    /// Malformed JSON (beacon or chain info).
    #[error("bad {what} JSON: {error}")]
    Json {
        /// "beacon" or "chain info".
        what: &'static str,
        /// What serde said (in the message, so not also a `source`).
        error: serde_json::Error,
    },
    /// A relay answered with another round than the one asked for.
    #[error("relay {relay} returned round {got} when asked for round {want}")]
    WrongRound {
        /// Relay base URL.
        relay: String,
        /// Round asked for.
        want: u64,
        /// Round returned.
        got: u64,
    },
    /// A relay request failed (network, timeout, status, oversized body).
    #[error("request to {url} failed: {detail}")]
    Http {
        /// Full URL.
        url: String,
        /// What went wrong.
        detail: String,
    },
    /// No relay produced a verified beacon after all retries. Callers wait and retry; there is
    /// never a fallback.
    #[error("no verified beacon for round {round} after {attempts} attempts on {relays} relay(s); last error: {last}")]
    Unavailable {
        /// Round asked for.
        round: u64,
        /// Requests made.
        attempts: u32,
        /// Relays tried.
        relays: usize,
        /// The last relay's error.
        last: String,
    },
    /// No relay served chain info that passed the checks.
    #[error("no acceptable chain info after {attempts} attempts on {relays} relay(s); last error: {last}")]
    InfoUnavailable {
        /// Requests made.
        attempts: u32,
        /// Relays tried.
        relays: usize,
        /// The last relay's error.
        last: String,
    },
    /// A client needs at least one relay.
    #[error("no relays given")]
    NoRelays,
}

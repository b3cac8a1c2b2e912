//! Fuzz harnesses: one function per parser that a miner's bytes, a file or a network answer
//! reaches. Each takes arbitrary bytes, runs the parser as the roles do, and panics only when
//! an invariant breaks (a panic inside the parser is a finding too). `fuzz/` runs them under
//! libFuzzer (`scripts/fuzz.sh`); the test suite runs them over the committed seeds and
//! deterministic mutations of them ([`mutate`]).

pub mod chain;
mod checkpoint;
mod drand;
mod files;
mod http;
pub mod mutate;
pub mod tape;
mod window;

/// A harness: arbitrary bytes in, a panic on a broken invariant; `true` when the parser
/// accepted the input (so the seeds can be shown to reach past the first check).
pub type Harness = fn(&[u8]) -> bool;

/// Every harness by target name (the names of `fuzz/fuzz_targets/*.rs` and of the seed
/// folders under `fuzz/seeds/`).
pub const TARGETS: &[(&str, Harness)] = &[
    ("window_file", window::window_file),
    ("transcript", window::transcript),
    ("metagraph", files::metagraph),
    ("config", files::config),
    ("drand", drand::drand),
    ("chain_storage", chain::chain_storage),
    ("chain_metadata", chain::chain_metadata),
    ("http_query", http::http_query),
    ("checkpoint", checkpoint::checkpoint),
];

/// The harness named `name`.
pub fn harness(name: &str) -> Option<Harness> {
    TARGETS.iter().find(|(n, _)| *n == name).map(|(_, h)| *h)
}

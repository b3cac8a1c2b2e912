//! grail-miner: the mining loop (verifiable generation, commitments, window files).
//!
//! Not built yet: the foundation issue only lays the crate out. The mining loop and the
//! `grail-miner` binary come with the miner issue.

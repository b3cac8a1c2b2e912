//! grail-miner: the mining loop (verifiable generation, commitments, window files) and the
//! miner's command line.

pub mod checkpoints;
pub mod cli;
pub mod metrics;
pub mod window_loop;

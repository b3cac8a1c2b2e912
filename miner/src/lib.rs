//! grail-miner: the mining loop (verifiable generation, commitments, window files) and the
//! miner's Bittensor hotkey.

pub mod bench;
pub mod wallet;
pub mod window_loop;

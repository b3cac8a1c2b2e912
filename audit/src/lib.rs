//! grail-audit: the tools that measure and attack the network rather than run it.
//!
//! | module | job |
//! |---|---|
//! | [`calibrate`] | the proof audit: honest drift sources, forgers, the analytic forgery bound |
//! | [`bench`](mod@bench) | the miner's and the validator's throughput on one fixed workload |
//! | [`workload`] | that workload: a fixed window seed, hotkey and problems |
//! | [`adversary`] | the attacking miner of the attack matrix and the demo |
//! | [`cli`] | the `grail-audit` command line |

pub mod adversary;
pub mod bench;
pub mod calibrate;
pub mod cli;
pub mod workload;

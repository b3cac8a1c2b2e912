//! What the miner and the validator both need besides the model: the drand client and
//! window randomness, the chain clock, environments (problems and rewards), prompt rendering,
//! window-file assembly and scoring, the object store, and the fixed benchmark workload.

pub mod assembly;
pub mod chain;
pub mod drand;
pub mod env;
pub mod logging;
pub mod prompt;
pub mod store;
pub mod workload;

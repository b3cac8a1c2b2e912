//! placeholder

pub mod chain;
pub mod drand;
pub mod env;
pub mod prompt;
pub mod store;

//! placeholder

pub mod drand;
pub mod env;
pub mod prompt;

//! What the miner and the validator both compute about problems: environments (problem
//! generation and reward), prompt rendering with the model's chat template, and window-file
//! assembly and scoring ([`assembly`]), so a miner's rewards and a validator's re-scoring are
//! one code path.

pub mod assembly;
pub mod env;
pub mod prompt;

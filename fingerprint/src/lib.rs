//! The model of grail-rs on ONNX Runtime: finding the runtime, loading and running the model
//! (DESIGN.md section 4), and its identity (DESIGN.md 3.6): the content ID of its weights and
//! the beacon-keyed BN254 fingerprint; the generation [`engine`] shared by miner and validator.

pub mod bn254;
pub mod config;
pub mod engine;
pub mod error;
pub mod model_id;
pub mod roofline;
pub mod runtime;
pub mod session;
pub mod weights;

pub use bn254::{fingerprint, fingerprint_alpha, fingerprint_of};
pub use config::ModelConfig;
pub use engine::{
    BatchStats, Engine, EngineOptions, GeneratedRollout, GroupJob, GroupRequest, GroupSettings,
    PrefillRows, Sequence, StopReason,
};
pub use error::{Error, Result};
pub use model_id::{model_id, model_id_of};
pub use session::{
    Device, KvCache, ModelSession, ModelSpec, SessionOptions, StepInput, StepOutput,
};
pub use weights::{read_weights, WeightTensor, Weights};

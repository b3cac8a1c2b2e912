//! The trainer's command: `grail-trainer publish` turns a folder of ONNX weights into a
//! published checkpoint (files, manifest, signature) in a store
//! ([`grail_checkpoint::publish`]). The training step itself is not here.

pub mod cli;

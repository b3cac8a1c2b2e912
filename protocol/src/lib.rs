//! The grail-rs protocol, version 1: everything the miner and the validator must compute
//! identically. Pure: no I/O, no clock, no model.
//!
//! `README.md` in this crate specifies every derivation and the wire format for ports to
//! other languages; `vectors/*.json` hold the golden vectors.

pub mod challenge;
pub mod checkpoint;
pub mod cid;
pub mod codec;
pub mod commitment;
pub mod error;
pub mod generated;
pub mod hash;
pub mod keys;
pub mod merkle;
pub mod params;
pub mod sampler;
pub mod seeds;
pub mod signing;
pub mod verify_params;
pub mod window;
pub mod window_file;

pub use error::ProtocolError;

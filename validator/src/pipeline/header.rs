//! Stage 2: the header is the network's for this window and this miner. The mining beacon it
//! records is compared byte for byte with the validator's own verified beacon of that round
//! (a BLS signature of a round is unique, so equal bytes are the only valid answer and no
//! pairing is needed per miner). Everything here is cheap except the fingerprint, which the caller computes once per window (it depends only on
//! the weights and the mining beacon) and passes in.

use grail_drand::VerifiedBeacon;
use grail_protocol::keys::Hotkey;
use grail_protocol::params::{NetworkParams, PROTOCOL_VERSION};
use grail_protocol::window_file::WindowHeader;

use super::{Failure, StageResult};
use crate::state::Stage;

/// What every header of a window must say.
#[derive(Debug, Clone, Copy)]
pub struct HeaderExpectations<'a> {
    /// The window.
    pub window: u64,
    /// The network's `model_id` (binary CID).
    pub model_id: &'a [u8],
    /// The window's mining beacon, verified by the validator (round = the round at the
    /// window's start).
    pub mining_beacon: &'a VerifiedBeacon,
    /// Hash of the window's first block, from the validator's chain source.
    pub first_block_hash: &'a [u8; 32],
    /// The network's parameters (environment, generation).
    pub network: &'a NetworkParams,
}

/// Checks a header against the expectations; `hotkey` is the one its file name names and
/// `fingerprint` the weights' fingerprint under the window's mining beacon (computed only when
/// every cheaper field already passed).
pub fn check_header(
    header: &WindowHeader,
    hotkey: &Hotkey,
    expected: &HeaderExpectations<'_>,
    fingerprint: impl FnOnce() -> Result<[u8; 32], crate::ValidatorError>,
) -> Result<StageResult<()>, crate::ValidatorError> {
    if let Err(f) = check_cheap_fields(header, hotkey, expected) {
        return Ok(Err(f));
    }
    let fingerprint = fingerprint()?;
    if header.fingerprint != fingerprint {
        return Ok(Err(fail(format!(
            "fingerprint {} is not the weights' {} under the mining beacon",
            hex::encode(header.fingerprint),
            hex::encode(fingerprint)
        ))));
    }
    Ok(Ok(()))
}

fn fail(reason: String) -> Failure {
    Failure::new(Stage::Header, reason)
}

/// Every header field except the fingerprint.
pub fn check_cheap_fields(
    header: &WindowHeader,
    hotkey: &Hotkey,
    expected: &HeaderExpectations<'_>,
) -> StageResult<()> {
    if header.protocol_version != PROTOCOL_VERSION {
        return Err(fail(format!(
            "protocol version {} is not {PROTOCOL_VERSION}",
            header.protocol_version
        )));
    }
    if header.window != expected.window {
        return Err(fail(format!("window {} is not {}", header.window, expected.window)));
    }
    if header.hotkey != *hotkey {
        return Err(fail(format!(
            "hotkey {} is not {hotkey}, the one the file name names",
            header.hotkey
        )));
    }
    if header.model_id != expected.model_id {
        return Err(fail(format!(
            "model_id {} is not the network's {}",
            cid_text(&header.model_id),
            cid_text(expected.model_id)
        )));
    }
    check_beacon(header, expected)?;
    if header.first_block_hash != *expected.first_block_hash {
        return Err(fail(format!(
            "first block hash {} is not the chain's {}",
            hex::encode(header.first_block_hash),
            hex::encode(expected.first_block_hash)
        )));
    }
    if header.environment != expected.network.environment {
        return Err(Failure::mismatch(
            Stage::Header,
            format!(
                "parameter mismatch: environment {}/{} is not the network's {}/{}",
                header.environment.id,
                header.environment.version,
                expected.network.environment.id,
                expected.network.environment.version
            ),
        ));
    }
    // Bitwise, so that a NaN never slips through a float comparison.
    let (g, n) = (&header.generation, &expected.network.generation);
    if g.temperature.to_bits() != n.temperature.to_bits()
        || g.max_new_tokens != n.max_new_tokens
        || g.eos_probability_floor.to_bits() != n.eos_probability_floor.to_bits()
    {
        return Err(Failure::mismatch(
            Stage::Header,
            format!("parameter mismatch: generation parameters {g:?} are not the network's {n:?}"),
        ));
    }
    Ok(())
}

/// The recorded mining beacon: the round at the window's start, and that round's signature
/// and randomness exactly as the validator verified them.
fn check_beacon(header: &WindowHeader, expected: &HeaderExpectations<'_>) -> StageResult<()> {
    let record = &header.beacon;
    let want = expected.mining_beacon;
    if record.round != want.round() {
        return Err(fail(format!(
            "mining beacon round {} is not {}, the round at the window's start",
            record.round,
            want.round()
        )));
    }
    if record.signature != want.signature() {
        return Err(fail(format!(
            "mining beacon signature of round {} is not the round's verified signature",
            record.round
        )));
    }
    if record.randomness != *want.randomness() {
        return Err(fail("mining beacon randomness is not the round's".into()));
    }
    Ok(())
}

fn cid_text(bytes: &[u8]) -> String {
    cid::Cid::try_from(bytes).map_or_else(|_| hex::encode(bytes), |c| c.to_string())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::pipeline::testutil::Fixture;

    fn run(f: &Fixture, header: &WindowHeader) -> StageResult<()> {
        let expected = f.expectations();
        check_header(header, &f.pair.hotkey(), &expected, || Ok(f.fingerprint)).unwrap()
    }

    #[test]
    fn honest_header_passes() {
        let f = Fixture::new(1);
        run(&f, &f.header()).unwrap();
    }

    #[test]
    fn every_field_is_checked() {
        let f = Fixture::new(1);
        type Mutation = (&'static str, fn(&mut WindowHeader));
        let mutations: &[Mutation] = &[
            ("protocol version", |h| h.protocol_version = PROTOCOL_VERSION - 1),
            ("window", |h| h.window += 1),
            ("hotkey", |h| h.hotkey.0[0] ^= 1),
            ("model_id", |h| h.model_id = grail_protocol::cid::cid_of_bytes(b"x").to_bytes()),
            ("mining beacon round", |h| h.beacon.round += 1),
            ("verified signature", |h| h.beacon.signature[3] ^= 1),
            ("verified signature", |h| h.beacon.signature.truncate(10)),
            ("randomness", |h| h.beacon.randomness[0] ^= 1),
            ("first block hash", |h| h.first_block_hash[0] ^= 1),
            ("fingerprint", |h| h.fingerprint[0] ^= 1),
            ("environment", |h| h.environment.id = "arith".into()),
            ("generation", |h| h.generation.temperature = 1.0),
            ("generation", |h| h.generation.max_new_tokens += 1),
            ("generation", |h| h.generation.eos_probability_floor = f32::NAN),
        ];
        for (needle, mutate) in mutations {
            let mut h = f.header();
            mutate(&mut h);
            let err = run(&f, &h).unwrap_err();
            assert_eq!(err.stage, Stage::Header);
            assert!(err.reason.contains(needle), "{needle}: {err}");
            // A misconfiguration is told apart from a forgery.
            let misconfigured = matches!(*needle, "environment" | "generation");
            assert_eq!(err.mismatch, misconfigured, "{needle}: {err}");
        }
    }

    #[test]
    fn fingerprint_is_computed_only_after_the_cheap_fields_pass() {
        let f = Fixture::new(1);
        let expected = f.expectations();
        let mut h = f.header();
        h.window += 1;
        let r = check_header(&h, &f.pair.hotkey(), &expected, || panic!("computed")).unwrap();
        assert!(r.is_err());
    }
}

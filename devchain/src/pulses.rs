//! drand pulses, as subtensor's drand pallet keeps them: its offchain worker fetches beacons
//! from relays and writes them with an unsigned `write_pulse`, to `Drand.Pulses(round) ->
//! Pulse { round, randomness, signature }`, `Drand.LastStoredRound` and (once)
//! `Drand.OldestStoredRound`, keeping the last `MAX_KEPT_PULSES`.
//!
//! Here, when a beacon is named ([`enabled`]), [`fetch`] runs in the background: it fetches
//! verified beacons (`--beacon.*`) from the round after the last stored one (at first, the round due now less [`BACKLOG`]) up to the
//! round due now, and hands them to the block producer, which writes those that arrived into
//! the next block ([`write()`]; no extrinsic in the body stands for it).

use std::sync::Arc;
use std::time::Duration;

use grail_chain::storage_key::storage_key;
use grail_chain::subnet::read_item;
use grail_chain::ChainError;
use grail_cli::beacon::{BeaconArgs, Trusted};
use parity_scale_codec::{Decode, Encode};
use subxt_metadata::Metadata;
use tokio::sync::mpsc::UnboundedSender;

use crate::dispatch::{Changes, Get};
use crate::rpc::Shared;
use crate::unix_ms;

/// Rounds before the one due at start that are fetched too, so that commits made just before
/// the dev chain started can be revealed.
pub const BACKLOG: u64 = 16;

/// The drand pallet's limit on stored pulses (a week of quicknet rounds).
pub const MAX_KEPT_PULSES: u64 = 216_000;

const DRAND: &str = "Drand";

/// `pallet_drand::types::Pulse`.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
pub struct Pulse {
    pub round: u64,
    /// sha256 of the signature.
    pub randomness: Vec<u8>,
    /// The compressed BLS signature of the round.
    pub signature: Vec<u8>,
}

/// `Drand.Pulses(round)`, if stored.
pub fn pulse(md: &Metadata, get: Get<'_>, round: u64) -> Result<Option<Pulse>, ChainError> {
    read_item(md, DRAND, "Pulses", &[&round.encode()], "", &mut |k| Ok(get(k)))
}

/// `Drand.LastStoredRound` (0: none).
pub fn last_stored_round(md: &Metadata, get: Get<'_>) -> Result<u64, ChainError> {
    Ok(read_item(md, DRAND, "LastStoredRound", &[], "", &mut |k| Ok(get(k)))?.unwrap_or(0))
}

/// The changes that store `pulses` after those stored (older rounds are skipped).
pub fn write(md: &Metadata, get: Get<'_>, pulses: &[Pulse]) -> Result<Changes, ChainError> {
    let mut changes = Changes::new();
    let mut last = last_stored_round(md, get)?;
    let oldest_key = storage_key(md, DRAND, "OldestStoredRound", &[])?;
    let mut oldest: u64 =
        read_item(md, DRAND, "OldestStoredRound", &[], "", &mut |k| Ok(get(k)))?.unwrap_or(0);
    let first_storage = last == 0 && oldest == 0;
    for p in pulses {
        if p.round <= last {
            continue;
        }
        let key = storage_key(md, DRAND, "Pulses", &[&p.round.encode()])?;
        changes.push((key, Some(p.encode())));
        if first_storage && oldest == 0 {
            oldest = p.round;
        }
        last = p.round;
    }
    if changes.is_empty() {
        return Ok(changes);
    }
    while last.saturating_sub(oldest).saturating_add(1) > MAX_KEPT_PULSES && oldest < last {
        changes.push((storage_key(md, DRAND, "Pulses", &[&oldest.encode()])?, None));
        oldest += 1;
    }
    changes.push((storage_key(md, DRAND, "LastStoredRound", &[])?, Some(last.encode())));
    changes.push((oldest_key, Some(oldest.encode())));
    Ok(changes)
}

/// Whether the flags name a beacon: its relays, its chain, or its chain info (a named chain
/// without relays is asked at its default relays).
pub fn enabled(args: &BeaconArgs) -> bool {
    !args.relays.is_empty() || args.chain.is_some() || args.chain_info.is_some()
}

/// Fetches pulses of the `trusted` chain from the relays of `args` into `to` until the block
/// producer is gone.
pub async fn fetch(
    args: BeaconArgs,
    trusted: Trusted,
    shared: Arc<Shared>,
    to: UnboundedSender<Pulse>,
) {
    let mut failures = 0u32;
    let client = loop {
        match args.connect_to(&trusted).await {
            Ok(c) => break c,
            Err(e) => {
                // Said now and then: the beacon may simply not be up yet.
                if failures % 30 == 0 {
                    tracing::warn!(error = %e, "drand relays not reachable yet; retrying");
                } else {
                    tracing::debug!(error = %e, "drand relays not reachable yet; retrying");
                }
                failures += 1;
                if to.is_closed() {
                    return;
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    };
    let chain = client.chain().clone();
    tracing::info!(
        chain = %chain.hash_hex(),
        period_s = chain.period(),
        "fetching drand pulses for the dev chain"
    );
    let mut next: Option<u64> = None;
    loop {
        let due = chain.round_at(unix_ms() / 1000).ok().filter(|r| *r > 0);
        let mut failed = false;
        if let Some(due) = due {
            let from = match next {
                Some(n) => n,
                None => {
                    let stored = {
                        let c = shared.chain();
                        let best = c.best().header.number;
                        last_stored_round(c.metadata(), &|k| c.get(k, best).map(<[u8]>::to_vec))
                    };
                    match stored {
                        Ok(0) => due.saturating_sub(BACKLOG).max(1),
                        Ok(last) => last + 1,
                        Err(e) => {
                            tracing::error!(error = %e, "Drand.LastStoredRound unreadable: no pulses");
                            return;
                        }
                    }
                }
            };
            let mut round = from;
            while round <= due {
                match client.fetch_round(round).await {
                    Ok(b) => {
                        let p = Pulse {
                            round: b.round(),
                            randomness: b.randomness().to_vec(),
                            signature: b.signature().to_vec(),
                        };
                        if to.send(p).is_err() {
                            return;
                        }
                        round += 1;
                    }
                    Err(e) => {
                        tracing::warn!(round, error = %e, "drand pulse not fetched; retrying");
                        failed = true;
                        break;
                    }
                }
            }
            next = Some(round);
        }
        if to.is_closed() {
            return;
        }
        // Wake when the next round is due (a little after, for the relay's clock), or after a
        // period when the relays failed.
        let period_ms = chain.period().max(1) * 1000;
        let wait_ms = match (failed, next.and_then(|n| chain.time_of(n).ok())) {
            (false, Some(t)) => (t * 1000 + 50).saturating_sub(unix_ms()).clamp(50, period_ms),
            _ => period_ms,
        };
        tokio::time::sleep(Duration::from_millis(wait_ms)).await;
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::collections::BTreeMap;

    use grail_chain::metadata::{checked_metadata, FINNEY_METADATA};

    use super::*;

    fn p(round: u64) -> Pulse {
        Pulse { round, randomness: vec![round as u8; 32], signature: vec![7; 48] }
    }

    #[test]
    fn pulses_are_stored_after_the_last_round_with_the_drand_pallets_items() {
        let md = checked_metadata(FINNEY_METADATA, "finney").unwrap();
        let mut state: BTreeMap<Vec<u8>, Vec<u8>> = BTreeMap::new();
        let apply = |pulses: &[Pulse], state: &mut BTreeMap<Vec<u8>, Vec<u8>>| {
            let changes = write(&md, &|k| state.get(k).cloned(), pulses).unwrap();
            for (k, v) in changes {
                match v {
                    Some(v) => state.insert(k, v),
                    None => state.remove(&k),
                };
            }
        };
        apply(&[p(5), p(6)], &mut state);
        apply(&[p(6), p(4), p(7)], &mut state);
        let get = |k: &[u8]| state.get(k).cloned();
        assert_eq!(last_stored_round(&md, &get).unwrap(), 7);
        let oldest: u64 = read_item(&md, DRAND, "OldestStoredRound", &[], "", &mut |k| Ok(get(k)))
            .unwrap()
            .unwrap();
        assert_eq!(oldest, 5);
        assert_eq!(pulse(&md, &get, 7).unwrap(), Some(p(7)));
        assert_eq!(pulse(&md, &get, 4).unwrap(), None, "older than the last stored round");
        // The key is Blake2_128Concat of the round, the value the pallet's Pulse.
        let key = storage_key(&md, DRAND, "Pulses", &[&6u64.encode()]).unwrap();
        assert_eq!(&key[key.len() - 8..], &6u64.to_le_bytes());
        assert_eq!(state[&key], (6u64, vec![6u8; 32], vec![7u8; 48]).encode());
    }
}

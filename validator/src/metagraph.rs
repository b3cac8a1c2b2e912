//! The subnet's metagraph: who is registered under which uid, and the burn uid. On a chain it
//! is read from subtensor's storage at the finalized head ([`MetagraphSource::Chain`]: the
//! burn uid is the subnet owner's hotkey's, else 0; every other uid is a miner); offline it
//! is a JSON file:
//!
//! ```json
//! {"netuid": 81, "burn_uid": 0, "neurons": [{"uid": 1, "hotkey": "5F..."}]}
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use grail_chain::rpc::SubtensorClient;
use grail_chain::subnet::SubnetState;

use grail_protocol::keys::Hotkey;
use serde::{Deserialize, Serialize};

use crate::error::{io, Result, ValidatorError};

/// One registered miner.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Neuron {
    pub uid: u16,
    /// SS58 address.
    pub hotkey: Hotkey,
}

/// The subnet's registrations.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Metagraph {
    /// The subnet; tags the weights files when given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub netuid: Option<u16>,
    /// The uid that receives the burned share (never a miner).
    pub burn_uid: u16,
    /// The miners, each uid and hotkey at most once.
    pub neurons: Vec<Neuron>,
}

impl Metagraph {
    /// Reads and checks a metagraph file.
    pub fn load(path: &Path) -> Result<Metagraph> {
        let bytes = std::fs::read(path).map_err(io("read metagraph", path))?;
        Metagraph::from_json(&bytes)
    }

    /// Parses and checks a metagraph file's bytes.
    pub fn from_json(bytes: &[u8]) -> Result<Metagraph> {
        let graph: Metagraph = serde_json::from_slice(bytes)
            .map_err(|source| ValidatorError::Json { what: "metagraph", source })?;
        graph.check()?;
        Ok(graph)
    }

    /// Rejects a uid or hotkey listed twice, and a miner on the burn uid.
    pub fn check(&self) -> Result<()> {
        let bad = |reason: String| ValidatorError::Metagraph { reason };
        let mut uids = BTreeMap::new();
        let mut hotkeys = BTreeMap::new();
        for n in &self.neurons {
            if n.uid == self.burn_uid {
                return Err(bad(format!("neuron {} has the burn uid {}", n.hotkey, n.uid)));
            }
            if uids.insert(n.uid, n.hotkey).is_some() {
                return Err(bad(format!("uid {} is listed twice", n.uid)));
            }
            if hotkeys.insert(n.hotkey, n.uid).is_some() {
                return Err(bad(format!("hotkey {} is listed twice", n.hotkey)));
            }
        }
        Ok(())
    }

    /// Hotkey to uid: the miners a window verifies.
    pub fn miners(&self) -> BTreeMap<Hotkey, u16> {
        self.neurons.iter().map(|n| (n.hotkey, n.uid)).collect()
    }

    /// Uid to hotkey: the miners the weights score.
    pub fn by_uid(&self) -> BTreeMap<u16, Hotkey> {
        self.neurons.iter().map(|n| (n.uid, n.hotkey)).collect()
    }
}

impl Metagraph {
    /// The metagraph of a subnet read from the chain: every uid but the burn uid is a miner.
    pub fn from_subnet(state: &SubnetState, owner: Option<[u8; 32]>) -> Metagraph {
        let burn_uid =
            owner.and_then(|o| state.neurons.iter().find(|n| n.hotkey == o)).map_or(0, |n| n.uid);
        let neurons = state
            .neurons
            .iter()
            .filter(|n| n.uid != burn_uid)
            .map(|n| Neuron { uid: n.uid, hotkey: Hotkey(n.hotkey) })
            .collect();
        Metagraph { netuid: Some(state.netuid), burn_uid, neurons }
    }
}

/// Where the metagraph comes from.
#[derive(Debug, Clone)]
pub enum MetagraphSource {
    /// A JSON file, read again on every load.
    File(PathBuf),
    /// Subtensor's storage at the finalized head, read again when the head moves.
    Chain {
        client: SubtensorClient,
        netuid: u16,
        /// The last read, with the block it was read at.
        cache: Arc<Mutex<Option<(u64, Metagraph)>>>,
    },
}

impl MetagraphSource {
    /// A chain source of `netuid`.
    pub fn chain(client: SubtensorClient, netuid: u16) -> Self {
        MetagraphSource::Chain { client, netuid, cache: Arc::default() }
    }

    /// Where it comes from, for logs.
    pub fn describe(&self) -> String {
        match self {
            MetagraphSource::File(p) => format!("file {}", p.display()),
            MetagraphSource::Chain { client, netuid, .. } => {
                format!("netuid {netuid} on {}", client.endpoint())
            }
        }
    }

    /// The current metagraph (on a node: at the latest finalized block).
    pub async fn load(&self) -> Result<Metagraph> {
        self.load_at(None).await
    }

    /// The metagraph at block `at` (number, hash) on a node, so that every validator of a
    /// window reads the same one; the file, whatever `at`.
    pub async fn load_at(&self, at: Option<(u64, [u8; 32])>) -> Result<Metagraph> {
        match self {
            MetagraphSource::File(path) => Metagraph::load(path),
            MetagraphSource::Chain { client, netuid, cache } => {
                let at_block = at.map(|(n, _)| n);
                let bad = |e: grail_chain::ChainError| match (e, at_block) {
                    (e @ grail_chain::ChainError::StateDiscarded { .. }, Some(block)) => {
                        ValidatorError::StatePruned {
                            block,
                            reason: format!("netuid {netuid}'s metagraph: {e}"),
                        }
                    }
                    (e, _) => ValidatorError::Metagraph { reason: format!("netuid {netuid}: {e}") },
                };
                let head = match (at, client.finalized()) {
                    (Some((number, hash)), _) => {
                        grail_chain::rpc::Head { number, hash, timestamp_ms: 0 }
                    }
                    (None, Some(head)) => head,
                    (None, None) => {
                        let none =
                            grail_chain::ChainError::NotYetProduced { block: 0, latest: None };
                        return Err(bad(none));
                    }
                };
                if let Some((at, graph)) = cache.lock().unwrap_or_else(|p| p.into_inner()).as_ref()
                {
                    if *at == head.number {
                        return Ok(graph.clone());
                    }
                }
                let started = std::time::Instant::now();
                let state = client.subnet_at(*netuid, head.hash).await.map_err(bad)?;
                let owner = client.subnet_owner(*netuid, head.hash).await.map_err(bad)?;
                let graph = Metagraph::from_subnet(&state, owner);
                graph.check()?;
                tracing::debug!(
                    netuid,
                    block = head.number,
                    uids = state.neurons.len(),
                    ms = started.elapsed().as_millis() as u64,
                    "metagraph read from the chain"
                );
                *cache.lock().unwrap_or_else(|p| p.into_inner()) =
                    Some((head.number, graph.clone()));
                Ok(graph)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use grail_protocol::keys::HotkeyPair;

    fn hk(i: u8) -> Hotkey {
        HotkeyPair::from_mini_secret(&[i; 32]).expect("key").hotkey()
    }

    #[test]
    fn parses_and_rejects_duplicates_and_the_burn_uid() {
        let text = format!(
            r#"{{"netuid": 7, "burn_uid": 0, "neurons": [{{"uid": 1, "hotkey": "{}"}},
                {{"uid": 2, "hotkey": "{}"}}]}}"#,
            hk(1),
            hk(2)
        );
        let g: Metagraph = serde_json::from_str(&text).expect("parses");
        g.check().expect("valid");
        assert_eq!(g.miners()[&hk(2)], 2);
        assert_eq!(g.by_uid()[&1], hk(1));
        let mut dup = g.clone();
        dup.neurons[1].uid = 1;
        assert!(dup.check().unwrap_err().to_string().contains("uid 1 is listed twice"));
        let mut dup = g.clone();
        dup.neurons[1].hotkey = hk(1);
        assert!(dup.check().unwrap_err().to_string().contains("listed twice"));
        let mut burn = g;
        burn.neurons[0].uid = 0;
        assert!(burn.check().unwrap_err().to_string().contains("burn uid"));
        assert!(
            serde_json::from_str::<Metagraph>(r#"{"burn_uid": 0, "neurons": [], "x": 1}"#).is_err()
        );
    }
}

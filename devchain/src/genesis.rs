//! The dev chain's genesis file: one subnet, its registered hotkeys in uid order, their stake,
//! and the hyperparameters (absent ones take the metadata's defaults, as on subtensor).
//!
//! ```json
//! {"netuid": 81, "owner": "5F…", "tempo": 360, "commit_reveal_enabled": true,
//!  "neurons": [{"hotkey": "5F…", "stake": 1000000000, "validator_permit": true}],
//!  "balances": [{"account": "5F…", "free": 1000000000}]}
//! ```
//!
//! `balances` funds accounts (`System.Account`, in rao) so that they can sign extrinsics and
//! pay for registration (`burned_register` burns `Burn(netuid)`, 0.1 TAO by default).

use std::collections::BTreeMap;
use std::path::Path;

use grail_chain::storage_key::storage_key;
use grail_chain::subnet::{Hyperparameters, SubnetNeuron, SubnetState};
use grail_protocol::keys::Hotkey;
use parity_scale_codec::Encode;
use serde::Deserialize;
use subxt_metadata::Metadata;

use crate::account::AccountInfo;

/// The most uids a subnet has on subtensor (`MaxAllowedUids`).
pub const MAX_UIDS: usize = 256;

/// One registered hotkey.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GenesisNeuron {
    pub hotkey: Hotkey,
    #[serde(default)]
    pub stake: u64,
    #[serde(default)]
    pub validator_permit: bool,
}

/// A funded account.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GenesisBalance {
    pub account: Hotkey,
    pub free: u64,
}

/// The genesis file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Genesis {
    pub netuid: u16,
    /// The subnet owner's hotkey (`SubnetOwnerHotkey`); weights burned go to its uid.
    #[serde(default)]
    pub owner: Option<Hotkey>,
    /// What `system_chain` answers.
    #[serde(default = "default_chain_name")]
    pub chain: String,
    #[serde(default)]
    pub tempo: Option<u16>,
    #[serde(default)]
    pub commit_reveal_enabled: Option<bool>,
    #[serde(default)]
    pub reveal_period_epochs: Option<u64>,
    #[serde(default)]
    pub weights_version_key: Option<u64>,
    #[serde(default)]
    pub weights_rate_limit: Option<u64>,
    #[serde(default)]
    pub commit_reveal_version: Option<u16>,
    #[serde(default)]
    pub min_allowed_weights: Option<u16>,
    #[serde(default)]
    pub max_weights_limit: Option<u16>,
    /// In uid order: the first is uid 0.
    pub neurons: Vec<GenesisNeuron>,
    #[serde(default)]
    pub balances: Vec<GenesisBalance>,
}

fn default_chain_name() -> String {
    "Development".into()
}

/// A genesis file that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum GenesisError {
    #[error("genesis file {path}: {reason}")]
    File { path: String, reason: String },
    #[error("genesis: {0}")]
    Invalid(String),
    #[error(transparent)]
    Chain(#[from] grail_chain::ChainError),
}

impl Genesis {
    /// Reads and checks a genesis file.
    pub fn load(path: &Path) -> Result<Self, GenesisError> {
        let file = |reason: String| GenesisError::File { path: path.display().to_string(), reason };
        let bytes = std::fs::read(path).map_err(|e| file(e.to_string()))?;
        let genesis: Genesis = serde_json::from_slice(&bytes).map_err(|e| file(e.to_string()))?;
        genesis.check()?;
        Ok(genesis)
    }

    /// Refuses more than [`MAX_UIDS`] neurons and a hotkey registered twice.
    pub fn check(&self) -> Result<(), GenesisError> {
        if self.neurons.len() > MAX_UIDS {
            return Err(GenesisError::Invalid(format!(
                "neurons: {} listed, at most {MAX_UIDS} (MaxAllowedUids)",
                self.neurons.len()
            )));
        }
        let mut seen = BTreeMap::new();
        for (uid, n) in self.neurons.iter().enumerate() {
            if let Some(first) = seen.insert(n.hotkey, uid) {
                return Err(GenesisError::Invalid(format!(
                    "neurons: hotkey {} is listed as uid {first} and uid {uid}",
                    n.hotkey
                )));
            }
        }
        Ok(())
    }

    /// The subnet, with the metadata's defaults for absent hyperparameters.
    pub fn subnet(&self, md: &Metadata) -> Result<SubnetState, GenesisError> {
        let defaults = SubnetState::read(md, self.netuid, |key| {
            // Only SubnetworkN and ValidatorPermit need a value to read the defaults.
            let n = storage_key(md, "SubtensorModule", "SubnetworkN", &[&self.netuid.encode()])?;
            Ok((key == n.as_slice()).then(|| 0u16.encode()))
        })?
        .hyperparameters;
        let h = Hyperparameters {
            tempo: self.tempo.unwrap_or(defaults.tempo),
            commit_reveal_enabled: self
                .commit_reveal_enabled
                .unwrap_or(defaults.commit_reveal_enabled),
            reveal_period_epochs: self
                .reveal_period_epochs
                .unwrap_or(defaults.reveal_period_epochs),
            weights_version_key: self.weights_version_key.unwrap_or(defaults.weights_version_key),
            weights_rate_limit: self.weights_rate_limit.unwrap_or(defaults.weights_rate_limit),
            commit_reveal_version: self
                .commit_reveal_version
                .unwrap_or(defaults.commit_reveal_version),
            min_allowed_weights: self.min_allowed_weights.unwrap_or(defaults.min_allowed_weights),
            max_weights_limit: self.max_weights_limit.unwrap_or(defaults.max_weights_limit),
        };
        let neurons = self
            .neurons
            .iter()
            .enumerate()
            .map(|(uid, n)| SubnetNeuron {
                uid: uid as u16,
                hotkey: n.hotkey.0,
                validator_permit: n.validator_permit,
                stake: n.stake,
            })
            .collect();
        Ok(SubnetState { netuid: self.netuid, neurons, hyperparameters: h })
    }

    /// Every storage item of the genesis block but the per-block ones.
    pub fn storage(&self, md: &Metadata) -> Result<BTreeMap<Vec<u8>, Vec<u8>>, GenesisError> {
        let mut out = self.subnet(md)?.storage(md)?;
        if let Some(owner) = self.owner {
            let key =
                storage_key(md, "SubtensorModule", "SubnetOwnerHotkey", &[&self.netuid.encode()])?;
            out.insert(key, owner.0.encode());
        }
        let added = storage_key(md, "SubtensorModule", "NetworksAdded", &[&self.netuid.encode()])?;
        out.insert(added, true.encode());
        for b in &self.balances {
            let key = storage_key(md, "System", "Account", &[&b.account.0])?;
            out.insert(key, AccountInfo::funded(b.free).encode());
        }
        Ok(out)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use grail_chain::metadata::{checked_metadata, FINNEY_METADATA};

    fn hk(i: u8) -> String {
        Hotkey([i; 32]).to_ss58()
    }

    #[test]
    fn absent_hyperparameters_take_the_metadata_defaults() {
        let md = checked_metadata(FINNEY_METADATA, "finney.scale").unwrap();
        let json = format!(
            r#"{{"netuid": 3, "tempo": 10, "neurons": [{{"hotkey": "{}"}}, {{"hotkey": "{}", "stake": 5}}]}}"#,
            hk(1),
            hk(2)
        );
        let g: Genesis = serde_json::from_str(&json).unwrap();
        g.check().unwrap();
        let s = g.subnet(&md).unwrap();
        assert_eq!(s.hyperparameters.tempo, 10);
        assert!(s.hyperparameters.commit_reveal_enabled);
        assert_eq!(s.hyperparameters.commit_reveal_version, 4);
        assert_eq!(s.neurons[1].stake, 5);
        let storage = g.storage(&md).unwrap();
        let back = SubnetState::read(&md, 3, |k| Ok(storage.get(k).cloned())).unwrap();
        assert_eq!(back, s);
    }

    #[test]
    fn twice_registered_hotkeys_and_too_many_uids_are_refused() {
        let twice = format!(
            r#"{{"netuid": 1, "neurons": [{{"hotkey": "{0}"}}, {{"hotkey": "{0}"}}]}}"#,
            hk(1)
        );
        let g: Genesis = serde_json::from_str(&twice).unwrap();
        assert!(g.check().unwrap_err().to_string().contains("uid 0 and uid 1"));
        let many: Vec<_> = (0..=256u16)
            .map(|i| {
                let mut b = [0u8; 32];
                b[..2].copy_from_slice(&i.to_le_bytes());
                GenesisNeuron { hotkey: Hotkey(b), stake: 0, validator_permit: false }
            })
            .collect();
        let g = Genesis { neurons: many, ..g };
        assert!(g.check().unwrap_err().to_string().contains("at most 256"));
    }
}

//! Where each miner's window files are read from.
//!
//! On a subtensor node a miner names its own store in its commitment
//! (`Commitments.CommitmentOf(netuid, hotkey)`, format in [`grail_chain::commitment`]); the
//! validator reads that miner's file there, at the store's root, and nowhere else. A store
//! named in a commitment is opened with [`WindowStore::open_isolated`]: only the commitment's
//! read keys, nothing of the validator's environment, so the validator's own credentials
//! never reach a miner's endpoint. A `file://` store or a plain-HTTP endpoint is accepted only
//! with [`CommitmentPolicy::allow_local`] (one machine: a dev chain, tests): on a public
//! subnet it would let a miner point the validator at the validator's own disk or network.
//!
//! A miner without a commitment (and every miner offline) is read from its part of the
//! validator's own store, `{hotkey}/` ([`WindowStore::for_miner`]).
//!
//! Commitments are read for the registered hotkeys only, in batched storage reads at the
//! finalized head, again whenever it moves; a store is reopened only when the miner's
//! registration changed.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use grail_chain::commitment::{MinerCommitment, Registration};
use grail_chain::rpc::SubtensorClient;
use grail_protocol::keys::Hotkey;
use grail_storage::{StorageConfig, WindowStore};

/// Which stores named in commitments are accepted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CommitmentPolicy {
    /// Accept `file://` stores and `http://` endpoints (one machine only).
    pub allow_local: bool,
}

/// Each miner's store: its part of the validator's own store, or the one its commitment names.
#[derive(Debug, Clone)]
pub struct MinerStores {
    base: WindowStore,
    committed: Option<Committed>,
}

#[derive(Debug, Clone)]
struct Committed {
    client: SubtensorClient,
    netuid: u16,
    policy: CommitmentPolicy,
    timeout: Duration,
    cache: Arc<Mutex<Cache>>,
}

#[derive(Debug, Default)]
struct Cache {
    /// The finalized block the commitments were last read at.
    read_at: Option<u64>,
    /// Each miner with a commitment: its registration and what it opened to.
    miners: HashMap<Hotkey, (Registration, Result<WindowStore, String>)>,
    /// The last failure to read the commitments, reported once.
    error: Option<String>,
}

impl MinerStores {
    /// Every miner in its part of `base` (offline).
    pub fn shared(base: WindowStore) -> Self {
        Self { base, committed: None }
    }

    /// Each miner in the store its commitment on `netuid` names; without one, in its part of
    /// `base`. Stores are opened with `timeout` on every operation.
    pub fn committed(
        base: WindowStore,
        client: SubtensorClient,
        netuid: u16,
        policy: CommitmentPolicy,
        timeout: Duration,
    ) -> Self {
        let committed =
            Committed { client, netuid, policy, timeout, cache: Arc::new(Mutex::default()) };
        Self { base, committed: Some(committed) }
    }

    /// What the stores are, for logs.
    pub fn describe(&self) -> String {
        match &self.committed {
            None => format!("{} (each miner in its part)", self.base.description()),
            Some(c) => format!(
                "each miner's committed store on netuid {}; without a commitment, its part of {}",
                c.netuid,
                self.base.description()
            ),
        }
    }

    /// Reads the commitments of `miners` again if the finalized head moved since the last
    /// read. A failed read keeps what was read before (reported once while it lasts).
    pub async fn refresh(&self, miners: &BTreeMap<Hotkey, u16>) {
        let Some(c) = &self.committed else { return };
        let Some(head) = c.client.finalized() else { return };
        if c.lock().read_at == Some(head.number) {
            return;
        }
        let hotkeys: Vec<[u8; 32]> = miners.keys().map(|h| h.0).collect();
        let read = c.client.commitments_of(c.netuid, &hotkeys, head.hash).await;
        let mut cache = c.lock();
        let registrations = match read {
            Ok(r) => r,
            Err(e) => {
                let e = e.to_string();
                if cache.error.as_ref() != Some(&e) {
                    tracing::warn!(error = e, "miners' commitments unreadable; keeping the last");
                    cache.error = Some(e);
                }
                return;
            }
        };
        cache.error = None;
        cache.read_at = Some(head.number);
        let mut next = HashMap::new();
        for (hotkey, registration) in miners.keys().zip(registrations) {
            let Some(registration) = registration else { continue };
            let kept = cache.miners.remove(hotkey).filter(|(r, opened)| {
                // An unopenable store (a folder not made yet) is tried again.
                *r == registration && opened.is_ok()
            });
            let entry = kept.unwrap_or_else(|| {
                let opened = c.open(&registration);
                match &opened {
                    Ok(store) => tracing::info!(
                        %hotkey,
                        block = registration.block,
                        store = store.description(),
                        "miner's store from its commitment"
                    ),
                    Err(reason) => tracing::warn!(
                        %hotkey,
                        block = registration.block,
                        reason,
                        "miner's commitment names no store it can be read from"
                    ),
                }
                (registration, opened)
            });
            next.insert(*hotkey, entry);
        }
        cache.miners = next;
    }

    /// The store `hotkey`'s file is read from, or why there is none.
    pub fn store_for(&self, hotkey: &Hotkey) -> Result<WindowStore, String> {
        if let Some(c) = &self.committed {
            if let Some((_, opened)) = c.lock().miners.get(hotkey) {
                return opened.clone();
            }
        }
        self.base.for_miner(&hotkey.to_ss58()).map_err(|e| e.to_string())
    }
}

impl MinerStores {
    /// `hotkey`'s part of the validator's own store, unless the miner's commitment names
    /// another store (`None`).
    pub fn own_part_for(&self, hotkey: &Hotkey) -> Option<Result<WindowStore, String>> {
        if let Some(c) = &self.committed {
            if c.lock().miners.contains_key(hotkey) {
                return None;
            }
        }
        Some(self.base.for_miner(&hotkey.to_ss58()).map_err(|e| e.to_string()))
    }
}

impl Committed {
    fn lock(&self) -> std::sync::MutexGuard<'_, Cache> {
        self.cache.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn open(&self, registration: &Registration) -> Result<WindowStore, String> {
        let fields = registration.raw_fields().map_err(|e| e.to_string())?;
        let commitment = MinerCommitment::from_fields(&fields).map_err(|e| e.to_string())?;
        let config = storage_config(&commitment, self.policy)?;
        WindowStore::open_isolated(&config)
            .map(|s| s.with_timeout(self.timeout))
            .map_err(|e| e.to_string())
    }
}

/// The store configuration a commitment names, under `policy`.
pub fn storage_config(
    c: &MinerCommitment,
    policy: CommitmentPolicy,
) -> Result<StorageConfig, String> {
    let local = c.store_url.starts_with("file://")
        || c.endpoint.as_deref().is_some_and(|e| e.starts_with("http://"));
    if local && !policy.allow_local {
        return Err(format!(
            "{} is a local folder or a plain-HTTP endpoint, accepted only with \
             --commitments.allow-local",
            c.endpoint.as_deref().unwrap_or(&c.store_url)
        ));
    }
    Ok(StorageConfig {
        url: Some(c.store_url.clone()),
        path: None,
        endpoint: c.endpoint.clone(),
        region: c.region.clone(),
        access_key_id: c.read_credentials.as_ref().map(|k| k.0.clone()),
        secret_access_key: c.read_credentials.as_ref().map(|k| k.1.clone()),
        allow_http: Some(c.allow_http),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn commitment(url: &str, endpoint: Option<&str>) -> MinerCommitment {
        MinerCommitment {
            store_url: url.into(),
            endpoint: endpoint.map(Into::into),
            region: Some("auto".into()),
            allow_http: endpoint.is_some_and(|e| e.starts_with("http://")),
            read_credentials: Some(("AKREAD".into(), "s3cret".into())),
        }
    }

    #[test]
    fn local_stores_need_the_policy_and_only_read_keys_are_used() {
        let strict = CommitmentPolicy::default();
        let local = CommitmentPolicy { allow_local: true };
        let https = commitment("s3://b/p", Some("https://r2.example.com"));
        let cfg = storage_config(&https, strict).expect("https is accepted");
        assert_eq!(cfg.url.as_deref(), Some("s3://b/p"));
        assert_eq!(cfg.access_key_id.as_deref(), Some("AKREAD"));
        assert_eq!(cfg.secret_access_key.as_deref(), Some("s3cret"));
        assert_eq!((cfg.region.as_deref(), cfg.allow_http), (Some("auto"), Some(false)));
        for c in
            [commitment("s3://b", Some("http://127.0.0.1:9000")), commitment("file:///x", None)]
        {
            let err = storage_config(&c, strict).unwrap_err();
            assert!(err.contains("--commitments.allow-local"), "{err}");
            assert!(storage_config(&c, local).is_ok());
        }
    }
}

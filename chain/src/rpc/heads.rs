//! Follows the node's finalized head: a `chain_subscribeFinalizedHeads` subscription over
//! WebSocket (subscribed again after a disconnection), `chain_getFinalizedHead` polled over
//! HTTP. Each head's hash is checked against its header, and its `Timestamp.Now` read.

use std::time::Duration;

use grail_protocol::hash::Hash32;
use subxt_metadata::Metadata;
use tokio::sync::watch;

use super::{check_header, header_hash, timestamp_at, Caller, Header, Rpc};
use crate::network::Transport;
use crate::ChainError;

/// A finalized block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Head {
    pub number: u64,
    pub hash: Hash32,
    /// `Timestamp.Now` at this block, unix ms.
    pub timestamp_ms: u64,
}

pub(super) struct Tracker {
    pub endpoint: String,
    pub rpc: Rpc,
    pub metadata: std::sync::Arc<Metadata>,
    pub timeout: Duration,
    pub block_time_s: u64,
    pub transport: Transport,
}

impl Tracker {
    fn call(&self) -> Caller<'_> {
        Caller { endpoint: &self.endpoint, timeout: self.timeout }
    }

    pub(super) async fn run(self, tx: watch::Sender<Option<Head>>) {
        let mut backoff = Duration::from_millis(250);
        let mut last_error: Option<String> = None;
        loop {
            let before = tx.borrow().map(|h| h.number);
            let outcome = match self.transport {
                Transport::WebSocket => self.follow(&tx).await,
                Transport::Http => self.poll(&tx).await,
            };
            if tx.is_closed() {
                return;
            }
            let e = match outcome {
                Ok(()) => "the finalized-heads subscription ended".to_owned(),
                Err(e) => e.to_string(),
            };
            if last_error.as_ref() != Some(&e) {
                tracing::warn!(endpoint = %self.endpoint, error = %e, retry_ms = backoff.as_millis() as u64, "chain: following finalized heads again");
                last_error = Some(e);
            }
            // A subscription that delivered heads starts the backoff over.
            if tx.borrow().map(|h| h.number) != before {
                backoff = Duration::from_millis(250);
            }
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(Duration::from_secs(10));
        }
    }

    /// Publishes `header` (hash `hash`) if it is newer than the last head.
    async fn publish(
        &self,
        tx: &watch::Sender<Option<Head>>,
        header: &Header,
        hash: Hash32,
    ) -> Result<(), ChainError> {
        if tx.borrow().is_some_and(|h| h.number >= header.number) {
            return Ok(());
        }
        let timestamp_ms = timestamp_at(&self.rpc, &self.metadata, &self.call(), hash).await?;
        let head = Head { number: header.number, hash, timestamp_ms };
        tracing::debug!(block = head.number, "chain: finalized head");
        tx.send_replace(Some(head));
        Ok(())
    }

    async fn follow(&self, tx: &watch::Sender<Option<Head>>) -> Result<(), ChainError> {
        let mut sub = self
            .call()
            .run("chain_subscribeFinalizedHeads", self.rpc.chain_subscribe_finalized_heads())
            .await?;
        // The subscription announces heads from now on: catch up with the current one first.
        self.poll_once(tx).await?;
        let silence = self.silence_limit();
        loop {
            let next = tokio::time::timeout(silence, sub.next()).await.map_err(|_| {
                self.unavailable(format!(
                    "no finalized head for {} s on the subscription",
                    silence.as_secs()
                ))
            })?;
            let Some(header) = next else { return Ok(()) };
            let header = header.map_err(|e| self.unavailable(format!("subscription: {e}")))?;
            let hash = header_hash(&header);
            self.publish(tx, &header, hash).await?;
        }
    }

    async fn poll(&self, tx: &watch::Sender<Option<Head>>) -> Result<(), ChainError> {
        let interval = Duration::from_millis((self.block_time_s * 250).clamp(250, 3000));
        loop {
            self.poll_once(tx).await?;
            if tx.is_closed() {
                return Ok(());
            }
            tokio::time::sleep(interval).await;
        }
    }

    async fn poll_once(&self, tx: &watch::Sender<Option<Head>>) -> Result<(), ChainError> {
        let hash =
            self.call().run("chain_getFinalizedHead", self.rpc.chain_get_finalized_head()).await?;
        let header = self
            .call()
            .run("chain_getHeader", self.rpc.chain_get_header(Some(hash)))
            .await?
            .ok_or_else(|| self.unavailable("no header for the finalized head".into()))?;
        check_header(&header, header.number, hash.0).map_err(|d| self.unavailable(d))?;
        self.publish(tx, &header, hash.0).await
    }

    /// How long a subscription may stay silent: many blocks' worth.
    fn silence_limit(&self) -> Duration {
        Duration::from_secs(self.block_time_s.saturating_mul(10).max(30))
    }

    fn unavailable(&self, detail: String) -> ChainError {
        ChainError::Unavailable { source_name: self.endpoint.clone(), detail }
    }
}

//! Fetches beacons by round from a list of relays, with per-request timeouts and retries with
//! backoff, and verifies each before returning it. There is no fallback: when no relay serves
//! a beacon that verifies, the caller gets an error and must wait and retry.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::chain::{ChainInfo, ChainKey};
use super::verify::{verify_beacon, Beacon, VerifiedBeacon};
use super::DrandError;

/// Largest response body accepted from a relay (a beacon or info is well under 1 KiB).
const MAX_BODY: usize = 64 * 1024;

/// Timeouts and retry policy.
#[derive(Clone, Debug)]
pub struct ClientOptions {
    /// Limit on one request, connection included.
    pub request_timeout: Duration,
    /// How many times the whole relay list is tried before giving up.
    pub passes: u32,
    /// Pause after the first failed pass; doubled after each further one.
    pub backoff_initial: Duration,
    /// Upper bound on the pause.
    pub backoff_max: Duration,
}

impl Default for ClientOptions {
    fn default() -> Self {
        Self {
            request_timeout: Duration::from_secs(5),
            passes: 4,
            backoff_initial: Duration::from_millis(500),
            backoff_max: Duration::from_secs(8),
        }
    }
}

/// A verifying drand HTTP client for one chain.
#[derive(Clone, Debug)]
pub struct DrandClient {
    http: reqwest::Client,
    relays: Vec<String>,
    chain: ChainInfo,
    key: ChainKey,
    opts: ClientOptions,
}

impl DrandClient {
    /// A client for a chain known in advance (pinned or read from a trusted info file).
    /// Relays are base URLs such as `https://api.drand.sh`.
    pub fn new(
        chain: ChainInfo,
        relays: Vec<String>,
        opts: ClientOptions,
    ) -> Result<Self, DrandError> {
        let key = chain.key();
        Self::build(chain, key, relays, opts)
    }

    /// A client for a chain of which only the key is trusted (the local beacon, whose genesis
    /// is chosen at start). Reads `/info` from the relays and accepts the first whose key and
    /// scheme equal `key` and whose hash matches its own fields.
    pub async fn discover(
        key: ChainKey,
        relays: Vec<String>,
        opts: ClientOptions,
    ) -> Result<Self, DrandError> {
        // The chain is not known yet; the probe only uses the relays and the HTTP client.
        let probe = Self::build(ChainInfo::quicknet(), key.clone(), relays, opts)?;
        let chain = probe
            .with_retries(None, |relay| {
                let probe = &probe;
                let key = &key;
                async move {
                    let url = format!("{relay}/info");
                    let info = ChainInfo::from_json(&probe.get(&url).await?)?;
                    if info.public_key() != key.public_key() {
                        return Err(mismatch(
                            &url,
                            key,
                            "public_key",
                            key.public_key(),
                            info.public_key(),
                        ));
                    }
                    if info.scheme() != key.scheme() {
                        return Err(DrandError::InfoMismatch {
                            source_name: url,
                            chain: key.label().to_owned(),
                            field: "schemeID",
                            expected: key.scheme().id().to_owned(),
                            got: info.scheme().id().to_owned(),
                        });
                    }
                    Ok(info)
                }
            })
            .await?;
        Self::build(chain, key, probe.relays, probe.opts)
    }

    fn build(
        chain: ChainInfo,
        key: ChainKey,
        relays: Vec<String>,
        opts: ClientOptions,
    ) -> Result<Self, DrandError> {
        if relays.is_empty() {
            return Err(DrandError::NoRelays);
        }
        let relays = relays.into_iter().map(|r| r.trim_end_matches('/').to_owned()).collect();
        let http = reqwest::Client::builder()
            .timeout(opts.request_timeout)
            .connect_timeout(opts.request_timeout)
            .build()
            .map_err(|e| DrandError::Http { url: String::new(), detail: error_chain(&e) })?;
        Ok(Self { http, relays, chain, key, opts })
    }

    /// The chain this client verifies against.
    pub fn chain(&self) -> &ChainInfo {
        &self.chain
    }

    /// The relay base URLs, in the order they are tried.
    pub fn relays(&self) -> &[String] {
        &self.relays
    }

    /// Reads `/{chainhash}/info` from the relays and checks it against this client's chain:
    /// hash, key, genesis, period and scheme. Succeeds when a relay serves matching info.
    pub async fn check_info(&self) -> Result<(), DrandError> {
        self.with_retries(None, |relay| async move {
            let url = format!("{relay}/{}/info", self.chain.hash_hex());
            let served = ChainInfo::from_json(&self.get(&url).await?)?;
            self.chain.ensure_same(&served, &url)
        })
        .await
    }

    /// The verified beacon of `round`, from the first relay that serves one that verifies.
    /// Tampered, mismatched or missing beacons are skipped; if none verifies after all
    /// retries, [`DrandError::Unavailable`].
    pub async fn fetch_round(&self, round: u64) -> Result<VerifiedBeacon, DrandError> {
        if round == 0 {
            return Err(DrandError::RoundZero);
        }
        self.with_retries(Some(round), |relay| async move {
            let url = format!("{relay}/{}/public/{round}", self.chain.hash_hex());
            let beacon = Beacon::from_json(&self.get(&url).await?)?;
            if beacon.round != round {
                return Err(DrandError::WrongRound {
                    relay: relay.to_owned(),
                    want: round,
                    got: beacon.round,
                });
            }
            verify_beacon(&self.key, &beacon)
        })
        .await
    }

    /// Waits until `round` is due on the chain's clock, then fetches it, retrying until
    /// `give_up_after` has passed since the round was due.
    pub async fn wait_for_round(
        &self,
        round: u64,
        give_up_after: Duration,
    ) -> Result<VerifiedBeacon, DrandError> {
        let due = self.chain.time_of(round)?;
        let now = unix_now();
        if due > now {
            tokio::time::sleep(Duration::from_secs(due - now)).await;
        }
        let deadline = tokio::time::Instant::now() + give_up_after;
        loop {
            match self.fetch_round(round).await {
                Ok(b) => return Ok(b),
                Err(e) if tokio::time::Instant::now() >= deadline => return Err(e),
                Err(e) => {
                    tracing::warn!(round, error = %e, "beacon not available yet; waiting");
                    tokio::time::sleep(self.opts.backoff_max).await;
                }
            }
        }
    }

    /// Runs `attempt` on each relay in turn, for `passes` passes with backoff in between;
    /// returns the first success. `round` is `None` when fetching chain info.
    async fn with_retries<'a, T, F, Fut>(
        &'a self,
        round: Option<u64>,
        attempt: F,
    ) -> Result<T, DrandError>
    where
        F: Fn(&'a str) -> Fut,
        Fut: std::future::Future<Output = Result<T, DrandError>>,
    {
        let mut attempts = 0u32;
        let mut last = String::from("no attempt made");
        let mut backoff = self.opts.backoff_initial;
        for pass in 0..self.opts.passes.max(1) {
            if pass > 0 {
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(self.opts.backoff_max);
            }
            for relay in &self.relays {
                attempts += 1;
                match attempt(relay.as_str()).await {
                    Ok(v) => return Ok(v),
                    Err(e) => {
                        tracing::warn!(relay = %relay, ?round, error = %e, "drand relay failed");
                        last = format!("{relay}: {e}");
                    }
                }
            }
        }
        let relays = self.relays.len();
        Err(match round {
            Some(round) => DrandError::Unavailable { round, attempts, relays, last },
            None => DrandError::InfoUnavailable { attempts, relays, last },
        })
    }

    /// GET with the size limit; any non-2xx status is an error.
    async fn get(&self, url: &str) -> Result<Vec<u8>, DrandError> {
        let http_err = |detail: String| DrandError::Http { url: url.to_owned(), detail };
        let mut resp = self.http.get(url).send().await.map_err(|e| http_err(error_chain(&e)))?;
        let status = resp.status();
        if !status.is_success() {
            return Err(http_err(format!("HTTP {status}")));
        }
        let mut body = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(|e| http_err(error_chain(&e)))? {
            if body.len() + chunk.len() > MAX_BODY {
                return Err(http_err(format!("response body over {MAX_BODY} bytes")));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }
}

/// Unix time in whole seconds (0 if the clock is before 1970).
pub fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

fn mismatch(
    url: &str,
    key: &ChainKey,
    field: &'static str,
    expected: &[u8],
    got: &[u8],
) -> DrandError {
    DrandError::InfoMismatch {
        source_name: url.to_owned(),
        chain: key.label().to_owned(),
        field,
        expected: hex::encode(expected),
        got: hex::encode(got),
    }
}

/// An error with its sources on one line (reqwest hides the cause in `source()`).
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cur = e.source();
    while let Some(s) = cur {
        out.push_str(": ");
        out.push_str(&s.to_string());
        cur = s.source();
    }
    out
}

#[cfg(test)]
#[path = "client_tests.rs"]
mod tests;

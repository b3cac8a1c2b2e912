//! The watcher: a task that polls every registered miner's key of every window still in its
//! upload period and keeps, in the [`Spool`], the latest attributed version read before the
//! cutoff.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use futures::StreamExt;
use grail_protocol::keys::Hotkey;
use grail_protocol::params::NetworkParams;
use grail_protocol::verify_params::VerifyParams;
use grail_protocol::window::ChainClock;
use grail_protocol::window_file::window_file_key;
use grail_storage::{ObjectInfo, StoreError};
use tokio::sync::watch;

use super::{
    attribute, cutoff_ms, unix_now_ms, MinerStores, Spool, READS_PER_MINER, READ_CONCURRENCY,
};
use crate::http::{IgnoredRead, LiveStatus};
use grail_chain::{ChainError, ChainSource};

use crate::metagraph::MetagraphSource;
use crate::PipelineError;

/// How far the watcher has got: the start (unix ms) of its latest finished polling round.
/// Every read that finished before that instant is in the spool.
#[derive(Debug, Clone)]
pub struct Progress {
    rx: watch::Receiver<u64>,
    /// When the watcher started, unix ms.
    pub started_ms: u64,
}

impl Progress {
    /// Waits until every read finished before `cutoff_ms` is in the spool.
    pub async fn wait_past(&mut self, cutoff_ms: u64) -> Result<(), PipelineError> {
        self.rx
            .wait_for(|&done| done >= cutoff_ms)
            .await
            .map(|_| ())
            .map_err(|_| PipelineError::Setup { reason: "the store watcher stopped".into() })
    }
}

/// What the watcher reads, where it keeps it, and whom it tells.
#[derive(Debug)]
pub struct Watcher<C> {
    /// Where each miner's file is read.
    pub stores: MinerStores,
    pub spool: Spool,
    /// The registered miners, read again every round.
    pub metagraph: MetagraphSource,
    pub network: NetworkParams,
    pub verify: VerifyParams,
    /// Each window's clock (its cutoff) comes from the chain.
    pub chain: C,
    /// No window below this one is watched.
    pub first_window: u64,
    /// Pause between polling rounds.
    pub interval: Duration,
    pub live: LiveStatus,
}

/// What the watcher remembers of one key in one window.
#[derive(Debug, Default)]
struct KeyState {
    /// The store's version of the object last read (or refused), to skip unchanged objects.
    last: Option<(Option<String>, u64, std::time::SystemTime)>,
    bytes_read: u64,
    /// The last reason reported, so a lasting one is logged once.
    reported: Option<String>,
    /// The last read could not be kept in the spool.
    unkept: bool,
}

impl<C: ChainSource + Clone + 'static> Watcher<C> {
    /// Starts the watcher as a task; it runs until dropped with the returned handle aborted.
    pub fn spawn(self) -> (Progress, tokio::task::JoinHandle<()>) {
        let started_ms = unix_now_ms();
        let (tx, rx) = watch::channel(0);
        let handle = tokio::spawn(self.run(tx));
        (Progress { rx, started_ms }, handle)
    }

    async fn run(self, progress: watch::Sender<u64>) {
        let mut keys: HashMap<(u64, Hotkey), KeyState> = HashMap::new();
        let mut miners: BTreeMap<Hotkey, u16> = BTreeMap::new();
        let mut metagraph_error: Option<String> = None;
        let mut clocks: BTreeMap<u64, ChainClock> = BTreeMap::new();
        // Windows this run polled, with their cutoffs, until a round begins past the cutoff.
        let mut polled: BTreeMap<u64, u64> = BTreeMap::new();
        loop {
            let round = unix_now_ms();
            match self.metagraph.load().await {
                Ok(m) => {
                    miners = m.miners();
                    metagraph_error = None;
                }
                Err(e) => {
                    self.live.error_retried("chain");
                    let e = e.to_string();
                    if metagraph_error.as_ref() != Some(&e) {
                        tracing::warn!(
                            error = e,
                            "watcher: metagraph unreadable; keeping the last"
                        );
                        metagraph_error = Some(e);
                    }
                }
            }
            self.stores.refresh(&miners).await;
            let open = self.open_windows(round, &mut clocks).await;
            // A round past a window's cutoff closes it, unless a file read before the cutoff
            // could not be kept (a full disk): then the window was not watched through.
            polled.retain(|&window, &mut cutoff| {
                if cutoff > round {
                    return true;
                }
                if keys.iter().any(|((w, _), state)| *w == window && state.unkept) {
                    tracing::warn!(
                        window,
                        "a file read before the cutoff could not be kept: the window counts as \
                         not watched through its cutoff"
                    );
                } else if let Err(e) = self.spool.mark_closed(window, round) {
                    tracing::error!(window, error = %e, "could not record that the window was watched through its cutoff");
                }
                false
            });
            keys.retain(|(w, _), _| open.iter().any(|(o, _)| o == w));
            if let Some(&(oldest, _)) = open.last() {
                clocks.retain(|w, _| *w >= oldest);
            }
            for &(window, cutoff) in &open {
                let polls: Vec<_> = miners
                    .keys()
                    .map(|hotkey| {
                        let state = keys.remove(&(window, *hotkey)).unwrap_or_default();
                        self.poll_owned(window, *hotkey, cutoff, state)
                    })
                    .collect();
                let read: Vec<_> =
                    futures::stream::iter(polls).buffer_unordered(READ_CONCURRENCY).collect().await;
                keys.extend(read);
                // The window is watched from this round only if the round's reads of it ended
                // before the cutoff: a first round that ran past it (a start just before the
                // cutoff, a stalled store) read every file late, files uploaded long before
                // included, so the window was not watched.
                if polled.contains_key(&window) || unix_now_ms() < cutoff {
                    polled.insert(window, cutoff);
                    if let Err(e) = self.spool.mark_watched(window, round) {
                        tracing::error!(window, error = %e, "could not record that the window is watched");
                    }
                }
            }
            if progress.send(round).is_err() {
                return;
            }
            let spent = Duration::from_millis(unix_now_ms().saturating_sub(round));
            tokio::time::sleep(self.interval.saturating_sub(spent)).await;
        }
    }

    /// Windows whose upload period holds `now_ms`, with their cutoffs: started (their first
    /// block is on the chain), cutoff not passed. `clocks` keeps the windows' clocks.
    async fn open_windows(
        &self,
        now_ms: u64,
        clocks: &mut BTreeMap<u64, ChainClock>,
    ) -> Vec<(u64, u64)> {
        let l = self.network.blocks_per_window;
        let estimate = self.chain.estimated_clock();
        let Ok(Some(current)) = estimate.window_at(now_ms / 1000, l) else { return vec![] };
        let mut open = Vec::new();
        // The estimate may run a window ahead of the chain: look one further.
        let mut w = current.saturating_add(1);
        while w >= self.first_window {
            let clock = match clocks.get(&w) {
                Some(c) => Some(*c),
                None => match self.chain.window_clock(w, l).await {
                    Ok(c) => {
                        clocks.insert(w, c);
                        Some(c)
                    }
                    Err(ChainError::NotYetProduced { .. }) => None,
                    Err(e) => {
                        tracing::warn!(window = w, error = %e, "watcher: no clock for the window yet");
                        None
                    }
                },
            };
            if let Some(clock) = clock {
                match cutoff_ms(w, &self.network, &self.verify, &clock) {
                    Ok(c) if c > now_ms => open.push((w, c)),
                    _ => break,
                }
            }
            let Some(before) = w.checked_sub(1) else { break };
            w = before;
        }
        open
    }

    /// Counts and shows a read not taken as the miner's file; a reason that lasts from round
    /// to round is reported once.
    fn report(
        &self,
        state: &mut KeyState,
        window: u64,
        hotkey: &Hotkey,
        key: &str,
        reason: &'static str,
        detail: String,
    ) {
        let what = format!("{reason}: {detail}");
        if state.reported.as_deref() == Some(what.as_str()) {
            return;
        }
        state.reported = Some(what);
        tracing::warn!(window, %hotkey, key, reason, detail, "store object not taken as the miner's file");
        let read = IgnoredRead { window, hotkey: hotkey.to_ss58(), reason: reason.into(), detail };
        self.live.read_ignored(read, reason);
    }

    async fn poll_owned(
        &self,
        window: u64,
        hotkey: Hotkey,
        cutoff: u64,
        mut state: KeyState,
    ) -> ((u64, Hotkey), KeyState) {
        self.poll(window, &hotkey, cutoff, &mut state).await;
        ((window, hotkey), state)
    }

    async fn poll(&self, window: u64, hotkey: &Hotkey, cutoff: u64, state: &mut KeyState) {
        let key = window_file_key(window, hotkey);
        let ignore = |state: &mut KeyState, reason: &'static str, detail: String| {
            self.report(state, window, hotkey, &key, reason, detail);
        };
        let seen = |info: &ObjectInfo| (info.version.clone(), info.size, info.last_modified);
        // A miner's file is read from that miner's own store only.
        let store = match self.stores.store_for(hotkey) {
            Ok(store) => store,
            Err(e) => {
                ignore(state, "unreadable", e);
                return;
            }
        };
        let info = match store.probe(&key).await {
            Ok(Some(info)) => info,
            Ok(None) => return,
            Err(e) => {
                // Probed again next round; reported once while it lasts.
                ignore(state, "unreadable", e.to_string());
                return;
            }
        };
        if state.last.as_ref() == Some(&seen(&info)) {
            return;
        }
        let limit = self.verify.max_file_bytes;
        let budget = limit.saturating_mul(READS_PER_MINER);
        if state.bytes_read.saturating_add(info.size.min(limit)) > budget {
            ignore(state, "read_budget", format!("{} bytes read of {budget}", state.bytes_read));
            return;
        }
        let (info, bytes) = match store.read(&key, limit).await {
            Ok(Some(got)) => got,
            Ok(None) => return,
            Err(e) => {
                match &e {
                    // Lasting until the object changes: not read again until then.
                    StoreError::TooLarge { size, .. } => {
                        state.bytes_read = state.bytes_read.saturating_add((*size).min(limit));
                        state.last = Some(seen(&info));
                    }
                    StoreError::NotRegular { .. } | StoreError::BadKey { .. } => {
                        state.last = Some(seen(&info));
                    }
                    // A timeout or a store error may pass: read again next round.
                    _ => {}
                }
                ignore(state, "unreadable", e.to_string());
                return;
            }
        };
        state.last = Some(seen(&info));
        state.bytes_read = state.bytes_read.saturating_add(bytes.len() as u64);
        let held = unix_now_ms();
        if held >= cutoff {
            ignore(state, "after_cutoff", format!("read at {held} ms, the cutoff was {cutoff} ms"));
            return;
        }
        if let Err(why) = attribute(&bytes, window, hotkey, &self.verify.limits()) {
            ignore(state, "not_attributable", why);
            return;
        }
        match self.spool.put(window, hotkey, &bytes, held / 1000) {
            Ok(entry) => {
                state.unkept = false;
                tracing::info!(
                window,
                %hotkey,
                cid = entry.cid,
                first_seen_unix = entry.first_seen_unix,
                bytes = entry.size,
                "miner's file read"
                );
            }
            Err(e) => {
                // Not kept: read again next round.
                state.last = None;
                state.unkept = true;
                tracing::error!(window, %hotkey, error = %e, "could not keep a read file");
            }
        }
    }
}

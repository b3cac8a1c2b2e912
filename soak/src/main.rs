//! `grail-soak`: a local subnet of the real binaries on the tiny model, run for many windows
//! under faults drawn from a seed, then checked against a fault-free replay of the same files.
//!
//! - the local beacon behind a drand proxy that lies (bad signature, wrong round) or hangs;
//! - `grail-devchain` behind a TCP proxy that drops connections or cuts them mid-stream;
//! - an S3-compatible store (`--store.endpoint`) behind an HTTP proxy that fails or stalls
//!   requests;
//! - `--miners` miners and two validators (both with `--storage.trust-store-times`), each
//!   killed with SIGKILL at scheduled blocks and restarted; validator 1's data folder is a
//!   small tmpfs that is filled for a while, twice.
//!
//! Once both validators have processed every window, a reference validator with a fresh data
//! folder and direct connections processes the windows from the store (every one by the
//! store's times). Then, per validator (`check`): each window's transcript must replay to its
//! recorded verdicts and weights, every window it reported must be in its state database, and
//! each verdict that differs from the reference's must be explained by intake (another file
//! held, or duplicates ordered by other upload times), as must each weights file that differs.
//! The reference's weights must name a miner in every window. The summary is one JSON line on
//! stdout (and `WORK/summary.json`); the exit status is 1 when a check failed.
//! `scripts/soak.sh` builds everything, starts the store and runs this.

mod check;
mod procs;
mod proxy;
mod schedule;
mod subnet;

use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::Parser;

use crate::proxy::{Counts, Dice, Rates, Upstream};
use crate::schedule::{Event, Shape};
use crate::subnet::{Disk, Subnet};

/// The soak's settings.
#[derive(Debug, Parser)]
#[command(name = "grail-soak", version, about = "A local subnet under seeded faults")]
struct Args {
    /// Seed of the fault schedule and of every proxy's decisions.
    #[arg(long, env = "GRAIL_SOAK_SEED", default_value_t = 1)]
    seed: u64,
    /// Miners, each one process mining every window.
    #[arg(long, env = "GRAIL_SOAK_MINERS", default_value_t = 32)]
    miners: usize,
    /// Windows every validator processes.
    #[arg(long, env = "GRAIL_SOAK_WINDOWS", default_value_t = 20)]
    windows: u64,
    /// Blocks per window (1 s blocks).
    #[arg(long, env = "GRAIL_SOAK_BLOCKS", default_value_t = 12)]
    blocks: u64,
    /// The S3-compatible store's endpoint (`http://host:port`); bucket `--store.bucket`.
    #[arg(long = "store.endpoint", env = "GRAIL_SOAK_STORE_ENDPOINT")]
    store_endpoint: String,
    #[arg(long = "store.bucket", env = "GRAIL_SOAK_STORE_BUCKET", default_value = "grail-soak")]
    bucket: String,
    /// Scratch folder: keys, logs, data folders, the summary.
    #[arg(long, env = "GRAIL_SOAK_WORK")]
    work: PathBuf,
    /// Model folder.
    #[arg(long, env = "GRAIL_SOAK_MODEL")]
    model: PathBuf,
    /// Folder of the built binaries; default: the one this program is in.
    #[arg(long = "bin-dir", env = "GRAIL_SOAK_BIN_DIR")]
    bin_dir: Option<PathBuf>,
    /// Size of the tmpfs mounted as validator 1's data folder, MB; 0: a plain folder and no
    /// disk fault (mounting needs root).
    #[arg(long = "disk-mb", env = "GRAIL_SOAK_DISK_MB", default_value_t = 64)]
    disk_mb: u64,
    /// Peak resident memory allowed to any one process, MB.
    #[arg(long = "rss-bound-mb", env = "GRAIL_SOAK_RSS_BOUND_MB", default_value_t = 1024)]
    rss_bound_mb: u64,
    /// Share of store requests answered 503.
    #[arg(long = "faults.store-fail", env = "GRAIL_SOAK_STORE_FAIL", default_value_t = 0.05)]
    store_fail: f64,
    /// Share of store requests stalled 1-4 s.
    #[arg(long = "faults.store-stall", env = "GRAIL_SOAK_STORE_STALL", default_value_t = 0.05)]
    store_stall: f64,
    /// Share of beacon requests answered with a bad signature.
    #[arg(
        long = "faults.drand-bad-signature",
        env = "GRAIL_SOAK_DRAND_BAD_SIGNATURE",
        default_value_t = 0.1
    )]
    drand_bad_signature: f64,
    /// Share of beacon requests answered as the wrong round.
    #[arg(
        long = "faults.drand-wrong-round",
        env = "GRAIL_SOAK_DRAND_WRONG_ROUND",
        default_value_t = 0.1
    )]
    drand_wrong_round: f64,
    /// Share of beacon requests held past the client's timeout.
    #[arg(long = "faults.drand-hang", env = "GRAIL_SOAK_DRAND_HANG", default_value_t = 0.03)]
    drand_hang: f64,
    /// Share of chain connections closed at once.
    #[arg(long = "faults.chain-drop", env = "GRAIL_SOAK_CHAIN_DROP", default_value_t = 0.05)]
    chain_drop: f64,
    /// Share of chain connections cut after 1-5 s.
    #[arg(long = "faults.chain-cut", env = "GRAIL_SOAK_CHAIN_CUT", default_value_t = 0.05)]
    chain_cut: f64,
}

impl Args {
    fn rates(&self) -> anyhow::Result<Rates> {
        let r = Rates {
            fail: self.store_fail,
            stall: self.store_stall,
            bad_signature: self.drand_bad_signature,
            wrong_round: self.drand_wrong_round,
            hang: self.drand_hang,
            drop: self.chain_drop,
            cut: self.chain_cut,
        };
        for (flag, sum) in [
            ("--faults.store-fail + --faults.store-stall", r.fail + r.stall),
            ("--faults.drand-*", r.bad_signature + r.wrong_round + r.hang),
            ("--faults.chain-drop + --faults.chain-cut", r.drop + r.cut),
        ] {
            if !(0.0..=1.0).contains(&sum) {
                bail!("{flag}: {sum} is not a share between 0 and 1");
            }
        }
        Ok(r)
    }
}

/// Faults the supervisor injected, and how the processes ended.
#[derive(Debug, Default)]
struct Tally {
    validator_kill: u64,
    miner_kill: u64,
    disk_full: u64,
    disk_full_seconds: u64,
    validator_exits: u64,
    miner_exits: u64,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let rates = args.rates()?;
    if args.windows == 0 || args.blocks < 4 {
        bail!("--windows must be at least 1 and --blocks at least 4");
    }
    let bin = match &args.bin_dir {
        Some(d) => d.clone(),
        None => std::env::current_exe()?.parent().context("this program's folder")?.to_path_buf(),
    };
    let runtime = tokio::runtime::Runtime::new().context("tokio runtime")?;
    let started = Instant::now();
    let counts = Arc::new(Counts::default());
    let mut net = Subnet::new(&bin, &args.work, &args.model, args.blocks)?;
    say(&format!("keys for {} miners", args.miners));
    net.keys(args.miners)?;
    let beacon = net.start_beacon()?;
    let chain = net.start_devchain(&beacon)?;
    let (drand_proxy, chain_proxy, store_proxy) = runtime.block_on(async {
        let drand =
            proxy::http(Upstream::Drand, &beacon, rates, Dice::new(args.seed ^ 1), counts.clone())
                .await?;
        let chain = proxy::tcp(chain, rates, Dice::new(args.seed ^ 2), counts.clone()).await?;
        let store = proxy::http(
            Upstream::Store,
            &args.store_endpoint,
            rates,
            Dice::new(args.seed ^ 3),
            counts.clone(),
        )
        .await?;
        anyhow::Ok((drand, chain, store))
    })?;
    let best = runtime.block_on(subnet::best_block(chain))?;
    let first = best / args.blocks + 2;
    let last = first + args.windows - 1;
    let disk = Disk::mount(&args.work.join("v1-data"), args.disk_mb);
    say(&format!(
        "windows {first}..={last} of {} blocks; beacon {beacon} (proxy {drand_proxy}), chain {chain} \
         (proxy {chain_proxy}), store {} (proxy {store_proxy}); disk: {}",
        args.blocks,
        args.store_endpoint,
        disk.describe()
    ));
    let faulty = subnet::Endpoints {
        drand: drand_proxy,
        chain: chain_proxy.to_string(),
        store: store_proxy,
        bucket: args.bucket.clone(),
    };
    let shape = Shape {
        first_block: first * args.blocks,
        end_block: (last + 1) * args.blocks,
        blocks_per_window: args.blocks,
        validators: 2,
        miners: args.miners,
        disk: disk.mounted(),
    };
    let mut events = schedule::draw(shape, &Dice::new(args.seed)).into_iter().peekable();

    let mut miners = net.miners(args.miners);
    for (i, m) in miners.iter_mut().enumerate() {
        m.start(net.miner_args(i, first, last, &faulty))?;
    }
    let data = [disk.path().to_path_buf(), args.work.join("v2-data")];
    let mut validators = net.validators(2);
    for (v, d) in validators.iter_mut().zip(&data) {
        v.start(net.validator_args(d, first, last, &faulty))?;
    }

    let mut tally = Tally::default();
    let mut done = [false; 2];
    let mut validator_restart: [Option<u64>; 2] = [None; 2];
    let mut miner_restart: Vec<Option<u64>> = vec![None; args.miners];
    let mut disk_free_at: Option<(u64, Instant)> = None;
    let mut best = best;
    let give_up = shape.end_block + 30 * args.blocks;
    let mut reported = first;
    while !done.iter().all(|d| *d) {
        std::thread::sleep(Duration::from_millis(250));
        if let Ok(b) = runtime.block_on(subnet::best_block(chain)) {
            best = b;
        }
        if best > give_up {
            bail!("the validators had not finished {} windows past the last one", 30);
        }
        let window = best / args.blocks;
        if window > reported {
            reported = window;
            say(&format!(
                "block {best}, window {window} of {first}..={last}: {} validator and {} miner kills, \
                 {} disk fills so far",
                tally.validator_kill, tally.miner_kill, tally.disk_full
            ));
        }
        while let Some((_, event)) = events.next_if(|(at, _)| *at <= best) {
            match event {
                Event::KillValidator { index, down } => {
                    if !done[index] && validators[index].kill() {
                        tally.validator_kill += 1;
                        validator_restart[index] = Some(best + down);
                    }
                }
                Event::KillMiner { index } => {
                    if miners[index].kill() {
                        tally.miner_kill += 1;
                        miner_restart[index] = Some(window + 1);
                    }
                }
                Event::FillDisk { blocks } => {
                    if disk_free_at.is_none() {
                        disk.fill()?;
                        tally.disk_full += 1;
                        disk_free_at = Some((best + blocks, Instant::now()));
                    }
                }
            }
        }
        if let Some((_, since)) = disk_free_at.filter(|(at, _)| *at <= best) {
            disk.free()?;
            tally.disk_full_seconds += since.elapsed().as_secs();
            disk_free_at = None;
        }
        for (i, v) in validators.iter_mut().enumerate() {
            if let Some(status) = v.exited() {
                if status.success() {
                    done[i] = true;
                } else {
                    tally.validator_exits += 1;
                    say(&format!("{} exited ({status}); restarting in 2 blocks", v.name));
                    validator_restart[i] = Some(best + 2);
                }
            }
            if !v.running() && !done[i] && validator_restart[i].is_some_and(|at| at <= best) {
                validator_restart[i] = None;
                v.start(net.validator_args(&data[i], first, last, &faulty))?;
            }
        }
        for (i, m) in miners.iter_mut().enumerate() {
            if let Some(status) = m.exited() {
                if !status.success() {
                    tally.miner_exits += 1;
                    miner_restart[i] = Some(window + 1);
                }
            }
            if let Some(from) = miner_restart[i].filter(|_| !m.running()) {
                miner_restart[i] = None;
                if from <= last {
                    m.start(net.miner_args(i, from, last, &faulty))?;
                }
            }
        }
    }
    if disk_free_at.take().is_some() {
        disk.free()?;
    }
    for m in &mut miners {
        m.kill();
    }
    say("both validators processed every window; the reference replays them without faults");
    let direct = subnet::Endpoints {
        drand: beacon.clone(),
        chain: chain.to_string(),
        store: args.store_endpoint.clone(),
        bucket: args.bucket.clone(),
    };
    let reference_data = args.work.join("reference-data");
    let mut reference = net.reference();
    reference.start(net.validator_args(&reference_data, first, last, &direct))?;
    let status = loop {
        std::thread::sleep(Duration::from_millis(250));
        if let Some(status) = reference.exited() {
            break status;
        }
    };
    if !status.success() {
        bail!(
            "the reference validator failed ({status}); see {}",
            reference.stderr_path().display()
        );
    }

    let mut checks = Vec::new();
    for (v, d) in validators.iter().zip(&data) {
        checks.push(check::validator(&net, v, d, &reference_data, first..=last)?);
    }
    let (windows_weighted, miners_weighted) = check::weighted(&reference_data, first..=last)?;
    let peak_mb =
        |procs: &[&procs::Proc]| procs.iter().map(|p| p.peak_kb).max().unwrap_or(0).div_ceil(1024);
    let peak = serde_json::json!({
        "validator": peak_mb(&validators.iter().collect::<Vec<_>>()),
        "miner": peak_mb(&miners.iter().collect::<Vec<_>>()),
        "reference": peak_mb(&[&reference]),
    });
    let worst =
        peak.as_object().map_or(0, |o| o.values().filter_map(|v| v.as_u64()).max().unwrap_or(0));
    let c = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed);
    let mismatches: u64 = checks.iter().map(|c| c.mismatches.len() as u64).sum();
    let lost: u64 = checks.iter().map(|c| c.lost.len() as u64).sum();
    let summary = serde_json::json!({
        "seed": args.seed,
        "windows": args.windows,
        "first_window": first,
        "blocks_per_window": args.blocks,
        "miners": args.miners,
        "validators": 2,
        "faults": {
            "validator_sigkill": tally.validator_kill,
            "miner_sigkill": tally.miner_kill,
            "store_fail": c(&counts.store_fail),
            "store_stall": c(&counts.store_stall),
            "drand_bad_signature": c(&counts.drand_bad_signature),
            "drand_wrong_round": c(&counts.drand_wrong_round),
            "drand_hang": c(&counts.drand_hang),
            "chain_drop": c(&counts.chain_drop),
            "chain_cut": c(&counts.chain_cut),
            "disk_full": tally.disk_full,
        },
        "disk": disk.describe(),
        "disk_full_seconds": tally.disk_full_seconds,
        "requests": {
            "store": c(&counts.store_requests),
            "drand_beacons": c(&counts.drand_requests),
            "chain_connections": c(&counts.chain_connections),
        },
        "exits": { "validator": tally.validator_exits, "miner": tally.miner_exits },
        "validator_runs": validators.iter().map(|v| v.starts).collect::<Vec<_>>(),
        "per_validator": checks.iter().map(check::Check::json).collect::<Vec<_>>(),
        "windows_compared": checks.iter().map(|c| c.compared).sum::<u64>(),
        "windows_weighting_miners": windows_weighted,
        "miners_weighted": miners_weighted,
        "mismatches": mismatches,
        "lost_commits": lost,
        "peak_rss_mb": peak,
        "rss_bound_mb": args.rss_bound_mb,
        "seconds": started.elapsed().as_secs(),
    });
    let line = serde_json::to_string(&summary)?;
    std::fs::write(args.work.join("summary.json"), format!("{line}\n"))?;
    println!("{line}");
    drop(disk);
    if windows_weighted < args.windows {
        bail!(
            "the reference's weights give no miner a weight in {} of {} windows, so equal weights \
             there show nothing; see {}",
            args.windows - windows_weighted,
            args.windows,
            reference.stderr_path().display()
        );
    }
    if mismatches > 0 || lost > 0 || worst > args.rss_bound_mb {
        bail!(
            "{mismatches} mismatches, {lost} lost commits, peak RSS {worst} MB (bound {} MB)",
            args.rss_bound_mb
        );
    }
    Ok(())
}

fn say(what: &str) {
    eprintln!("soak: {what}");
}

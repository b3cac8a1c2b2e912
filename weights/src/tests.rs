//! Behaviour tests of `compute_weights`, and the golden vectors in `weights/vectors/weights.json`
//! (regenerate with `cargo test -p grail-weights -- --ignored`).

use serde::Serialize;

use crate::*;

const CURRENT: u64 = 1000;

fn miner(uid: u16, per_window: u64, windows: u64) -> MinerRecord {
    MinerRecord {
        uid,
        hotkey: format!("hotkey-{uid}"),
        windows: (0..windows)
            .map(|i| WindowRecord {
                window: CURRENT - i,
                unique: per_window,
                hard_failure: false,
                checked: true,
            })
            .collect(),
    }
}

fn weights(config: &WeightsConfig, miners: &[MinerRecord]) -> Weights {
    compute_weights(config, CURRENT, miners).expect("valid input")
}

fn share_of(w: &Weights, uid: u16) -> f64 {
    w.miners.iter().find(|m| m.uid == uid).map_or(0.0, |m| m.share)
}

fn weight_of(w: &Weights, uid: u16) -> u16 {
    w.uids.iter().position(|&u| u == uid).map_or(0, |i| w.weights[i])
}

#[test]
fn empty_network_burns_everything() {
    let c = WeightsConfig::default();
    let w = weights(&c, &[]);
    assert_eq!((w.uids.clone(), w.weights.clone(), w.burn_share), (vec![0], vec![65535], 1.0));
    // Miners that all score zero leave the same result.
    let mut failed = miner(4, 5000, 12);
    failed.windows[3].hard_failure = true;
    let w = weights(&c, &[failed, miner(5, 0, 12), miner(6, 0, 0)]);
    assert_eq!((w.uids, w.weights), (vec![0], vec![65535]));
}

#[test]
fn burn_takes_its_fraction_and_the_unclaimed_rest() {
    let c = WeightsConfig::default();
    let w = weights(&c, &[miner(7, 5000, 12)]);
    assert_eq!(w.burn_share, 0.9);
    assert_eq!(share_of(&w, 7), 0.1);
    // 65535 / 9 = 7281.67, rounded to 7282.
    assert_eq!((w.uids, w.weights), (vec![0, 7], vec![65535, 7282]));
    // Half the cap earns 0.5^4 of the miners' part; the rest burns.
    let w = weights(&c, &[miner(7, 2500, 12)]);
    assert_eq!(share_of(&w, 7), 0.1 * 0.0625);
    assert_eq!(w.burn_share, 1.0 - 0.1 * 0.0625);
    // No burn: an under-cap miner still leaves the unclaimed part to the burn uid.
    let no_burn = WeightsConfig { burn_bps: 0, ..c };
    let w = weights(&no_burn, &[miner(7, 2500, 12)]);
    assert_eq!((w.burn_share, share_of(&w, 7)), (0.9375, 0.0625));
    // Two miners at the cap with no burn split everything; the burn uid drops out.
    let w = weights(&no_burn, &[miner(7, 5000, 12), miner(8, 5000, 12)]);
    assert_eq!((w.uids, w.weights, w.burn_share), (vec![7, 8], vec![65535, 65535], 0.0));
    // Full burn.
    let all = WeightsConfig { burn_bps: 10_000, ..c };
    let w = weights(&all, &[miner(7, 5000, 12)]);
    assert_eq!((w.uids, w.weights), (vec![0], vec![65535]));
}

#[test]
fn shares_are_proportional_above_the_cap_total() {
    let c = WeightsConfig::default();
    let w = weights(&c, &[miner(1, 5000, 12), miner(2, 5000, 12), miner(3, 2500, 12)]);
    // T = 1 + 1 + 1/16 > 1: miners take exactly the 10 %, burn exactly 90 %.
    assert_eq!(w.burn_share, 0.9);
    let (a, b, s) = (share_of(&w, 1), share_of(&w, 2), share_of(&w, 3));
    assert_eq!(a, b);
    assert!((a / s - 16.0).abs() < 1e-12);
    assert!((a + b + s - 0.1).abs() < 1e-15);
}

#[test]
fn caps_bound_each_window() {
    let c = WeightsConfig::default();
    let capped = weights(&c, &[miner(1, 1_000_000, 12), miner(2, 5000, 12)]);
    assert_eq!(capped.miners[0].unique, 60_000);
    assert_eq!(share_of(&capped, 1), share_of(&capped, 2));
    // A burst in one window cannot make up for idle windows.
    let mut burst = miner(3, 0, 12);
    burst.windows[0].unique = 60_000;
    let w = weights(&c, &[burst, miner(4, 1000, 12)]);
    assert_eq!(w.miners[0].unique, 5000);
    assert_eq!(w.miners[1].unique, 12_000);
}

#[test]
fn splitting_into_k_hotkeys_lowers_the_total() {
    let c = WeightsConfig::default();
    // 840 is divisible by every k in 2..=8, so the split is exact.
    for others in [vec![], vec![miner(100, 5000, 12), miner(101, 5000, 12), miner(102, 3000, 12)]] {
        let mut whole = others.clone();
        whole.push(miner(1, 840, 12));
        let whole = weights(&c, &whole);
        let whole_share = share_of(&whole, 1);
        assert!(whole_share > 0.0);
        for k in 2..=8u16 {
            let mut split = others.clone();
            split.extend((1..=k).map(|i| miner(i, 840 / u64::from(k), 12)));
            let split = weights(&c, &split);
            let total: f64 = (1..=k).map(|i| share_of(&split, i)).sum();
            assert!(total < whole_share, "k = {k}: {total} >= {whole_share}");
            // k^(1-p) exactly when the others do not change the normalization.
            if others.is_empty() {
                let expected = whole_share / f64::from(k).powi(3);
                assert!((total - expected).abs() <= expected * 1e-12, "k = {k}");
            }
            let w_total: u32 = (1..=k).map(|i| u32::from(weight_of(&split, i))).sum();
            assert!(w_total <= u32::from(weight_of(&whole, 1)), "k = {k}");
        }
    }
}

#[test]
fn a_failure_in_the_span_zeroes_the_miner() {
    let c = WeightsConfig::default();
    let mut bad = miner(2, 5000, 12);
    bad.windows[11].hard_failure = true;
    let w = weights(&c, &[miner(1, 5000, 12), bad.clone()]);
    assert_eq!(w.miners[1].status, MinerStatus::Failed);
    assert_eq!((share_of(&w, 2), weight_of(&w, 2)), (0.0, 0));
    assert!(!w.uids.contains(&2));
    // The same failure just outside the span no longer counts.
    bad.windows[11].window = CURRENT - 12;
    let w = weights(&c, &[miner(1, 5000, 12), bad]);
    assert_eq!(w.miners[1].status, MinerStatus::Scored);
}

#[test]
fn u16_quantization_is_max_upscaled_and_rounds_half_up() {
    // Exponent 1, no burn, cap total 3: shares 2/3 and 1/3, burn 0.
    let c = WeightsConfig {
        span_windows: 1,
        cap_per_window: 3,
        exponent: 1,
        burn_bps: 0,
        ..Default::default()
    };
    let w = weights(&c, &[miner(5, 2, 1), miner(9, 1, 1)]);
    // 65535 * 1/2 = 32767.5 rounds up to 32768.
    assert_eq!((w.uids, w.weights), (vec![5, 9], vec![65535, 32768]));
    // Shares that round to zero are left out; the largest is always 65535.
    let c = WeightsConfig { burn_bps: 9999, ..WeightsConfig::default() };
    let w = weights(&c, &[miner(3, 1, 1), miner(4, 5000, 12)]);
    assert_eq!(w.uids, vec![0, 4]);
    assert_eq!(w.weights.iter().max(), Some(&65535));
    // Miner 4 holds 1/10_000 against the burn's 9999/10_000: 65535 / 9999 = 6.55 -> 7.
    assert_eq!(w.weights, vec![65535, 7]);
}

#[test]
fn output_is_order_independent_and_sorted() {
    let c = WeightsConfig::default();
    let miners = vec![miner(9, 4000, 12), miner(3, 5000, 12), miner(5, 3000, 3)];
    let mut reversed = miners.clone();
    reversed.reverse();
    let (a, b) = (weights(&c, &miners), weights(&c, &reversed));
    assert_eq!(a, b);
    assert_eq!(a.uids, vec![0, 3, 5, 9]);
    assert_eq!(a.version_key, 1);
}

#[test]
fn rejects_bad_input() {
    let c = WeightsConfig::default();
    let err = compute_weights(&c, CURRENT, &[miner(3, 1, 1), miner(3, 2, 1)]).expect_err("dup");
    assert_eq!(err, WeightsError::DuplicateUid { uid: 3 });
    let mut twin = miner(4, 1, 1);
    twin.hotkey = "hotkey-3".into();
    let err = compute_weights(&c, CURRENT, &[miner(3, 1, 1), twin]).expect_err("dup hotkey");
    assert!(matches!(err, WeightsError::DuplicateHotkey { .. }));
    let err = compute_weights(&c, CURRENT, &[miner(0, 1, 1)]).expect_err("burn uid");
    assert!(matches!(err, WeightsError::MinerOnBurnUid { uid: 0, .. }));
    let bad = WeightsConfig { span_windows: 0, ..c };
    assert!(matches!(
        compute_weights(&bad, CURRENT, &[]),
        Err(WeightsError::Config { field: "span_windows", .. })
    ));
}

// ---- golden vectors ----

const VECTORS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/vectors/weights.json");

#[derive(Serialize)]
struct Case {
    name: &'static str,
    config: WeightsConfig,
    current_window: u64,
    miners: Vec<MinerRecord>,
    output: Weights,
}

fn golden_cases() -> Vec<Case> {
    let d = WeightsConfig::default();
    let small_cap = WeightsConfig { cap_per_window: 500, ..d };
    let mut failed = miner(12, 5000, 12);
    failed.windows[5].hard_failure = true;
    let mut partly_checked = miner(13, 3000, 12);
    for (i, r) in partly_checked.windows.iter_mut().enumerate() {
        r.checked = i % 3 == 0;
        r.unique += i as u64 * 7;
    }
    let mut old = miner(14, 5000, 30);
    old.windows.retain(|r| r.window < CURRENT - 12 || r.window == CURRENT - 3);
    let inputs: Vec<(&'static str, WeightsConfig, Vec<MinerRecord>)> = vec![
        ("empty network", d, vec![]),
        ("one miner at the cap", d, vec![miner(7, 5000, 12)]),
        ("one miner at half the cap", d, vec![miner(7, 2500, 12)]),
        ("over the cap total", d, vec![miner(1, 9000, 12), miner(2, 5000, 12), miner(3, 1234, 12)]),
        (
            "failure, partial checks, old windows",
            d,
            vec![failed, partly_checked, old, miner(15, 77, 5)],
        ),
        ("unsplit, small cap", small_cap, vec![miner(1, 450, 12)]),
        ("split into three, small cap", small_cap, (1..=3).map(|u| miner(u, 150, 12)).collect()),
        (
            "no burn, exponent 1, rounding half up",
            WeightsConfig { span_windows: 1, cap_per_window: 3, exponent: 1, burn_bps: 0, ..d },
            vec![miner(5, 2, 1), miner(9, 1, 1)],
        ),
        (
            "burn uid 255, version 7",
            WeightsConfig { burn_uid: 255, burn_bps: 5000, version_key: 7, ..d },
            vec![miner(0, 4999, 12), miner(254, 5000, 11)],
        ),
    ];
    inputs
        .into_iter()
        .map(|(name, config, miners)| Case {
            name,
            config,
            current_window: CURRENT,
            output: weights(&config, &miners),
            miners,
        })
        .collect()
}

fn render() -> String {
    serde_json::to_string_pretty(&golden_cases()).expect("serializes") + "\n"
}

#[test]
fn weights_vectors_match_file() {
    let expected = std::fs::read_to_string(VECTORS).expect("weights/vectors/weights.json exists");
    assert!(render() == expected, "weights vectors changed; see {VECTORS}");
}

#[test]
#[ignore = "rewrites weights/vectors/weights.json"]
fn write_weights_vectors() {
    std::fs::create_dir_all(concat!(env!("CARGO_MANIFEST_DIR"), "/vectors")).expect("mkdir");
    std::fs::write(VECTORS, render()).expect("write vectors");
}

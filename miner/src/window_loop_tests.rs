use super::*;
use grail_protocol::window_file::BeaconRecord;

#[test]
fn a_group_starts_only_if_it_ends_before_the_margin() {
    assert!(should_start_group(100.0, 200.0, 10.0, None));
    assert!(should_start_group(100.0, 200.0, 10.0, Some(90.0)));
    assert!(!should_start_group(100.0, 200.0, 10.0, Some(90.5)));
    assert!(!should_start_group(191.0, 200.0, 10.0, None));
}

#[test]
fn groups_stop_at_the_decoders_limits() {
    let limits = Limits::default();
    assert_eq!(group_fits_limits(&limits, 0, 0, 100, 512), Ok(true));
    assert_eq!(group_fits_limits(&limits, 4096 - 16, 0, 100, 512), Ok(true));
    assert_eq!(group_fits_limits(&limits, 4096 - 15, 0, 100, 512), Ok(false));
    let group = 16 * rollout_bytes_bound(100, 512);
    let full = limits.max_file_bytes - HEADER_BYTES_BOUND - group;
    assert_eq!(group_fits_limits(&limits, 16, full, 100, 512), Ok(true));
    assert_eq!(group_fits_limits(&limits, 16, full + 1, 100, 512), Ok(false));
    assert!(group_fits_limits(&limits, 0, 0, 100, 4096).is_err());
    assert!(group_fits_limits(&limits, 0, 0, 5000, 16).is_err());
}

#[test]
fn the_size_bound_matches_the_encoder() -> anyhow::Result<()> {
    use grail_protocol::window_file::{WindowFile, WindowHeader};
    let pair = HotkeyPair::from_mini_secret(&[1; 32])?;
    let rollout = |p: usize, t: usize| Rollout {
        problem_index: 0,
        rollout_index: 0,
        prompt_tokens: vec![7; p],
        completion_tokens: vec![8; t],
        logprobs: vec![-1.0; t],
        commitments: vec![9; t],
        merkle_root: [0; 32],
        reward: 0.0,
        success: false,
        advantage: 0.0,
        signature: [0; 64],
    };
    let header = WindowHeader {
        protocol_version: 1,
        window: 0,
        hotkey: pair.hotkey(),
        model_id: vec![1; 36],
        beacon: BeaconRecord { round: 1, randomness: [0; 32], signature: vec![0; 96] },
        first_block_hash: [0; 32],
        fingerprint: [0; 32],
        environment: EnvironmentSpec::default(),
        generation: grail_protocol::params::GenerationParams::default(),
        signature: [0; 64],
    };
    let empty =
        grail_protocol::codec::encode(&WindowFile { header: header.clone(), rollouts: vec![] })?;
    assert!((empty.len() as u64) < HEADER_BYTES_BOUND);
    let file = WindowFile { header, rollouts: vec![rollout(10, 3), rollout(0, 0)] };
    let bytes = grail_protocol::codec::encode(&file)?;
    assert_eq!(
        (bytes.len() - empty.len()) as u64,
        rollout_bytes_bound(10, 3) + rollout_bytes_bound(0, 0)
    );
    Ok(())
}

#[test]
fn environment_must_match_the_network() {
    let env = grail_challenges::env::environment_by_id("sat").map_err(|e| e.to_string());
    let Ok(env) = env else { panic!("sat is registered") };
    let mut params = NetworkParams::default();
    assert!(check_environment(env.as_ref(), &params).is_ok());
    params.environment.id = "arith".into();
    assert!(check_environment(env.as_ref(), &params).is_err());
}

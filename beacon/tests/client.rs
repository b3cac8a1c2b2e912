//! The drand client of `grail-drand` against this beacon's HTTP server on loopback: it finds
//! the chain by the pinned development key, verifies what it fetches, and is refused rounds
//! that are not yet due.

use grail_beacon::{router_with_clock, LocalBeacon};
use grail_drand::dev::dev_chain_key;
use grail_drand::{ClientOptions, DrandClient};

fn fixed_clock() -> u64 {
    1_700_000_000 + 100
}

#[tokio::test]
async fn the_local_beacon_is_discovered_by_key_and_verified() {
    let beacon = LocalBeacon::new(1_700_000_000, 3).expect("beacon");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("address"));
    let app = router_with_clock(beacon, fixed_clock);
    tokio::spawn(async move { axum::serve(listener, app).await });
    let opts = ClientOptions {
        request_timeout: std::time::Duration::from_secs(2),
        passes: 1,
        ..ClientOptions::default()
    };
    let client = DrandClient::discover(dev_chain_key(), vec![url], opts).await.expect("found");
    assert_eq!(client.chain().genesis_time(), 1_700_000_000);
    client.check_info().await.expect("info");
    let latest = client.chain().round_at(fixed_clock()).expect("round");
    assert_eq!(latest, 34);
    let b = client.fetch_round(latest).await.expect("due round");
    assert_eq!(b.round(), latest);
    // The next round is not due on the server's clock: refused, never signed early.
    let err = client.fetch_round(latest + 1).await.expect_err("not due");
    assert!(err.to_string().contains("404"), "{err}");
}

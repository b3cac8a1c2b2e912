//! The networks operators name with `--subtensor.network`, and their endpoints (the Bittensor
//! SDK's settings).

use std::fmt;
use std::str::FromStr;

/// A subtensor network by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Network {
    /// The main network.
    Finney,
    /// The test network.
    Test,
    /// A node on this machine (the dev chain, or a local subtensor).
    Local,
}

impl Network {
    /// Every network, in the order the help lists them.
    pub const ALL: [Network; 3] = [Network::Finney, Network::Test, Network::Local];

    /// The name operators type.
    pub fn name(self) -> &'static str {
        match self {
            Network::Finney => "finney",
            Network::Test => "test",
            Network::Local => "local",
        }
    }

    /// The endpoint the Bittensor SDK uses for this network.
    pub fn endpoint(self) -> &'static str {
        match self {
            Network::Finney => "wss://entrypoint-finney.opentensor.ai:443",
            Network::Test => "wss://test.finney.opentensor.ai:443",
            Network::Local => "ws://127.0.0.1:9944",
        }
    }
}

impl fmt::Display for Network {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Network {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Network::ALL.into_iter().find(|n| n.name() == s).ok_or_else(|| {
            let names: Vec<_> = Network::ALL.iter().map(|n| n.name()).collect();
            format!("unknown subtensor network {s:?} (one of {})", names.join(", "))
        })
    }
}

/// How an endpoint URL is spoken to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// `ws://` or `wss://`: requests and subscriptions.
    WebSocket,
    /// `http://` or `https://`: requests only (new heads are polled).
    Http,
}

/// The transport of `url`, or why it has none.
pub fn transport_of(url: &str) -> Result<Transport, String> {
    let scheme = url.split_once("://").map(|(s, _)| s.to_ascii_lowercase());
    match scheme.as_deref() {
        Some("ws" | "wss") => Ok(Transport::WebSocket),
        Some("http" | "https") => Ok(Transport::Http),
        _ => Err(format!("endpoint {url:?}: the scheme must be ws, wss, http or https")),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_unknown_names_are_listed() {
        for n in Network::ALL {
            assert_eq!(n.name().parse::<Network>().unwrap(), n);
        }
        let err = "mainnet".parse::<Network>().unwrap_err();
        assert!(err.contains("\"mainnet\"") && err.contains("finney, test, local"), "{err}");
        assert_eq!(Network::Local.endpoint(), "ws://127.0.0.1:9944");
    }

    #[test]
    fn transports_follow_the_scheme() {
        assert_eq!(transport_of("wss://a:443").unwrap(), Transport::WebSocket);
        assert_eq!(transport_of("HTTP://127.0.0.1:9933").unwrap(), Transport::Http);
        assert!(transport_of("127.0.0.1:9944").unwrap_err().contains("scheme"));
        assert!(transport_of("tcp://x").is_err());
    }
}

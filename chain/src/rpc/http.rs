//! JSON-RPC over HTTP for subxt's RPC layer: requests only. A node's HTTP endpoint has no
//! subscriptions, so the client polls for new heads instead.

use std::time::Duration;

use jsonrpsee::core::client::ClientT;
use jsonrpsee::core::traits::ToRpcParams;
use jsonrpsee::http_client::{HttpClient, HttpClientBuilder};
use subxt::rpcs::client::{RawRpcFuture, RawRpcSubscription, RawValue, RpcClientT};

/// An HTTP JSON-RPC client.
#[derive(Debug)]
pub(super) struct HttpRpc {
    client: HttpClient,
}

impl HttpRpc {
    /// A client of `url` whose requests give up after `timeout`.
    pub(super) fn new(url: &str, timeout: Duration) -> Result<Self, String> {
        HttpClientBuilder::default()
            .request_timeout(timeout)
            .build(url)
            .map(|client| Self { client })
            .map_err(|e| e.to_string())
    }
}

struct Params(Option<Box<RawValue>>);

impl ToRpcParams for Params {
    fn to_rpc_params(self) -> Result<Option<Box<RawValue>>, serde_json::Error> {
        Ok(self.0)
    }
}

impl RpcClientT for HttpRpc {
    fn request_raw<'a>(
        &'a self,
        method: &'a str,
        params: Option<Box<RawValue>>,
    ) -> RawRpcFuture<'a, Box<RawValue>> {
        Box::pin(async move {
            self.client.request::<Box<RawValue>, _>(method, Params(params)).await.map_err(|e| {
                match e {
                    // A node's error answer, as subxt's own clients report it.
                    jsonrpsee::core::ClientError::Call(e) => {
                        subxt::rpcs::Error::User(subxt::rpcs::UserError {
                            code: e.code(),
                            message: e.message().to_owned(),
                            data: e.data().map(ToOwned::to_owned),
                        })
                    }
                    e => subxt::rpcs::Error::Client(Box::new(e)),
                }
            })
        })
    }

    fn subscribe_raw<'a>(
        &'a self,
        sub: &'a str,
        _params: Option<Box<RawValue>>,
        _unsub: &'a str,
    ) -> RawRpcFuture<'a, RawRpcSubscription> {
        Box::pin(async move {
            Err(subxt::rpcs::Error::Client(
                format!("{sub}: subscriptions need a ws:// or wss:// endpoint").into(),
            ))
        })
    }
}

//! Chain I/O: the connection to a chain with a Concord deployment ([`Concord`]: provider, checked chain id,
//! typed contract instances), the [`pipeline`] that sends transactions, the [`errors`] classifiers and the
//! [`revert`] sentences, and [`progress`] reporting for long pipelines.

pub mod errors;
pub mod pipeline;
pub mod progress;
pub mod revert;

use alloy::primitives::{Address, U256};
use alloy::providers::{DynProvider, Provider, ProviderBuilder};
use alloy::rpc::client::ClientBuilder;
use alloy::rpc::types::TransactionReceipt;
use alloy::signers::local::PrivateKeySigner;
use alloy::sol_types::SolCall;
use alloy::transports::layers::{OrRetryPolicyFn, RateLimitRetryPolicy, RetryBackoffLayer};
use concord_bindings::{ConcordToken, LabelMarketV2};
use std::sync::Arc;
use std::time::Duration;

pub use errors::{contract_error, transport_error};
pub use pipeline::{Sent, Timeouts, TxPipeline};
pub use progress::{Progress, ProgressTracker, Silent};

use crate::backup::BackupKey;
use crate::{ClientError, Deployment, Result};

/// Typed market instance over the erased provider.
pub type Market = LabelMarketV2::LabelMarketV2Instance<DynProvider>;
/// Typed token instance over the erased provider.
pub type Token = ConcordToken::ConcordTokenInstance<DynProvider>;

/// How long to wait for the RPC to answer the first request.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Retries of a request that could not reach the node (the node restarting), 500 ms apart.
const CONNECT_RETRIES: u32 = 10;

/// A connected client: chain checked against the deployment, contracts present, optional signer.
#[derive(Clone)]
pub struct Concord {
    pub provider: DynProvider,
    pub deployment: Deployment,
    pub market: Market,
    pub token: Token,
    pub rpc_url: String,
    /// Sends this client's transactions (shared nonce across clones).
    pub tx: TxPipeline,
    /// Most blocks one `eth_getLogs` asks for (halved while the node answers that a range is too large or holds
    /// too many results): see [`crate::market::events`].
    pub log_range: u64,
    /// Where event reads are cached (none: every read asks the node from the deployment block).
    pub log_cache: Option<crate::logcache::LogCache>,
    /// Blocks below the head that a cached read still re-reads (a reorg up to this deep is picked up).
    pub confirmations: u64,
    /// Gateway for `ipfs://` manifest URIs.
    pub ipfs_gateway: String,
}

/// Default of [`Concord::confirmations`].
pub const DEFAULT_CONFIRMATIONS: u64 = 12;

/// Default of [`Concord::log_range`]: public providers cap `eth_getLogs` between 1,000 and 10,000 blocks.
pub const DEFAULT_LOG_RANGE: u64 = 10_000;

impl Concord {
    /// Connects to `rpc_url`, checks the chain id against the deployment and that the market has code.
    pub async fn connect(
        rpc_url: &str,
        deployment: Deployment,
        signer: Option<PrivateKeySigner>,
    ) -> Result<Self> {
        Self::connect_with(rpc_url, deployment, signer, Timeouts::default()).await
    }

    /// [`Concord::connect`] with explicit timeouts. Requests that cannot reach the node are retried for about
    /// five seconds (a node restarting); a request the node does not answer within `timeouts.rpc` fails.
    pub async fn connect_with(
        rpc_url: &str,
        deployment: Deployment,
        signer: Option<PrivateKeySigner>,
        timeouts: Timeouts,
    ) -> Result<Self> {
        let url: alloy::transports::http::reqwest::Url = rpc_url.parse().map_err(|e| {
            ClientError::Input(format!("--rpc-url `{rpc_url}` is not a valid URL: {e}"))
        })?;
        let http = alloy::transports::http::reqwest::Client::builder()
            .timeout(timeouts.rpc)
            .build()
            .map_err(|e| ClientError::Input(format!("cannot build the HTTP client: {e}")))?;
        let retry = OrRetryPolicyFn::new(RateLimitRetryPolicy::default(), errors::is_unreachable);
        let client = ClientBuilder::default()
            .layer(RetryBackoffLayer::new_with_policy(
                CONNECT_RETRIES,
                500,
                u64::MAX / 4,
                retry,
            ))
            .http_with_client(http, url);
        let provider = ProviderBuilder::new().connect_client(client).erased();
        let rpc_err = |e: String| ClientError::Rpc {
            url: rpc_url.to_string(),
            reason: e,
        };
        let chain_id = tokio::time::timeout(CONNECT_TIMEOUT, provider.get_chain_id())
            .await
            .map_err(|_| rpc_err(format!("no answer within {}s", CONNECT_TIMEOUT.as_secs())))?
            .map_err(
                |e| match transport_error("connect", rpc_url, &e.to_string()) {
                    ClientError::Rpc { .. } => rpc_err("connection refused".into()),
                    // Something answered, but not JSON-RPC (a web page, a proxy's error page).
                    _ if e.to_string().contains("deserialization error") => ClientError::NotRpc {
                        url: rpc_url.to_string(),
                    },
                    _ => rpc_err(e.to_string()),
                },
            )?;
        if chain_id != deployment.chain_id {
            return Err(ClientError::WrongChain {
                expected: deployment.chain_id,
                actual: chain_id,
            });
        }
        let code = provider
            .get_code_at(deployment.market)
            .await
            .map_err(|e| rpc_err(e.to_string()))?;
        if code.is_empty() {
            return Err(ClientError::NoContract {
                address: deployment.market.to_string(),
                chain_id,
            });
        }
        let market = LabelMarketV2::new(deployment.market, provider.clone());
        let token = ConcordToken::new(deployment.token, provider.clone());
        let tx = TxPipeline::new(provider.clone(), rpc_url, chain_id, signer, timeouts);
        Ok(Self {
            provider,
            deployment,
            market,
            token,
            rpc_url: rpc_url.to_string(),
            tx,
            log_range: DEFAULT_LOG_RANGE,
            log_cache: None,
            confirmations: DEFAULT_CONFIRMATIONS,
            ipfs_gateway: crate::dataset::DEFAULT_IPFS_GATEWAY.to_string(),
        })
    }

    /// Keeps every transaction's fees within `caps`.
    pub fn with_fee_caps(mut self, caps: pipeline::FeeCaps) -> Self {
        self.tx = self.tx.with_fee_caps(caps);
        self
    }

    /// Caches event reads in `cache`, re-reading the newest `confirmations` blocks every time.
    pub fn with_log_cache(mut self, cache: crate::logcache::LogCache, confirmations: u64) -> Self {
        self.log_cache = Some(cache);
        self.confirmations = confirmations;
        self
    }

    /// Reads logs in ranges of at most `blocks` blocks (at least 1).
    pub fn with_log_range(mut self, blocks: u64) -> Self {
        self.log_range = blocks.max(1);
        self
    }

    /// Reports the progress of long pipelines to `progress` (the CLIs pass progress bars; silent by default).
    pub fn with_progress(mut self, progress: Arc<dyn Progress>) -> Self {
        self.tx = self.tx.with_progress(progress);
        self
    }

    /// The sending account.
    pub fn account(&self) -> Result<Address> {
        self.tx.account()
    }

    /// Key for the encrypted commit backups of this account.
    pub fn backup_key(&self) -> Result<BackupKey> {
        let s = self
            .tx
            .signer()
            .ok_or_else(|| ClientError::Wallet("a signing key is needed to read backups".into()))?;
        Ok(BackupKey::derive(&s.to_bytes().0))
    }

    /// Chain id (checked at connect).
    pub fn chain_id(&self) -> u64 {
        self.deployment.chain_id
    }

    /// Market address.
    pub fn market_address(&self) -> Address {
        self.deployment.market
    }

    /// Maps an error of a read call.
    pub fn read_err(&self, action: &str) -> impl Fn(alloy::contract::Error) -> ClientError + '_ {
        let action = action.to_string();
        move |e| contract_error(&action, &self.rpc_url, e)
    }

    /// Submits and confirms one market call.
    pub async fn send_market<C: SolCall>(
        &self,
        action: &str,
        call: C,
    ) -> Result<TransactionReceipt> {
        self.tx
            .send(action, self.deployment.market, call.abi_encode().into())
            .await
    }

    /// Submits and confirms one call to a token (the protocol token or any ERC-20 with the same ABI).
    pub async fn send_token<C: SolCall>(
        &self,
        action: &str,
        token: Address,
        call: C,
    ) -> Result<TransactionReceipt> {
        self.tx.send(action, token, call.abi_encode().into()).await
    }

    /// Pipelines many market calls (see [`TxPipeline::send_many`]).
    pub async fn send_market_many<C: SolCall>(
        &self,
        action: &str,
        calls: Vec<C>,
    ) -> Vec<Result<TransactionReceipt>> {
        self.tx
            .send_many(action, self.deployment.market, calls)
            .await
    }

    /// Approves the market to spend `amount` of `token` for this account, unless it already may (one
    /// transaction at most; `action` names it in errors, e.g. "approve stake"). Returns whether it sent one.
    pub async fn ensure_allowance(
        &self,
        action: &str,
        token: Address,
        amount: U256,
    ) -> Result<bool> {
        self.ensure_allowance_for(action, token, self.market_address(), amount)
            .await
    }

    /// [`Concord::ensure_allowance`] for another spender (the generation market).
    pub async fn ensure_allowance_for(
        &self,
        action: &str,
        token: Address,
        spender: Address,
        amount: U256,
    ) -> Result<bool> {
        let me = self.account()?;
        let allowance = ConcordToken::new(token, self.provider.clone())
            .allowance(me, spender)
            .call()
            .await
            .map_err(self.read_err("read allowance"))?;
        if allowance < amount {
            let approve = ConcordToken::approveCall {
                spender,
                value: amount,
            };
            self.send_token(action, token, approve).await?;
            return Ok(true);
        }
        Ok(false)
    }

    /// Balance of the protocol token.
    pub async fn token_balance(&self, who: Address) -> Result<U256> {
        self.token
            .balanceOf(who)
            .call()
            .await
            .map_err(self.read_err("read token balance"))
    }

    /// Refuses, in one line, to move `amount` of the protocol token from `who`'s wallet when it holds less
    /// (`doing`: what would move it, e.g. "tries to stake").
    pub async fn ensure_balance(&self, who: Address, amount: U256, doing: &str) -> Result<()> {
        let balance = self.token_balance(who).await?;
        if balance < amount {
            return Err(ClientError::Input(format!(
                "insufficient CCD balance: {who} holds {} but {doing} {}",
                concord_protocol::units::fmt_tokens(balance),
                concord_protocol::units::fmt_tokens(amount)
            )));
        }
        Ok(())
    }

    /// Latest block timestamp (deadlines are compared against chain time, not the local clock).
    pub async fn chain_time(&self) -> Result<u64> {
        let block = self
            .provider
            .get_block_by_number(alloy::eips::BlockNumberOrTag::Latest)
            .await
            .map_err(|e| transport_error("read latest block", &self.rpc_url, &e.to_string()))?
            .ok_or_else(|| ClientError::Transport {
                action: "read latest block".into(),
                reason: "no block".into(),
            })?;
        Ok(block.header.timestamp)
    }

    /// Latest block number.
    pub async fn block_number(&self) -> Result<u64> {
        self.provider
            .get_block_number()
            .await
            .map_err(|e| transport_error("read block number", &self.rpc_url, &e.to_string()))
    }

    /// Hash of block `number` (what `blockhash(number)` returns on-chain while it is among the last 256).
    pub async fn block_hash(&self, number: u64) -> Result<alloy::primitives::B256> {
        let action = format!("read block {number}");
        let block = self
            .provider
            .get_block_by_number(number.into())
            .await
            .map_err(|e| transport_error(&action, &self.rpc_url, &e.to_string()))?
            .ok_or_else(|| ClientError::Transport {
                action: action.clone(),
                reason: "no such block yet".into(),
            })?;
        Ok(block.header.hash)
    }
}

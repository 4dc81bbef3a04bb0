//! Connection to a chain with a Concord deployment: provider, typed contract instances, pipelined sends and
//! revert decoding.

use alloy::network::{Ethereum, EthereumWallet, TransactionBuilder};
use alloy::primitives::{Address, TxHash, U256};
use alloy::providers::{DynProvider, PendingTransactionBuilder, Provider, ProviderBuilder};
use alloy::rpc::types::{TransactionReceipt, TransactionRequest};
use alloy::signers::local::PrivateKeySigner;
use alloy::sol_types::SolCall;
use concord_bindings::{ConcordToken, LabelMarket};
use futures::future::join_all;
use futures::{stream, StreamExt};
use indicatif::{ProgressBar, ProgressStyle};
use std::time::Duration;

use crate::backup::BackupKey;
use crate::revert::explain_revert_data;
use crate::{ClientError, Deployment, Result};

/// Typed market instance over the erased provider.
pub type Market = LabelMarket::LabelMarketInstance<DynProvider>;
/// Typed token instance over the erased provider.
pub type Token = ConcordToken::ConcordTokenInstance<DynProvider>;

/// How long to wait for the RPC to answer the first request.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Calls estimated concurrently in a pipeline.
const PIPELINE_DEPTH: usize = 32;
/// Gas headroom over the estimate (estimates can be tight when state moves between estimate and inclusion).
const GAS_HEADROOM_PCT: u64 = 25;

/// Gas limit for calls whose cost depends on state that can change between estimate and inclusion:
/// `claim` probes a pseudo-random position of the open-task set (seeded by prevrandao and timestamp), so it gets
/// a floor covering 16 probes; the `commit` that completes a task also removes it from the open set, which a
/// commit estimated while other replicas were still pending did not pay for.
fn gas_limit(selector: &[u8; 4], estimate: u64) -> u64 {
    let padded = estimate + estimate * GAS_HEADROOM_PCT / 100;
    if *selector == LabelMarket::claimCall::SELECTOR {
        padded.max(300_000)
    } else if *selector == LabelMarket::commitCall::SELECTOR {
        padded + 40_000
    } else {
        padded
    }
}

/// A connected client: chain checked against the deployment, contracts present, optional signer.
#[derive(Clone)]
pub struct Concord {
    pub provider: DynProvider,
    pub deployment: Deployment,
    pub market: Market,
    pub token: Token,
    pub rpc_url: String,
    signer: Option<PrivateKeySigner>,
    quiet: bool,
}

/// Maps a contract error into a [`ClientError`] with a sentence for the user.
pub fn contract_error(action: &str, url: &str, e: alloy::contract::Error) -> ClientError {
    if let Some(reason) = e.as_revert_data().and_then(|d| explain_revert_data(&d)) {
        return ClientError::Revert {
            action: action.to_string(),
            reason,
        };
    }
    transport_error(action, url, &e.to_string())
}

/// Classifies a transport-level failure message.
pub fn transport_error(action: &str, url: &str, msg: &str) -> ClientError {
    let lower = msg.to_ascii_lowercase();
    if lower.contains("connection refused")
        || lower.contains("error sending request")
        || lower.contains("dns")
    {
        return ClientError::Rpc {
            url: url.to_string(),
            reason: "connection refused".into(),
        };
    }
    if lower.contains("insufficient funds") {
        return ClientError::Revert {
            action: action.to_string(),
            reason: "the account has not enough ETH to pay for gas; fund it first".into(),
        };
    }
    if lower.contains("execution reverted") {
        return ClientError::Revert {
            action: action.to_string(),
            reason: format!("the contract reverted ({msg})"),
        };
    }
    ClientError::Transport {
        action: action.to_string(),
        reason: msg.to_string(),
    }
}

impl Concord {
    /// Connects to `rpc_url`, checks the chain id against the deployment and that the market has code.
    pub async fn connect(
        rpc_url: &str,
        deployment: Deployment,
        signer: Option<PrivateKeySigner>,
    ) -> Result<Self> {
        let url: alloy::transports::http::reqwest::Url = rpc_url.parse().map_err(|e| {
            ClientError::Input(format!("--rpc-url `{rpc_url}` is not a valid URL: {e}"))
        })?;
        let provider = match &signer {
            Some(s) => ProviderBuilder::new()
                .wallet(EthereumWallet::from(s.clone()))
                .connect_http(url)
                .erased(),
            None => ProviderBuilder::new().connect_http(url).erased(),
        };
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
        let market = LabelMarket::new(deployment.market, provider.clone());
        let token = ConcordToken::new(deployment.token, provider.clone());
        Ok(Self {
            provider,
            deployment,
            market,
            token,
            rpc_url: rpc_url.to_string(),
            signer,
            quiet: false,
        })
    }

    /// Silences progress bars (for `--json` and tests).
    pub fn quiet(mut self, quiet: bool) -> Self {
        self.quiet = quiet;
        self
    }

    /// Whether progress output is suppressed.
    pub fn is_quiet(&self) -> bool {
        self.quiet
    }

    /// The sending account.
    pub fn account(&self) -> Result<Address> {
        self.signer.as_ref().map(|s| s.address()).ok_or_else(|| {
            ClientError::Wallet(
                "this command sends transactions: pass --private-key, --keystore or --account"
                    .into(),
            )
        })
    }

    /// Key for the encrypted commit backups of this account.
    pub fn backup_key(&self) -> Result<BackupKey> {
        let s = self
            .signer
            .as_ref()
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

    /// Estimates gas (a revert surfaces here, decoded, before any nonce is used) and submits the transaction.
    /// Returns as soon as the node accepted it; await [`Concord::confirm`] for the receipt.
    pub async fn submit(
        &self,
        action: &str,
        to: Address,
        input: alloy::primitives::Bytes,
    ) -> Result<PendingTransactionBuilder<Ethereum>> {
        let tx = self.prepare(action, to, input).await?;
        self.send_prepared(action, tx).await
    }

    /// Estimates gas for a call (a revert surfaces here, decoded) and returns the request with its gas limit.
    pub async fn prepare(
        &self,
        action: &str,
        to: Address,
        input: alloy::primitives::Bytes,
    ) -> Result<TransactionRequest> {
        let from = self.account()?;
        let input_selector: [u8; 4] = input
            .get(..4)
            .and_then(|s| s.try_into().ok())
            .unwrap_or_default();
        let tx = TransactionRequest::default()
            .with_from(from)
            .with_to(to)
            .with_input(input);
        let gas = self.provider.estimate_gas(tx.clone()).await.map_err(|e| {
            let data = e.as_error_resp().and_then(|r| r.as_revert_data());
            match data.and_then(|d| explain_revert_data(&d)) {
                Some(reason) => ClientError::Revert {
                    action: action.to_string(),
                    reason,
                },
                None => transport_error(action, &self.rpc_url, &e.to_string()),
            }
        })?;
        Ok(tx.with_gas_limit(gas_limit(&input_selector, gas)))
    }

    /// Signs (nonce from the local cache) and submits a prepared request.
    pub async fn send_prepared(
        &self,
        action: &str,
        tx: TransactionRequest,
    ) -> Result<PendingTransactionBuilder<Ethereum>> {
        self.provider
            .send_transaction(tx)
            .await
            .map_err(|e| transport_error(action, &self.rpc_url, &e.to_string()))
    }

    /// Submits a typed call to the market.
    pub async fn submit_market<C: SolCall>(
        &self,
        action: &str,
        call: C,
    ) -> Result<PendingTransactionBuilder<Ethereum>> {
        self.submit(action, self.deployment.market, call.abi_encode().into())
            .await
    }

    /// Submits a typed call to a token (the protocol token or any ERC-20 with the same ABI).
    pub async fn submit_token<C: SolCall>(
        &self,
        action: &str,
        token: Address,
        call: C,
    ) -> Result<PendingTransactionBuilder<Ethereum>> {
        self.submit(action, token, call.abi_encode().into()).await
    }

    /// Waits for the receipt and fails on a reverted status.
    pub async fn confirm(
        &self,
        action: &str,
        pending: PendingTransactionBuilder<Ethereum>,
    ) -> Result<TransactionReceipt> {
        let hash: TxHash = *pending.tx_hash();
        let receipt = pending
            .with_timeout(Some(Duration::from_secs(300)))
            .get_receipt()
            .await
            .map_err(|e| {
                transport_error(action, &self.rpc_url, &format!("waiting for {hash}: {e}"))
            })?;
        if !receipt.status() {
            let limit = match self.provider.get_transaction_by_hash(hash).await {
                Ok(Some(tx)) => alloy::consensus::Transaction::gas_limit(&tx),
                _ => 0,
            };
            let tx = if limit > 0 && receipt.gas_used >= limit {
                format!("{hash} (out of gas: used all {limit})")
            } else {
                format!("{hash} (used {} gas)", receipt.gas_used)
            };
            return Err(ClientError::Reverted {
                action: action.to_string(),
                tx,
            });
        }
        Ok(receipt)
    }

    /// Submits and confirms one market call.
    pub async fn send_market<C: SolCall>(
        &self,
        action: &str,
        call: C,
    ) -> Result<TransactionReceipt> {
        let pending = self.submit_market(action, call).await?;
        self.confirm(action, pending).await
    }

    /// Pipelines many market calls: each is estimated and submitted back to back (nonces assigned locally),
    /// then all receipts are awaited concurrently. Results keep the input order; a failure of one call does
    /// not stop the others that were already submitted, but no call is submitted after a failed submission.
    pub async fn send_market_many<C: SolCall>(
        &self,
        action: &str,
        calls: Vec<C>,
    ) -> Vec<Result<TransactionReceipt>> {
        let bar = self.progress(calls.len() as u64, action);
        // 1. Estimate every call concurrently (reverts are caught here, before any nonce is used).
        let market = self.deployment.market;
        let prepared: Vec<Result<TransactionRequest>> = stream::iter(calls)
            .map(|call| self.prepare(action, market, call.abi_encode().into()))
            .buffered(PIPELINE_DEPTH)
            .collect()
            .await;
        // 2. One fee quote for the whole pipeline instead of one per transaction.
        let fees = self.provider.estimate_eip1559_fees().await.ok();
        // 3. Submit back to back (nonces assigned locally), then 4. await all receipts concurrently.
        let mut pendings = Vec::with_capacity(prepared.len());
        let mut stopped = false;
        for p in prepared {
            let tx = match p {
                Ok(tx) if !stopped => tx,
                Ok(_) => {
                    pendings.push(Err(ClientError::Input(format!(
                        "{action}: skipped after an earlier failure; run again"
                    ))));
                    continue;
                }
                Err(e) => {
                    pendings.push(Err(e));
                    continue;
                }
            };
            let tx = match &fees {
                Some(f) => tx
                    .with_max_fee_per_gas(f.max_fee_per_gas)
                    .with_max_priority_fee_per_gas(f.max_priority_fee_per_gas),
                None => tx,
            };
            match self.send_prepared(action, tx).await {
                Ok(p) => pendings.push(Ok(p)),
                Err(e) => {
                    // A transport failure likely hits the rest too: stop submitting.
                    stopped = true;
                    pendings.push(Err(e));
                }
            }
        }
        let results = join_all(pendings.into_iter().map(|p| {
            let bar = bar.clone();
            async move {
                let r = match p {
                    Ok(p) => self.confirm(action, p).await,
                    Err(e) => Err(e),
                };
                bar.inc(1);
                r
            }
        }))
        .await;
        bar.finish_and_clear();
        results
    }

    /// A progress bar (hidden when quiet).
    pub fn progress(&self, len: u64, msg: &str) -> ProgressBar {
        if self.quiet || len < 2 {
            return ProgressBar::hidden();
        }
        let bar = ProgressBar::new(len);
        if let Ok(style) =
            ProgressStyle::with_template("{msg:>12} [{bar:30}] {pos}/{len} {elapsed}")
        {
            bar.set_style(style.progress_chars("=> "));
        }
        bar.set_message(msg.to_string());
        bar
    }

    /// Balance of the protocol token.
    pub async fn token_balance(&self, who: Address) -> Result<U256> {
        self.token
            .balanceOf(who)
            .call()
            .await
            .map_err(self.read_err("read token balance"))
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
}

//! Connection to a chain with a Concord deployment: provider, typed contract instances, pipelined sends and
//! revert decoding.

use alloy::eips::eip1559::Eip1559Estimation;
use alloy::eips::eip2718::Encodable2718;
use alloy::network::{EthereumWallet, NetworkTransactionBuilder, TransactionBuilder};
use alloy::primitives::{Address, Bytes, TxHash, U256};
use alloy::providers::{DynProvider, Provider, ProviderBuilder};
use alloy::rpc::client::ClientBuilder;
use alloy::rpc::types::{TransactionReceipt, TransactionRequest};
use alloy::signers::local::PrivateKeySigner;
use alloy::sol_types::SolCall;
use alloy::transports::layers::{OrRetryPolicyFn, RateLimitRetryPolicy, RetryBackoffLayer};
use alloy::transports::{RpcError, TransportError, TransportErrorKind};
use concord_bindings::{ConcordToken, LabelMarket};
use futures::{stream, StreamExt};
use indicatif::{ProgressBar, ProgressStyle};
use std::sync::Arc;
use std::time::{Duration, Instant};

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
/// Transactions of one pipeline in flight at once (submitted, not yet confirmed). Bounded because nodes slow
/// down or evict with deep per-sender queues (anvil stalls with a few thousand pending; geth keeps 16
/// executable slots per account guaranteed, 64 queued by default).
const SEND_WINDOW: usize = 64;
/// Receipts read concurrently while waiting.
const RECEIPT_DEPTH: usize = 64;
/// A transaction without a receipt for this long is looked up in the node's pool (and re-broadcast if gone).
const REBROADCAST_AFTER: Duration = Duration::from_secs(6);
/// Nonces tried when the node reports them as taken by other transactions.
const NONCE_ATTEMPTS: usize = 5;
/// Retries of a request that could not reach the node (the node restarting), 500 ms apart.
const CONNECT_RETRIES: u32 = 10;
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

/// How long to wait for the node.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    /// One JSON-RPC request.
    pub rpc: Duration,
    /// One transaction, from submission to receipt.
    pub tx: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self {
            rpc: Duration::from_secs(30),
            tx: Duration::from_secs(300),
        }
    }
}

/// A signed transaction the node accepted. The signed bytes are kept so the transaction can be re-broadcast
/// unchanged (same nonce, same hash) if the node drops it.
#[derive(Debug, Clone)]
pub struct Sent {
    pub hash: TxHash,
    pub nonce: u64,
    raw: Bytes,
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
    /// Next nonce to use (None: ask the node). Shared by clones so concurrent pipelines never reuse one.
    nonce: Arc<tokio::sync::Mutex<Option<u64>>>,
    timeouts: Timeouts,
    quiet: bool,
}

fn with_fees(tx: TransactionRequest, fees: &Eip1559Estimation) -> TransactionRequest {
    tx.with_max_fee_per_gas(fees.max_fee_per_gas)
        .with_max_priority_fee_per_gas(fees.max_priority_fee_per_gas)
}

/// Node messages meaning "this nonce is already used by another transaction".
fn is_nonce_taken(lower_msg: &str) -> bool {
    lower_msg.contains("nonce too low")
        || lower_msg.contains("nonce has already been used")
        || lower_msg.contains("replacement transaction underpriced")
        || lower_msg.contains("already used")
}

/// The request never reached the node (refused, reset, closed): worth retrying while it restarts.
fn is_unreachable(e: &TransportError) -> bool {
    if let RpcError::Transport(TransportErrorKind::Custom(inner)) = e {
        if let Some(re) = inner.downcast_ref::<alloy::transports::http::reqwest::Error>() {
            return re.is_connect();
        }
    }
    false
}

/// The error for a transaction whose fate is unknown because the node went away while we waited.
fn lost_track(action: &str, s: &Sent, cause: &ClientError) -> ClientError {
    ClientError::Transport {
        action: action.to_string(),
        reason: format!(
            "lost the node while waiting for {} (nonce {}) to be mined: {cause}",
            s.hash, s.nonce
        ),
    }
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
    if lower.contains("timed out") || lower.contains("timeout") {
        return ClientError::Rpc {
            url: url.to_string(),
            reason: "the request timed out (raise --rpc-timeout if the node is just slow)".into(),
        };
    }
    if lower.contains("connection refused")
        || lower.contains("error sending request")
        || lower.contains("connection closed")
        || lower.contains("connection reset")
        || lower.contains("max retries exceeded")
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
        let retry = OrRetryPolicyFn::new(RateLimitRetryPolicy::default(), is_unreachable);
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
            nonce: Arc::new(tokio::sync::Mutex::new(None)),
            timeouts,
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

    /// Estimates gas (a revert surfaces here, decoded, before any nonce is used), signs and submits the
    /// transaction. Returns as soon as the node accepted it; await [`Concord::confirm`] for the receipt.
    pub async fn submit(
        &self,
        action: &str,
        to: Address,
        input: alloy::primitives::Bytes,
    ) -> Result<Sent> {
        let tx = self.prepare(action, to, input).await?;
        let fees = self.fees(action).await?;
        self.send_prepared(action, with_fees(tx, &fees)).await
    }

    /// Current EIP-1559 fee quote.
    async fn fees(&self, action: &str) -> Result<Eip1559Estimation> {
        self.provider
            .estimate_eip1559_fees()
            .await
            .map_err(|e| transport_error(action, &self.rpc_url, &e.to_string()))
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

    /// The next nonce the node has not seen for this account (pending transactions included).
    async fn pending_nonce(&self, action: &str) -> Result<u64> {
        let me = self.account()?;
        self.provider
            .get_transaction_count(me)
            .pending()
            .await
            .map_err(|e| transport_error(action, &self.rpc_url, &e.to_string()))
    }

    /// Signs a prepared request with the next local nonce and submits it. Nonces are handed out under a lock so
    /// a pipeline's transactions reach the node in order. If the node says the nonce is taken (another process
    /// sent with this key) the transaction is re-signed with the next free nonce; a resubmission of a
    /// transaction the node already has counts as sent.
    pub async fn send_prepared(&self, action: &str, tx: TransactionRequest) -> Result<Sent> {
        let signer = self.signer.clone().ok_or_else(|| {
            ClientError::Wallet(
                "this command sends transactions: pass --private-key, --keystore or --account"
                    .into(),
            )
        })?;
        let wallet = EthereumWallet::from(signer);
        let mut next = self.nonce.lock().await;
        let mut nonce = match *next {
            Some(n) => n,
            None => self.pending_nonce(action).await?,
        };
        for _ in 0..NONCE_ATTEMPTS {
            let envelope = tx
                .clone()
                .with_nonce(nonce)
                .with_chain_id(self.chain_id())
                .build(&wallet)
                .await
                .map_err(|e| ClientError::Transport {
                    action: action.to_string(),
                    reason: format!("cannot sign the transaction: {e}"),
                })?;
            let raw = Bytes::from(envelope.encoded_2718());
            let sent = Sent {
                hash: *envelope.tx_hash(),
                nonce,
                raw,
            };
            match self.provider.send_raw_transaction(&sent.raw).await {
                Ok(_) => {
                    *next = Some(nonce + 1);
                    return Ok(sent);
                }
                Err(e) => {
                    let msg = e.to_string().to_ascii_lowercase();
                    if msg.contains("already known") || msg.contains("already imported") {
                        *next = Some(nonce + 1);
                        return Ok(sent);
                    }
                    if e.as_error_resp().is_none() && !msg.contains("max retries exceeded") {
                        // No answer (timeout, connection dropped mid-request): the node may or may not have the
                        // transaction. Count it as sent; waiting for its receipt re-broadcasts the same bytes if
                        // the node does not know it.
                        tracing::warn!(hash = %sent.hash, "no answer to the submission: {e}");
                        *next = Some(nonce + 1);
                        return Ok(sent);
                    }
                    if !is_nonce_taken(&msg) {
                        *next = None; // unknown state: ask the node next time
                        return Err(transport_error(action, &self.rpc_url, &e.to_string()));
                    }
                    // Our own transaction may have landed already (a retried request whose answer was lost).
                    if let Ok(Some(_)) = self.provider.get_transaction_receipt(sent.hash).await {
                        *next = Some(nonce + 1);
                        return Ok(sent);
                    }
                    let fresh = self.pending_nonce(action).await?;
                    tracing::warn!(
                        nonce,
                        fresh,
                        "nonce taken by another transaction; re-signing"
                    );
                    nonce = fresh.max(nonce + 1);
                }
            }
        }
        *next = None;
        Err(ClientError::Transport {
            action: action.to_string(),
            reason: format!(
                "the node refused {NONCE_ATTEMPTS} nonces in a row as already used; \
                 is another process sending with this key? Stop it and run again"
            ),
        })
    }

    /// Submits a typed call to the market.
    pub async fn submit_market<C: SolCall>(&self, action: &str, call: C) -> Result<Sent> {
        self.submit(action, self.deployment.market, call.abi_encode().into())
            .await
    }

    /// Submits a typed call to a token (the protocol token or any ERC-20 with the same ABI).
    pub async fn submit_token<C: SolCall>(
        &self,
        action: &str,
        token: Address,
        call: C,
    ) -> Result<Sent> {
        self.submit(action, token, call.abi_encode().into()).await
    }

    /// Waits for the receipt and fails on a reverted status.
    pub async fn confirm(&self, action: &str, sent: Sent) -> Result<TransactionReceipt> {
        let bar = ProgressBar::hidden();
        self.confirm_all(action, vec![Ok(sent)], &bar)
            .await
            .pop()
            .unwrap_or_else(|| {
                Err(ClientError::Input(format!(
                    "{action}: no transaction to wait for"
                )))
            })
    }

    /// Waits for many receipts. Receipts are read once per new block, for the still-pending transactions only,
    /// with bounded concurrency. A transaction the node no longer knows is re-broadcast unchanged (same nonce,
    /// same hash); one whose nonce was consumed by a different transaction fails with a message saying so.
    /// Every transaction gets its own result, in input order.
    pub async fn confirm_all(
        &self,
        action: &str,
        sents: Vec<Result<Sent>>,
        bar: &ProgressBar,
    ) -> Vec<Result<TransactionReceipt>> {
        let mut results: Vec<Option<Result<TransactionReceipt>>> = Vec::with_capacity(sents.len());
        let mut pending: Vec<(usize, Sent, Instant)> = Vec::new();
        for (i, s) in sents.into_iter().enumerate() {
            match s {
                Ok(s) => {
                    results.push(None);
                    pending.push((i, s, Instant::now()));
                }
                Err(e) => {
                    bar.inc(1);
                    results.push(Some(Err(e)));
                }
            }
        }
        let deadline = Instant::now() + self.timeouts.tx;
        // Blocks up to `scanned` were looked at: later rounds only read the new blocks' transaction hashes and
        // fetch receipts for our transactions among them (linear in blocks + ours, not pending × blocks).
        let mut scanned: Option<u64> = None;
        let mut pause = Duration::from_millis(5);
        while !pending.is_empty() {
            let block = match self.provider.get_block_number().await {
                Ok(b) => b,
                Err(e) => {
                    let err = transport_error(action, &self.rpc_url, &e.to_string());
                    for (i, s, _) in pending.drain(..) {
                        results[i] = Some(Err(lost_track(action, &s, &err)));
                    }
                    break;
                }
            };
            if scanned != Some(block) {
                pause = Duration::from_millis(5);
                let candidates = match scanned {
                    Some(from) if block > from => self.mined_among(&pending, from + 1, block).await,
                    _ => None, // first look, or the node went back (restart, reorg)
                }
                .unwrap_or_else(|| (0..pending.len()).collect());
                scanned = Some(block);
                let hashes: Vec<(usize, TxHash)> = candidates
                    .into_iter()
                    .map(|j| (j, pending[j].1.hash))
                    .collect();
                let found: Vec<_> = stream::iter(hashes)
                    .map(
                        |(j, h)| async move { (j, self.provider.get_transaction_receipt(h).await) },
                    )
                    .buffer_unordered(RECEIPT_DEPTH)
                    .collect()
                    .await;
                let mut done = vec![false; pending.len()];
                for (j, r) in found {
                    if let Ok(Some(receipt)) = r {
                        let (i, s, _) = &pending[j];
                        results[*i] = Some(self.check_status(action, s, receipt).await);
                        done[j] = true;
                        bar.inc(1);
                    }
                }
                let mut j = 0;
                pending.retain(|_| {
                    j += 1;
                    !done[j - 1]
                });
                if pending.is_empty() {
                    break;
                }
            } else {
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_millis(250));
            }
            // Checked every round, also while other senders keep producing blocks.
            if Instant::now() >= deadline {
                for (i, s, _) in pending.drain(..) {
                    results[i] = Some(Err(ClientError::Transport {
                        action: action.to_string(),
                        reason: format!(
                            "transaction {} (nonce {}) was not mined within {}s; it may still land: \
                             run the command again to check (nothing is lost)",
                            s.hash,
                            s.nonce,
                            self.timeouts.tx.as_secs()
                        ),
                    }));
                }
                break;
            }
            self.rebroadcast_stale(action, &mut pending, &mut results)
                .await;
        }
        results
            .into_iter()
            .map(|r| r.unwrap_or_else(|| Err(ClientError::Input(format!("{action}: lost")))))
            .collect()
    }

    /// Indices of `pending` whose hashes appear in blocks `from..=to` (None if a block could not be read).
    async fn mined_among(
        &self,
        pending: &[(usize, Sent, Instant)],
        from: u64,
        to: u64,
    ) -> Option<Vec<usize>> {
        let wanted: std::collections::HashMap<TxHash, usize> = pending
            .iter()
            .enumerate()
            .map(|(j, (_, s, _))| (s.hash, j))
            .collect();
        let blocks: Vec<_> = stream::iter(from..=to)
            .map(|n| async move { self.provider.get_block_by_number(n.into()).await })
            .buffered(RECEIPT_DEPTH)
            .collect()
            .await;
        let mut out = Vec::new();
        for b in blocks {
            let b = b.ok()??;
            out.extend(
                b.transactions
                    .hashes()
                    .filter_map(|h| wanted.get(&h).copied()),
            );
        }
        Some(out)
    }

    /// For transactions pending longer than [`REBROADCAST_AFTER`]: still in the node's pool → keep waiting;
    /// gone and their nonce still free → send the same signed bytes again; gone and the nonce used by
    /// another transaction → fail.
    async fn rebroadcast_stale(
        &self,
        action: &str,
        pending: &mut Vec<(usize, Sent, Instant)>,
        results: &mut [Option<Result<TransactionReceipt>>],
    ) {
        let now = Instant::now();
        if !pending
            .iter()
            .any(|(_, _, t)| now.duration_since(*t) >= REBROADCAST_AFTER)
        {
            return;
        }
        let Ok(me) = self.account() else { return };
        let Ok(mined) = self.provider.get_transaction_count(me).latest().await else {
            return;
        };
        let mut taken = Vec::new();
        for (j, (i, s, t)) in pending.iter_mut().enumerate() {
            if now.duration_since(*t) < REBROADCAST_AFTER {
                continue;
            }
            *t = now;
            let known = self.provider.get_transaction_by_hash(s.hash).await;
            if let Ok(Some(tx)) = &known {
                if tx.block_number.is_some() {
                    if let Ok(Some(r)) = self.provider.get_transaction_receipt(s.hash).await {
                        results[*i] = Some(self.check_status(action, s, r).await);
                        taken.push(j);
                    }
                }
                continue; // mined (resolved above) or still pending in the node: wait
            }
            if s.nonce < mined {
                // Gone from the node while its nonce is used: unless it was mined between the two reads,
                // another transaction took the nonce.
                if let Ok(Some(r)) = self.provider.get_transaction_receipt(s.hash).await {
                    results[*i] = Some(self.check_status(action, s, r).await);
                } else {
                    self.nonce.lock().await.take();
                    results[*i] = Some(Err(ClientError::Transport {
                        action: action.to_string(),
                        reason: format!(
                            "nonce {} was used by another transaction (is another process sending with this \
                             key?); {} will never be mined: run the command again to re-send",
                            s.nonce, s.hash
                        ),
                    }));
                }
                taken.push(j);
                continue;
            }
            tracing::warn!(hash = %s.hash, nonce = s.nonce, "the node dropped the transaction; re-broadcasting it");
            if let Err(e) = self.provider.send_raw_transaction(&s.raw).await {
                tracing::warn!(hash = %s.hash, "re-broadcast failed: {e}");
            }
        }
        for j in taken.into_iter().rev() {
            pending.remove(j);
        }
    }

    /// Turns a receipt into success or a `Reverted` error that says whether the transaction ran out of gas.
    async fn check_status(
        &self,
        action: &str,
        sent: &Sent,
        receipt: TransactionReceipt,
    ) -> Result<TransactionReceipt> {
        if receipt.status() {
            return Ok(receipt);
        }
        let limit = match self.provider.get_transaction_by_hash(sent.hash).await {
            Ok(Some(tx)) => alloy::consensus::Transaction::gas_limit(&tx),
            _ => 0,
        };
        let tx = if limit > 0 && receipt.gas_used >= limit {
            format!("{} (out of gas: used all {limit})", sent.hash)
        } else {
            format!("{} (used {} gas)", sent.hash, receipt.gas_used)
        };
        Err(ClientError::Reverted {
            action: action.to_string(),
            tx,
        })
    }

    /// Submits and confirms one market call.
    pub async fn send_market<C: SolCall>(
        &self,
        action: &str,
        call: C,
    ) -> Result<TransactionReceipt> {
        let sent = self.submit_market(action, call).await?;
        self.confirm(action, sent).await
    }

    /// Pipelines many market calls in windows of [`SEND_WINDOW`]: a window's calls are estimated concurrently
    /// (reverts are caught here, before any nonce is used), signed and submitted back to back with local nonces,
    /// and its receipts awaited together before the next window is estimated (so estimates see fresh state and
    /// the node's pool never holds more than one window of ours). Results keep the input order; a failure of
    /// one call does not stop the others, but nothing is submitted after a failed submission.
    pub async fn send_market_many<C: SolCall>(
        &self,
        action: &str,
        calls: Vec<C>,
    ) -> Vec<Result<TransactionReceipt>> {
        let bar = self.progress(calls.len() as u64, action);
        let market = self.deployment.market;
        let mut results = Vec::with_capacity(calls.len());
        let mut stopped = false;
        let mut calls = calls.into_iter().peekable();
        while calls.peek().is_some() {
            let window: Vec<C> = calls.by_ref().take(SEND_WINDOW).collect();
            if stopped {
                results.extend(window.iter().map(|_| {
                    bar.inc(1);
                    Err(ClientError::Input(format!(
                        "{action}: not sent after an earlier failure; run again"
                    )))
                }));
                continue;
            }
            let prepared: Vec<Result<TransactionRequest>> = stream::iter(window)
                .map(|call| self.prepare(action, market, call.abi_encode().into()))
                .buffered(PIPELINE_DEPTH)
                .collect()
                .await;
            // One fee quote per window instead of one per transaction.
            let fees = match self.fees(action).await {
                Ok(f) => f,
                Err(e) => {
                    stopped = true;
                    let msg = e.to_string();
                    results.extend(prepared.iter().map(|_| {
                        bar.inc(1);
                        Err(ClientError::Transport {
                            action: action.to_string(),
                            reason: msg.clone(),
                        })
                    }));
                    continue;
                }
            };
            let mut sents = Vec::with_capacity(prepared.len());
            for p in prepared {
                let tx = match p {
                    Ok(tx) if !stopped => tx,
                    Ok(_) => {
                        sents.push(Err(ClientError::Input(format!(
                            "{action}: not sent after an earlier failure; run again"
                        ))));
                        continue;
                    }
                    Err(e) => {
                        sents.push(Err(e));
                        continue;
                    }
                };
                let r = self.send_prepared(action, with_fees(tx, &fees)).await;
                // A transport failure likely hits the rest too: stop submitting.
                stopped |= r.is_err();
                sents.push(r);
            }
            results.extend(self.confirm_all(action, sents, &bar).await);
        }
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

//! The transaction pipeline: gas estimates (reverts decoded before a nonce is spent), local signing with a
//! nonce shared by clones, one fee quote per window, submission in windows, receipts found by scanning new
//! blocks, re-broadcast of dropped transactions and re-signing when another process took a nonce.

use alloy::eips::eip1559::Eip1559Estimation;
use alloy::eips::eip2718::Encodable2718;
use alloy::network::{EthereumWallet, NetworkTransactionBuilder, TransactionBuilder};
use alloy::primitives::{Address, Bytes, TxHash};
use alloy::providers::{DynProvider, Provider};
use alloy::rpc::types::{TransactionReceipt, TransactionRequest};
use alloy::signers::local::PrivateKeySigner;
use alloy::sol_types::SolCall;
use concord_bindings::LabelMarketV2;
use futures::{stream, StreamExt};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::errors::{is_nonce_taken, transport_error};
use super::progress::{Progress, ProgressTracker, Silent};
use super::revert::explain_revert_data;
use crate::{ClientError, Result};

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
/// Gas headroom over the estimate (estimates can be tight when state moves between estimate and inclusion).
const GAS_HEADROOM_PCT: u64 = 25;

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

/// Gas limit for calls whose cost depends on state that can change between estimate and inclusion: a `join`
/// estimated inside an open round may land as the first join after the round's commit window, which opens the
/// next round (a fresh word per lane), or as the join that fills the round and seals it — it gets headroom for
/// both. Everything else is padded by [`GAS_HEADROOM_PCT`].
pub(crate) fn gas_limit(selector: &[u8; 4], estimate: u64) -> u64 {
    let padded = estimate + estimate * GAS_HEADROOM_PCT / 100;
    if *selector == LabelMarketV2::joinCall::SELECTOR {
        padded + JOIN_HEADROOM
    } else {
        padded
    }
}

/// Extra gas for a join that opens or seals a round (up to 15 lanes of fresh words).
const JOIN_HEADROOM: u64 = 400_000;

/// A signed transaction the node accepted. The signed bytes are kept so the transaction can be re-broadcast
/// unchanged (same nonce, same hash) if the node drops it.
#[derive(Debug, Clone)]
pub struct Sent {
    pub hash: TxHash,
    pub nonce: u64,
    raw: Bytes,
}

/// Fee limits the user sets (`--max-fee-per-gas`, `--priority-gas-price`), in wei.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FeeCaps {
    /// Most a transaction may pay per gas (base fee + tip).
    pub max_fee_per_gas: Option<u128>,
    /// The tip per gas (instead of the node's suggestion).
    pub priority_fee_per_gas: Option<u128>,
}

fn gwei(wei: u128) -> String {
    format!("{} gwei", wei as f64 / 1e9)
}

/// The node's fee quote within the user's caps: the tip as given, the max fee at most the cap and never below
/// the tip. A cap under the current base fee is refused (such a transaction would wait in the pool forever).
pub fn apply_caps(
    quote: Eip1559Estimation,
    caps: FeeCaps,
    base_fee: Option<u128>,
) -> Result<Eip1559Estimation> {
    let mut f = quote;
    if let Some(tip) = caps.priority_fee_per_gas {
        f.max_fee_per_gas =
            f.max_fee_per_gas - f.max_priority_fee_per_gas.min(f.max_fee_per_gas) + tip;
        f.max_priority_fee_per_gas = tip;
    }
    if let Some(cap) = caps.max_fee_per_gas {
        if let Some(base) = base_fee.filter(|&b| b > cap) {
            return Err(ClientError::Input(format!(
                "the network's base fee is {}, above --max-fee-per-gas {}: the transaction would not be mined; \
                 raise the cap or wait for lower fees",
                gwei(base),
                gwei(cap)
            )));
        }
        f.max_fee_per_gas = f.max_fee_per_gas.min(cap);
        f.max_priority_fee_per_gas = f.max_priority_fee_per_gas.min(f.max_fee_per_gas);
    }
    Ok(f)
}

fn with_fees(tx: TransactionRequest, fees: &Eip1559Estimation) -> TransactionRequest {
    tx.with_max_fee_per_gas(fees.max_fee_per_gas)
        .with_max_priority_fee_per_gas(fees.max_priority_fee_per_gas)
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

/// Sends transactions for one account on one chain. Clones share the nonce counter, so concurrent pipelines of
/// one process never reuse a nonce.
#[derive(Clone)]
pub struct TxPipeline {
    provider: DynProvider,
    rpc_url: String,
    chain_id: u64,
    signer: Option<PrivateKeySigner>,
    /// Next nonce to use (None: ask the node).
    nonce: Arc<tokio::sync::Mutex<Option<u64>>>,
    timeouts: Timeouts,
    progress: Arc<dyn Progress>,
    caps: FeeCaps,
}

impl TxPipeline {
    /// A pipeline over a connected provider (the chain id was checked by the caller).
    pub fn new(
        provider: DynProvider,
        rpc_url: &str,
        chain_id: u64,
        signer: Option<PrivateKeySigner>,
        timeouts: Timeouts,
    ) -> Self {
        Self {
            provider,
            rpc_url: rpc_url.to_string(),
            chain_id,
            signer,
            nonce: Arc::new(tokio::sync::Mutex::new(None)),
            timeouts,
            progress: Arc::new(Silent),
            caps: FeeCaps::default(),
        }
    }

    /// Reports the progress of [`TxPipeline::send_many`] to `progress`.
    pub fn with_progress(mut self, progress: Arc<dyn Progress>) -> Self {
        self.progress = progress;
        self
    }

    /// Keeps every transaction's fees within `caps`.
    pub fn with_fee_caps(mut self, caps: FeeCaps) -> Self {
        self.caps = caps;
        self
    }

    /// The signing key, if any.
    pub fn fee_caps(&self) -> FeeCaps {
        self.caps
    }

    /// The signing key, if any.
    pub fn signer(&self) -> Option<&PrivateKeySigner> {
        self.signer.as_ref()
    }

    /// The signing key, or the error a command that sends transactions gives without one.
    fn require_signer(&self) -> Result<&PrivateKeySigner> {
        self.signer.as_ref().ok_or_else(|| {
            ClientError::Wallet(
                "this command sends transactions: pass --private-key, --keystore or --account"
                    .into(),
            )
        })
    }

    /// The sending account.
    pub fn account(&self) -> Result<Address> {
        self.require_signer().map(|s| s.address())
    }

    /// Estimates gas (a revert surfaces here, decoded, before any nonce is used), signs and submits the
    /// transaction. Returns as soon as the node accepted it; await [`TxPipeline::confirm`] for the receipt.
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
        let quote = self
            .provider
            .estimate_eip1559_fees()
            .await
            .map_err(|e| transport_error(action, &self.rpc_url, &e.to_string()))?;
        if self.caps == FeeCaps::default() {
            return Ok(quote);
        }
        let base_fee = match self.caps.max_fee_per_gas {
            Some(_) => self
                .provider
                .get_block_by_number(alloy::eips::BlockNumberOrTag::Latest)
                .await
                .map_err(|e| transport_error(action, &self.rpc_url, &e.to_string()))?
                .and_then(|b| b.header.base_fee_per_gas)
                .map(u128::from),
            None => None,
        };
        apply_caps(quote, self.caps, base_fee)
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
        let wallet = EthereumWallet::from(self.require_signer()?.clone());
        let mut next = self.nonce.lock().await;
        let mut nonce = match *next {
            Some(n) => n,
            None => self.pending_nonce(action).await?,
        };
        for _ in 0..NONCE_ATTEMPTS {
            let envelope = tx
                .clone()
                .with_nonce(nonce)
                .with_chain_id(self.chain_id)
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

    /// Waits for the receipt and fails on a reverted status.
    pub async fn confirm(&self, action: &str, sent: Sent) -> Result<TransactionReceipt> {
        self.confirm_all(action, vec![Ok(sent)], &Silent)
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
        bar: &dyn ProgressTracker,
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

    /// Submits one call to `to` and waits for its receipt (fails on a revert, decoded).
    pub async fn send(
        &self,
        action: &str,
        to: Address,
        input: Bytes,
    ) -> Result<TransactionReceipt> {
        let sent = self.submit(action, to, input).await?;
        self.confirm(action, sent).await
    }

    /// Pipelines many calls to `to` in windows of [`SEND_WINDOW`]: a window's calls are estimated concurrently
    /// (reverts are caught here, before any nonce is used), signed and submitted back to back with local nonces,
    /// and its receipts awaited together before the next window is estimated (so estimates see fresh state and
    /// the node's pool never holds more than one window of ours). Results keep the input order; a failure of
    /// one call does not stop the others, but nothing is submitted after a failed submission.
    pub async fn send_many<C: SolCall>(
        &self,
        action: &str,
        to: Address,
        calls: Vec<C>,
    ) -> Vec<Result<TransactionReceipt>> {
        let bar = self.progress.start(action, calls.len() as u64);
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
                .map(|call| self.prepare(action, to, call.abi_encode().into()))
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
            results.extend(self.confirm_all(action, sents, bar.as_ref()).await);
        }
        bar.finish();
        results
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gas_limits_pad_estimates_and_cover_state_dependent_calls() {
        let transfer = [0xa9, 0x05, 0x9c, 0xbb];
        assert_eq!(gas_limit(&transfer, 100_000), 125_000, "25 % headroom");
        // A join may open the next round or seal the current one.
        assert_eq!(
            gas_limit(&LabelMarketV2::joinCall::SELECTOR, 80_000),
            100_000 + JOIN_HEADROOM
        );
        assert_eq!(gas_limit(&[0; 4], 0), 0);
    }

    #[test]
    fn fees_are_applied_to_the_request() {
        let fees = Eip1559Estimation {
            max_fee_per_gas: 30,
            max_priority_fee_per_gas: 2,
        };
        let tx = with_fees(TransactionRequest::default(), &fees);
        assert_eq!(tx.max_fee_per_gas, Some(30));
        assert_eq!(tx.max_priority_fee_per_gas, Some(2));
    }

    /// A pipeline over a scripted node: `asserter` answers each JSON-RPC request in turn.
    fn scripted() -> (TxPipeline, alloy::transports::mock::Asserter) {
        let asserter = alloy::transports::mock::Asserter::new();
        let provider = alloy::providers::ProviderBuilder::new()
            .connect_mocked_client(asserter.clone())
            .erased();
        let signer = PrivateKeySigner::random();
        let p = TxPipeline::new(
            provider,
            "mock://node",
            31337,
            Some(signer),
            Timeouts::default(),
        );
        (p, asserter)
    }

    fn transfer(p: &TxPipeline) -> TransactionRequest {
        let fees = Eip1559Estimation {
            max_fee_per_gas: 2_000_000_000,
            max_priority_fee_per_gas: 1,
        };
        let tx = TransactionRequest::default()
            .with_from(p.account().unwrap())
            .with_to(Address::repeat_byte(7))
            .with_gas_limit(21_000);
        with_fees(tx, &fees)
    }

    #[tokio::test]
    async fn a_nonce_taken_by_another_sender_is_re_signed_with_the_next_free_one() {
        let (p, node) = scripted();
        node.push_success(&alloy::primitives::U64::from(5)); // pending nonce
        node.push_failure_msg("nonce too low"); // someone else used 5
        node.push_success(&Option::<()>::None); // and it is not our transaction
        node.push_success(&alloy::primitives::U64::from(7)); // the next free one
        node.push_success(&TxHash::ZERO); // accepted
        let sent = p.send_prepared("stake", transfer(&p)).await.unwrap();
        assert_eq!(sent.nonce, 7);
        // The counter moved on: the next transaction takes 8 without asking the node.
        node.push_success(&TxHash::ZERO);
        let next = p.send_prepared("stake", transfer(&p)).await.unwrap();
        assert_eq!(next.nonce, 8);
        assert!(node.read_q().is_empty(), "every scripted answer was used");
    }

    #[tokio::test]
    async fn a_transaction_the_node_already_has_counts_as_sent() {
        let (p, node) = scripted();
        node.push_success(&alloy::primitives::U64::from(3));
        node.push_failure_msg("already known");
        let sent = p.send_prepared("commit", transfer(&p)).await.unwrap();
        assert_eq!(sent.nonce, 3);
        node.push_success(&TxHash::ZERO);
        assert_eq!(
            p.send_prepared("commit", transfer(&p)).await.unwrap().nonce,
            4
        );
    }

    #[tokio::test]
    async fn any_other_refusal_fails_and_the_nonce_is_asked_again() {
        let (p, node) = scripted();
        node.push_success(&alloy::primitives::U64::from(3));
        node.push_failure_msg("insufficient funds for gas * price + value");
        let e = p.send_prepared("stake", transfer(&p)).await.unwrap_err();
        assert_eq!(
            e.to_string(),
            "stake failed: the account has not enough ETH to pay for gas; fund it first"
        );
        // State unknown after a refusal: the next send asks the node for the nonce again.
        node.push_success(&alloy::primitives::U64::from(3));
        node.push_success(&TxHash::ZERO);
        assert_eq!(
            p.send_prepared("stake", transfer(&p)).await.unwrap().nonce,
            3
        );
    }

    #[tokio::test]
    async fn clones_share_one_nonce_counter() {
        let (p, node) = scripted();
        let q = p.clone();
        node.push_success(&alloy::primitives::U64::from(10));
        node.push_success(&TxHash::ZERO);
        node.push_success(&TxHash::ZERO);
        assert_eq!(p.send_prepared("a", transfer(&p)).await.unwrap().nonce, 10);
        assert_eq!(q.send_prepared("b", transfer(&q)).await.unwrap().nonce, 11);
    }

    #[tokio::test]
    async fn without_a_key_nothing_is_sent() {
        let asserter = alloy::transports::mock::Asserter::new();
        let provider = alloy::providers::ProviderBuilder::new()
            .connect_mocked_client(asserter)
            .erased();
        let p = TxPipeline::new(provider, "mock://node", 1, None, Timeouts::default());
        let e = p
            .send_prepared("stake", TransactionRequest::default())
            .await
            .unwrap_err();
        assert!(e
            .to_string()
            .contains("pass --private-key, --keystore or --account"));
    }

    #[test]
    fn fee_caps_bound_the_quote_and_refuse_a_cap_under_the_base_fee() {
        let quote = Eip1559Estimation {
            max_fee_per_gas: 50,
            max_priority_fee_per_gas: 2,
        };
        assert_eq!(
            apply_caps(quote, FeeCaps::default(), None).expect("no caps"),
            quote
        );
        let tip = apply_caps(
            quote,
            FeeCaps {
                max_fee_per_gas: None,
                priority_fee_per_gas: Some(5),
            },
            None,
        )
        .expect("tip");
        assert_eq!((tip.max_fee_per_gas, tip.max_priority_fee_per_gas), (53, 5));
        let capped = apply_caps(
            quote,
            FeeCaps {
                max_fee_per_gas: Some(30),
                priority_fee_per_gas: Some(40),
            },
            Some(20),
        )
        .expect("capped");
        assert_eq!(
            (capped.max_fee_per_gas, capped.max_priority_fee_per_gas),
            (30, 30)
        );
        let e = apply_caps(
            quote,
            FeeCaps {
                max_fee_per_gas: Some(10),
                priority_fee_per_gas: None,
            },
            Some(20),
        )
        .expect_err("under the base fee")
        .to_string();
        assert!(
            e.contains("base fee") && e.contains("--max-fee-per-gas"),
            "{e}"
        );
    }

    #[test]
    fn default_timeouts_match_the_cli_defaults() {
        let t = Timeouts::default();
        assert_eq!((t.rpc.as_secs(), t.tx.as_secs()), (30, 300));
    }
}

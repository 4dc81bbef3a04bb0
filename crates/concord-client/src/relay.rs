//! Commits relayed by the batch's settler instead of sent by each annotator. An annotator signs its commit (and
//! the next round's join that rides along) as EIP-712 `RelayedCommit` under the market's domain and hands it to
//! the requester's `serve --publish DIR --accept-commits` (`POST /commits`); the server checks it against the chain
//! (a dry run of the market's `relayCommits`) and keeps it under `$CONCORD_HOME/commits`; `concord-requester
//! relay` then sends every commit it holds for a batch in one `relayCommits` transaction (a few when there are
//! many). The market applies each exactly as the annotator's own `commitAndJoin` — same checks, same events, same
//! stake locked — so the annotator pays no transaction per bundle. A signature is good for its one bundle once;
//! the server can only send it or not: an annotator whose commit is not on-chain near the end of the round's
//! window sends it itself (`commit` without `--via` does, and `commit --via` does too past the hand-over margin).

use crate::market;
use crate::{ClientError, Concord, Result};
use alloy::primitives::{keccak256, Address, Bytes, Signature, B256, U256};
use alloy::signers::SignerSync;
use alloy::sol_types::{eip712_domain, SolStruct};
use concord_bindings::relay::ILabelMarketV2Types as RT;
use concord_bindings::relay::LabelMarketV2Relay as R;
use concord_bindings::ILabelMarketV2Types::Bundle;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

alloy::sol! {
    /// What an annotator signs: `LabelMarketV2Relay.RELAYED_COMMIT_TYPEHASH`.
    struct RelayedCommit {
        uint256 batchId;
        uint256 bundleId;
        bytes32 commitHash;
        bytes32 backupHash;
        uint256 maxTasks;
    }
}

/// One signed commit, as an annotator hands it over and the server keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SignedCommit {
    pub chain_id: u64,
    pub market: Address,
    pub batch: u64,
    pub bundle: u64,
    pub annotator: Address,
    pub lane: u8,
    pub round: u16,
    pub first: u32,
    pub size: u8,
    pub commit_hash: B256,
    /// The encrypted backup of the labels and salt (`crate::backup`), emitted in the `Committed` event.
    pub backup: Bytes,
    /// Tasks of the next round joined with the commit (0: none).
    pub max_tasks: u8,
    pub signature: Bytes,
}

impl SignedCommit {
    /// The EIP-712 digest the annotator signs, under the market's domain.
    pub fn digest(&self) -> B256 {
        let domain = eip712_domain! {
            name: "Concord LabelMarket",
            version: "2",
            chain_id: self.chain_id,
            verifying_contract: self.market,
        };
        RelayedCommit {
            batchId: U256::from(self.batch),
            bundleId: U256::from(self.bundle),
            commitHash: self.commit_hash,
            backupHash: keccak256(&self.backup),
            maxTasks: U256::from(self.max_tasks),
        }
        .eip712_signing_hash(&domain)
    }

    /// Who signed it (`None`: not a signature).
    pub fn signer(&self) -> Option<Address> {
        Signature::try_from(self.signature.as_ref())
            .ok()?
            .recover_address_from_prehash(&self.digest())
            .ok()
    }

    /// The bundle as the market stores it.
    pub fn bundle(&self) -> Bundle {
        Bundle {
            annotator: self.annotator,
            lane: self.lane,
            round: self.round,
            first: self.first,
            size: self.size,
        }
    }

    /// The market's form.
    fn item(&self) -> RT::RelayedCommit {
        RT::RelayedCommit {
            bundleId: self.bundle as u32,
            maxTasks: self.max_tasks,
            bundle: RT::Bundle {
                annotator: self.annotator,
                lane: self.lane,
                round: self.round,
                first: self.first,
                size: self.size,
            },
            commitHash: self.commit_hash,
            backup: self.backup.clone(),
            signature: self.signature.clone(),
        }
    }
}

/// Signs the commit of `bundle` (id `bundle_id` of `batch`) with `c`'s key, joining up to `max_tasks` of the next
/// round (0: none).
pub fn sign(
    c: &Concord,
    batch: u64,
    bundle_id: u64,
    bundle: &Bundle,
    commit_hash: B256,
    backup: Bytes,
    max_tasks: u64,
) -> Result<SignedCommit> {
    let signer = c
        .tx
        .signer()
        .ok_or_else(|| ClientError::Wallet("a signing key is needed to sign a commit".into()))?;
    let max_tasks = u8::try_from(max_tasks)
        .map_err(|_| ClientError::Input(format!("cannot join {max_tasks} tasks at once")))?;
    let mut sc = SignedCommit {
        chain_id: c.chain_id(),
        market: c.market_address(),
        batch,
        bundle: bundle_id,
        annotator: bundle.annotator,
        lane: bundle.lane,
        round: bundle.round,
        first: bundle.first,
        size: bundle.size,
        commit_hash,
        backup,
        max_tasks,
        signature: Bytes::new(),
    };
    let sig = signer
        .sign_hash_sync(&sc.digest())
        .map_err(|e| ClientError::Wallet(format!("cannot sign: {e}")))?;
    sc.signature = sig.as_bytes().to_vec().into();
    Ok(sc)
}

/// Hands `commits` to the server at `base` (`POST {base}/commits`); returns its one-line answer, or why it
/// refused (its own line, or the HTTP failure).
pub async fn post(base: &str, commits: &[SignedCommit]) -> std::result::Result<String, String> {
    crate::handoff::post_json(base, "commits", commits).await
}

/// Most commits one hand-over may carry.
pub const MAX_PER_POST: usize = 64;

/// The folder holding the commits handed over for one batch of this deployment.
fn batch_dir(home: &Path, c: &Concord, batch: u64) -> PathBuf {
    home.join("commits")
        .join(format!("{}-{:#x}", c.chain_id(), c.market_address()))
        .join(batch.to_string())
}

/// Checks commits handed over — this deployment, signed by their bundle's annotator, and accepted by the market
/// right now (a dry run of `relayCommits` with the commit alone) — and keeps them under `home`. All or nothing:
/// the first one refused is the answer, and none is kept. Returns a line for the annotator.
pub async fn accept(c: &Concord, home: &Path, commits: &[SignedCommit]) -> Result<String> {
    if commits.is_empty() || commits.len() > MAX_PER_POST {
        return Err(ClientError::Input(format!(
            "hand over 1 to {MAX_PER_POST} commits at a time, not {}",
            commits.len()
        )));
    }
    for sc in commits {
        let refuse = |why: String| {
            ClientError::Input(format!(
                "commit of bundle {} of batch {}: {why}",
                sc.bundle, sc.batch
            ))
        };
        if sc.chain_id != c.chain_id() || sc.market != c.market_address() {
            return Err(refuse(format!(
                "this server takes commits for market {} on chain {}, not {} on chain {}",
                c.market_address(),
                c.chain_id(),
                sc.market,
                sc.chain_id
            )));
        }
        if sc.signer() != Some(sc.annotator) {
            return Err(refuse(
                "the signature is not the bundle's annotator's".into(),
            ));
        }
        dry_run(c, sc.batch, std::slice::from_ref(sc))
            .await
            .map_err(|e| refuse(e.to_string()))?;
    }
    for sc in commits {
        save(home, c, sc)?;
    }
    Ok(format!(
        "{} commit{} accepted: the requester sends them (`relay`); if one is not on-chain near the end of its window, send it yourself",
        commits.len(),
        if commits.len() == 1 { "" } else { "s" }
    ))
}

/// `relayCommits(batch, commits)` as a call, not sent: the market's refusal as an error. On the pending block, as a
/// transaction sent now would run: a round's seed is usable from the block after its seed block, which a
/// transaction sent right after that block lands in.
async fn dry_run(c: &Concord, batch: u64, commits: &[SignedCommit]) -> Result<()> {
    R::new(c.market_address(), &c.provider)
        .relayCommits(
            U256::from(batch),
            commits.iter().map(|s| s.item()).collect(),
        )
        .call()
        .block(alloy::eips::BlockId::pending())
        .await
        .map_err(c.read_err("relay commits"))?;
    Ok(())
}

/// Writes `sc` atomically (a later signature of the same bundle replaces an earlier one, which the market would
/// take only if that bundle is still uncommitted).
fn save(home: &Path, c: &Concord, sc: &SignedCommit) -> Result<()> {
    let body = serde_json::to_vec(sc).map_err(|e| ClientError::Store(e.to_string()))?;
    crate::handoff::write_atomic(&batch_dir(home, c, sc.batch), sc.bundle, &body)
}

/// What `send` did.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RelayReport {
    pub batch: u64,
    /// Commits sent (in `transactions` transactions).
    pub relayed: u64,
    pub transactions: u64,
    /// Next-round bundles joined with them.
    pub joined: u64,
    /// Commits kept that are already on-chain (their annotator sent them, or an earlier `relay` did).
    pub already_committed: u64,
    /// Commits the market refuses now, one line each (a closed window, a bundle expired, stake withdrawn since).
    pub refused: Vec<String>,
}

/// The commits of `part` that go through together: each passed its own dry run, but two joins of one lane signed
/// before either landed may want the same spare tickets, and the second then fails inside the batch. If the whole
/// part does not pass, commits are added one at a time and one that makes the batch fail is left out (reported in
/// `refused`; its annotator sends it itself, or signs it again without the join).
async fn together(
    c: &Concord,
    batch: u64,
    part: &[(PathBuf, SignedCommit)],
    refused: &mut Vec<String>,
) -> Vec<(PathBuf, SignedCommit)> {
    let all: Vec<SignedCommit> = part.iter().map(|(_, sc)| sc.clone()).collect();
    if dry_run(c, batch, &all).await.is_ok() {
        return part.to_vec();
    }
    let mut kept: Vec<(PathBuf, SignedCommit)> = Vec::new();
    let mut commits: Vec<SignedCommit> = Vec::new();
    for (path, sc) in part {
        commits.push(sc.clone());
        match dry_run(c, batch, &commits).await {
            Ok(()) => kept.push((path.clone(), sc.clone())),
            Err(e) => {
                commits.pop();
                refused.push(format!(
                    "bundle {}: {e} (with the commits before it in this transaction)",
                    sc.bundle
                ));
            }
        }
    }
    kept
}

/// Most commits per `relayCommits` transaction (≈ 80k gas each: well inside a block).
pub const MAX_PER_TX: usize = 100;

/// Sends every commit handed over for `batch` that is not on-chain yet, in as few `relayCommits` transactions as
/// `MAX_PER_TX` allows, after dry runs that drop (and report) the ones the market refuses now, alone or together
/// with the others (`together`). Files of commits on-chain are removed; a transaction refused on-chain is reported
/// and its commits kept for the next run.
pub async fn send(c: &Concord, home: &Path, batch: u64) -> Result<RelayReport> {
    let dir = batch_dir(home, c, batch);
    let mut report = RelayReport {
        batch,
        ..RelayReport::default()
    };
    let mut pending = Vec::new();
    for (path, sc) in crate::handoff::read_kept::<SignedCommit>(&dir, "a signed commit") {
        if sc.batch != batch || sc.chain_id != c.chain_id() || sc.market != c.market_address() {
            continue;
        }
        let status = market::bundle_status(c, batch, sc.bundle).await?;
        if status.has_committed() {
            report.already_committed += 1;
            let _ = std::fs::remove_file(&path);
            continue;
        }
        match dry_run(c, batch, std::slice::from_ref(&sc)).await {
            Ok(()) => pending.push((path, sc)),
            Err(e) => report.refused.push(format!("bundle {}: {e}", sc.bundle)),
        }
    }
    pending.sort_by_key(|(_, sc)| sc.bundle);
    for part in pending.chunks(MAX_PER_TX) {
        let part = together(c, batch, part, &mut report.refused).await;
        if part.is_empty() {
            continue;
        }
        let items = part.iter().map(|(_, sc)| sc.item()).collect();
        let sent = c
            .send_market(
                "relay commits",
                R::relayCommitsCall {
                    batchId: U256::from(batch),
                    commits: items,
                },
            )
            .await;
        let receipt = match sent {
            Ok(r) => r,
            // Refused on-chain after its dry run (an annotator committed itself in between, say): the files stay,
            // and the next `relay` dry-runs them again.
            Err(e) => {
                report.refused.push(format!(
                    "bundles {}: {e}; run `relay` again",
                    part.iter()
                        .map(|(_, sc)| sc.bundle.to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
                continue;
            }
        };
        report.transactions += 1;
        report.relayed += part.len() as u64;
        report.joined += market::receipt_events::<concord_bindings::LabelMarketV2::Joined>(&receipt)
            .len() as u64;
        for (path, _) in &part {
            let _ = std::fs::remove_file(path);
        }
    }
    Ok(report)
}

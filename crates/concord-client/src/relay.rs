//! Joins and commits relayed by the batch's settler instead of sent by each annotator.
//!
//! **Joins.** An annotator signs its join of a batch's joinable round as EIP-712 `RelayedJoin` under the market's
//! domain — with, when its stake does not cover the join, an EIP-2612 permit of the stake to add — and hands it to
//! `serve --publish DIR --accept-joins` (`POST /joins`); `concord-requester relay` sends every join it holds in one
//! `relayJoins` transaction, which stakes and joins exactly as the annotator's own `stake` + `join`. An annotator
//! with tokens and no ether can work. A join signature is good for its one round.
//!
//! **Commits.** An annotator signs its commit (and
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

alloy::sol! {
    /// What an annotator signs to join: `LabelMarketV2Relay.RELAYED_JOIN_TYPEHASH`.
    struct RelayedJoin {
        uint256 batchId;
        uint256 round;
        uint256 maxTasks;
        uint256 stake;
    }

    /// An EIP-2612 permit (the token's type, under the token's own EIP-712 domain).
    struct Permit {
        address owner;
        address spender;
        uint256 value;
        uint256 nonce;
        uint256 deadline;
    }
}

/// One signed join, as an annotator hands it over and the server keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SignedJoin {
    pub chain_id: u64,
    pub market: Address,
    pub batch: u64,
    /// The round it joins: the signature is good for this one only.
    pub round: u16,
    pub annotator: Address,
    pub max_tasks: u8,
    /// Stake added before the join (wei of the stake token; zero: none).
    pub stake: U256,
    /// The permit of `stake` to the market (`None`: the annotator's allowance covers it).
    pub permit: Option<PermitSig>,
    pub signature: Bytes,
}

/// An EIP-2612 permit signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PermitSig {
    pub deadline: u64,
    pub v: u8,
    pub r: B256,
    pub s: B256,
}

impl SignedJoin {
    /// The EIP-712 digest the annotator signs, under the market's domain.
    pub fn digest(&self) -> B256 {
        RelayedJoin {
            batchId: U256::from(self.batch),
            round: U256::from(self.round),
            maxTasks: U256::from(self.max_tasks),
            stake: self.stake,
        }
        .eip712_signing_hash(&market_domain(self.chain_id, self.market))
    }

    /// Who signed it (`None`: not a signature).
    pub fn signer(&self) -> Option<Address> {
        recover(&self.signature, &self.digest())
    }

    /// The market's form.
    fn item(&self) -> RT::RelayedJoin {
        let p = self.permit.unwrap_or(PermitSig {
            deadline: 0,
            v: 0,
            r: B256::ZERO,
            s: B256::ZERO,
        });
        RT::RelayedJoin {
            annotator: self.annotator,
            maxTasks: self.max_tasks,
            stake: alloy::primitives::Uint::<96, 2>::saturating_from(self.stake),
            v: p.v,
            deadline: alloy::primitives::Uint::<40, 1>::saturating_from(p.deadline),
            r: p.r,
            s: p.s,
            signature: self.signature.clone(),
        }
    }
}

/// The market's EIP-712 domain.
fn market_domain(chain_id: u64, market: Address) -> alloy::sol_types::Eip712Domain {
    eip712_domain! {
        name: "Concord LabelMarket",
        version: "2",
        chain_id: chain_id,
        verifying_contract: market,
    }
}

/// The signer of `digest` (`None`: not a signature).
fn recover(signature: &[u8], digest: &B256) -> Option<Address> {
    Signature::try_from(signature)
        .ok()?
        .recover_address_from_prehash(digest)
        .ok()
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
        RelayedCommit {
            batchId: U256::from(self.batch),
            bundleId: U256::from(self.bundle),
            commitHash: self.commit_hash,
            backupHash: keccak256(&self.backup),
            maxTasks: U256::from(self.max_tasks),
        }
        .eip712_signing_hash(&market_domain(self.chain_id, self.market))
    }

    /// Who signed it (`None`: not a signature).
    pub fn signer(&self) -> Option<Address> {
        recover(&self.signature, &self.digest())
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

/// The folder holding what was handed over (`kind`: "commits", "joins") for one batch of this deployment.
fn kept_dir(home: &Path, kind: &str, c: &Concord, batch: u64) -> PathBuf {
    home.join(kind)
        .join(format!("{}-{:#x}", c.chain_id(), c.market_address()))
        .join(batch.to_string())
}

/// Refuses a hand-over of no `kind` or of more than [`MAX_PER_POST`].
fn check_count(kind: &str, n: usize) -> Result<()> {
    if n == 0 || n > MAX_PER_POST {
        return Err(ClientError::Input(format!(
            "hand over 1 to {MAX_PER_POST} {kind} at a time, not {n}"
        )));
    }
    Ok(())
}

/// Why `kind` signed for another deployment than `c`'s is refused (`None`: it is for this one).
fn other_deployment(kind: &str, c: &Concord, chain_id: u64, market: Address) -> Option<String> {
    (chain_id != c.chain_id() || market != c.market_address()).then(|| {
        format!(
            "this server takes {kind} for market {} on chain {}, not {market} on chain {chain_id}",
            c.market_address(),
            c.chain_id(),
        )
    })
}

/// Checks commits handed over — this deployment, signed by their bundle's annotator, and accepted by the market
/// right now (a dry run of `relayCommits` with the commit alone) — and keeps them under `home`. All or nothing:
/// the first one refused is the answer, and none is kept. Returns a line for the annotator.
pub async fn accept(c: &Concord, home: &Path, commits: &[SignedCommit]) -> Result<String> {
    check_count("commits", commits.len())?;
    for sc in commits {
        let refuse = |why: String| {
            ClientError::Input(format!(
                "commit of bundle {} of batch {}: {why}",
                sc.bundle, sc.batch
            ))
        };
        if let Some(why) = other_deployment("commits", c, sc.chain_id, sc.market) {
            return Err(refuse(why));
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
    crate::handoff::write_atomic(&kept_dir(home, "commits", c, sc.batch), sc.bundle, &body)
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

/// The items of `part` that go through together: each passed its own dry run, but two signed before either landed
/// may want the same spare positions (two joins of one lane, say), and the second then fails inside the batch. If
/// the whole part does not pass `dry`, items are added one at a time and one that makes the batch fail is left out
/// (reported in `refused`, named by `label`; its annotator sends it itself, or signs another).
async fn together<T, L, D, Fut>(
    part: &[(PathBuf, T)],
    refused: &mut Vec<String>,
    label: L,
    dry: D,
) -> Vec<(PathBuf, T)>
where
    T: Clone,
    L: Fn(&T) -> String,
    D: Fn(Vec<T>) -> Fut,
    Fut: std::future::Future<Output = Result<()>>,
{
    let all: Vec<T> = part.iter().map(|(_, t)| t.clone()).collect();
    if dry(all).await.is_ok() {
        return part.to_vec();
    }
    let mut kept: Vec<(PathBuf, T)> = Vec::new();
    let mut items: Vec<T> = Vec::new();
    for (path, t) in part {
        items.push(t.clone());
        match dry(items.clone()).await {
            Ok(()) => kept.push((path.clone(), t.clone())),
            Err(e) => {
                items.pop();
                refused.push(format!(
                    "{}: {e} (with the others before it in this transaction)",
                    label(t)
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
    let dir = kept_dir(home, "commits", c, batch);
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
        let part = together(
            part,
            &mut report.refused,
            |sc| format!("bundle {}", sc.bundle),
            |v| async move { dry_run(c, batch, &v).await },
        )
        .await;
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

// ------------------------------------------------------------------------------------------------
// Joins
// ------------------------------------------------------------------------------------------------

/// The round a join of `batch` sent now goes to: the current one while it takes joins, else the next (opened by
/// that join) once the current round's commits are over. Between the two there is none.
pub async fn joinable_round(c: &Concord, batch: u64) -> Result<u16> {
    let b = market::batch(c, batch).await?;
    let round = b.state.round;
    let rd = market::round(c, batch, u64::from(round)).await?;
    let now = c.chain_time().await?;
    if rd.sealBlock == 0 && now <= rd.joinEnd.to::<u64>() {
        return Ok(round);
    }
    if now > rd.commitEnd.to::<u64>() {
        return Ok(round + 1);
    }
    Err(ClientError::Input(format!(
        "round {round} of batch {batch} takes no more joins and the next opens after chain time {}: join then",
        rd.commitEnd
    )))
}

/// Signs a join of up to `max_tasks` tasks of `batch`'s joinable round with `c`'s key, staking `stake` first
/// (zero: none) — through an EIP-2612 permit to the market, unless the annotator's allowance covers it.
pub async fn sign_join(c: &Concord, batch: u64, max_tasks: u64, stake: U256) -> Result<SignedJoin> {
    let signer =
        c.tx.signer()
            .ok_or_else(|| ClientError::Wallet("a signing key is needed to sign a join".into()))?;
    let me = signer.address();
    let max_tasks = u8::try_from(max_tasks)
        .map_err(|_| ClientError::Input(format!("cannot join {max_tasks} tasks at once")))?;
    if stake >= U256::from(1u8) << 96 {
        return Err(ClientError::Input(format!(
            "cannot stake {stake} wei at once"
        )));
    }
    let round = joinable_round(c, batch).await?;
    let permit = if stake.is_zero() {
        None
    } else {
        c.ensure_balance(me, stake, "the join stakes").await?;
        let allowance = c
            .token
            .allowance(me, c.market_address())
            .call()
            .await
            .map_err(c.read_err("read allowance"))?;
        if allowance >= stake {
            None
        } else {
            Some(sign_permit(c, signer, stake).await?)
        }
    };
    let mut sj = SignedJoin {
        chain_id: c.chain_id(),
        market: c.market_address(),
        batch,
        round,
        annotator: me,
        max_tasks,
        stake,
        permit,
        signature: Bytes::new(),
    };
    let sig = signer
        .sign_hash_sync(&sj.digest())
        .map_err(|e| ClientError::Wallet(format!("cannot sign: {e}")))?;
    sj.signature = sig.as_bytes().to_vec().into();
    Ok(sj)
}

/// How long a permit signed for a relayed join stays good (chain time).
const PERMIT_LIFETIME: u64 = 7 * 86_400;

/// An EIP-2612 permit of `value` of the stake token to the market, under the token's own EIP-712 domain (read
/// from the token, ERC-5267) with its current nonce.
async fn sign_permit(
    c: &Concord,
    signer: &alloy::signers::local::PrivateKeySigner,
    value: U256,
) -> Result<PermitSig> {
    let me = signer.address();
    let d = c
        .token
        .eip712Domain()
        .call()
        .await
        .map_err(c.read_err("read the token's EIP-712 domain"))?;
    let nonce = c
        .token
        .nonces(me)
        .call()
        .await
        .map_err(c.read_err("read permit nonce"))?;
    let deadline = c.chain_time().await? + PERMIT_LIFETIME;
    let domain = alloy::sol_types::Eip712Domain::new(
        Some(d.name.into()),
        Some(d.version.into()),
        Some(d.chainId),
        Some(d.verifyingContract),
        None,
    );
    let digest = Permit {
        owner: me,
        spender: c.market_address(),
        value,
        nonce,
        deadline: U256::from(deadline),
    }
    .eip712_signing_hash(&domain);
    let sig = signer
        .sign_hash_sync(&digest)
        .map_err(|e| ClientError::Wallet(format!("cannot sign the permit: {e}")))?;
    Ok(PermitSig {
        deadline,
        v: 27 + u8::from(sig.v()),
        r: sig.r().into(),
        s: sig.s().into(),
    })
}

/// Hands `joins` to the server at `base` (`POST {base}/joins`); returns its one-line answer, or why it refused.
pub async fn post_joins(base: &str, joins: &[SignedJoin]) -> std::result::Result<String, String> {
    crate::handoff::post_json(base, "joins", joins).await
}

/// Checks joins handed over — this deployment, signed by their annotator, and accepted by the market right now
/// (a dry run of `relayJoins` with the join alone) — and keeps them under `home`. All or nothing. Returns a line
/// for the annotator.
pub async fn accept_joins(c: &Concord, home: &Path, joins: &[SignedJoin]) -> Result<String> {
    check_count("joins", joins.len())?;
    for sj in joins {
        let refuse = |why: String| {
            ClientError::Input(format!(
                "join of batch {} by {}: {why}",
                sj.batch, sj.annotator
            ))
        };
        if let Some(why) = other_deployment("joins", c, sj.chain_id, sj.market) {
            return Err(refuse(why));
        }
        if sj.signer() != Some(sj.annotator) {
            return Err(refuse("the signature is not the annotator's".into()));
        }
        dry_run_joins(c, sj.batch, std::slice::from_ref(sj))
            .await
            .map_err(|e| refuse(e.to_string()))?;
    }
    for sj in joins {
        let body = serde_json::to_vec(sj).map_err(|e| ClientError::Store(e.to_string()))?;
        crate::handoff::write_atomic(
            &kept_dir(home, "joins", c, sj.batch),
            format!("{}-{:#x}", sj.round, sj.annotator),
            &body,
        )?;
    }
    Ok(format!(
        "{} join{} accepted: the requester sends them (`relay`); `concord-annotator status` shows the bundle once it is on-chain",
        joins.len(),
        if joins.len() == 1 { "" } else { "s" }
    ))
}

/// `relayJoins(batch, joins)` as a call on the pending block, not sent: the market's refusal as an error.
async fn dry_run_joins(c: &Concord, batch: u64, joins: &[SignedJoin]) -> Result<()> {
    R::new(c.market_address(), &c.provider)
        .relayJoins(U256::from(batch), joins.iter().map(|s| s.item()).collect())
        .call()
        .block(alloy::eips::BlockId::pending())
        .await
        .map_err(c.read_err("relay joins"))?;
    Ok(())
}

/// What `send_joins` did.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct JoinReport {
    pub batch: u64,
    /// Joins sent (in `transactions` transactions), and the tokens they staked (wei).
    pub relayed: u64,
    pub transactions: u64,
    pub staked: U256,
    /// Joins kept for a round that is over, or whose annotator joined that round already: dropped.
    pub stale: u64,
    /// Joins the market refuses now, one line each.
    pub refused: Vec<String>,
}

/// Sends every join handed over for `batch` that the market takes now, in as few `relayJoins` transactions as
/// `MAX_PER_TX` allows (oldest round first, then by annotator), after dry runs that drop and report the ones it
/// refuses alone or with the others. Files of joins on-chain or stale are removed; a transaction refused on-chain
/// is reported and its joins kept for the next run.
pub async fn send_joins(c: &Concord, home: &Path, batch: u64) -> Result<JoinReport> {
    let dir = kept_dir(home, "joins", c, batch);
    let mut report = JoinReport {
        batch,
        ..JoinReport::default()
    };
    let round = joinable_round(c, batch).await.ok();
    let mut pending = Vec::new();
    for (path, sj) in crate::handoff::read_kept::<SignedJoin>(&dir, "a signed join") {
        if sj.batch != batch || sj.chain_id != c.chain_id() || sj.market != c.market_address() {
            continue;
        }
        // A failed read leaves this join for the next run (and never stops the commits sent after the joins).
        let member = match c
            .market
            .memberOf(U256::from(batch), sj.annotator)
            .call()
            .await
            .map_err(c.read_err("read membership"))
        {
            Ok(m) => m,
            Err(e) => {
                report
                    .refused
                    .push(format!("join of {}: {e}", sj.annotator));
                continue;
            }
        };
        let joined = member.joined && member.lastRound.to::<u64>() >= u64::from(sj.round);
        if joined || round.is_some_and(|r| sj.round < r) {
            report.stale += 1;
            let _ = std::fs::remove_file(&path);
            continue;
        }
        match dry_run_joins(c, batch, std::slice::from_ref(&sj)).await {
            Ok(()) => pending.push((path, sj)),
            Err(e) => report
                .refused
                .push(format!("join of {}: {e}", sj.annotator)),
        }
    }
    pending.sort_by_key(|(_, sj)| (sj.round, sj.annotator));
    for part in pending.chunks(MAX_PER_TX) {
        let part = together(
            part,
            &mut report.refused,
            |sj| format!("join of {}", sj.annotator),
            |v| async move { dry_run_joins(c, batch, &v).await },
        )
        .await;
        if part.is_empty() {
            continue;
        }
        let call = R::relayJoinsCall {
            batchId: U256::from(batch),
            joins: part.iter().map(|(_, sj)| sj.item()).collect(),
        };
        if let Err(e) = c.send_market("relay joins", call).await {
            report.refused.push(format!(
                "joins of {}: {e}; run `relay` again",
                part.iter()
                    .map(|(_, sj)| sj.annotator.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
            continue;
        }
        report.transactions += 1;
        report.relayed += part.len() as u64;
        for (path, sj) in &part {
            report.staked += sj.stake;
            let _ = std::fs::remove_file(path);
        }
    }
    Ok(report)
}

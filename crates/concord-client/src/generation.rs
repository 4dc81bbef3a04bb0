//! Generation batches (docs/generation.md): the requester creates one from an instructions file and escrows the
//! rewards and the review budget; contributors commit datapoints (text and salt stored locally *before* each
//! commit) and publish them after the submit deadline; the requester opens the review (a `LabelMarketV2` batch the
//! reviewers work like any other), settles it as any batch, finalizes (pays the accepted up to the cap, slashes
//! the rejected), refunds and exports the accepted datapoints.

use alloy::primitives::{keccak256, Address, Bytes, B256, U256};
use alloy::providers::DynProvider;
use alloy::rpc::types::{Filter, Log};
use alloy::sol_types::SolEvent;
use concord_bindings::generation::GenerationMarket as G;
use concord_bindings::generation::IGenerationMarketTypes::{GenParams, ReviewParams};
use concord_bindings::generation::ILabelMarketV2Types::Periods;
use concord_protocol::generation::SubmissionKey;
use concord_protocol::manifest::{GoldFile, GoldSecret, Manifest, RawDatapoint};
use concord_protocol::merkle::{gold_leaf, MerkleTree};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

use crate::market;
use crate::{ClientError, Concord, Result};

/// Typed generation market over the erased provider.
pub type Generation = G::GenerationMarketInstance<DynProvider>;

/// The review's classes, in the order the contract reads them (reject = 0, accept = 1).
pub const REVIEW_CLASSES: [&str; 2] = ["reject", "accept"];

/// How many submissions one `finalize` transaction walks.
const FINALIZE_CHUNK: u64 = 100;

/// The deployment's generation market.
pub fn generation(c: &Concord) -> Result<Generation> {
    let address = c.deployment.generation.ok_or_else(|| {
        ClientError::Input(
            "this deployment has no generation market (it predates generation batches): redeploy with \
             `concord-devnet` or `concord-requester deploy`"
                .into(),
        )
    })?;
    Ok(G::new(address, c.provider.clone()))
}

// ------------------------------------------------------------------------------------------------
// Files: instructions, datapoints, gold examples
// ------------------------------------------------------------------------------------------------

/// One instruction of a generation batch (a prompt or a category).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Instruction {
    pub id: String,
    pub text: String,
}

/// One datapoint a contributor submits: the instruction it answers (index in the instructions file) and its text;
/// with `uri`, the text is hosted there (content larger than the batch takes inline) and published by reference —
/// reviewers fetch it and check it against the committed hash.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Draft {
    pub instruction: u32,
    pub text: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uri: Option<String>,
}

/// One of the requester's known examples for the review's gold: its text and whether it should be accepted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GoldExample {
    pub text: String,
    pub accept: bool,
}

/// Reads a JSONL file of `T`, one per non-empty line, naming the line of the first malformed one.
pub fn read_jsonl<T: for<'de> Deserialize<'de>>(path: &Path, what: &str) -> Result<Vec<T>> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        ClientError::Input(format!("cannot read {what} file {}: {e}", path.display()))
    })?;
    parse_jsonl(&text, path, what)
}

/// [`read_jsonl`] of text already read from `path` (a file or a URI).
pub fn parse_jsonl<T: for<'de> Deserialize<'de>>(
    text: &str,
    path: &Path,
    what: &str,
) -> Result<Vec<T>> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        out.push(
            serde_json::from_str(line).map_err(|e| ClientError::Dataset {
                path: path.to_path_buf(),
                line: i + 1,
                reason: format!("not a {what} line: {e}"),
            })?,
        );
    }
    if out.is_empty() {
        return Err(ClientError::Input(format!(
            "{what} file {} is empty",
            path.display()
        )));
    }
    Ok(out)
}

/// A batch's instructions, fetched from the URI it was created with (a path, `file://`, `http(s)://` or `ipfs://`)
/// and checked against the root it committed to.
pub async fn instructions(c: &Concord, id: u64) -> Result<Vec<Instruction>> {
    let g = generation(c)?;
    let root = g
        .getGeneration(U256::from(id))
        .call()
        .await
        .map_err(c.read_err("read generation batch"))?
        .config
        .instructionsRoot;
    let uri = created_params(c, id).await?.instructionsURI;
    let bytes = match crate::media::http_location(&uri, &c.ipfs_gateway) {
        Some(url) => crate::media::fetch_limited(&url, MAX_FETCHED_BYTES)
            .await
            .map_err(|why| {
                ClientError::Manifest(format!("cannot fetch the instructions {url}: {why}"))
            })?,
        None => std::fs::read(uri.strip_prefix("file://").unwrap_or(&uri)).map_err(|e| {
            ClientError::Manifest(format!("cannot read the instructions {uri}: {e}"))
        })?,
    };
    let list: Vec<Instruction> = parse_jsonl(
        &String::from_utf8_lossy(&bytes),
        Path::new(&uri),
        "instructions",
    )?;
    let got = instructions_manifest(&list).root;
    if got != root {
        return Err(ClientError::Manifest(format!(
            "the instructions at {uri} (root {got}) are not the ones generation batch {id} committed to ({root})"
        )));
    }
    Ok(list)
}

/// The instructions manifest: each instruction hashed as raw bytes, so its root is what contributors check.
pub fn instructions_manifest(instructions: &[Instruction]) -> Manifest {
    let items: Vec<(String, String, Option<Value>)> = instructions
        .iter()
        .map(|i| (i.id.clone(), i.text.clone(), None))
        .collect();
    Manifest::of_datapoints(&items, &[])
}

// ------------------------------------------------------------------------------------------------
// Requester: create
// ------------------------------------------------------------------------------------------------

/// What a requester chooses for a generation batch (amounts in token base units, periods in seconds).
#[derive(Debug, Clone)]
pub struct GenerateOptions {
    pub cap: u32,
    pub max_items: u32,
    pub max_content_bytes: u32,
    pub reward: U256,
    pub stake_per_submission: U256,
    pub reject_penalty: U256,
    pub unpublished_penalty: U256,
    pub submit_period: u32,
    pub publish_period: u32,
    pub instructions_uri: String,
    pub review: ReviewParams,
}

/// A created generation batch.
#[derive(Debug, Clone)]
pub struct Created {
    pub id: u64,
    pub escrow: U256,
    pub tx: B256,
}

fn u96(v: U256, what: &str) -> Result<alloy::primitives::Uint<96, 2>> {
    alloy::primitives::Uint::<96, 2>::checked_from_limbs_slice(v.as_limbs()).ok_or_else(|| {
        ClientError::Input(format!(
            "{what} {v} is too large (at most 2^96 - 1 base units)"
        ))
    })
}

fn u128_of(v: U256, what: &str) -> Result<u128> {
    v.try_into().map_err(|_| {
        ClientError::Input(format!(
            "{what} {v} is too large (at most 2^128 - 1 base units)"
        ))
    })
}

/// The creation parameters of `o` over `instructions`.
pub fn gen_params(
    c: &Concord,
    instructions: &[Instruction],
    o: &GenerateOptions,
) -> Result<GenParams> {
    Ok(GenParams {
        rewardToken: c.deployment.token,
        cap: o.cap,
        maxItems: o.max_items,
        maxContentBytes: o.max_content_bytes,
        instructionCount: u32::try_from(instructions.len())
            .map_err(|_| ClientError::Input("too many instructions".into()))?,
        rewardPerAccepted: u128_of(o.reward, "--reward")?,
        stakePerSubmission: u96(o.stake_per_submission, "--stake")?,
        rejectPenalty: u96(o.reject_penalty, "--reject-penalty")?,
        unpublishedPenalty: u96(o.unpublished_penalty, "--unpublished-penalty")?,
        submitPeriod: o.submit_period,
        publishPeriod: o.publish_period,
        instructionsRoot: instructions_manifest(instructions).root,
        instructionsURI: o.instructions_uri.clone(),
        review: o.review.clone(),
    })
}

/// What `params` escrows: `cap × reward + maxItems × replicas × review reward + gold bond`.
pub fn escrow_of(p: &GenParams) -> U256 {
    U256::from(p.cap) * U256::from(p.rewardPerAccepted)
        + U256::from(p.maxItems)
            * U256::from(p.review.replicas)
            * U256::from(p.review.rewardPerLabel)
        + U256::from(p.review.goldBond)
}

/// Creates a generation batch (approving the escrow first if needed).
pub async fn create(
    c: &Concord,
    instructions: &[Instruction],
    o: &GenerateOptions,
) -> Result<Created> {
    let g = generation(c)?;
    let params = gen_params(c, instructions, o)?;
    let escrow = escrow_of(&params);
    let me = c.account()?;
    let balance = c.token_balance(me).await?;
    if balance < escrow {
        return Err(ClientError::Input(format!(
            "the escrow is {escrow} base units but {me} holds {balance}: fund the account or lower --cap/--reward"
        )));
    }
    c.ensure_allowance_for(
        "approve generation escrow",
        c.deployment.token,
        *g.address(),
        escrow,
    )
    .await?;
    let receipt =
        c.tx.send(
            "create generation batch",
            *g.address(),
            G::createGenerationCall { p: params }.abi_encode_input(),
        )
        .await?;
    let id = receipt
        .inner
        .logs()
        .iter()
        .find_map(|l| G::GenerationCreated::decode_log(&l.inner).ok())
        .map(|e| e.data.id.to::<u64>())
        .ok_or_else(|| ClientError::Transport {
            action: "create generation batch".into(),
            reason: "no GenerationCreated event in the receipt".into(),
        })?;
    Ok(Created {
        id,
        escrow,
        tx: receipt.transaction_hash,
    })
}

/// Encodes a call's input (a helper so call structs read as data).
trait AbiInput {
    fn abi_encode_input(&self) -> Bytes;
}

impl<C: alloy::sol_types::SolCall> AbiInput for C {
    fn abi_encode_input(&self) -> Bytes {
        self.abi_encode().into()
    }
}

/// A generation batch's parameters as created (from its `GenerationCreated` event): the review terms the contract
/// will check at `openReview`.
pub async fn created_params(c: &Concord, id: u64) -> Result<GenParams> {
    let g = generation(c)?;
    let events: Vec<(G::GenerationCreated, Log)> =
        market::events_at(c, *g.address(), Filter::new().topic1(U256::from(id))).await?;
    events
        .into_iter()
        .next()
        .map(|(e, _)| e.params)
        .ok_or_else(|| ClientError::Input(format!("no generation batch {id} on this deployment")))
}

// ------------------------------------------------------------------------------------------------
// Contributor: submit and publish, with a local record written before each commit
// ------------------------------------------------------------------------------------------------

/// A submission as the contributor keeps it: what was committed and how to open it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Kept {
    pub instruction: u32,
    pub text: String,
    pub salt: B256,
    pub commit_hash: B256,
    #[serde(default)]
    pub sid: Option<u64>,
    #[serde(default)]
    pub published: bool,
    /// Where the text is hosted, for a datapoint published by reference.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uri: Option<String>,
}

/// Where a contributor's submissions to one batch are kept.
pub fn kept_path(home: &Path, c: &Concord, id: u64, author: Address) -> Result<PathBuf> {
    let g = generation(c)?;
    Ok(home.join("generation").join(format!(
        "{}-{}-{id}-{author}.json",
        c.chain_id(),
        g.address()
    )))
}

fn load_kept(path: &Path) -> Result<Vec<Kept>> {
    match std::fs::read_to_string(path) {
        Ok(text) => serde_json::from_str(&text)
            .map_err(|e| ClientError::Store(format!("{} is malformed: {e}", path.display()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(ClientError::Store(format!("{}: {e}", path.display()))),
    }
}

fn save_kept(path: &Path, kept: &[Kept]) -> Result<()> {
    let io = |e: std::io::Error| ClientError::Store(format!("{}: {e}", path.display()));
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(io)?;
    }
    let tmp = path.with_extension("json.tmp");
    let text = serde_json::to_string_pretty(kept).map_err(|e| ClientError::Store(e.to_string()))?;
    std::fs::write(&tmp, text + "\n").map_err(io)?;
    std::fs::rename(&tmp, path).map_err(io)
}

/// Commits `drafts` to batch `id`: stakes what is missing, then for each draft writes its text and salt to the
/// local record and only then sends the commit. Returns the submission ids. Re-running skips drafts already kept.
pub async fn submit(c: &Concord, home: &Path, id: u64, drafts: &[Draft]) -> Result<Vec<u64>> {
    let g = generation(c)?;
    let me = c.account()?;
    let info = g
        .getGeneration(U256::from(id))
        .call()
        .await
        .map_err(c.read_err("read generation batch"))?;
    if info.config.requester == Address::ZERO {
        return Err(ClientError::Input(format!(
            "no generation batch {id} on this deployment"
        )));
    }
    let now = c.chain_time().await?;
    if now > info.config.submitDeadline.to::<u64>() {
        return Err(ClientError::Input(format!(
            "generation batch {id} stopped taking submissions at {} (chain time {now})",
            info.config.submitDeadline
        )));
    }
    for d in drafts {
        if d.instruction >= info.config.instructionCount {
            return Err(ClientError::Input(format!(
                "instruction {} does not exist: batch {id} has {} instructions (0..{})",
                d.instruction, info.config.instructionCount, info.config.instructionCount
            )));
        }
        if d.uri.is_none() && d.text.len() > info.config.maxContentBytes as usize {
            return Err(ClientError::Input(format!(
                "a datapoint of {} bytes is longer than batch {id} takes inline ({} bytes): host it and give its --uri",
                d.text.len(),
                info.config.maxContentBytes
            )));
        }
        if concord_protocol::generation::normalize(d.text.as_bytes()).is_empty() {
            return Err(ClientError::Input(
                "an empty datapoint (only whitespace)".into(),
            ));
        }
    }
    let path = kept_path(home, c, id, me)?;
    let mut kept = load_kept(&path)?;
    let todo: Vec<&Draft> = drafts
        .iter()
        .filter(|d| {
            !kept
                .iter()
                .any(|k| k.text == d.text && k.instruction == d.instruction)
        })
        .collect();
    // Stake what the new submissions lock and the deposit does not cover.
    let stake = U256::from(info.config.stakePerSubmission);
    let need = stake * U256::from(todo.len());
    let deposit = g
        .depositOf(me)
        .call()
        .await
        .map_err(c.read_err("read deposit"))?;
    let free = U256::from(deposit.amount) - U256::from(deposit.locked);
    if need > free {
        let missing = need - free;
        c.ensure_allowance_for(
            "approve submission stake",
            c.deployment.token,
            *g.address(),
            missing,
        )
        .await?;
        c.tx.send(
            "stake for submissions",
            *g.address(),
            G::stakeCall { amount: missing }.abi_encode_input(),
        )
        .await?;
    }
    let key = SubmissionKey {
        chain_id: c.chain_id(),
        market: *g.address(),
        generation: id,
        author: me,
    };
    for d in todo {
        let salt = B256::from(rand::random::<[u8; 32]>());
        let commit_hash = key.commit_hash(d.text.as_bytes(), salt);
        kept.push(Kept {
            instruction: d.instruction,
            text: d.text.clone(),
            salt,
            commit_hash,
            sid: None,
            published: false,
            uri: d.uri.clone(),
        });
        save_kept(&path, &kept)?; // nothing is committed that is not kept first
        let receipt =
            c.tx.send(
                "submit datapoint",
                *g.address(),
                G::submitCall {
                    id: U256::from(id),
                    instruction: U256::from(d.instruction),
                    commitHash: commit_hash,
                }
                .abi_encode_input(),
            )
            .await?;
        let sid = receipt
            .inner
            .logs()
            .iter()
            .find_map(|l| G::Submitted::decode_log(&l.inner).ok())
            .map(|e| e.data.sid.to::<u64>());
        if let Some(last) = kept.last_mut() {
            last.sid = sid;
        }
        save_kept(&path, &kept)?;
    }
    Ok(kept.iter().filter_map(|k| k.sid).collect())
}

/// Publishes every kept submission not yet published (after the submit deadline, until the publish deadline).
/// Submission ids lost to a crash are recovered from the `Submitted` events by commit hash. Returns how many
/// were published now.
pub async fn publish(c: &Concord, home: &Path, id: u64) -> Result<usize> {
    let g = generation(c)?;
    let me = c.account()?;
    let path = kept_path(home, c, id, me)?;
    let mut kept = load_kept(&path)?;
    if kept.is_empty() {
        return Err(ClientError::Input(format!(
            "nothing kept for batch {id} from {me} in {}: submit first",
            path.display()
        )));
    }
    let info = g
        .getGeneration(U256::from(id))
        .call()
        .await
        .map_err(c.read_err("read generation batch"))?;
    let now = c.chain_time().await?;
    let (opens, closes) = (
        info.config.submitDeadline.to::<u64>() + 1,
        info.config.publishDeadline.to::<u64>(),
    );
    if now < opens {
        return Err(ClientError::Input(format!(
            "publishing opens at {opens} (chain time {now}): datapoints stay hidden while others can still submit"
        )));
    }
    if now > closes {
        return Err(ClientError::Input(format!(
            "publishing closed at {closes} (chain time {now})"
        )));
    }
    if kept.iter().any(|k| k.sid.is_none()) {
        let mine: Vec<(G::Submitted, Log)> = market::events_at(
            c,
            *g.address(),
            Filter::new().topic1(U256::from(id)).topic3(me.into_word()),
        )
        .await?;
        for k in kept.iter_mut().filter(|k| k.sid.is_none()) {
            k.sid = mine
                .iter()
                .find(|(e, _)| e.commitHash == k.commit_hash)
                .map(|(e, _)| e.sid.to());
        }
        save_kept(&path, &kept)?;
    }
    let mut n = 0;
    for i in 0..kept.len() {
        let k = kept[i].clone();
        let Some(sid) = k.sid.filter(|_| !k.published) else {
            continue;
        };
        let status = g
            .submissionOf(U256::from(id), U256::from(sid))
            .call()
            .await
            .map_err(c.read_err("read submission"))?;
        if status.status != 1 {
            kept[i].published = true; // already published (or expired): nothing to send
            save_kept(&path, &kept)?;
            continue;
        }
        let input = match &k.uri {
            None => G::publishCall {
                id: U256::from(id),
                sid: U256::from(sid),
                content: Bytes::from(k.text.clone().into_bytes()),
                salt: k.salt,
            }
            .abi_encode_input(),
            Some(uri) => G::publishURICall {
                id: U256::from(id),
                sid: U256::from(sid),
                uri: uri.clone(),
                contentHash: keccak256(k.text.as_bytes()),
                normalizedHash: concord_protocol::generation::normalized_hash(k.text.as_bytes()),
                salt: k.salt,
            }
            .abi_encode_input(),
        };
        c.tx.send("publish datapoint", *g.address(), input).await?;
        kept[i].published = true;
        save_kept(&path, &kept)?;
        n += 1;
    }
    Ok(n)
}

/// A generation batch as a contributor sees it: its terms, where it stands, and this account's submissions.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Open {
    pub generation: u64,
    /// `submit`, `publish`, `review` (after the publish deadline) or `finalized`.
    pub phase: String,
    pub instruction_count: u32,
    pub instructions_uri: String,
    pub reward: String,
    pub stake: String,
    pub cap: u32,
    pub max_bytes: u32,
    pub submit_deadline: u64,
    pub publish_deadline: u64,
    /// The instructions, fetched and checked against the batch's root (empty with `instructions_error` if not).
    pub instructions: Vec<Instruction>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instructions_error: Option<String>,
    pub mine: Vec<Kept>,
}

/// Every generation batch of the deployment with this account's kept submissions (the web page's "write" view).
pub async fn open_batches(c: &Concord, home: &Path) -> Result<Vec<Open>> {
    let g = generation(c)?;
    let me = c.account()?;
    let now = c.chain_time().await?;
    let count = g
        .generationCount()
        .call()
        .await
        .map_err(c.read_err("read generation count"))?
        .to::<u64>();
    let mut out = Vec::new();
    for id in 0..count {
        let info = g
            .getGeneration(U256::from(id))
            .call()
            .await
            .map_err(c.read_err("read generation batch"))?;
        let params = created_params(c, id).await?;
        let listed = instructions(c, id).await;
        let (sd, pd) = (
            info.config.submitDeadline.to::<u64>(),
            info.config.publishDeadline.to::<u64>(),
        );
        let phase = if info.state.submitted > 0 && info.state.finalized >= info.state.submitted {
            "finalized"
        } else if now <= sd {
            "submit"
        } else if now <= pd {
            "publish"
        } else {
            "review"
        };
        out.push(Open {
            generation: id,
            phase: phase.into(),
            instruction_count: info.config.instructionCount,
            instructions_uri: params.instructionsURI,
            reward: concord_protocol::units::fmt_tokens(U256::from(info.config.rewardPerAccepted)),
            stake: concord_protocol::units::fmt_tokens(U256::from(info.config.stakePerSubmission)),
            cap: info.config.cap,
            max_bytes: info.config.maxContentBytes,
            submit_deadline: sd,
            publish_deadline: pd,
            instructions: listed.as_ref().cloned().unwrap_or_default(),
            instructions_error: listed.err().map(|e| e.to_string()),
            mine: load_kept(&kept_path(home, c, id, me)?)?,
        });
    }
    Ok(out)
}

// ------------------------------------------------------------------------------------------------
// Requester: open the review, finalize, refund
// ------------------------------------------------------------------------------------------------

/// A datapoint as published: its review item, submission id, author, instruction, content hash, and its text —
/// `None` for one published by URI that could not be fetched or did not match its hashes (`problem` says why).
#[derive(Debug, Clone, PartialEq)]
pub struct Published {
    pub item: u64,
    pub sid: u64,
    pub author: Address,
    pub instruction: u32,
    pub text: Option<String>,
    pub content_hash: B256,
    pub uri: Option<String>,
    pub problem: Option<String>,
    pub tx: Option<B256>,
}

/// Largest datapoint fetched by URI.
const MAX_FETCHED_BYTES: u64 = 1 << 20;

/// The text behind a datapoint's URI (a local path, `file://`, `http(s)://` or `ipfs://` through the gateway),
/// checked against the content hash its author committed and the normal form it published.
async fn fetch_datapoint(
    c: &Concord,
    uri: &str,
    content_hash: B256,
    normalized: B256,
) -> std::result::Result<String, String> {
    let bytes = match crate::media::http_location(uri, &c.ipfs_gateway) {
        Some(url) => crate::media::fetch_limited(&url, MAX_FETCHED_BYTES).await?,
        None => {
            std::fs::read(uri.strip_prefix("file://").unwrap_or(uri)).map_err(|e| e.to_string())?
        }
    };
    if keccak256(&bytes) != content_hash {
        return Err("its bytes are not the ones its author committed".into());
    }
    if concord_protocol::generation::normalized_hash(&bytes) != normalized {
        return Err(
            "its normal form is not the one its author published (the duplicate check was dodged)"
                .into(),
        );
    }
    String::from_utf8(bytes).map_err(|_| "it is not UTF-8 text".into())
}

/// Every datapoint published in batch `id`, in review-item order.
pub async fn published(c: &Concord, id: u64) -> Result<Vec<Published>> {
    let g = generation(c)?;
    let (pubs, subs) = tokio::try_join!(
        market::events_at::<G::Published>(c, *g.address(), Filter::new().topic1(U256::from(id))),
        market::events_at::<G::Submitted>(c, *g.address(), Filter::new().topic1(U256::from(id))),
    )?;
    let mut out = Vec::with_capacity(pubs.len());
    for (e, log) in pubs {
        let (text, uri, problem) = if e.uri.is_empty() {
            (
                Some(String::from_utf8_lossy(&e.content).into_owned()),
                None,
                None,
            )
        } else {
            match fetch_datapoint(c, &e.uri, e.contentHash, e.normalizedHash).await {
                Ok(t) => (Some(t), Some(e.uri.clone()), None),
                Err(why) => (
                    None,
                    Some(e.uri.clone()),
                    Some(format!("does not open: {why}")),
                ),
            }
        };
        let instruction = subs
            .iter()
            .find(|(s, _)| s.sid == e.sid)
            .map(|(s, _)| s.instruction.to::<u32>())
            .unwrap_or_default();
        out.push(Published {
            item: e.item.to(),
            sid: e.sid.to(),
            author: e.author,
            instruction,
            text,
            content_hash: e.contentHash,
            uri,
            problem,
            tx: log.transaction_hash,
        });
    }
    out.sort_by_key(|p| p.item);
    Ok(out)
}

/// The review manifest of the published datapoints (ids `sid-N`; instruction, author, URI and any problem as
/// metadata). A datapoint that does not open keeps its committed hash and no text: reviewers should reject it.
pub fn review_manifest(datapoints: &[Published]) -> Manifest {
    let items: Vec<RawDatapoint> = datapoints
        .iter()
        .map(|p| {
            let mut meta =
                json!({"instruction": p.instruction, "author": p.author.to_string(), "sid": p.sid});
            if let Some(u) = &p.uri {
                meta["uri"] = json!(u);
            }
            if let Some(why) = &p.problem {
                meta["problem"] = json!(why);
            }
            RawDatapoint {
                id: format!("sid-{}", p.sid),
                text: p.text.clone(),
                content_hash: p.content_hash,
                meta: Some(meta),
            }
        })
        .collect();
    let classes: Vec<String> = REVIEW_CLASSES.iter().map(|s| s.to_string()).collect();
    Manifest::of_raw(&items, &classes)
}

/// An opened review.
#[derive(Debug, Clone)]
pub struct OpenedReview {
    pub review_batch: u64,
    pub items: usize,
    pub gold: usize,
    pub manifest: Manifest,
    pub gold_file: Option<GoldFile>,
}

/// Opens the review of batch `id`: builds the manifest of the published datapoints (checked against the root
/// the contract computes), matches the requester's `gold` examples to published datapoints by exact text and
/// commits their salted answers, writes the manifest to `manifest_out` (and the gold secrets beside it, to reveal
/// with `concord-requester reveal-gold` after the review's commit phase), then sends `openReview`.
pub async fn open_review(
    c: &Concord,
    id: u64,
    gold: &[GoldExample],
    manifest_out: &Path,
    manifest_uri: &str,
) -> Result<OpenedReview> {
    let g = generation(c)?;
    let params = created_params(c, id).await?;
    let datapoints = published(c, id).await?;
    if datapoints.is_empty() {
        return Err(ClientError::Input(format!(
            "nothing was published in batch {id}: there is nothing to review"
        )));
    }
    let manifest = review_manifest(&datapoints);
    let mut answers = Vec::new();
    for ex in gold {
        let item = datapoints.iter().find(|p| p.text.as_deref() == Some(ex.text.as_str())).ok_or_else(|| {
            ClientError::Input(format!(
                "gold example `{}` was not published in batch {id}: submit and publish it from one of your addresses first",
                ex.text
            ))
        })?;
        answers.push(GoldSecret {
            item: item.item,
            label: u8::from(ex.accept),
            salt: B256::from(rand::random::<[u8; 32]>()),
        });
    }
    let gold_file = (!answers.is_empty()).then(|| GoldFile {
        root: MerkleTree::new(
            answers
                .iter()
                .map(|a| gold_leaf(a.item, a.label, a.salt))
                .collect(),
        )
        .root(),
        answers,
    });
    let write = |path: &Path, value: String| {
        std::fs::write(path, value + "\n")
            .map_err(|e| ClientError::Input(format!("cannot write {}: {e}", path.display())))
    };
    write(
        manifest_out,
        serde_json::to_string_pretty(&manifest).map_err(|e| ClientError::Input(e.to_string()))?,
    )?;
    if let Some(gf) = &gold_file {
        write(
            &gold_path(manifest_out),
            serde_json::to_string_pretty(gf).map_err(|e| ClientError::Input(e.to_string()))?,
        )?;
    }
    let receipt =
        c.tx.send(
            "open review",
            *g.address(),
            G::openReviewCall {
                id: U256::from(id),
                review: params.review,
                manifestURI: manifest_uri.to_string(),
                goldRoot: gold_file.as_ref().map(|gf| gf.root).unwrap_or_default(),
                goldCount: gold_file
                    .as_ref()
                    .map(|gf| gf.answers.len() as u32)
                    .unwrap_or_default(),
            }
            .abi_encode_input(),
        )
        .await?;
    let opened = receipt
        .inner
        .logs()
        .iter()
        .find_map(|l| G::ReviewOpened::decode_log(&l.inner).ok())
        .ok_or_else(|| ClientError::Transport {
            action: "open review".into(),
            reason: "no ReviewOpened event in the receipt".into(),
        })?;
    if opened.data.manifestRoot != manifest.root {
        return Err(ClientError::Manifest(format!(
            "the review's on-chain root {} differs from the manifest written to {} ({}): a datapoint was read wrong",
            opened.data.manifestRoot,
            manifest_out.display(),
            manifest.root
        )));
    }
    Ok(OpenedReview {
        review_batch: opened.data.reviewBatch.to(),
        items: datapoints.len(),
        gold: gold_file.as_ref().map_or(0, |gf| gf.answers.len()),
        manifest,
        gold_file,
    })
}

/// Where `open_review` writes the gold secrets for a manifest written to `manifest`.
pub fn gold_path(manifest: &Path) -> PathBuf {
    manifest.with_extension("gold.json")
}

/// Qualifies `annotator` to review batch `id` (the generation market refuses the batch's contributors).
pub async fn qualify_reviewer(c: &Concord, id: u64, annotator: Address) -> Result<()> {
    let g = generation(c)?;
    c.tx.send(
        "qualify as reviewer",
        *g.address(),
        G::qualifyReviewerCall {
            id: U256::from(id),
            annotator,
        }
        .abi_encode_input(),
    )
    .await?;
    Ok(())
}

/// The generation batch whose review is market batch `review_batch`, if any (from `ReviewOpened` events).
pub async fn generation_of_review(c: &Concord, review_batch: u64) -> Result<Option<u64>> {
    let Ok(g) = generation(c) else {
        return Ok(None);
    };
    let opened: Vec<(G::ReviewOpened, Log)> = market::events_at(
        c,
        *g.address(),
        Filter::new().topic2(U256::from(review_batch)),
    )
    .await?;
    Ok(opened.first().map(|(e, _)| e.id.to()))
}

/// What finalization did, by verdict.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Finalized {
    pub accepted: u64,
    pub accepted_over_cap: u64,
    pub rejected: u64,
    pub undecided: u64,
    pub gold: u64,
    pub expired: u64,
    pub paid: U256,
    pub slashed: U256,
}

/// Finalizes every submission of batch `id` (in transactions of [`FINALIZE_CHUNK`]) and tallies the verdicts.
pub async fn finalize(c: &Concord, id: u64) -> Result<Finalized> {
    let g = generation(c)?;
    loop {
        let s = g
            .getGeneration(U256::from(id))
            .call()
            .await
            .map_err(c.read_err("read generation batch"))?
            .state;
        if s.finalized >= s.submitted {
            break;
        }
        c.tx.send(
            "finalize",
            *g.address(),
            G::finalizeCall {
                id: U256::from(id),
                maxCount: U256::from(FINALIZE_CHUNK),
            }
            .abi_encode_input(),
        )
        .await?;
    }
    let (done, expired) = tokio::try_join!(
        market::events_at::<G::Finalized>(c, *g.address(), Filter::new().topic1(U256::from(id))),
        market::events_at::<G::SubmissionExpired>(
            c,
            *g.address(),
            Filter::new().topic1(U256::from(id))
        ),
    )?;
    let mut f = Finalized {
        expired: expired.len() as u64,
        ..Finalized::default()
    };
    for (e, _) in done {
        match e.verdict {
            1 => f.accepted += 1,
            2 => f.accepted_over_cap += 1,
            3 => f.rejected += 1,
            4 => f.undecided += 1,
            5 => f.gold += 1,
            _ => {}
        }
        f.paid += e.paid;
        f.slashed += e.slashed;
    }
    Ok(f)
}

/// Refunds batch `id` (after every submission is finalized) and collects what this account may claim.
pub async fn refund(c: &Concord, id: u64) -> Result<U256> {
    let g = generation(c)?;
    let receipt =
        c.tx.send(
            "refund generation batch",
            *g.address(),
            G::refundCall { id: U256::from(id) }.abi_encode_input(),
        )
        .await?;
    let amount = receipt
        .inner
        .logs()
        .iter()
        .find_map(|l| G::GenerationRefunded::decode_log(&l.inner).ok())
        .map(|e| e.data.amount)
        .unwrap_or_default();
    collect(c).await?;
    Ok(amount)
}

/// Collects this account's rewards and refunds from the generation market (nothing to do if none).
pub async fn collect(c: &Concord) -> Result<U256> {
    let g = generation(c)?;
    let me = c.account()?;
    let owed = g
        .claimable(me, c.deployment.token)
        .call()
        .await
        .map_err(c.read_err("read claimable"))?;
    if owed.is_zero() {
        return Ok(owed);
    }
    c.tx.send(
        "collect",
        *g.address(),
        G::collectCall {
            token: c.deployment.token,
        }
        .abi_encode_input(),
    )
    .await?;
    Ok(owed)
}

// ------------------------------------------------------------------------------------------------
// Export
// ------------------------------------------------------------------------------------------------

/// One exported datapoint: what it answers, its text, author, verdict, the reviewers and their votes, and the
/// transactions that prove it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ExportRow {
    pub sid: u64,
    pub item: u64,
    pub instruction: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instruction_text: Option<String>,
    pub content: String,
    /// Where a datapoint published by reference is hosted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uri: Option<String>,
    pub author: Address,
    pub verdict: String,
    pub reviewers: Vec<Address>,
    pub votes: Vec<String>,
    pub provenance: Value,
}

fn verdict_name(v: u8) -> &'static str {
    match v {
        1 => "accepted",
        2 => "accepted_over_cap",
        3 => "rejected",
        4 => "undecided",
        5 => "gold",
        _ => "none",
    }
}

/// Every finalized datapoint of batch `id` with its review (all verdicts; `accepted_only` keeps the accepted).
pub async fn export(
    c: &Concord,
    id: u64,
    instructions: Option<&[Instruction]>,
    accepted_only: bool,
) -> Result<Vec<ExportRow>> {
    let g = generation(c)?;
    let info = g
        .getGeneration(U256::from(id))
        .call()
        .await
        .map_err(c.read_err("read generation batch"))?;
    let datapoints = published(c, id).await?;
    let finals: Vec<(G::Finalized, Log)> =
        market::events_at(c, *g.address(), Filter::new().topic1(U256::from(id))).await?;
    let outcomes = if info.state.reviewOpened {
        market::outcomes(c, info.state.reviewBatch).await?
    } else {
        Vec::new()
    };
    let mut rows = Vec::new();
    for p in datapoints {
        let Some((f, flog)) = finals.iter().find(|(f, _)| f.sid.to::<u64>() == p.sid) else {
            continue;
        };
        if accepted_only && f.verdict != 1 && f.verdict != 2 {
            continue;
        }
        let o = outcomes.iter().find(|o| o.index == p.item);
        rows.push(ExportRow {
            sid: p.sid,
            item: p.item,
            instruction: p.instruction,
            instruction_text: instructions
                .and_then(|i| i.get(p.instruction as usize))
                .map(|i| i.text.clone()),
            content: p.text.clone().unwrap_or_default(),
            uri: p.uri.clone(),
            author: p.author,
            verdict: verdict_name(f.verdict).into(),
            reviewers: o.map(|o| o.annotators.clone()).unwrap_or_default(),
            votes: o
                .map(|o| {
                    o.annotator_labels
                        .iter()
                        .map(|&l| REVIEW_CLASSES.get(l as usize).unwrap_or(&"?").to_string())
                        .collect()
                })
                .unwrap_or_default(),
            provenance: json!({
                "generation": id,
                "reviewBatch": info.state.reviewOpened.then_some(info.state.reviewBatch),
                "published": p.tx,
                "finalized": flog.transaction_hash,
                "contentHash": p.content_hash,
            }),
        });
    }
    Ok(rows)
}

/// The generation quality report of batch `id` (every finalized datapoint, gold included).
pub async fn report(c: &Concord, id: u64) -> Result<concord_quality::generation::GenerationReport> {
    let rows = export(c, id, None, false).await?;
    let datapoints: Vec<concord_quality::generation::Datapoint> = rows
        .into_iter()
        .map(|r| concord_quality::generation::Datapoint {
            sid: r.sid,
            instruction: r.instruction,
            author: r.author.to_string(),
            text: r.content,
            verdict: r.verdict,
            votes: r
                .reviewers
                .iter()
                .map(|a| a.to_string())
                .zip(r.votes)
                .collect(),
        })
        .collect();
    Ok(concord_quality::generation::report(&datapoints))
}

/// Review terms from the CLI's choices (amounts in base units).
#[allow(clippy::too_many_arguments)]
pub fn review_params(
    replicas: u8,
    threshold_bps: u16,
    max_bundle: u8,
    reward_per_label: U256,
    stake_per_task: U256,
    wrong_label_penalty: U256,
    no_reveal_penalty: U256,
    squat_penalty: U256,
    min_stake: U256,
    min_reputation: i64,
    gold_bond: U256,
    periods: [u32; 5],
) -> Result<ReviewParams> {
    Ok(ReviewParams {
        replicas,
        thresholdBps: threshold_bps,
        maxBundle: max_bundle,
        rewardPerLabel: u128_of(reward_per_label, "--review-reward")?,
        stakePerTask: u96(stake_per_task, "--review-stake")?,
        wrongLabelPenalty: u96(wrong_label_penalty, "--review-wrong-penalty")?,
        noRevealPenalty: u96(no_reveal_penalty, "--review-no-reveal-penalty")?,
        squatPenalty: u96(squat_penalty, "--review-squat-penalty")?,
        minStake: u96(min_stake, "--review-min-stake")?,
        minReputation: min_reputation,
        goldBond: u128_of(gold_bond, "--gold-bond")?,
        periods: Periods {
            commitPeriod: periods[0],
            revealPeriod: periods[1],
            reviewPeriod: periods[2],
            roundPeriod: periods[3],
            commitWindow: periods[4],
        },
    })
}

//! `create --dry-run`: what a batch will cost, before anything is sent. The escrow comes from the plan; the gas
//! from simulating, on top of the current chain state (`eth_simulateV1`), the requester's approve and create and
//! one annotator's whole path through the new batch: approve, stake, join a full bundle, seal the round, commit and
//! reveal. Nothing is signed or sent, and nothing is written.
//!
//! The simulated annotator is an address nobody holds a key for; its stake tokens come from a state override of
//! the protocol token's balance slot (OpenZeppelin's `ERC20._balances` is slot 0 of `ConcordToken`).

use alloy::eips::BlockNumberOrTag;
use alloy::network::TransactionBuilder;
use alloy::primitives::{keccak256, Address, Bytes, B256, U256};
use alloy::providers::Provider;
use alloy::rpc::types::simulate::{SimBlock, SimCallResult, SimulatePayload};
use alloy::rpc::types::state::{AccountOverride, StateOverride};
use alloy::rpc::types::{BlockOverrides, TransactionRequest};
use alloy::sol_types::{SolCall, SolEvent};
use concord_bindings::ConcordToken;
use concord_bindings::LabelMarketV2 as M;
use concord_protocol::bundle::pack_bundle;
use concord_protocol::commit::BundleKey;
use serde::{Serialize, Serializer};
use std::path::Path;

use crate::backup::BackupKey;
use crate::requester::{plan_batch, CreateOptions};
use crate::{ClientError, Concord, Result};

/// Gas of each step, from the simulation.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StepGas {
    pub approve: u64,
    pub create: u64,
    pub annotator_approve: u64,
    pub stake: u64,
    pub join: u64,
    pub seal: u64,
    pub commit: u64,
    pub reveal: u64,
}

/// Amounts in `--json` as decimal strings of whole units (tokens, or ETH for fees), as the other commands print.
fn units<S: Serializer>(x: &U256, s: S) -> std::result::Result<S::Ok, S::Error> {
    s.serialize_str(&concord_protocol::units::fmt_tokens(*x))
}

fn units_opt<S: Serializer>(x: &Option<U256>, s: S) -> std::result::Result<S::Ok, S::Error> {
    match x {
        Some(x) => units(x, s),
        None => s.serialize_none(),
    }
}

/// What `create --dry-run` prints.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Preview {
    pub num_items: u64,
    pub num_tasks: u64,
    pub gold_count: u32,
    /// Rewards escrowed (items × labels × reward), in reward-token wei.
    #[serde(serialize_with = "units")]
    pub escrow: U256,
    #[serde(serialize_with = "units")]
    pub gold_bond: U256,
    /// The requester's reward-token balance, and whether it covers escrow + bond.
    #[serde(serialize_with = "units")]
    pub balance: U256,
    pub balance_covers: bool,
    /// Price per gas a transaction pays now: the latest base fee plus the tip (within `--max-fee-per-gas`).
    pub gas_price: u128,
    /// Gas of each simulated step (none when the node cannot simulate; see `not_simulated`).
    pub gas: Option<StepGas>,
    /// The requester's gas (approve + create) and its cost in wei at `gas_price`.
    pub requester_gas: Option<u64>,
    #[serde(serialize_with = "units_opt")]
    pub requester_cost: Option<U256>,
    /// Tasks one join takes (the batch's bundle limit, at most one lane's tasks).
    pub tasks_per_join: Option<u64>,
    /// An annotator's gas per task: (join + commit + reveal) / tasks of the join; once per annotator it also pays
    /// approve + stake.
    pub annotator_gas_per_task: Option<u64>,
    #[serde(serialize_with = "units_opt")]
    pub annotator_cost_per_task: Option<U256>,
    /// Rewards of one task when every label agrees (task size × replicas is the whole batch; one lane's share).
    #[serde(serialize_with = "units")]
    pub reward_per_task: U256,
    /// Why the gas was not simulated.
    pub not_simulated: Option<String>,
}

/// Prices the batch `create` would publish with these options; sends nothing and writes nothing.
pub async fn preview(c: &Concord, dataset: &Path, o: &CreateOptions) -> Result<Preview> {
    let from = c.account()?;
    let plan = plan_batch(c, dataset, o)?;
    let total = plan.total();
    let token = ConcordToken::new(plan.params.rewardToken, c.provider.clone());
    let balance = token
        .balanceOf(from)
        .call()
        .await
        .map_err(c.read_err("read reward-token balance"))?;
    let latest = c
        .provider
        .get_block_by_number(BlockNumberOrTag::Latest)
        .await
        .map_err(|e| read(c, &e.to_string()))?
        .ok_or_else(|| read(c, "no latest block"))?;
    let base_fee = latest.header.base_fee_per_gas.map(u128::from).unwrap_or(0);
    let tip = match c.tx.fee_caps().priority_fee_per_gas {
        Some(t) => t,
        None => c
            .provider
            .get_max_priority_fee_per_gas()
            .await
            .map_err(|e| read(c, &e.to_string()))?,
    };
    let mut gas_price = base_fee + tip;
    if let Some(cap) = c.tx.fee_caps().max_fee_per_gas {
        gas_price = gas_price.min(cap);
    }
    let task_size = u64::from(o.task_size);
    let num_tasks = plan.num_items.div_ceil(task_size);
    let mut p = Preview {
        num_items: plan.num_items,
        num_tasks,
        gold_count: plan.gold_count,
        escrow: plan.escrow,
        gold_bond: plan.gold_bond,
        balance,
        balance_covers: balance >= total,
        gas_price,
        gas: None,
        requester_gas: None,
        requester_cost: None,
        tasks_per_join: None,
        annotator_gas_per_task: None,
        annotator_cost_per_task: None,
        reward_per_task: U256::from(task_size) * o.incentives.reward_per_label,
        not_simulated: None,
    };
    match simulate(
        c,
        from,
        &plan.params,
        latest.header.timestamp,
        balance,
        total,
    )
    .await
    {
        Ok((gas, size)) => {
            let price = U256::from(gas_price);
            let requester = gas.approve + gas.create;
            let per_task = (gas.join + gas.commit + gas.reveal).div_ceil(size.max(1));
            p.requester_gas = Some(requester);
            p.requester_cost = Some(U256::from(requester) * price);
            p.tasks_per_join = Some(size);
            p.annotator_gas_per_task = Some(per_task);
            p.annotator_cost_per_task = Some(U256::from(per_task) * price);
            p.gas = Some(gas);
        }
        // The batch itself would not be created: that is the answer, not a missing estimate.
        Err(why) if why.starts_with("the simulated create ") => {
            return Err(ClientError::Input(format!(
                "create would revert: {}",
                why.trim_start_matches("the simulated create reverted: ")
            )))
        }
        Err(why) => p.not_simulated = Some(why),
    }
    Ok(p)
}

fn read(c: &Concord, msg: &str) -> ClientError {
    crate::chain::transport_error("read the latest block and fees", &c.rpc_url, msg)
}

/// The stand-in annotator of the simulation (no key exists for it).
fn stand_in() -> Address {
    Address::from_slice(&keccak256(b"concord dry-run annotator")[12..])
}

/// Storage slot of `who`'s balance in `ConcordToken` (`mapping _balances` at slot 0).
fn balance_slot(who: Address) -> B256 {
    use alloy::sol_types::SolValue;
    keccak256((who, U256::ZERO).abi_encode())
}

fn call<C: SolCall>(from: Address, to: Address, c: C) -> TransactionRequest {
    TransactionRequest::default()
        .with_from(from)
        .with_to(to)
        .with_input(Bytes::from(c.abi_encode()))
}

fn at(time: u64) -> Option<BlockOverrides> {
    Some(BlockOverrides {
        time: Some(time),
        ..Default::default()
    })
}

/// The simulated calls, in order (the seal is left out when the join sealed the round).
const STEPS: [&str; 8] = [
    "approve (requester)",
    "create",
    "approve (annotator)",
    "stake",
    "join",
    "seal",
    "commit",
    "reveal",
];

/// Runs the blocks; the first failed call ends it with its reason.
async fn run(
    c: &Concord,
    blocks: Vec<SimBlock>,
) -> std::result::Result<Vec<SimCallResult>, String> {
    let payload = SimulatePayload {
        block_state_calls: blocks,
        trace_transfers: false,
        validation: false,
        return_full_transactions: false,
    };
    let out = c.provider.simulate(&payload).await.map_err(|e| {
        let m = e.to_string();
        if m.contains("not supported") || m.contains("not found") || m.contains("-32601") {
            "this node does not support eth_simulateV1, so gas was not estimated".to_string()
        } else {
            format!("the simulation failed ({m})")
        }
    })?;
    let calls: Vec<SimCallResult> = out.into_iter().flat_map(|b| b.calls).collect();
    if let Some((i, bad)) = calls.iter().enumerate().find(|(_, r)| !r.status) {
        let why = crate::chain::revert::explain_revert_data(&bad.return_data)
            .or_else(|| bad.error.as_ref().map(|e| e.message.clone()))
            .unwrap_or_else(|| "reverted".into());
        let step = STEPS.get(i).copied().unwrap_or("a step");
        return Err(format!("the simulated {step} reverted: {why}"));
    }
    Ok(calls)
}

/// Simulates the requester's approve + create and one annotator's approve, stake, join, seal, commit and reveal;
/// returns the gas of each and the tasks the join took.
async fn simulate(
    c: &Concord,
    from: Address,
    params: &concord_bindings::ILabelMarketV2Types::BatchParams,
    now: u64,
    balance: U256,
    total: U256,
) -> std::result::Result<(StepGas, u64), String> {
    let market = c.market_address();
    let ccd = c.deployment.token;
    let x = stand_in();
    let batch_id: U256 = c
        .market
        .batchCount()
        .call()
        .await
        .map_err(|e| format!("cannot read the market ({e})"))?;
    let bundle_tasks = u64::from(params.maxBundle)
        .min(u64::from(params.numItems).div_ceil(u64::from(params.taskSize.max(1))));
    let stake =
        U256::from(params.minStake).max(U256::from(params.stakePerTask) * U256::from(bundle_tasks));
    let mut slots = vec![(balance_slot(x), B256::from(stake))];
    if params.rewardToken == ccd && balance < total {
        // Price the batch even when the tokens are not there yet (the preview says they are not).
        slots.push((balance_slot(from), B256::from(total)));
    }
    let mut overrides = StateOverride::default();
    overrides.insert(
        ccd,
        AccountOverride {
            state_diff: Some(slots.into_iter().collect()),
            ..Default::default()
        },
    );
    let t0 = now + 1;
    let first = SimBlock {
        block_overrides: at(t0),
        state_overrides: Some(overrides),
        calls: vec![
            call(
                from,
                params.rewardToken,
                ConcordToken::approveCall {
                    spender: market,
                    value: total,
                },
            ),
            call(
                from,
                market,
                M::createBatchCall {
                    params: params.clone(),
                },
            ),
            call(
                x,
                ccd,
                ConcordToken::approveCall {
                    spender: market,
                    value: stake,
                },
            ),
            call(x, market, M::stakeCall { amount: stake }),
            call(
                x,
                market,
                M::joinCall {
                    batchId: batch_id,
                    maxTasks: U256::from(bundle_tasks),
                },
            ),
        ],
    };
    // First the join alone: its event tells the bundle the commit and reveal need.
    let calls = run(c, vec![first.clone()]).await?;
    let joined = calls[4]
        .logs
        .iter()
        .find_map(|l| M::Joined::decode_log_data(l.data()).ok())
        .ok_or("the simulated join emitted no Joined event")?;
    let sealed_by_join = calls[4]
        .logs
        .iter()
        .any(|l| M::RoundSealed::decode_log_data(l.data()).is_ok());
    let bundle = joined.bundle.clone();
    let size = u64::from(bundle.size);

    let shape_classes = params.numClasses.max(1);
    let labels: Vec<Vec<u8>> = (0..size)
        .map(|t| {
            (0..u64::from(params.taskSize))
                .map(|i| ((t + i) % u64::from(shape_classes)) as u8)
                .collect()
        })
        .collect();
    let words = pack_bundle(&labels).ok_or("a task of more than 32 items")?;
    let salt = B256::from(keccak256(b"concord dry-run salt"));
    let key = BundleKey {
        chain_id: c.chain_id(),
        market,
        batch: batch_id.to(),
        bundle: joined.bundleId.to(),
        annotator: x,
    };
    let backup = c
        .backup_key()
        .unwrap_or_else(|_| BackupKey::derive(&[0u8; 32]));
    let p = &params.periods;
    let sealed_at = t0 + u64::from(p.roundPeriod) + 1;
    let reveal_at = t0 + u64::from(p.commitPeriod) + 1;
    let blocks = vec![
        first,
        SimBlock {
            block_overrides: at(sealed_at),
            state_overrides: None,
            calls: if sealed_by_join {
                Vec::new()
            } else {
                vec![call(x, market, M::sealCall { batchId: batch_id })]
            },
        },
        // The seed is the hash of the block after the seal: the commit comes one block later.
        SimBlock {
            block_overrides: at(sealed_at + 1),
            ..Default::default()
        },
        SimBlock {
            block_overrides: at(sealed_at + 2),
            state_overrides: None,
            calls: vec![call(
                x,
                market,
                M::commitCall {
                    batchId: batch_id,
                    bundleId: joined.bundleId,
                    bundle: bundle.clone(),
                    commitHash: key.commit_hash(&words, salt),
                    backup: backup.seal(&words, salt).into(),
                },
            )],
        },
        SimBlock {
            block_overrides: at(reveal_at),
            state_overrides: None,
            calls: vec![call(
                x,
                market,
                M::revealCall {
                    batchId: batch_id,
                    bundleId: joined.bundleId,
                    bundle,
                    labels: words.clone(),
                    salt,
                },
            )],
        },
    ];
    let mut r: Vec<u64> = run(c, blocks).await?.iter().map(|r| r.gas_used).collect();
    if sealed_by_join {
        r.insert(5, 0);
    }
    let g = |i: usize| r.get(i).copied().unwrap_or(0);
    Ok((
        StepGas {
            approve: g(0),
            create: g(1),
            annotator_approve: g(2),
            stake: g(3),
            join: g(4),
            seal: g(5),
            commit: g(6),
            reveal: g(7),
        },
        size,
    ))
}

//! `concord-bench gas`: gas per accepted label of Concord (create + claim + commit + reveal + settle,
//! amortized) next to a naive one-transaction-per-label market, both measured in the same run on a fresh
//! anvil. Prints a table and writes `target/bench/gas.json`.

use alloy::network::EthereumWallet;
use alloy::primitives::{keccak256, Address, U256};
use alloy::providers::{DynProvider, Provider, ProviderBuilder};
use alloy::sol_types::SolValue;
use clap::Parser;
use concord_client::bindings::{ConcordToken, NaiveLabelMarket};
use concord_client::protocol::units::tokens;
use concord_client::requester::{CreateOptions, Incentives};
use concord_client::store::Store;
use concord_client::{annotator, requester, Deployment};
use concord_testkit::{signer, Accounts, LocalChain};
use eyre::WrapErr;
use serde::Serialize;
use std::path::PathBuf;

#[derive(Parser)]
pub struct GasArgs {
    /// Items in the batch.
    #[arg(long, default_value_t = 300)]
    items: u32,
    /// Items per task.
    #[arg(long, default_value_t = 10)]
    task_size: u16,
    /// Labels per item.
    #[arg(long, default_value_t = 3)]
    replicas: u8,
    /// Annotators.
    #[arg(long, default_value_t = 9)]
    annotators: u32,
    /// Output JSON.
    #[arg(long, default_value = "target/bench/gas.json")]
    out: PathBuf,
}

#[derive(Serialize, Default, Clone)]
struct Phases {
    create: u64,
    claim: u64,
    commit: u64,
    reveal: u64,
    settle: u64,
    total: u64,
    accepted_labels: u64,
    gas_per_accepted_label: u64,
    transactions: u64,
}

/// Sums gas of blocks (from, to] (anvil automine: one transaction per block).
async fn gas_between(p: &DynProvider, from: u64, to: u64) -> eyre::Result<(u64, u64)> {
    let (mut gas, mut txs) = (0, 0);
    for n in from + 1..=to {
        if let Some(b) = p.get_block_by_number(n.into()).await? {
            gas += b.header.gas_used;
            txs += b.transactions.len() as u64;
        }
    }
    Ok((gas, txs))
}

impl GasArgs {
    pub async fn run(self) -> eyre::Result<()> {
        let chain = LocalChain::start(self.annotators, "100000", "10000000").await?;
        let (rpc, acc, dep, dir) = (chain.rpc(), &chain.accounts, &chain.deployment, &chain.dir);
        let reader = ProviderBuilder::new().connect_http(rpc.parse()?).erased();
        let truth: Vec<u8> = (0..self.items).map(|i| (i % 3) as u8).collect();

        let concord = self
            .concord(&chain, &reader, &truth, dir.path())
            .await
            .wrap_err("Concord run")?;
        let naive = self
            .naive(&rpc, dep, acc, &reader, &truth)
            .await
            .wrap_err("naive run")?;

        let ratio =
            naive.gas_per_accepted_label as f64 / concord.gas_per_accepted_label.max(1) as f64;
        println!(
            "gas per accepted label ({} items x {} labels, tasks of {}, same anvil, same run)",
            self.items, self.replicas, self.task_size
        );
        println!(
            "{:<10} {:>10} {:>10} {:>12} {:>12} {:>12} {:>14} {:>8}",
            "design", "create", "claim", "commit", "reveal", "settle", "per label", "txs"
        );
        for (name, p) in [("concord", &concord), ("naive", &naive)] {
            println!(
                "{:<10} {:>10} {:>10} {:>12} {:>12} {:>12} {:>14} {:>8}",
                name,
                p.create,
                p.claim,
                p.commit,
                p.reveal,
                p.settle,
                p.gas_per_accepted_label,
                p.transactions
            );
        }
        println!("naive / concord = {ratio:.2}x");
        if let Some(d) = self.out.parent() {
            std::fs::create_dir_all(d)?;
        }
        let json = serde_json::json!({
            "workload": { "items": self.items, "taskSize": self.task_size, "replicas": self.replicas, "annotators": self.annotators },
            "concord": concord, "naive": naive, "naiveOverConcord": ratio,
        });
        std::fs::write(&self.out, serde_json::to_string_pretty(&json)? + "\n")?;
        println!("wrote {}", self.out.display());
        Ok(())
    }

    async fn concord(
        &self,
        chain: &LocalChain,
        p: &DynProvider,
        truth: &[u8],
        dir: &std::path::Path,
    ) -> eyre::Result<Phases> {
        let classes: Vec<String> = ["a", "b", "c"].iter().map(|s| s.to_string()).collect();
        let ds = dir.join("items.jsonl");
        let text: String = (0..self.items)
            .map(|i| format!("{{\"id\":\"i{i}\",\"text\":\"item {i}\"}}\n"))
            .collect();
        std::fs::write(&ds, text)?;
        let acc = &chain.accounts;
        let req = chain.client(&acc.requester.private_key).await?;
        let mut ph = Phases::default();
        let b0 = p.get_block_number().await?;
        let o = CreateOptions {
            task_size: self.task_size,
            replicas: self.replicas,
            incentives: Incentives {
                stake_per_claim: tokens(30),
                wrong_label_penalty: tokens(2),
                no_reveal_penalty: tokens(25),
                ..Incentives::default()
            },
            min_stake: U256::ZERO,
            min_reputation: -1_000_000,
            claim_timeout: 3600,
            out_dir: Some(dir.join("req")),
            ..CreateOptions::new(classes, acc.requester.address)
        };
        let rec = requester::create_batch(&req, &ds, &o).await?;
        let b1 = p.get_block_number().await?;
        ph.create = gas_between(p, b0, b1).await?.0;

        let mut clients = Vec::new();
        for (i, a) in acc.annotators.iter().enumerate() {
            let c = chain.client(&a.private_key).await?;
            annotator::stake(&c, tokens(10_000)).await?;
            clients.push((c, Store::open(&dir.join(format!("a{i}.sqlite")))?));
        }
        let k = usize::from(self.task_size);
        let slots = rec.num_tasks * u64::from(self.replicas);
        let (mut claimed, mut claim_gas, mut commit_gas) = (0u64, 0u64, 0u64);
        while claimed < slots {
            let mut progress = false;
            for (c, store) in &clients {
                if claimed == slots {
                    break;
                }
                let before = p.get_block_number().await?;
                let Ok(cl) = annotator::claim(c, store, rec.batch_id).await else {
                    continue;
                };
                let mid = p.get_block_number().await?;
                claim_gas += gas_between(p, before, mid).await?.0;
                let start = cl.task as usize * k;
                let labels = &truth[start..(start + k).min(truth.len())];
                annotator::label(c, store, rec.batch_id, cl.task, labels).await?;
                let r = annotator::commit(c, store, Some(rec.batch_id)).await?;
                eyre::ensure!(r.failed.is_empty(), "commit failed: {:?}", r.failed);
                commit_gas += gas_between(p, mid, p.get_block_number().await?).await?.0;
                claimed += 1;
                progress = true;
            }
            eyre::ensure!(
                progress,
                "no annotator could claim: {claimed}/{slots} slots"
            );
        }
        ph.claim = claim_gas;
        ph.commit = commit_gas;
        let r0 = p.get_block_number().await?;
        for (c, store) in &clients {
            let r = annotator::reveal(c, store, Some(rec.batch_id)).await?;
            eyre::ensure!(r.failed.is_empty(), "reveal failed: {:?}", r.failed);
        }
        let r1 = p.get_block_number().await?;
        ph.reveal = gas_between(p, r0, r1).await?.0;
        let s = requester::settle(&req, rec.batch_id, 10).await?;
        let r2 = p.get_block_number().await?;
        ph.settle = gas_between(p, r1, r2).await?.0;
        ph.accepted_labels = rec.num_items * u64::from(self.replicas);
        eyre::ensure!(
            s.tasks_settled == rec.num_tasks,
            "settled {} of {} tasks",
            s.tasks_settled,
            rec.num_tasks
        );
        ph.total = ph.create + ph.claim + ph.commit + ph.reveal + ph.settle;
        ph.gas_per_accepted_label = ph.total / ph.accepted_labels.max(1);
        ph.transactions = gas_between(p, b0, r2).await?.1 - clients.len() as u64 * 2;
        Ok(ph)
    }

    async fn naive(
        &self,
        rpc: &str,
        dep: &Deployment,
        acc: &Accounts,
        p: &DynProvider,
        truth: &[u8],
    ) -> eyre::Result<Phases> {
        let mut ph = Phases::default();
        let req = ProviderBuilder::new()
            .wallet(EthereumWallet::from(signer(&acc.requester.private_key)?))
            .connect_http(rpc.parse()?)
            .erased();
        let b0 = p.get_block_number().await?;
        let naive = NaiveLabelMarket::deploy(&req).await?;
        let b_deployed = p.get_block_number().await?;
        let token = ConcordToken::new(dep.token, &req);
        let reward = tokens(1);
        token
            .approve(*naive.address(), U256::MAX)
            .send()
            .await?
            .get_receipt()
            .await?;
        naive
            .createBatch(dep.token, self.items, self.replicas, 3, reward.to())
            .send()
            .await?
            .get_receipt()
            .await?;
        let b1 = p.get_block_number().await?;
        ph.create = gas_between(p, b_deployed, b1).await?.0;
        let n = self.items as u64;
        let r = u64::from(self.replicas);
        let annotators: Vec<(Address, DynProvider)> = acc
            .annotators
            .iter()
            .take(self.replicas as usize)
            .map(|a| -> eyre::Result<_> {
                let s = signer(&a.private_key)?;
                Ok((
                    s.address(),
                    ProviderBuilder::new()
                        .wallet(EthereumWallet::from(s))
                        .connect_http(rpc.parse()?)
                        .erased(),
                ))
            })
            .collect::<eyre::Result<_>>()?;
        // Commits, then reveals: one transaction per label, pipelined per annotator.
        for phase in 0..2 {
            let start = p.get_block_number().await?;
            for (addr, ap) in &annotators {
                let m = NaiveLabelMarket::new(*naive.address(), ap);
                let mut pending = Vec::new();
                for item in 0..n {
                    let label = truth[item as usize];
                    let salt = keccak256((U256::from(item), *addr).abi_encode());
                    let tx = if phase == 0 {
                        let h = keccak256(
                            (U256::ZERO, U256::from(item), *addr, U256::from(label), salt)
                                .abi_encode_params(),
                        );
                        m.commit(U256::ZERO, U256::from(item), h).send().await?
                    } else {
                        m.reveal(U256::ZERO, U256::from(item), label, salt)
                            .send()
                            .await?
                    };
                    pending.push(tx);
                }
                for t in pending {
                    eyre::ensure!(t.get_receipt().await?.status(), "naive tx reverted");
                }
            }
            let end = p.get_block_number().await?;
            let g = gas_between(p, start, end).await?.0;
            if phase == 0 {
                ph.commit = g;
            } else {
                ph.reveal = g;
            }
        }
        let s0 = p.get_block_number().await?;
        let mut pending = Vec::new();
        for item in 0..n {
            pending.push(naive.settle(U256::ZERO, U256::from(item)).send().await?);
        }
        for t in pending {
            eyre::ensure!(t.get_receipt().await?.status(), "naive settle reverted");
        }
        let s1 = p.get_block_number().await?;
        ph.settle = gas_between(p, s0, s1).await?.0;
        ph.accepted_labels = n * r;
        ph.total = ph.create + ph.commit + ph.reveal + ph.settle;
        ph.gas_per_accepted_label = ph.total / ph.accepted_labels.max(1);
        ph.transactions = gas_between(p, b_deployed, s1).await?.1;
        let _ = b0;
        Ok(ph)
    }
}

#[cfg(test)]
mod tests {
    use crate::args::{parse, Cmd};

    #[test]
    fn defaults_are_the_readme_workload() {
        let Cmd::Gas(g) = parse(&["gas"]).cmd else {
            panic!("not gas")
        };
        assert_eq!(
            (g.items, g.task_size, g.replicas, g.annotators),
            (300, 10, 3, 9)
        );
        assert_eq!(g.out.to_str(), Some("target/bench/gas.json"));
    }
}

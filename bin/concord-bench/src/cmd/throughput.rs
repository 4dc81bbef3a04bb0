//! `concord-bench throughput`: end-to-end labels per second through the Rust client (claim, label, commit,
//! reveal, settle of a whole batch on a local anvil), next to two baselines measured in the same run:
//! a `cast send` loop (per-transaction latency of the real `cast` binary × the workload's transactions per
//! label) and a raw transaction flood at anvil (pre-signed transfers, anvil's own limit). Also peak memory
//! and how time and gas grow with the batch size.

use alloy::consensus::{SignableTransaction, TxEip1559};
use alloy::eips::Encodable2718;
use alloy::network::TxSignerSync;
use alloy::primitives::{TxKind, U256};
use alloy::providers::{DynProvider, Provider, ProviderBuilder};
use clap::Parser;
use concord_client::requester::{CreateOptions, Incentives};
use concord_client::store::Store;
use concord_client::{annotator, requester};
use concord_testkit::{anvil_path, signer, write_items, LocalChain};
use serde::Serialize;
use std::path::PathBuf;
use std::time::Instant;

#[derive(Parser)]
pub struct ThroughputArgs {
    /// Label counts to run (the largest is the headline; the others show growth).
    #[arg(long, value_delimiter = ',', default_value = "1000,3000,10000,30000")]
    sizes: Vec<u64>,
    /// Items per task.
    #[arg(long, default_value_t = 32)]
    task_size: u16,
    /// Labels per item.
    #[arg(long, default_value_t = 3)]
    replicas: u8,
    /// Fewest annotators sharing the work (more join when a batch needs them: see `--rounds`).
    #[arg(long, default_value_t = 12)]
    annotators: u32,
    /// Join rounds a batch should take: the crowd grows with the batch so that every size takes about this many
    /// rounds, as a real crowd grows with the work (settling a position of round p walks back through the pools of
    /// the p - 1 rounds before it, so a fixed crowd on a huge batch measures round depth, not size).
    #[arg(long, default_value_t = 4)]
    rounds: u32,
    /// Tasks per join (each round: every annotator joins once, labels its bundle and commits it).
    #[arg(long, default_value_t = 8)]
    bundle: u8,
    /// Transactions in the cast-loop baseline sample.
    #[arg(long, default_value_t = 60)]
    cast_sample: usize,
    /// Transactions in the raw-flood baseline.
    #[arg(long, default_value_t = 4000)]
    flood: usize,
    #[arg(long, default_value = "target/bench/bench.json")]
    out: PathBuf,
}

#[derive(Serialize, Clone)]
#[serde(rename_all = "camelCase")]
struct Run {
    labels: u64,
    annotators: u32,
    rounds: u64,
    transactions: u64,
    seconds: f64,
    labels_per_s: f64,
    gas_per_label: u64,
}

fn wei(x: u64, decimals_shift: u32) -> U256 {
    U256::from(x) * U256::from(10u64).pow(U256::from(18 - decimals_shift))
}

/// A fresh chain whose annotators can stake for the largest run.
async fn fresh(annotators: u32) -> eyre::Result<LocalChain> {
    LocalChain::start(annotators, "1000000", "100000000").await
}

impl ThroughputArgs {
    /// Annotators for a batch of `items`: at least `--annotators`, and enough for about `--rounds` rounds.
    fn crowd(&self, items: u64) -> u32 {
        let positions = items.div_ceil(u64::from(self.task_size)) * u64::from(self.replicas);
        let per_round = u64::from(self.bundle) * u64::from(self.rounds.max(1));
        self.annotators
            .max(u32::try_from(positions.div_ceil(per_round)).unwrap_or(u32::MAX))
    }

    async fn run_client(&self, labels: u64) -> eyre::Result<Run> {
        let items = labels.div_ceil(u64::from(self.replicas));
        let annotators = self.crowd(items);
        let chain = fresh(annotators).await?;
        let (acc, dir) = (&chain.accounts, &chain.dir);
        let rpc = chain.rpc();
        let p: DynProvider = ProviderBuilder::new().connect_http(rpc.parse()?).erased();
        let ds = dir.path().join("items.jsonl");
        write_items(&ds, items, |_| None)?;
        let req = chain.client(&acc.requester.private_key).await?;
        let mut clients = Vec::new();
        for (i, a) in acc.annotators.iter().enumerate() {
            let c = chain.client(&a.private_key).await?;
            annotator::stake(&c, wei(100_000, 0)).await?;
            clients.push((c, Store::open(&dir.path().join(format!("a{i}.sqlite")))?));
        }
        let b0 = p.get_block_number().await?;
        let started = Instant::now();
        // Small stakes and penalties so 100k CCD per annotator lasts the largest run; day-long windows.
        let o = CreateOptions {
            task_size: self.task_size,
            replicas: self.replicas,
            incentives: Incentives {
                reward_per_label: wei(1, 2),
                stake_per_task: wei(1, 0),
                wrong_label_penalty: wei(1, 2),
                no_reveal_penalty: wei(5, 1),
                squat_penalty: wei(1, 1),
            },
            min_stake: U256::ZERO,
            min_reputation: -1_000_000,
            max_bundle: self.bundle,
            commit_period: 30 * 86_400,
            reveal_period: 86_400,
            round_period: 60,
            commit_window: 60,
            out_dir: Some(dir.path().join("req")),
            ..CreateOptions::new(
                vec!["a".into(), "b".into(), "c".into()],
                acc.requester.address,
            )
        };
        let rec = requester::create_batch(&req, &ds, &o).await?;
        let k = u64::from(self.task_size);
        // Rounds: every annotator joins for a bundle, labels it and commits it, until every position is committed.
        let label = |_: usize, task: u64| -> Vec<u8> {
            let n = k.min(rec.num_items - task * k);
            (0..n).map(|j| ((task * k + j) % 3) as u8).collect()
        };
        concord_testkit::crowd::work(
            &clients,
            rec.batch_id,
            &concord_testkit::crowd::Plan::default(),
            label,
            |s| chain.advance(s),
        )
        .await?;
        let b = concord_client::market::batch(&req, rec.batch_id).await?;
        let now = req.chain_time().await?;
        let commit_end = b.config.commitDeadline.to::<u64>();
        if now <= commit_end && b.state.committed < concord_client::market::positions(&b.config) {
            chain.advance(commit_end + 1 - now).await?;
        }
        let rounds = u64::from(b.state.round);
        let t_commit = started.elapsed().as_secs_f64();
        let reveals = futures::future::join_all(
            clients
                .iter()
                .map(|(c, store)| annotator::reveal(c, store, Some(rec.batch_id), None)),
        )
        .await;
        for r in reveals {
            let r = r?;
            eyre::ensure!(
                r.failed.is_empty() && r.waiting.is_empty(),
                "reveal incomplete: {:?} {:?}",
                r.failed,
                r.waiting
            );
        }
        let t_reveal = started.elapsed().as_secs_f64();
        // The reveals were sent on-chain above: none was handed over to carry.
        super::settle_all(&req, &rec, 0, std::path::Path::new("")).await?;
        let seconds = started.elapsed().as_secs_f64();
        eprintln!(
            "  phases: join+label+commit {t_commit:.1}s, reveal {:.1}s, settle {:.1}s",
            t_reveal - t_commit,
            seconds - t_reveal
        );
        let b1 = p.get_block_number().await?;
        let (mut gas, mut txs) = (0u64, 0u64);
        for n in b0 + 1..=b1 {
            if let Some(b) = p.get_block_by_number(n.into()).await? {
                gas += b.header.gas_used;
                txs += b.transactions.len() as u64;
            }
        }
        let labels = rec.num_items * u64::from(self.replicas);
        drop(chain);
        Ok(Run {
            labels,
            annotators,
            rounds,
            transactions: txs,
            seconds,
            labels_per_s: labels as f64 / seconds,
            gas_per_label: gas / labels.max(1),
        })
    }

    /// Seconds per transaction of a sequential `cast send` loop (the real cast binary, one process per tx).
    async fn cast_latency(&self) -> eyre::Result<f64> {
        let chain = fresh(1).await?;
        let (anvil, acc, dep) = (&chain.node, &chain.accounts, &chain.deployment);
        let cast = anvil_path().with_file_name("cast");
        let cast = if cast.is_file() {
            cast
        } else {
            anvil_path()
                .parent()
                .and_then(|p| p.parent())
                .and_then(|p| p.parent())
                .map(|p| p.join("cast-linux-amd64/bin/cast"))
                .unwrap_or_else(|| "cast".into())
        };
        let started = Instant::now();
        for _ in 0..self.cast_sample {
            let st = std::process::Command::new(&cast)
                .args([
                    "send",
                    "--rpc-url",
                    &anvil.endpoint(),
                    "--private-key",
                    &acc.annotators[0].private_key,
                ])
                .arg(dep.token.to_string())
                .args([
                    "transfer(address,uint256)",
                    &acc.requester.address.to_string(),
                    "1",
                ])
                .output()?;
            eyre::ensure!(
                st.status.success(),
                "cast send failed: {}",
                String::from_utf8_lossy(&st.stderr)
            );
        }
        Ok(started.elapsed().as_secs_f64() / self.cast_sample as f64)
    }

    /// Transactions per second anvil accepts and mines from pre-signed raw transfers sent concurrently.
    async fn flood(&self) -> eyre::Result<f64> {
        // As many senders as the client run has annotators, each sending its pre-signed transfers back to back
        // in nonce order, all senders at once: the shape of the client's load minus all of its work (no
        // estimates, no reads, 21k-gas transfers instead of market calls).
        let senders = self.annotators.max(1);
        let chain = fresh(senders).await?;
        let (anvil, acc) = (&chain.node, &chain.accounts);
        let p: DynProvider = ProviderBuilder::new()
            .connect_http(anvil.endpoint().parse()?)
            .erased();
        let chain_id = p.get_chain_id().await?;
        let fee = p.get_gas_price().await? * 2;
        let per = (self.flood as u64).div_ceil(u64::from(senders));
        let mut plans = Vec::new();
        for a in &acc.annotators {
            let s = signer(&a.private_key)?;
            let nonce = p.get_transaction_count(s.address()).await?;
            let raws: Vec<Vec<u8>> = (0..per)
                .map(|i| {
                    let mut tx = TxEip1559 {
                        chain_id,
                        nonce: nonce + i,
                        gas_limit: 21_000,
                        max_fee_per_gas: fee,
                        max_priority_fee_per_gas: 1,
                        to: TxKind::Call(acc.requester.address),
                        value: U256::from(1u64),
                        ..Default::default()
                    };
                    let sig = s
                        .sign_transaction_sync(&mut tx)
                        .map_err(|e| eyre::eyre!("{e}"))?;
                    Ok(tx.into_signed(sig).encoded_2718())
                })
                .collect::<eyre::Result<_>>()?;
            plans.push((s.address(), nonce + per, raws));
        }
        let started = Instant::now();
        let runs = plans.iter().map(|(who, last, raws)| {
            let p = p.clone();
            async move {
                let first = last - raws.len() as u64;
                let mut sent = 0u64;
                // Windows of 64 like the client's pipelines: anvil slows to a crawl with thousands pending.
                for window in raws.chunks(64) {
                    for raw in window {
                        let _accepted = p.send_raw_transaction(raw).await?;
                    }
                    sent += window.len() as u64;
                    let waiting = Instant::now();
                    while p.get_transaction_count(*who).await? < first + sent {
                        eyre::ensure!(
                            waiting.elapsed().as_secs() < 120,
                            "anvil did not mine the flood's transactions within 120 s"
                        );
                        tokio::time::sleep(std::time::Duration::from_millis(1)).await;
                    }
                }
                Ok::<(), eyre::Report>(())
            }
        });
        for r in futures::future::join_all(runs).await {
            r?;
        }
        let total = per * u64::from(senders);
        let secs = started.elapsed().as_secs_f64();
        Ok(total as f64 / secs)
    }

    pub async fn run(self) -> eyre::Result<()> {
        let mut runs = Vec::new();
        for &n in &self.sizes {
            let r = self.run_client(n).await?;
            println!(
                "client   {:>6} labels  {:>4} annotators  {:>3} rounds  {:>6} txs  {:>7.1}s  {:>8.1} labels/s  {:>6} gas/label  {:.3} s/1k",
                r.labels,
                r.annotators,
                r.rounds,
                r.transactions,
                r.seconds,
                r.labels_per_s,
                r.gas_per_label,
                1000.0 * r.seconds / r.labels as f64
            );
            runs.push(r);
        }
        let head = runs
            .last()
            .cloned()
            .ok_or_else(|| eyre::eyre!("--sizes is empty"))?;
        let tx_per_label = head.transactions as f64 / head.labels as f64;
        let cast_s = self.cast_latency().await?;
        let cast_lps = 1.0 / (cast_s * tx_per_label);
        let flood_tps = self.flood().await?;
        let flood_lps = flood_tps / tx_per_label;
        let peak_mb = peak_rss_mb();
        println!();
        println!(
            "{:<34} {:>12} {:>10}",
            "driver (same run, same anvil build)", "labels/s", "vs client"
        );
        println!(
            "{:<34} {:>12.1} {:>9.2}x",
            "Concord Rust client (pipelined)", head.labels_per_s, 1.0
        );
        println!(
            "{:<34} {:>12.1} {:>9.2}x",
            format!("cast send loop ({:.0} ms/tx)", cast_s * 1000.0),
            cast_lps,
            cast_lps / head.labels_per_s
        );
        println!(
            "{:<34} {:>12.1} {:>9.2}x",
            format!("raw tx flood ({flood_tps:.0} tx/s)"),
            flood_lps,
            flood_lps / head.labels_per_s
        );
        println!(
            "client / cast loop = {:.1}x, client / anvil limit = {:.2}",
            head.labels_per_s / cast_lps,
            head.labels_per_s / flood_lps
        );
        println!("transactions per label {tx_per_label:.3}; peak memory of the benchmark process {peak_mb:.0} MiB");
        let growth: Vec<_> = runs.iter().map(|r| serde_json::json!({ "labels": r.labels, "annotators": r.annotators, "rounds": r.rounds, "seconds": r.seconds, "gasPerLabel": r.gas_per_label, "secondsPerKLabel": 1000.0 * r.seconds / r.labels as f64 })).collect();
        let json = serde_json::json!({
            "client": { "labels_per_s": head.labels_per_s, "labels": head.labels, "transactions": head.transactions, "seconds": head.seconds, "gasPerLabel": head.gas_per_label },
            "castLoop": { "labels_per_s": cast_lps, "secondsPerTx": cast_s, "sample": self.cast_sample },
            "rawFlood": { "labels_per_s": flood_lps, "txPerS": flood_tps, "transactions": self.flood },
            "ratios": { "clientOverCast": head.labels_per_s / cast_lps, "clientOverFlood": head.labels_per_s / flood_lps },
            "txPerLabel": tx_per_label,
            "peakRssMiB": peak_mb,
            "growth": growth,
        });
        if let Some(d) = self.out.parent() {
            std::fs::create_dir_all(d)?;
        }
        std::fs::write(&self.out, serde_json::to_string_pretty(&json)? + "\n")?;
        println!("wrote {}", self.out.display());
        Ok(())
    }
}

fn peak_rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse::<f64>().ok())
        })
        .map(|kb| kb / 1024.0)
        .unwrap_or(0.0)
}

#[cfg(test)]
mod tests {
    use crate::args::{parse, Cmd};

    #[test]
    fn sizes_are_a_comma_list() {
        let Cmd::Throughput(t) = parse(&["throughput", "--sizes", "1000,3000"]).cmd else {
            panic!("not throughput")
        };
        assert_eq!(t.sizes, vec![1000, 3000]);
        assert_eq!(
            (t.task_size, t.replicas, t.annotators, t.bundle),
            (32, 3, 12, 8)
        );
    }
}

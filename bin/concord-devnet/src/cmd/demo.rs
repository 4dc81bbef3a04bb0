//! `concord-devnet demo`: a full labeling round on a fresh local chain, played through the real
//! `concord-requester` and `concord-annotator` binaries (as subprocesses, exactly as a user would run them).
//! Time is advanced with anvil's `evm_increaseTime`: this is the devnet, the one place allowed to do so.

use alloy::primitives::{Address, U256};
use alloy::providers::Provider;
use clap::Parser;
use concord_client::bindings::LabelMarketV2;
use concord_client::dataset::Manifest;
use concord_client::market;
use concord_client::protocol::units::{fmt_tokens, tokens};
use concord_client::{Concord, Deployment};
use concord_testkit::{advance, provision, spawn_anvil, Accounts};
use eyre::{bail, eyre, WrapErr};
use rand::{rngs::StdRng, Rng, SeedableRng};
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use super::up::UpArgs;

#[derive(Parser, Clone)]
pub struct DemoArgs {
    /// Items to label (JSONL/CSV/Label Studio; items with a `gold` field become gold questions).
    #[arg(long, default_value = "examples/reviews/items.jsonl")]
    dataset: PathBuf,
    /// Ground truth `id,label`, known only to the demo's simulated annotators and its final accuracy check.
    #[arg(long, default_value = "examples/reviews/truth.csv")]
    truth: PathBuf,
    /// Comma-separated class names.
    #[arg(long, default_value = "negative,neutral,positive")]
    classes: String,
    /// Port for the demo's anvil (0: any free port).
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// Working folder (deployment, local stores, export).
    #[arg(long, default_value = "target/demo")]
    dir: PathBuf,
    /// Accuracy of the careful annotators.
    #[arg(long, default_value_t = 0.9)]
    accuracy: f64,
    /// Random seed.
    #[arg(long, default_value_t = 42)]
    seed: u64,
}

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
enum Kind {
    Careful,
    Random,
    NeverReveals,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Careful => "careful",
            Kind::Random => "random clicker",
            Kind::NeverReveals => "never reveals",
        }
    }
}

struct Cli {
    bin_dir: PathBuf,
    envs: Vec<(String, String)>,
}

impl Cli {
    /// Runs a Concord CLI with `--json` and returns its JSON output, or its one-line error.
    fn run(&self, bin: &str, key: &str, args: &[&str]) -> eyre::Result<Value> {
        let out = Command::new(self.bin_dir.join(bin))
            .args(args)
            .arg("--json")
            .env("ETH_PRIVATE_KEY", key)
            .envs(self.envs.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .output()
            .wrap_err_with(|| format!("running {bin}"))?;
        let stdout = String::from_utf8_lossy(&out.stdout);
        let last = stdout.lines().last().unwrap_or("");
        let v: Value = serde_json::from_str(last).unwrap_or(Value::Null);
        if !out.status.success() {
            let msg = v["error"]
                .as_str()
                .map(String::from)
                .unwrap_or_else(|| String::from_utf8_lossy(&out.stderr).trim().to_string());
            bail!("{bin} {}: {msg}", args.join(" "));
        }
        Ok(v)
    }
}

fn read_truth(path: &Path) -> eyre::Result<Vec<(String, String)>> {
    let text =
        std::fs::read_to_string(path).wrap_err_with(|| format!("reading {}", path.display()))?;
    Ok(text
        .lines()
        .skip(1)
        .filter_map(|l| l.split_once(','))
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect())
}

impl DemoArgs {
    pub async fn run(self) -> eyre::Result<()> {
        let started = Instant::now();
        let _ = std::fs::remove_dir_all(&self.dir);
        std::fs::create_dir_all(&self.dir)?;
        let dir = self.dir.canonicalize()?;
        let deployment = dir.join("local.json");
        let up = UpArgs {
            port: self.port,
            block_time: 0,
            annotators: 10,
            out: deployment.clone(),
            annotator_tokens: "1000".into(),
            requester_tokens: "100000".into(),
            cooldown: 3600,
        };
        let anvil = spawn_anvil(up.port, 13, 0)?;
        let up = UpArgs {
            port: anvil.port(),
            ..up
        };
        let rpc = anvil.endpoint();
        let accounts: Accounts = provision(&up.provision(), &rpc, anvil.keys()).await?;
        let d = Deployment::load(&deployment)?;
        println!("== Concord demo: one labeling round on a local anvil chain ({rpc})");
        println!("   token {}  market {}", d.token, d.market);

        let bin_dir = std::env::current_exe()?
            .parent()
            .map(Path::to_path_buf)
            .ok_or_else(|| eyre!("no exe dir"))?;
        let cli = Cli {
            bin_dir,
            envs: vec![
                ("ETH_RPC_URL".into(), rpc.clone()),
                (
                    "CONCORD_DEPLOYMENT".into(),
                    deployment.display().to_string(),
                ),
                (
                    "CONCORD_HOME".into(),
                    dir.join("home").display().to_string(),
                ),
            ],
        };

        // Annotator population: 7 careful, 2 random clickers, 1 who commits but never reveals.
        let kinds: Vec<Kind> = (0..10)
            .map(|i| match i {
                0..=6 => Kind::Careful,
                7 | 8 => Kind::Random,
                _ => Kind::NeverReveals,
            })
            .collect();
        let classes: Vec<String> = self.classes.split(',').map(String::from).collect();
        let truth = read_truth(&self.truth)?;
        let truth_map: HashMap<&str, &str> = truth
            .iter()
            .map(|(a, b)| (a.as_str(), b.as_str()))
            .collect();
        let mut rng = StdRng::seed_from_u64(self.seed);
        for (i, kind) in kinds.iter().enumerate() {
            let mut csv = String::from("id,label\n");
            for (id, label) in &truth {
                let answer = match kind {
                    Kind::Random => classes[rng.gen_range(0..classes.len())].clone(),
                    _ if rng.gen_bool(self.accuracy) => label.clone(),
                    _ => {
                        let others: Vec<&String> = classes.iter().filter(|c| *c != label).collect();
                        others[rng.gen_range(0..others.len())].clone()
                    }
                };
                csv.push_str(&format!("{id},{answer}\n"));
            }
            std::fs::write(dir.join(format!("answers-{i}.csv")), csv)?;
        }

        // 1. The requester publishes the batch.
        let req = &accounts.requester.private_key;
        let reviewer = accounts.reviewer.address.to_string();
        let ds = self.dataset.display().to_string();
        let out_dir = dir.join("requester").display().to_string();
        let created = cli.run(
            "concord-requester",
            req,
            &[
                "create",
                &ds,
                "--classes",
                &self.classes,
                "--replicas",
                "3",
                "--task-size",
                "10",
                "--reward",
                "1",
                "--max-bundle",
                "4",
                "--round-period",
                "2m",
                "--commit-window",
                "10m",
                "--reviewer",
                &reviewer,
                "--out-dir",
                &out_dir,
            ],
        )?;
        let batch = created["batchId"]
            .as_u64()
            .ok_or_else(|| eyre!("create: no batch id in {created}"))?;
        let b = batch.to_string();
        println!(
            "1. requester {} published batch {batch}: {} items x 3 labels, {} gold questions, escrowed {} CCD",
            accounts.requester.address, created["numItems"], created["goldCount"], fmt_tokens(created["escrow"].as_str().unwrap_or("0").parse::<U256>().unwrap_or_default())
        );

        // 2. Annotators stake, then work in rounds: each joins for up to 4 tasks (a block after the round seals
        //    decides which), labels them from its answers and commits, until every position is committed.
        for a in &accounts.annotators {
            cli.run("concord-annotator", &a.private_key, &["stake", "400"])?;
        }
        let mut tasks_by: Vec<u64> = vec![0; kinds.len()];
        let mut rounds = 0;
        loop {
            let st = cli.run("concord-requester", req, &["status", "-b", &b])?;
            let num = |k: &str| st[k].as_u64().unwrap_or(0);
            if num("positionsCommitted") >= num("numTasks") * num("replicas") {
                break;
            }
            // The next round opens once the current one's commit window is over (the devnet moves time).
            if rounds > 0 && num("now") <= num("roundCommitEnd") {
                advance(&rpc, num("roundCommitEnd") + 1 - num("now")).await?;
            }
            let mut joined = Vec::new();
            for (i, a) in accounts.annotators.iter().enumerate() {
                match cli.run("concord-annotator", &a.private_key, &["join", "-b", &b]) {
                    Ok(v) => {
                        tasks_by[i] += v["joined"]["size"].as_u64().unwrap_or(0);
                        joined.push(i);
                    }
                    // Nothing left for this annotator in this round.
                    Err(e)
                        if [
                            "no free position",
                            "is sealed",
                            "already joined",
                            "commit phase ends",
                        ]
                        .iter()
                        .any(|m| e.to_string().contains(m)) => {}
                    Err(e) => return Err(e),
                }
            }
            if joined.is_empty() {
                break;
            }
            rounds += 1;
            // A round that did not fill seals after its join window.
            let st = cli.run("concord-requester", req, &["status", "-b", &b])?;
            let num = |k: &str| st[k].as_u64().unwrap_or(0);
            if num("roundFree") > 0 && num("now") <= num("roundJoinEnd") {
                advance(&rpc, num("roundJoinEnd") + 1 - num("now")).await?;
            }
            for i in joined {
                let answers = dir.join(format!("answers-{i}.csv")).display().to_string();
                cli.run(
                    "concord-annotator",
                    &accounts.annotators[i].private_key,
                    &["label", "-b", &b, "--from", &answers, "--commit"],
                )?;
            }
        }
        println!(
            "2. 10 annotators staked 400 CCD each; in {rounds} rounds they joined, labeled and committed {} tasks: {:?}",
            tasks_by.iter().sum::<u64>(),
            tasks_by
        );

        // 3. Reveal (open once every position is committed); one annotator never does.
        let mut revealed = 0;
        for (i, a) in accounts.annotators.iter().enumerate() {
            if kinds[i] == Kind::NeverReveals {
                continue;
            }
            let v = cli.run("concord-annotator", &a.private_key, &["reveal", "-b", &b])?;
            revealed += v["done"].as_array().map(Vec::len).unwrap_or(0);
        }
        println!("3. 9 annotators revealed {revealed} bundles; annotator 9 never reveals");
        let st = cli.run("concord-requester", req, &["status", "-b", &b])?;
        let at = |k: &str| st[k].as_u64().unwrap_or(0);
        let (now, commit_end, reveal_end, review_end) = (
            at("now"),
            at("commitDeadline"),
            at("revealDeadline"),
            at("reviewDeadline"),
        );

        // 4. After the commit deadline the requester reveals the gold answers.
        advance(&rpc, commit_end + 1 - now).await?;
        let g = cli.run("concord-requester", req, &["reveal-gold", "-b", &b])?;
        println!(
            "4. commit phase over; requester revealed {} gold answers",
            g["revealed"]
        );

        // 5. After the reveal deadline anyone settles; the unrevealed commits are slashed.
        advance(&rpc, reveal_end - commit_end).await?;
        let s = cli.run("concord-requester", req, &["settle", "-b", &b])?;
        println!(
            "5. settled {} tasks in {} transactions: {} CCD paid for agreeing labels, {} CCD of stake slashed",
            s["tasksSettled"], s["transactions"], s["rewardsPaid"].as_str().unwrap_or("?"), s["stakeSlashed"].as_str().unwrap_or("?")
        );

        // 6. The reviewer decides the items without consensus (here: as an expert who knows the answer).
        let review = cli.run(
            "concord-requester",
            &accounts.reviewer.private_key,
            &["review", "-b", &b],
        )?;
        let items = review.as_array().cloned().unwrap_or_default();
        let manifest: Manifest = serde_json::from_str(&std::fs::read_to_string(
            created["manifestPath"].as_str().unwrap_or_default(),
        )?)?;
        let mut decide_args = vec!["resolve".to_string(), "-b".into(), b.clone()];
        let mut decided = 0;
        for it in &items {
            let idx = it["index"].as_u64().unwrap_or(0) as usize;
            let id = &manifest.items[idx].id;
            let label = truth_map
                .get(id.as_str())
                .ok_or_else(|| eyre!("no truth for {id}"))?;
            // A reviewer decides among the labels annotators gave; an item nobody labeled right stays undecided.
            let class = manifest.classes.iter().position(|c| c == label);
            let given = class.and_then(|c| it["votes"][c].as_u64()).unwrap_or(0) > 0;
            if !given {
                continue;
            }
            decided += 1;
            decide_args.push("--decide".into());
            decide_args.push(format!("{id}={label}"));
        }
        if decided > 0 {
            let args: Vec<&str> = decide_args.iter().map(String::as_str).collect();
            cli.run("concord-requester", &accounts.reviewer.private_key, &args)?;
        }
        println!(
            "6. {} items had no consensus; the reviewer resolved the {decided} where some annotator gave the right label (the rest's escrow goes to the treasury)",
            items.len()
        );

        // 7. After the review window: refund, collect, export.
        advance(&rpc, review_end - reveal_end).await?;
        let r = cli.run("concord-requester", req, &["refund", "-b", &b])?;
        for a in &accounts.annotators {
            cli.run("concord-annotator", &a.private_key, &["collect"])?;
        }
        let export = dir.join("dataset.jsonl");
        cli.run(
            "concord-requester",
            req,
            &["export", "-b", &b, "-o", &export.display().to_string()],
        )?;
        println!("7. review window over: {} CCD refunded to the requester; annotators collected; dataset exported to {}", r["refunded"].as_str().unwrap_or("?"), export.display());

        let html = dir.join("report.html");
        let report = cli.run(
            "concord-requester",
            req,
            &["report", "-b", &b, "--html", &html.display().to_string()],
        )?;
        println!(
            "8. quality report: Fleiss' kappa {:.3}, Krippendorff's alpha {:.3}, likely spammers {}, written to {}",
            report["fleissKappa"].as_f64().unwrap_or(f64::NAN),
            report["krippendorffAlpha"].as_f64().unwrap_or(f64::NAN),
            report["likelySpammers"].as_array().map(Vec::len).unwrap_or(0),
            html.display()
        );
        for (i, a) in accounts.annotators.iter().enumerate() {
            let line = report["annotators"].as_array().and_then(|v| {
                v.iter()
                    .find(|x| x["worker"].as_str() == Some(&a.address.to_string()))
            });
            if let Some(l) = line {
                let flags: Vec<&str> = l["flags"]
                    .as_array()
                    .map(|f| f.iter().filter_map(|x| x.as_str()).collect())
                    .unwrap_or_default();
                println!(
                    "   annotator {i} ({:<14}) gold accuracy {:>5.1}%  agreement {:>5.1}%  {}",
                    kinds[i].name(),
                    100.0 * l["goldAccuracy"].as_f64().unwrap_or(0.0),
                    100.0 * l["agreement"].as_f64().unwrap_or(0.0),
                    flags.join(", ")
                );
            }
        }

        self.summary(
            &rpc, &d, &accounts, &kinds, &export, &truth_map, batch, started,
        )
        .await
    }

    #[allow(clippy::too_many_arguments)]
    async fn summary(
        &self,
        rpc: &str,
        d: &Deployment,
        accounts: &Accounts,
        kinds: &[Kind],
        export: &Path,
        truth: &HashMap<&str, &str>,
        batch: u64,
        started: Instant,
    ) -> eyre::Result<()> {
        let c = Concord::connect(rpc, d.clone(), None).await?;

        // Labels accepted / rejected, from the chain's BundleScored events.
        let revealed = market::batch_events::<LabelMarketV2::Revealed>(&c, batch)
            .await?
            .iter()
            .map(|(e, _)| e.bundleId.to::<u64>())
            .collect();
        let scores = market::sum_scores(&market::bundles_scored(&c, batch).await?, &revealed);
        let (accepted, rejected, unrevealed) =
            (scores.accepted, scores.rejected, scores.unrevealed);
        let resolved_paid: U256 = market::batch_events::<LabelMarketV2::ItemResolved>(&c, batch)
            .await?
            .iter()
            .map(|(e, _)| e.rewardsPaid)
            .sum();

        // Consensus accuracy against the shipped answers.
        let text = std::fs::read_to_string(export)?;
        let (mut labeled, mut correct, mut by_status) =
            (0u64, 0u64, BTreeMap::<String, u64>::new());
        for line in text.lines() {
            let v: Value = serde_json::from_str(line)?;
            *by_status
                .entry(v["status"].as_str().unwrap_or("?").to_string())
                .or_default() += 1;
            if let (Some(l), Some(id)) = (v["label"].as_str(), v["id"].as_str()) {
                labeled += 1;
                if truth.get(id) == Some(&l) {
                    correct += 1;
                }
            }
        }

        // Net result per annotator type: final balance vs the 1000 CCD they started with.
        let start = tokens(1000);
        let mut net: BTreeMap<Kind, (i128, u32)> = BTreeMap::new();
        for (a, k) in accounts.annotators.iter().zip(kinds) {
            let bal = c.token.balanceOf(a.address).call().await?;
            let st = c.market.accountOf(a.address).call().await?;
            let pending = c.market.pendingUnstake(a.address).call().await?;
            let total = bal + U256::from(st.amount) + pending;
            let diff =
                i128::try_from(total).unwrap_or(i128::MAX) - i128::try_from(start).unwrap_or(0);
            let e = net.entry(*k).or_default();
            e.0 += diff;
            e.1 += 1;
        }
        let state = market::batch(&c, batch).await?.state;
        let refund = market::batch_events::<LabelMarketV2::Refunded>(&c, batch)
            .await?
            .into_iter()
            .next()
            .map(|(e, _)| e)
            .ok_or_else(|| eyre!("batch {batch} was not refunded"))?;
        let treasury_cut = c
            .market
            .claimable(d.treasury.unwrap_or(Address::ZERO), d.token)
            .call()
            .await?;
        let last = c.provider.get_block_number().await?;
        let mut gas = 0u64;
        for n in 0..=last {
            if let Some(block) = c.provider.get_block_by_number(n.into()).await? {
                gas += block.header.gas_used;
            }
        }

        println!();
        println!("== Result");
        println!("   labels accepted {accepted}, rejected {rejected}, commits never revealed {unrevealed}");
        let pct = |a: u64, b: u64| {
            if b == 0 {
                0.0
            } else {
                100.0 * a as f64 / b as f64
            }
        };
        println!(
            "   acceptance rate {:.1}% of revealed labels",
            pct(accepted, accepted + rejected)
        );
        println!(
            "   items: {}",
            by_status
                .iter()
                .map(|(k, v)| format!("{k} {v}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
        println!(
            "   consensus accuracy vs shipped answers: {correct}/{labeled} = {:.1}%",
            pct(correct, labeled)
        );
        println!(
            "   tokens: escrow {} CCD + gold bond, paid {} (of which {} by review), refunded {} (unspent escrow and the bond), withheld {} (undecided items), treasury holds {} (slashes, squats, withheld escrow)",
            fmt_tokens(U256::from(state.escrow)),
            fmt_tokens(U256::from(state.paid)),
            fmt_tokens(resolved_paid),
            fmt_tokens(refund.amount),
            fmt_tokens(refund.toTreasury),
            fmt_tokens(treasury_cut)
        );
        for (k, (diff, n)) in &net {
            let avg = *diff as f64 / f64::from(*n) / 1e18;
            println!("   net per {:<15} {:+.2} CCD (x{n})", k.name(), avg);
        }
        println!("   gas used on chain since genesis (deployment and funding included): {gas} for {accepted} accepted labels = {} gas per accepted label", gas.checked_div(accepted).unwrap_or(0));
        println!("   wall time {:.1}s", started.elapsed().as_secs_f64());
        if net
            .get(&Kind::Careful)
            .map(|(d, _)| *d <= 0)
            .unwrap_or(true)
        {
            bail!("careful annotators did not profit: the incentives are broken");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crate::args::{parse, Cmd};

    #[test]
    fn defaults_point_at_the_shipped_example() {
        let Some(Cmd::Demo(d)) = parse(&["demo"]).cmd else {
            panic!("not demo")
        };
        assert_eq!(d.dataset.to_str(), Some("examples/reviews/items.jsonl"));
        assert_eq!(d.classes, "negative,neutral,positive");
        assert_eq!((d.port, d.seed), (0, 42));
        let Some(Cmd::Demo(d)) = parse(&["demo", "--accuracy", "0.7", "--seed", "1"]).cmd else {
            panic!("not demo")
        };
        assert_eq!((d.accuracy, d.seed), (0.7, 1));
    }
}

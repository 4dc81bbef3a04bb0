//! `concord-requester`: the ML team's CLI. Thin over `concord-client`.

use alloy::primitives::Address;
use clap::{Args, Parser, Subcommand};
use concord_client::cli::{emit, parse_duration, run};
use concord_client::opts::{connect, fmt_tokens, parse_tokens, RpcOpts, WalletOpts};
use concord_client::requester::{self, CreateOptions};
use concord_client::time::{fmt_unix, relative};
use eyre::WrapErr;
use std::io::Write;
use std::path::PathBuf;

#[derive(Parser)]
#[command(
    name = "concord-requester",
    version,
    about = "Publish labeling batches on Concord and get a labeled dataset back"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
    #[command(flatten)]
    rpc: RpcOpts,
    #[command(flatten)]
    wallet: WalletOpts,
    /// Print one JSON object instead of human output (errors too).
    #[arg(long, global = true)]
    json: bool,
}

#[derive(Subcommand)]
enum Cmd {
    /// Deploy ConcordToken + LabelMarket to the chain at --rpc-url and write the deployment file.
    Deploy(Deploy),
    /// Validate a dataset, escrow the rewards and publish a batch.
    Create(Box<Create>),
    /// Progress of a batch per phase.
    Status(Status),
    /// Reveal the batch's gold answers (after the commit deadline).
    RevealGold(RevealGold),
    /// Settle every settleable task (permissionless), in bounded chunks.
    Settle(Settle),
    /// List items that settled without consensus, with their votes.
    Review(BatchArg),
    /// Decide items without consensus (reviewer key): `--decide ITEM=CLASS`, repeatable.
    Resolve(Resolve),
    /// Return unspent escrow after the review window (every task must be settled).
    Refund(BatchArg),
    /// Write the labeled dataset (JSONL, CSV, crowd-kit CSV or Label Studio JSON), rebuilt from chain events.
    Export(Export),
    /// Quality report of a settled batch: text, --json, or a self-contained HTML page with plots.
    Report(ReportArgs),
    /// Sign a qualification attestation for an annotator (qualifier key).
    Attest(Attest),
    /// Read-only web view of a batch: progress per phase and the quality report (127.0.0.1, token-guarded).
    Serve(ServeArgs),
    /// Aggregate labels you already have (crowd-kit `task,worker,label` CSV): majority vote and Dawid-Skene.
    Aggregate(Aggregate),
}

#[derive(Args)]
struct ServeArgs {
    #[arg(long, short = 'b')]
    batch: u64,
    /// Port (0: any free port).
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// Address to bind.
    #[arg(long, default_value = "127.0.0.1")]
    host: std::net::IpAddr,
}

#[derive(Args)]
struct Aggregate {
    /// Responses CSV with columns task,worker,label.
    #[arg(long)]
    input: PathBuf,
    /// Optional `task,truth` CSV: prints accuracy of both methods against it.
    #[arg(long)]
    truth: Option<PathBuf>,
    /// Output: CSV `task,mv,ds,ds_confidence` (or JSON with posteriors when the name ends in .json).
    #[arg(long, short = 'o')]
    out: PathBuf,
    /// Maximum EM iterations.
    #[arg(long, default_value_t = 100)]
    iterations: usize,
    /// EM stops when the evidence lower bound per response improves by less than this.
    #[arg(long, default_value_t = 1e-5)]
    tol: f64,
}

#[derive(Args)]
struct Attest {
    #[arg(long, short = 'b')]
    batch: u64,
    /// Annotator address being qualified.
    #[arg(long)]
    annotator: Address,
    /// How long the attestation stays usable.
    #[arg(long, default_value = "7d", value_parser = parse_duration)]
    valid_for: u32,
}

#[derive(Args)]
struct BatchArg {
    /// Batch id.
    #[arg(long, short = 'b')]
    batch: u64,
}

#[derive(Args)]
struct Deploy {
    /// Receives the whole token supply and slashed stake nobody can take (default: the deployer).
    #[arg(long)]
    treasury: Option<Address>,
    /// Unstake cooldown.
    #[arg(long, default_value = "7d", value_parser = parse_duration)]
    cooldown: u32,
}

#[derive(Args)]
struct Create {
    /// Items: .jsonl, .csv or Label Studio .json (fields: id, text or uri, optional meta and gold).
    dataset: PathBuf,
    /// Class names, comma separated (2..16).
    #[arg(long)]
    classes: String,
    /// Items per task (one claim, one commit).
    #[arg(long, default_value_t = 10)]
    task_size: u16,
    /// Independent labels per item.
    #[arg(long, short = 'k', default_value_t = 3)]
    replicas: u8,
    /// Share of revealed labels the plurality needs for consensus (0..1).
    #[arg(long, default_value_t = 0.66)]
    threshold: f64,
    /// Reward per accepted label, in tokens.
    #[arg(long, default_value = "1")]
    reward: String,
    /// Stake locked per claimed task (at least the no-reveal penalty).
    #[arg(long, default_value = "40")]
    stake_per_claim: String,
    /// Stake slashed per label that disagrees with consensus or gold. 3x the reward: a label must agree with
    /// consensus 3 times in 4 to pay, so random, constant and copied answers lose (see `concord-sim`).
    #[arg(long, default_value = "3")]
    wrong_penalty: String,
    /// Stake slashed for a commit never revealed (must exceed task size x wrong penalty).
    #[arg(long, default_value = "40")]
    no_reveal_penalty: String,
    /// Minimum stake to claim.
    #[arg(long, default_value = "30")]
    min_stake: String,
    /// Minimum reputation score to claim.
    #[arg(long, default_value_t = -1000, allow_hyphen_values = true)]
    min_reputation: i64,
    #[arg(long, default_value = "1h", value_parser = parse_duration)]
    commit_period: u32,
    #[arg(long, default_value = "1h", value_parser = parse_duration)]
    reveal_period: u32,
    #[arg(long, default_value = "1h", value_parser = parse_duration)]
    review_period: u32,
    /// How long a claim stays valid without a commit.
    #[arg(long, default_value = "30m", value_parser = parse_duration)]
    claim_timeout: u32,
    /// Decides items without consensus (default: the requester).
    #[arg(long)]
    reviewer: Option<Address>,
    /// Key whose EIP-712 attestation annotators need (default: none).
    #[arg(long)]
    qualifier: Option<Address>,
    /// ERC-20 to pay rewards in (default: the protocol token).
    #[arg(long)]
    reward_token: Option<Address>,
    /// Folder for the manifest and the private gold file (default: `<dataset>.concord/` next to it).
    #[arg(long)]
    out_dir: Option<PathBuf>,
    /// Public URI annotators fetch the manifest from (default: the local file).
    #[arg(long)]
    manifest_uri: Option<String>,
}

#[derive(Args)]
struct Status {
    #[arg(long, short = 'b')]
    batch: u64,
    /// Refresh every N seconds until the batch is refunded (Ctrl-C to stop).
    #[arg(long, num_args = 0..=1, default_missing_value = "2")]
    watch: Option<u64>,
}

#[derive(Args)]
struct RevealGold {
    #[arg(long, short = 'b')]
    batch: u64,
    /// Private gold file (default: the one `create` wrote for this batch).
    #[arg(long)]
    gold: Option<PathBuf>,
    /// Answers per transaction.
    #[arg(long, default_value_t = 40)]
    chunk: usize,
}

#[derive(Args)]
struct Settle {
    #[arg(long, short = 'b')]
    batch: u64,
    /// Tasks per transaction (bounds gas per call).
    #[arg(long, default_value_t = 10)]
    chunk: u64,
}

#[derive(Args)]
struct Resolve {
    #[arg(long, short = 'b')]
    batch: u64,
    /// ITEM=CLASS (item index or id, class name or index); repeatable.
    #[arg(long = "decide", required = true)]
    decisions: Vec<String>,
    /// Manifest (default: the batch's manifest URI).
    #[arg(long)]
    manifest: Option<PathBuf>,
}

#[derive(Args)]
struct Export {
    #[arg(long, short = 'b')]
    batch: u64,
    /// Output file (default: stdout).
    #[arg(long, short = 'o')]
    out: Option<PathBuf>,
    /// Manifest (default: the batch's manifest URI).
    #[arg(long)]
    manifest: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value = "jsonl")]
    format: requester::ExportFormat,
}

#[derive(Args)]
struct ReportArgs {
    #[arg(long, short = 'b')]
    batch: u64,
    /// Also write a self-contained HTML page with plots.
    #[arg(long)]
    html: Option<PathBuf>,
    /// Manifest (default: the batch's manifest URI).
    #[arg(long)]
    manifest: Option<PathBuf>,
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let json = cli.json;
    run(json, async move {
        cli.cmd.run(&cli.rpc, &cli.wallet, json).await
    })
}

impl Cmd {
    async fn run(self, rpc: &RpcOpts, wallet: &WalletOpts, json: bool) -> eyre::Result<()> {
        match self {
            Cmd::Deploy(d) => {
                let signer = wallet.require_signer()?;
                let treasury = d.treasury.unwrap_or(signer.address());
                let dep = concord_client::deploy::deploy(
                    &rpc.rpc_url,
                    signer,
                    treasury,
                    u64::from(d.cooldown),
                )
                .await?;
                dep.save(&rpc.deployment)
                    .wrap_err_with(|| format!("writing {}", rpc.deployment.display()))?;
                emit(json, &dep, |d| {
                    println!(
                        "token  {}\nmarket {}\nwrote  {}",
                        d.token,
                        d.market,
                        rpc.deployment.display()
                    );
                })
            }
            Cmd::Create(c) => {
                let client = connect(rpc, wallet, json).await?;
                let me = client.account()?;
                let classes = concord_client::dataset::parse_classes(&c.classes)?;
                eyre::ensure!(
                    c.threshold > 0.0 && c.threshold <= 1.0,
                    "--threshold must be in (0, 1], got {}",
                    c.threshold
                );
                let o = CreateOptions {
                    classes,
                    task_size: c.task_size,
                    replicas: c.replicas,
                    threshold_bps: (c.threshold * 10_000.0).round() as u16,
                    reward_per_label: parse_tokens(&c.reward)?,
                    stake_per_claim: parse_tokens(&c.stake_per_claim)?,
                    wrong_label_penalty: parse_tokens(&c.wrong_penalty)?,
                    no_reveal_penalty: parse_tokens(&c.no_reveal_penalty)?,
                    min_stake: parse_tokens(&c.min_stake)?,
                    min_reputation: c.min_reputation,
                    commit_period: c.commit_period,
                    reveal_period: c.reveal_period,
                    review_period: c.review_period,
                    claim_timeout: c.claim_timeout,
                    reviewer: c.reviewer.unwrap_or(me),
                    qualifier: c.qualifier.unwrap_or(Address::ZERO),
                    reward_token: c.reward_token,
                    out_dir: c.out_dir.clone(),
                    manifest_uri: c.manifest_uri.clone(),
                };
                let r = requester::create_batch(&client, &c.dataset, &o).await?;
                emit(json, &r, |r| {
                    println!("batch {} created (tx {})", r.batch_id, r.tx);
                    println!(
                        "  items {} in {} tasks of {}, {} labels each, {} gold",
                        r.num_items, r.num_tasks, c.task_size, c.replicas, r.gold_count
                    );
                    println!("  escrowed {} tokens", fmt_tokens(r.escrow));
                    println!("  manifest {} (root {})", r.manifest_uri, r.manifest_root);
                    if let Some(g) = &r.gold_path {
                        println!("  gold answers + salts kept privately in {}", g.display());
                    }
                })
            }
            Cmd::Status(s) => {
                let client = connect(rpc, wallet, json).await?;
                loop {
                    let st = requester::status(&client, s.batch).await?;
                    emit(json, &st, print_status)?;
                    match s.watch {
                        Some(secs) if !st.refunded => {
                            std::io::stdout().flush().ok();
                            tokio::time::sleep(std::time::Duration::from_secs(secs.max(1))).await;
                            if !json {
                                println!();
                            }
                        }
                        _ => break,
                    }
                }
                Ok(())
            }
            Cmd::RevealGold(g) => {
                let client = connect(rpc, wallet, json).await?;
                let path = match g.gold {
                    Some(p) => p,
                    None => requester::load_record(&client, g.batch)?
                        .gold_path
                        .ok_or_else(|| {
                            eyre::eyre!("batch {} was created without gold answers", g.batch)
                        })?,
                };
                let n = requester::reveal_gold(&client, g.batch, &path, g.chunk).await?;
                emit(
                    json,
                    &serde_json::json!({ "batch": g.batch, "revealed": n }),
                    |_| println!("revealed {n} gold answers of batch {}", g.batch),
                )
            }
            Cmd::Settle(s) => {
                let client = connect(rpc, wallet, json).await?;
                let r = requester::settle(&client, s.batch, s.chunk).await?;
                emit(json, &r, |r| {
                    println!(
                        "settled {} tasks in {} transactions ({} gas): paid {} tokens, slashed {} stake",
                        r.tasks_settled, r.transactions, r.gas_used, r.rewards_paid, r.stake_slashed
                    )
                })
            }
            Cmd::Review(b) => {
                let client = connect(rpc, wallet, json).await?;
                let (cfg, _) = requester::batch(&client, b.batch).await?;
                let m = concord_client::dataset::Manifest::load(
                    &requester::manifest_uri(&client, b.batch).await?,
                )?;
                m.verify(cfg.manifestRoot)?;
                let items: Vec<_> = requester::outcomes(&client, b.batch)
                    .await?
                    .into_iter()
                    .filter(|o| o.status == "no-consensus")
                    .collect();
                emit(json, &items, |items| {
                    if items.is_empty() {
                        println!("no item of batch {} waits for review", b.batch);
                    }
                    for o in items {
                        let it = &m.items[o.index as usize];
                        let votes: Vec<String> = m
                            .classes
                            .iter()
                            .zip(&o.votes)
                            .map(|(c, v)| format!("{c}={v}"))
                            .collect();
                        println!(
                            "item {} `{}`: {}  votes {}",
                            o.index,
                            it.id,
                            it.text.as_deref().unwrap_or(&it.uri),
                            votes.join(" ")
                        );
                    }
                })
            }
            Cmd::Resolve(r) => {
                let client = connect(rpc, wallet, json).await?;
                let uri = match &r.manifest {
                    Some(p) => p.display().to_string(),
                    None => requester::manifest_uri(&client, r.batch).await?,
                };
                let m = concord_client::dataset::Manifest::load(&uri)?;
                let mut decisions = Vec::new();
                for d in &r.decisions {
                    let (item, class) = d
                        .split_once('=')
                        .ok_or_else(|| eyre::eyre!("--decide `{d}`: expected ITEM=CLASS"))?;
                    let index = item
                        .parse::<u64>()
                        .ok()
                        .filter(|i| (*i as usize) < m.items.len())
                        .or_else(|| m.items.iter().find(|i| i.id == item).map(|i| i.index))
                        .ok_or_else(|| {
                            eyre::eyre!("--decide `{d}`: no item `{item}` in the batch")
                        })?;
                    let label = m
                        .class_index(class)
                        .or_else(|| {
                            class
                                .parse::<u8>()
                                .ok()
                                .filter(|c| usize::from(*c) < m.classes.len())
                        })
                        .ok_or_else(|| {
                            eyre::eyre!(
                                "--decide `{d}`: `{class}` is not a class ({})",
                                m.classes.join(", ")
                            )
                        })?;
                    decisions.push((index, label));
                }
                let n = requester::resolve(&client, r.batch, &decisions).await?;
                emit(
                    json,
                    &serde_json::json!({ "batch": r.batch, "resolved": n }),
                    |_| println!("resolved {n} items of batch {}", r.batch),
                )
            }
            Cmd::Refund(b) => {
                let client = connect(rpc, wallet, json).await?;
                let amount = requester::refund(&client, b.batch).await?;
                emit(
                    json,
                    &serde_json::json!({ "batch": b.batch, "refunded": fmt_tokens(amount) }),
                    |_| {
                        println!(
                            "refunded {} unspent tokens of batch {}",
                            fmt_tokens(amount),
                            b.batch
                        )
                    },
                )
            }
            Cmd::Aggregate(a) => aggregate(a, json),
            Cmd::Serve(sv) => {
                let client = connect(rpc, wallet, json).await?;
                requester::batch(&client, sv.batch).await?;
                let view = concord_client::web::RequesterView {
                    client,
                    batch: sv.batch,
                    token: concord_client::web::new_token(),
                };
                concord_client::web::serve_requester(
                    view,
                    std::net::SocketAddr::new(sv.host, sv.port),
                    |addr, token| {
                        println!("open http://{addr}/?token={token}");
                        println!("(Ctrl-C to stop)");
                        let _ = std::io::stdout().flush();
                    },
                )
                .await
            }
            Cmd::Attest(a) => {
                let client = connect(rpc, wallet, json).await?;
                let signer = wallet.require_signer()?;
                let deadline = client.chain_time().await? + u64::from(a.valid_for);
                let att =
                    requester::attest(&client, &signer, a.batch, a.annotator, deadline).await?;
                emit(json, &att, |att| {
                    println!(
                        "attestation for {} on batch {} (valid until {}):",
                        att.annotator,
                        att.batch_id,
                        fmt_unix(att.deadline)
                    );
                    println!(
                        "concord-annotator qualify -b {} --deadline {} --signature {}",
                        att.batch_id, att.deadline, att.signature
                    );
                })
            }
            Cmd::Export(e) => {
                let client = connect(rpc, wallet, true).await?;
                let rows = requester::export(&client, e.batch, e.manifest.as_deref()).await?;
                let text = requester::render_export(&rows, e.format)?;
                match &e.out {
                    Some(p) => {
                        std::fs::write(p, &text)
                            .wrap_err_with(|| format!("writing {}", p.display()))?;
                        let labeled = rows.iter().filter(|r| r.label.is_some()).count();
                        emit(
                            json,
                            &serde_json::json!({ "batch": e.batch, "items": rows.len(), "labeled": labeled, "out": p }),
                            |_| {
                                println!(
                                    "wrote {} items ({labeled} with a label) to {}",
                                    rows.len(),
                                    p.display()
                                )
                            },
                        )
                    }
                    None => {
                        print!("{text}");
                        Ok(())
                    }
                }
            }
            Cmd::Report(r) => {
                let client = connect(rpc, wallet, json).await?;
                let report =
                    concord_client::report::build(&client, r.batch, r.manifest.as_deref()).await?;
                if let Some(p) = &r.html {
                    std::fs::write(p, concord_client::report::render_html(&report))
                        .wrap_err_with(|| format!("writing {}", p.display()))?;
                }
                emit(json, &report, |rep| {
                    print!("{}", concord_client::report::render_text(rep));
                    if let Some(p) = &r.html {
                        println!("\nwrote {}", p.display());
                    }
                })
            }
        }
    }
}

fn print_status(s: &requester::Status) {
    let pct = |a: u64, b: u64| {
        if b == 0 {
            0.0
        } else {
            100.0 * a as f64 / b as f64
        }
    };
    println!("batch {}  phase: {}", s.batch_id, s.phase);
    println!(
        "  commit until {} ({})",
        fmt_unix(s.commit_deadline),
        relative(s.commit_deadline, s.now)
    );
    println!(
        "  reveal until {} ({})",
        fmt_unix(s.reveal_deadline),
        relative(s.reveal_deadline, s.now)
    );
    println!(
        "  review until {} ({})",
        fmt_unix(s.review_deadline),
        relative(s.review_deadline, s.now)
    );
    println!(
        "  items {} in {} tasks, {} labels each = {} labels",
        s.num_items, s.num_tasks, s.replicas, s.labels_needed
    );
    println!(
        "  claimed slots   {:>6} / {}",
        s.slots_claimed,
        s.num_tasks * s.replicas
    );
    println!(
        "  committed       {:>6} labels ({:.1}%)",
        s.labels_committed,
        pct(s.labels_committed, s.labels_needed)
    );
    println!(
        "  revealed        {:>6} labels ({:.1}%)",
        s.labels_revealed,
        pct(s.labels_revealed, s.labels_needed)
    );
    println!("  tasks settled   {:>6} / {}", s.tasks_settled, s.num_tasks);
    println!(
        "  items decided   {:>6}, in review {}",
        s.items_decided, s.items_in_review
    );
    if s.gold_count > 0 {
        println!(
            "  gold revealed   {:>6} / {}",
            s.gold_revealed, s.gold_count
        );
    }
    println!(
        "  escrow {} tokens, paid {}{}",
        s.escrow,
        s.paid,
        if s.refunded { ", refunded" } else { "" }
    );
}

fn aggregate(a: Aggregate, json: bool) -> eyre::Result<()> {
    use concord_client::quality::{dawid_skene, majority_vote, read_responses_csv, read_truth_csv};
    let started = std::time::Instant::now();
    let r = read_responses_csv(&a.input)?;
    let (mv, _) = majority_vote(&r);
    let ds = dawid_skene(&r, a.iterations, a.tol);
    let elapsed = started.elapsed().as_secs_f64();
    let name = |c: usize| r.classes[c].as_str();
    if a.out.extension().and_then(|e| e.to_str()) == Some("json") {
        let tasks: Vec<_> = (0..r.tasks.len())
            .map(|t| {
                let post: serde_json::Map<String, serde_json::Value> =
                    r.classes.iter().zip(&ds.probas[t]).map(|(c, p)| (c.clone(), serde_json::json!(p))).collect();
                serde_json::json!({ "task": r.tasks[t], "mv": name(mv[t]), "ds": name(ds.labels[t]), "posterior": post })
            })
            .collect();
        let doc = serde_json::json!({ "classes": r.classes, "iterations": ds.iterations, "tasks": tasks });
        std::fs::write(&a.out, serde_json::to_string(&doc)? + "\n")
            .wrap_err_with(|| format!("writing {}", a.out.display()))?;
    } else {
        let mut w = String::from("task,mv,ds,ds_confidence\n");
        for (t, task) in r.tasks.iter().enumerate() {
            let (m, d) = (name(mv[t]), name(ds.labels[t]));
            w.push_str(&format!(
                "{task},{m},{d},{:.6}\n",
                ds.probas[t][ds.labels[t]]
            ));
        }
        std::fs::write(&a.out, w).wrap_err_with(|| format!("writing {}", a.out.display()))?;
    }
    let mut summary = serde_json::json!({
        "responses": r.rows.len(), "tasks": r.tasks.len(), "workers": r.workers.len(), "classes": r.classes,
        "iterations": ds.iterations, "seconds": elapsed, "disagreements": (0..r.tasks.len()).filter(|&t| mv[t] != ds.labels[t]).count(),
        "out": a.out,
    });
    if let Some(p) = &a.truth {
        let truth = read_truth_csv(p)?;
        let acc = |labels: &[usize]| {
            let known: Vec<bool> = (0..r.tasks.len())
                .filter_map(|t| truth.get(&r.tasks[t]).map(|x| x == name(labels[t])))
                .collect();
            if known.is_empty() {
                0.0
            } else {
                known.iter().filter(|&&x| x).count() as f64 / known.len() as f64
            }
        };
        summary["mvAccuracy"] = serde_json::json!(acc(&mv));
        summary["dsAccuracy"] = serde_json::json!(acc(&ds.labels));
    }
    emit(json, &summary, |s| {
        println!(
            "{} responses, {} tasks, {} workers: majority vote and Dawid-Skene ({} EM iterations) in {:.2}s; they disagree on {} tasks",
            s["responses"], s["tasks"], s["workers"], s["iterations"], elapsed, s["disagreements"]
        );
        if let (Some(m), Some(d)) = (s["mvAccuracy"].as_f64(), s["dsAccuracy"].as_f64()) {
            println!(
                "accuracy vs truth: majority vote {:.2}%, Dawid-Skene {:.2}%",
                100.0 * m,
                100.0 * d
            );
        }
        println!("wrote {}", a.out.display());
    })
}

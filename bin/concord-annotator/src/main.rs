//! `concord-annotator`: the contributor's CLI. Thin over `concord-client`.

use clap::{Args, Parser, Subcommand};
use concord_client::annotator;
use concord_client::cli::{emit, run};
use concord_client::dataset::Manifest;
use concord_client::opts::{connect, fmt_tokens, parse_tokens, RpcOpts, WalletOpts};
use concord_client::store::Store;
use concord_client::time::{fmt_unix, relative};
use concord_client::Concord;
use eyre::WrapErr;
use std::collections::HashMap;
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};

#[derive(Parser)]
#[command(
    name = "concord-annotator",
    version,
    about = "Label data on Concord: stake, claim, label, commit, reveal, collect"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
    #[command(flatten)]
    rpc: RpcOpts,
    #[command(flatten)]
    wallet: WalletOpts,
    /// Local store of claims, labels and salts (default: $CONCORD_HOME/annotator-<address>.sqlite).
    #[arg(long, global = true, env = "CONCORD_STORE")]
    store: Option<PathBuf>,
    /// Print one JSON object instead of human output (errors too).
    #[arg(long, global = true)]
    json: bool,
}

#[derive(Subcommand)]
enum Cmd {
    /// Stake CCD (approves the market if needed).
    Stake(Amount),
    /// Queue unlocked stake for withdrawal after the cooldown.
    Unstake(Amount),
    /// Withdraw queued stake after the cooldown.
    Withdraw,
    /// Record a qualification attestation signed by the batch's qualifier.
    Qualify(Qualify),
    /// Claim the next task of a batch (you cannot choose the items); --count claims several in one pipeline.
    Claim(ClaimArgs),
    /// Show the items of a claimed task, verified against the batch's manifest root.
    Show(Task),
    /// Label a claimed task: --labels, --from a file of answers, or interactively.
    Label(Label),
    /// Commit every labeled task (salt stored locally first, encrypted backup on-chain).
    Commit(OptBatch),
    /// Reveal every committed task whose reveal is open (recovers lost salts from the backup).
    Reveal(OptBatch),
    /// Collect rewards and redistributed stake.
    Collect,
    /// Balance, stake, reputation and local tasks.
    Status(OptBatch),
    /// Reputation counters and score.
    Reputation,
    /// Label in the browser: a local page (127.0.0.1) backed by this CLI's key and store.
    Serve(Serve),
}

#[derive(Args)]
struct Serve {
    /// Port (0: any free port).
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// Address to bind. Anything other than loopback exposes the page (still token-protected) to the network.
    #[arg(long, default_value = "127.0.0.1")]
    host: std::net::IpAddr,
    /// Reveal open tasks automatically every few seconds while the server runs.
    #[arg(long)]
    auto_reveal: bool,
}

#[derive(Args)]
struct Amount {
    /// Amount in tokens (e.g. 100 or 0.5).
    #[arg(allow_hyphen_values = true)]
    amount: String,
}

#[derive(Args)]
struct Batch {
    #[arg(long, short = 'b')]
    batch: u64,
}

#[derive(Args)]
struct OptBatch {
    /// Only this batch (default: all).
    #[arg(long, short = 'b')]
    batch: Option<u64>,
}

#[derive(Args)]
struct Task {
    #[arg(long, short = 'b')]
    batch: u64,
    #[arg(long, short = 't')]
    task: u64,
}

#[derive(Args)]
struct Qualify {
    #[arg(long, short = 'b')]
    batch: u64,
    /// Attestation deadline (unix seconds) as signed by the qualifier.
    #[arg(long)]
    deadline: u64,
    /// Qualifier's EIP-712 signature (hex).
    #[arg(long)]
    signature: String,
}

#[derive(Args)]
struct ClaimArgs {
    #[arg(long, short = 'b')]
    batch: u64,
    /// How many tasks to claim (stops early when the batch has no open task left for you).
    #[arg(long, short = 'n', default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=1000))]
    count: u32,
}

#[derive(Args)]
struct Label {
    #[arg(long, short = 'b')]
    batch: u64,
    #[arg(long, short = 't')]
    task: u64,
    /// Labels in item order, comma separated (class names or indexes).
    #[arg(long, conflicts_with = "from")]
    labels: Option<String>,
    /// File of answers by item id: JSONL `{"id":..,"label":..}` or CSV `id,label`.
    #[arg(long)]
    from: Option<PathBuf>,
    /// Commit right after labeling.
    #[arg(long)]
    commit: bool,
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let json = cli.json;
    run(json, async move {
        cli.cmd
            .run(&cli.rpc, &cli.wallet, cli.store.as_deref(), json)
            .await
    })
}

fn open_store(c: &Concord, path: Option<&Path>) -> eyre::Result<Store> {
    let me = c.account()?;
    let p = path
        .map(PathBuf::from)
        .unwrap_or_else(|| concord_client::concord_home().join(format!("annotator-{me}.sqlite")));
    Ok(Store::open(&p)?)
}

/// Resolves a label given as a class name or index.
fn class_of(m: &Manifest, s: &str) -> eyre::Result<u8> {
    let s = s.trim();
    m.class_index(s)
        .or_else(|| {
            s.parse::<u8>()
                .ok()
                .filter(|c| usize::from(*c) < m.classes.len())
        })
        .ok_or_else(|| {
            eyre::eyre!(
                "label `{s}` is not a class of this batch ({})",
                m.classes.join(", ")
            )
        })
}

/// Reads `id -> label` answers from JSONL or CSV.
fn read_answers(path: &Path) -> eyre::Result<HashMap<String, String>> {
    let text = std::fs::read_to_string(path)
        .wrap_err_with(|| format!("reading answers {}", path.display()))?;
    let mut out = HashMap::new();
    if path.extension().and_then(|e| e.to_str()) == Some("csv") {
        let mut r = csv::Reader::from_reader(text.as_bytes());
        for (i, rec) in r.records().enumerate() {
            let rec = rec.wrap_err_with(|| format!("{}:{}: bad CSV row", path.display(), i + 2))?;
            let (Some(id), Some(label)) = (rec.get(0), rec.get(1)) else {
                eyre::bail!("{}:{}: expected `id,label`", path.display(), i + 2);
            };
            out.insert(id.to_string(), label.to_string());
        }
    } else {
        for (i, line) in text
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty())
        {
            let v: serde_json::Value = serde_json::from_str(line)
                .wrap_err_with(|| format!("{}:{}: not JSON", path.display(), i + 1))?;
            let id = match &v["id"] {
                serde_json::Value::String(s) => s.clone(),
                serde_json::Value::Number(n) => n.to_string(),
                _ => eyre::bail!("{}:{}: missing `id`", path.display(), i + 1),
            };
            let label = match &v["label"] {
                serde_json::Value::String(s) => s.clone(),
                serde_json::Value::Number(n) => n.to_string(),
                _ => eyre::bail!("{}:{}: missing `label`", path.display(), i + 1),
            };
            out.insert(id, label);
        }
    }
    Ok(out)
}

fn print_item(m: &Manifest, it: &concord_client::dataset::ManifestItem, n: usize, of: usize) {
    println!("[{n}/{of}] item {} `{}`", it.index, it.id);
    if let Some(t) = &it.text {
        println!("    {t}");
    }
    if !it.uri.is_empty() {
        println!("    {}", it.uri);
    }
    let classes: Vec<String> = m
        .classes
        .iter()
        .enumerate()
        .map(|(i, c)| format!("{}={c}", i + 1))
        .collect();
    println!("    classes: {}", classes.join("  "));
}

impl Cmd {
    async fn run(
        self,
        rpc: &RpcOpts,
        wallet: &WalletOpts,
        store_path: Option<&Path>,
        json: bool,
    ) -> eyre::Result<()> {
        let c = connect(rpc, wallet, json).await?;
        match self {
            Cmd::Stake(a) => {
                let amount = parse_tokens(&a.amount)?;
                annotator::stake(&c, amount).await?;
                let s = annotator::standing(&c, c.account()?).await?;
                emit(json, &s, |s| {
                    println!(
                        "staked {}; total stake {} CCD ({} locked)",
                        a.amount, s.staked, s.locked
                    )
                })
            }
            Cmd::Unstake(a) => {
                let at = annotator::request_unstake(&c, parse_tokens(&a.amount)?).await?;
                emit(json, &serde_json::json!({ "unlockAt": at }), |_| {
                    println!(
                        "{} CCD unlock at {}; then run `withdraw`",
                        a.amount,
                        fmt_unix(at)
                    )
                })
            }
            Cmd::Withdraw => {
                let x = annotator::withdraw(&c).await?;
                emit(
                    json,
                    &serde_json::json!({ "withdrawn": fmt_tokens(x) }),
                    |_| println!("withdrew {} CCD", fmt_tokens(x)),
                )
            }
            Cmd::Qualify(q) => {
                let sig: alloy::primitives::Bytes = q
                    .signature
                    .parse()
                    .map_err(|_| eyre::eyre!("--signature is not hex"))?;
                annotator::qualify(&c, q.batch, q.deadline, sig).await?;
                emit(
                    json,
                    &serde_json::json!({ "batch": q.batch, "qualified": true }),
                    |_| println!("qualified for batch {}", q.batch),
                )
            }
            Cmd::Claim(b) if b.count > 1 => {
                let store = open_store(&c, store_path)?;
                let (claims, stopped) =
                    annotator::claim_up_to(&c, &store, b.batch, b.count as usize).await?;
                if let (true, Some(e)) = (claims.is_empty(), &stopped) {
                    eyre::bail!("{e}");
                }
                emit(json, &claims, |cls| {
                    cls.iter().for_each(print_claim);
                    if let Some(e) = &stopped {
                        println!("{} of {} claimed; the rest failed: {e}", cls.len(), b.count);
                    }
                })
            }
            Cmd::Claim(b) => {
                let store = open_store(&c, store_path)?;
                let claim = annotator::claim(&c, &store, b.batch).await?;
                emit(json, &claim, |cl| {
                    print_claim(cl);
                    println!(
                        "next: concord-annotator show -b {} -t {}",
                        cl.batch, cl.task
                    );
                })
            }
            Cmd::Show(t) => {
                let (m, items) = annotator::task_items(&c, t.batch, t.task).await?;
                emit(
                    json,
                    &serde_json::json!({ "classes": m.classes, "items": items }),
                    |_| {
                        println!("batch {} task {}: {} items, manifest verified against the on-chain root", t.batch, t.task, items.len());
                        for (i, it) in items.iter().enumerate() {
                            print_item(&m, it, i + 1, items.len());
                        }
                    },
                )
            }
            Cmd::Label(l) => {
                let store = open_store(&c, store_path)?;
                let (m, items) = annotator::task_items(&c, l.batch, l.task).await?;
                let labels: Vec<u8> = if let Some(spec) = &l.labels {
                    spec.split(',')
                        .map(|s| class_of(&m, s))
                        .collect::<eyre::Result<_>>()?
                } else if let Some(path) = &l.from {
                    let answers = read_answers(path)?;
                    items
                        .iter()
                        .map(|it| {
                            let a = answers.get(&it.id).ok_or_else(|| {
                                eyre::eyre!("{} has no answer for item `{}`", path.display(), it.id)
                            })?;
                            class_of(&m, a)
                        })
                        .collect::<eyre::Result<_>>()?
                } else {
                    interactive(&m, &items)?
                };
                annotator::label(&c, &store, l.batch, l.task, &labels).await?;
                let mut report = None;
                if l.commit {
                    report = Some(annotator::commit(&c, &store, Some(l.batch)).await?);
                }
                let names: Vec<&str> = labels
                    .iter()
                    .map(|&x| m.classes[usize::from(x)].as_str())
                    .collect();
                emit(
                    json,
                    &serde_json::json!({ "batch": l.batch, "task": l.task, "labels": labels, "commit": report }),
                    |_| {
                        println!(
                            "labeled task {} of batch {}: {}",
                            l.task,
                            l.batch,
                            names.join(", ")
                        );
                        if let Some(r) = &report {
                            print_run("committed", r);
                        }
                    },
                )?;
                fail_if_any(&report)
            }
            Cmd::Commit(b) => {
                let store = open_store(&c, store_path)?;
                let r = annotator::commit(&c, &store, b.batch).await?;
                emit(json, &r, |r| print_run("committed", r))?;
                fail_if_any(&Some(r))
            }
            Cmd::Reveal(b) => {
                let store = open_store(&c, store_path)?;
                let r = annotator::reveal(&c, &store, b.batch).await?;
                emit(json, &r, |r| print_run("revealed", r))?;
                fail_if_any(&Some(r))
            }
            Cmd::Collect => {
                let store = open_store(&c, store_path)?;
                let got = annotator::collect(&c, &store).await?;
                let total: Vec<_> = got
                    .iter()
                    .map(|(t, a)| serde_json::json!({ "token": t, "amount": fmt_tokens(*a) }))
                    .collect();
                emit(json, &total, |_| {
                    if got.is_empty() {
                        println!("nothing to collect");
                    }
                    for (t, a) in &got {
                        println!("collected {} of token {t}", fmt_tokens(*a));
                    }
                })
            }
            Cmd::Status(b) => {
                let me = c.account()?;
                let store = open_store(&c, store_path)?;
                let s = annotator::standing(&c, me).await?;
                let tasks = store.list(c.chain_id(), c.market_address(), me, b.batch)?;
                let now = c.chain_time().await?;
                emit(
                    json,
                    &serde_json::json!({ "standing": s, "tasks": tasks }),
                    |_| {
                        print_standing(&s);
                        for t in &tasks {
                            let exp = if t.expiry > 0 {
                                format!(" (claim expires {})", relative(t.expiry, now))
                            } else {
                                String::new()
                            };
                            println!("  batch {} task {}: {:?}{}", t.batch, t.task, t.status, exp);
                        }
                    },
                )
            }
            Cmd::Serve(sv) => {
                let store = open_store(&c, store_path)?;
                if !sv.host.is_loopback() {
                    eprintln!("warning: serving on {} makes the page reachable from the network (the session token still guards it)", sv.host);
                }
                let app = concord_client::web::App {
                    client: c,
                    store,
                    token: concord_client::web::new_token(),
                };
                concord_client::web::serve(
                    app,
                    std::net::SocketAddr::new(sv.host, sv.port),
                    sv.auto_reveal,
                    |addr, token| {
                        println!("open http://{addr}/?token={token}");
                        println!("(Ctrl-C to stop)");
                        let _ = std::io::stdout().flush();
                    },
                )
                .await
            }
            Cmd::Reputation => {
                let s = annotator::standing(&c, c.account()?).await?;
                emit(json, &s, print_standing)
            }
        }
    }
}

fn print_standing(s: &annotator::Standing) {
    println!("{}", s.address);
    println!(
        "  balance {} CCD, staked {} ({} locked, {} unstaking), claimable {}",
        s.balance, s.staked, s.locked, s.pending_unstake, s.claimable
    );
    println!(
        "  reputation {} (accepted {}, rejected {}, gold {}/{}, unrevealed {})",
        s.reputation,
        s.accepted,
        s.rejected,
        s.gold_correct,
        s.gold_correct + s.gold_wrong,
        s.unrevealed
    );
}

fn print_claim(cl: &annotator::Claim) {
    println!(
        "claimed task {} of batch {} (slot {}); commit before {}",
        cl.task,
        cl.batch,
        cl.slot,
        fmt_unix(cl.expiry)
    );
}

fn print_run(verb: &str, r: &annotator::RunReport) {
    if r.recovered > 0 {
        println!(
            "recovered {} commits from their encrypted on-chain backup",
            r.recovered
        );
    }
    let list = |v: &[(u64, u64)]| {
        v.iter()
            .map(|(b, t)| format!("{b}/{t}"))
            .collect::<Vec<_>>()
            .join(" ")
    };
    println!("{verb} {} tasks {}", r.done.len(), list(&r.done));
    if !r.waiting.is_empty() {
        println!("waiting (reveal not open yet) {}", list(&r.waiting));
    }
    for f in &r.failed {
        println!("failed {f}");
    }
}

fn fail_if_any(r: &Option<annotator::RunReport>) -> eyre::Result<()> {
    match r {
        Some(r) if !r.failed.is_empty() => {
            let more = match r.failed.len() {
                1 => String::new(),
                n => format!(" (and {} more tasks)", n - 1),
            };
            eyre::bail!(
                "{}{more}; {} tasks confirmed; labels and salts are stored: run the same command again",
                r.failed[0],
                r.done.len()
            )
        }
        _ => Ok(()),
    }
}

/// Asks for one label per item on the terminal (class number 1..C or name; `b` goes back).
fn interactive(
    m: &Manifest,
    items: &[concord_client::dataset::ManifestItem],
) -> eyre::Result<Vec<u8>> {
    let stdin = std::io::stdin();
    let mut lines = stdin.lock().lines();
    let mut labels: Vec<u8> = Vec::with_capacity(items.len());
    while labels.len() < items.len() {
        let i = labels.len();
        print_item(m, &items[i], i + 1, items.len());
        print!("    label (1..{}, name, b = back): ", m.classes.len());
        std::io::stdout().flush().ok();
        let Some(line) = lines.next() else {
            eyre::bail!(
                "input ended after {i} of {} items; nothing was stored",
                items.len()
            );
        };
        let line = line?;
        let answer = line.trim();
        if answer == "b" {
            labels.pop();
            continue;
        }
        let by_number = answer
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=m.classes.len()).contains(n))
            .map(|n| (n - 1) as u8);
        match by_number.or_else(|| m.class_index(answer)) {
            Some(l) => labels.push(l),
            None => println!(
                "    `{answer}` is not a class; type 1..{} or a class name",
                m.classes.len()
            ),
        }
    }
    Ok(labels)
}

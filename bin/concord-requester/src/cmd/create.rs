//! `concord-requester create`: validate a dataset, escrow the rewards, publish the batch.

use alloy::primitives::Address;
use clap::Args;
use concord_cli::{emit, parse_duration, ConcordArgs};
use concord_client::dataset::parse_classes;
use concord_client::preview::{self, Preview};
use concord_client::protocol::units::{fmt_tokens, parse_tokens};
use concord_client::requester::{self, defaults, CreateOptions, Incentives};
use std::path::PathBuf;

#[derive(Debug, Args)]
pub struct CreateArgs {
    /// Items: .jsonl, .csv or Label Studio .json (fields: id, text or uri, optional meta and gold).
    pub dataset: PathBuf,
    /// Class names, comma separated (2..16).
    #[arg(long)]
    pub classes: String,
    /// Items per task (1..32).
    #[arg(long, default_value_t = defaults::TASK_SIZE)]
    pub task_size: u16,
    /// Most tasks one join takes (1..32): one commit and one reveal cover them all.
    #[arg(long, default_value_t = defaults::MAX_BUNDLE)]
    pub max_bundle: u8,
    /// Independent labels per item.
    #[arg(long, short = 'k', default_value_t = defaults::REPLICAS)]
    pub replicas: u8,
    /// Share of revealed labels the plurality needs for consensus (0..1).
    #[arg(long, default_value_t = 0.66)]
    pub threshold: f64,
    /// Reward per accepted label, in tokens.
    #[arg(long, default_value = defaults::REWARD)]
    pub reward: String,
    /// Stake locked per task of a join until it settles (at least the no-reveal penalty).
    #[arg(long, default_value = defaults::STAKE_PER_TASK)]
    pub stake_per_task: String,
    /// Stake slashed per label that disagrees with consensus or gold. 3x the reward: a label must agree with
    /// consensus 3 times in 4 to pay, so random, constant and copied answers lose (see `concord-sim`).
    #[arg(long, default_value = defaults::WRONG_LABEL_PENALTY)]
    pub wrong_penalty: String,
    /// Stake slashed for a commit never revealed (must exceed task size x wrong penalty).
    #[arg(long, default_value = defaults::NO_REVEAL_PENALTY)]
    pub no_reveal_penalty: String,
    /// Stake forfeited per task of a join never committed in its round's window (at most the stake per task).
    #[arg(long, default_value = defaults::SQUAT_PENALTY)]
    pub squat_penalty: String,
    /// Escrowed with gold, returned only if every gold answer is revealed in time (default: the gold items'
    /// rewards).
    #[arg(long)]
    pub gold_bond: Option<String>,
    /// Minimum stake to join.
    #[arg(long, default_value = defaults::MIN_STAKE)]
    pub min_stake: String,
    /// Minimum reputation score to join, in the batch's domain (its qualifier, else you).
    #[arg(long, default_value_t = defaults::MIN_REPUTATION, allow_hyphen_values = true)]
    pub min_reputation: i64,
    /// Commit phase: every round opens and ends inside it.
    #[arg(long, default_value = "2h", value_parser = parse_duration)]
    pub commit_period: u32,
    #[arg(long, default_value = "1h", value_parser = parse_duration)]
    pub reveal_period: u32,
    #[arg(long, default_value = "1h", value_parser = parse_duration)]
    pub review_period: u32,
    /// How long a round takes joins (it seals earlier once every lane is full).
    #[arg(long, default_value = "5m", value_parser = parse_duration)]
    pub round_period: u32,
    /// After a round's joins, how long its bundles have to commit.
    #[arg(long, default_value = "20m", value_parser = parse_duration)]
    pub commit_window: u32,
    /// Decides items without consensus (default: the requester).
    #[arg(long, conflicts_with = "no_reviewer")]
    pub reviewer: Option<Address>,
    /// No reviewer: items without consensus are refunded after the review window (and the batch can settle
    /// optimistically: `propose`, then `claim`).
    #[arg(long)]
    pub no_reviewer: bool,
    /// Key whose EIP-712 attestation annotators need (default: none).
    #[arg(long)]
    pub qualifier: Option<Address>,
    /// ERC-20 to pay rewards in (default: the protocol token).
    #[arg(long)]
    pub reward_token: Option<Address>,
    /// Folder for the manifest and the private gold file (default: `<dataset>.concord/` next to it).
    #[arg(long)]
    pub out_dir: Option<PathBuf>,
    /// Public URI annotators fetch the manifest from (default: the local file).
    #[arg(long, conflicts_with = "publish_url")]
    pub manifest_uri: Option<String>,
    /// Where the output folder will be published (`https://host/path/`, `ipfs://CID/`): the manifest's URI is
    /// this base and its file name. Serve the folder with `concord-requester serve --publish <out-dir>`.
    #[arg(long, value_name = "BASE_URL")]
    pub publish_url: Option<String>,
    /// Print what the batch will cost — escrow, your gas, an annotator's gas per task at the current fee — from a
    /// simulation (`eth_simulateV1`); nothing is sent and no file is written.
    #[arg(long)]
    pub dry_run: bool,
}

impl CreateArgs {
    /// The batch these arguments ask for, with `requester` as the default reviewer.
    pub fn options(&self, requester: Address) -> eyre::Result<CreateOptions> {
        eyre::ensure!(
            self.threshold > 0.0 && self.threshold <= 1.0,
            "--threshold must be in (0, 1], got {}",
            self.threshold
        );
        Ok(CreateOptions {
            classes: parse_classes(&self.classes)?,
            task_size: self.task_size,
            replicas: self.replicas,
            threshold_bps: (self.threshold * 10_000.0).round() as u16,
            incentives: Incentives::parse(
                &self.reward,
                &self.stake_per_task,
                &self.wrong_penalty,
                &self.no_reveal_penalty,
                &self.squat_penalty,
            )?,
            min_stake: parse_tokens(&self.min_stake)?,
            min_reputation: self.min_reputation,
            max_bundle: self.max_bundle,
            commit_period: self.commit_period,
            reveal_period: self.reveal_period,
            review_period: self.review_period,
            round_period: self.round_period,
            commit_window: self.commit_window,
            gold_bond: self.gold_bond.as_deref().map(parse_tokens).transpose()?,
            reviewer: if self.no_reviewer {
                Address::ZERO
            } else {
                self.reviewer.unwrap_or(requester)
            },
            qualifier: self.qualifier.unwrap_or(Address::ZERO),
            reward_token: self.reward_token,
            out_dir: self.out_dir.clone(),
            manifest_uri: self.manifest_uri.clone(),
            publish_url: self.publish_url.clone(),
        })
    }

    pub async fn run(self, args: &ConcordArgs) -> eyre::Result<()> {
        let client = args.connect().await?;
        let o = self.options(client.account()?)?;
        if self.dry_run {
            let p = preview::preview(&client, &self.dataset, &o).await?;
            return emit(args.json(), &p, |p| print_preview(p, &self));
        }
        let r = requester::create_batch(&client, &self.dataset, &o).await?;
        emit(args.json(), &r, |r| {
            println!("batch {} created (tx {})", r.batch_id, r.tx);
            println!(
                "  items {} in {} tasks of {}, {} labels each, {} gold",
                r.num_items, r.num_tasks, self.task_size, self.replicas, r.gold_count
            );
            println!(
                "  escrowed {} tokens{}",
                fmt_tokens(r.escrow),
                if r.gold_bond.is_zero() {
                    String::new()
                } else {
                    format!(" + gold bond {}", fmt_tokens(r.gold_bond))
                }
            );
            println!(
                "  annotators join for up to {} tasks each ({} CCD of stake per task)",
                self.max_bundle, self.stake_per_task
            );
            println!("  manifest {} (root {})", r.manifest_uri, r.manifest_root);
            if let Some(g) = &r.gold_path {
                println!("  gold answers + salts kept privately in {}", g.display());
            }
        })
    }
}

/// `n` with thousands separators.
fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, ch) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

fn print_preview(p: &Preview, a: &CreateArgs) {
    println!("dry run: nothing was sent");
    println!(
        "  items {} in {} tasks of {}, {} labels each, {} gold",
        p.num_items, p.num_tasks, a.task_size, a.replicas, p.gold_count
    );
    let bond = if p.gold_bond.is_zero() {
        String::new()
    } else {
        format!(" + gold bond {}", fmt_tokens(p.gold_bond))
    };
    println!(
        "  escrow {} tokens{bond}; your balance {} tokens: {}",
        fmt_tokens(p.escrow),
        fmt_tokens(p.balance),
        if p.balance_covers {
            "enough"
        } else {
            "NOT enough"
        }
    );
    println!(
        "  gas price now {} gwei (latest base fee + tip)",
        p.gas_price as f64 / 1e9
    );
    match (
        &p.gas,
        p.requester_cost,
        p.annotator_gas_per_task,
        p.annotator_cost_per_task,
    ) {
        (Some(g), Some(cost), Some(per_task), Some(task_cost)) => {
            println!(
                "  you pay: approve {} + create {} gas = {} ETH",
                thousands(g.approve),
                thousands(g.create),
                fmt_tokens(cost)
            );
            println!(
                "  an annotator pays per task: {} gas = {} ETH (join {} + commit {} + reveal {} for a join of {} tasks; the round's first commit also stores its seed), plus approve {} + stake {} once",
                thousands(per_task),
                fmt_tokens(task_cost),
                thousands(g.join),
                thousands(g.commit),
                thousands(g.reveal),
                p.tasks_per_join.unwrap_or(0),
                thousands(g.annotator_approve),
                thousands(g.stake)
            );
        }
        _ => println!(
            "  gas: not estimated ({})",
            p.not_simulated.as_deref().unwrap_or("no simulation")
        ),
    }
    println!(
        "  an annotator earns up to {} tokens per task when every label agrees",
        fmt_tokens(p.reward_per_task)
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::args::Cmd;
    use concord_cli::Tool;

    #[test]
    fn defaults_are_the_client_defaults() {
        let Cmd::Create(c) = Cmd::parse_line(&["create", "items.jsonl", "--classes", "a,b"]).cmd
        else {
            panic!("not create")
        };
        let me = Address::repeat_byte(1);
        let o = c.options(me).expect("valid");
        let d = CreateOptions::new(vec!["a".into(), "b".into()], me);
        assert_eq!(format!("{o:?}"), format!("{d:?}"));
    }

    #[test]
    fn parses_every_option_and_checks_the_threshold() {
        let Cmd::Create(c) = Cmd::parse_line(&[
            "create",
            "d.csv",
            "--classes",
            "x,y,z",
            "--task-size",
            "32",
            "-k",
            "5",
            "--threshold",
            "0.8",
            "--reward",
            "0.5",
            "--min-reputation",
            "-5",
            "--commit-period",
            "2h",
            "--round-period",
            "90s",
            "--commit-window",
            "10m",
            "--max-bundle",
            "4",
        ])
        .cmd
        else {
            panic!("not create")
        };
        let o = c.options(Address::ZERO).expect("valid");
        assert_eq!((o.task_size, o.replicas, o.threshold_bps), (32, 5, 8000));
        assert_eq!(
            o.incentives.reward_per_label,
            parse_tokens("0.5").expect("amount")
        );
        assert_eq!(
            (
                o.min_reputation,
                o.commit_period,
                o.round_period,
                o.commit_window,
                o.max_bundle
            ),
            (-5, 7200, 90, 600, 4)
        );
        let Cmd::Create(bad) =
            Cmd::parse_line(&["create", "d.csv", "--classes", "a,b", "--threshold", "1.5"]).cmd
        else {
            panic!("not create")
        };
        assert!(bad.options(Address::ZERO).is_err());
    }
}

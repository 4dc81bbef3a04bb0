//! `concord-requester generate`: generation batches (docs/generation.md) — contributors write datapoints for your
//! instructions, peers review them on the market, and only the accepted are paid.

use clap::{Args, Subcommand};
use concord_cli::{emit, parse_duration, ConcordArgs};
use concord_client::generation::{self, GenerateOptions, GoldExample, Instruction};
use concord_client::protocol::units::{fmt_tokens, parse_tokens};
use concord_client::requester::defaults;
use std::io::Write;
use std::path::PathBuf;

#[derive(Debug, Args)]
pub struct GenerateArgs {
    #[command(subcommand)]
    pub cmd: GenerateCmd,
}

#[derive(Debug, Subcommand)]
pub enum GenerateCmd {
    /// Escrow the rewards of up to --cap accepted datapoints and the review budget, and open submissions.
    Create(Box<CreateArgs>),
    /// After the publish deadline: open the review of the published datapoints (a batch reviewers join as any).
    Review(ReviewArgs),
    /// After the review settled (`settle -b <review batch>`): pay the accepted, slash the rejected.
    Finalize(IdArgs),
    /// After finalizing: take back what was not spent (rewards beyond the accepted, the review's leftovers).
    Refund(IdArgs),
    /// Write the finalized datapoints as JSONL (instruction, content, author, verdict, reviewers, votes, provenance).
    Export(ExportArgs),
    /// Quality of a finalized batch: share filtered by review, acceptance per instruction, reviewer agreement
    /// (Fleiss' kappa), near-duplicates among the accepted, authors most often rejected.
    Report(IdArgs),
}

#[derive(Debug, Args)]
pub struct CreateArgs {
    /// Instructions: JSONL of `{"id": ..., "text": ...}` (prompts or categories contributors write for).
    pub instructions: PathBuf,
    /// Most datapoints paid as accepted.
    #[arg(long)]
    pub cap: u32,
    /// Most submissions taken (default: twice the cap); bounds the review budget.
    #[arg(long)]
    pub max_items: Option<u32>,
    /// Longest datapoint published inline, in bytes.
    #[arg(long, default_value_t = 2048)]
    pub max_bytes: u32,
    /// Paid per accepted datapoint, in tokens.
    #[arg(long, default_value = "5")]
    pub reward: String,
    /// Stake a contributor locks per submission, in tokens.
    #[arg(long, default_value = "10")]
    pub stake: String,
    /// Stake slashed per rejected datapoint (to the treasury), in tokens. With the reward of 5, a contributor
    /// profits only if more than 8 in 13 of its reviewed datapoints are accepted (low-effort work loses;
    /// `concord-sim generate`).
    #[arg(long, default_value = "8")]
    pub reject_penalty: String,
    /// Stake forfeited per submission never published, in tokens.
    #[arg(long, default_value = "3")]
    pub unpublished_penalty: String,
    /// How long submissions (commits) are taken.
    #[arg(long, default_value = "1h", value_parser = parse_duration)]
    pub submit_period: u32,
    /// After the submit deadline, how long committed datapoints may be published.
    #[arg(long, default_value = "30m", value_parser = parse_duration)]
    pub publish_period: u32,
    /// Public URI contributors fetch the instructions from (default: the file's path).
    #[arg(long)]
    pub instructions_uri: Option<String>,
    /// Reviews per datapoint (the review batch's replicas).
    #[arg(long, default_value_t = defaults::REPLICAS)]
    pub review_replicas: u8,
    /// Share of reviews the plurality needs (0..1).
    #[arg(long, default_value_t = 0.66)]
    pub review_threshold: f64,
    /// Most datapoints one reviewer's join takes.
    #[arg(long, default_value_t = defaults::MAX_BUNDLE)]
    pub review_max_bundle: u8,
    /// Paid per review that agrees with the consensus or the gold, in tokens.
    #[arg(long, default_value = "0.5")]
    pub review_reward: String,
    /// Stake a reviewer locks per datapoint.
    #[arg(long, default_value = "10")]
    pub review_stake: String,
    /// Stake slashed per review that disagrees: 8x the review reward. With two classes a reviewer who accepts
    /// everything is right whenever most datapoints deserve it, so the penalty must outweigh the reward at the
    /// batch's acceptance rate; bad gold examples add to it (`concord-sim generate`).
    #[arg(long, default_value = "4")]
    pub review_wrong_penalty: String,
    /// Stake slashed per review committed and never revealed (more than the wrong penalty).
    #[arg(long, default_value = "5")]
    pub review_no_reveal_penalty: String,
    /// Stake forfeited per position joined and never committed.
    #[arg(long, default_value = "2")]
    pub review_squat_penalty: String,
    /// Stake a reviewer must hold to join.
    #[arg(long, default_value = defaults::MIN_STAKE)]
    pub review_min_stake: String,
    /// Reputation a reviewer needs in the generation market's domain (accepted - rejected reviews, gold x3,
    /// no-shows x10). 0 bars whoever disagreed with its reviews' consensus more often than it agreed.
    #[arg(long, default_value_t = 0, allow_hyphen_values = true)]
    pub review_min_reputation: i64,
    /// Escrowed with gold examples, returned only if every gold answer is revealed in time, in tokens.
    #[arg(long, default_value = "5")]
    pub gold_bond: String,
    #[arg(long, default_value = "2h", value_parser = parse_duration)]
    pub review_commit_period: u32,
    #[arg(long, default_value = "1h", value_parser = parse_duration)]
    pub review_reveal_period: u32,
    #[arg(long, default_value = "5m", value_parser = parse_duration)]
    pub review_round_period: u32,
    #[arg(long, default_value = "20m", value_parser = parse_duration)]
    pub review_commit_window: u32,
}

#[derive(Debug, Args)]
pub struct ReviewArgs {
    /// Generation batch id.
    #[arg(long, short = 'g')]
    pub generation: u64,
    /// Your known examples, already submitted and published from addresses of yours: JSONL of
    /// `{"text": ..., "accept": true|false}`. They are the review's gold: reviewers who accept everything, or
    /// reject everything, lose on them.
    #[arg(long)]
    pub gold: Option<PathBuf>,
    /// Where to write the review manifest (its gold secrets go beside it as `.gold.json`).
    #[arg(long, default_value = "review.json")]
    pub out: PathBuf,
    /// Public URI reviewers fetch the manifest from (default: the file's path).
    #[arg(long)]
    pub manifest_uri: Option<String>,
}

#[derive(Debug, Args)]
pub struct IdArgs {
    /// Generation batch id.
    #[arg(long, short = 'g')]
    pub generation: u64,
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// Generation batch id.
    #[arg(long, short = 'g')]
    pub generation: u64,
    /// The instructions file the batch was created from (adds each instruction's text).
    #[arg(long)]
    pub instructions: Option<PathBuf>,
    /// Every finalized datapoint, not only the accepted.
    #[arg(long)]
    pub all: bool,
    /// Output file (default: stdout).
    #[arg(long, short = 'o')]
    pub out: Option<PathBuf>,
}

impl GenerateArgs {
    pub async fn run(self, args: &ConcordArgs) -> eyre::Result<()> {
        match self.cmd {
            GenerateCmd::Create(c) => c.run(args).await,
            GenerateCmd::Review(c) => c.run(args).await,
            GenerateCmd::Finalize(c) => {
                let client = args.connect().await?;
                let f = generation::finalize(&client, c.generation).await?;
                emit(args.json(), &f, |f| {
                    println!(
                        "generation {}: {} accepted (paid {}), {} over the cap, {} rejected (slashed {}), {} undecided, {} gold, {} expired unpublished",
                        c.generation,
                        f.accepted,
                        fmt_tokens(f.paid),
                        f.accepted_over_cap,
                        f.rejected,
                        fmt_tokens(f.slashed),
                        f.undecided,
                        f.gold,
                        f.expired
                    )
                })
            }
            GenerateCmd::Refund(c) => {
                let client = args.connect().await?;
                let amount = generation::refund(&client, c.generation).await?;
                emit(
                    args.json(),
                    &serde_json::json!({ "generation": c.generation, "refunded": fmt_tokens(amount) }),
                    |_| {
                        println!(
                            "refunded {} tokens of generation {}",
                            fmt_tokens(amount),
                            c.generation
                        )
                    },
                )
            }
            GenerateCmd::Export(c) => c.run(args).await,
            GenerateCmd::Report(c) => {
                let client = args.connect().await?;
                let r = generation::report(&client, c.generation).await?;
                emit(args.json(), &r, |r| {
                    print!("{}", concord_client::quality::generation::render_text(r))
                })
            }
        }
    }
}

impl CreateArgs {
    pub fn options(&self) -> eyre::Result<GenerateOptions> {
        eyre::ensure!(
            self.review_threshold > 0.0 && self.review_threshold <= 1.0,
            "--review-threshold must be in (0, 1], got {}",
            self.review_threshold
        );
        let review = generation::review_params(
            self.review_replicas,
            (self.review_threshold * 10_000.0).round() as u16,
            self.review_max_bundle,
            parse_tokens(&self.review_reward)?,
            parse_tokens(&self.review_stake)?,
            parse_tokens(&self.review_wrong_penalty)?,
            parse_tokens(&self.review_no_reveal_penalty)?,
            parse_tokens(&self.review_squat_penalty)?,
            parse_tokens(&self.review_min_stake)?,
            self.review_min_reputation,
            parse_tokens(&self.gold_bond)?,
            [
                self.review_commit_period,
                self.review_reveal_period,
                0,
                self.review_round_period,
                self.review_commit_window,
            ],
        )?;
        Ok(GenerateOptions {
            cap: self.cap,
            max_items: self.max_items.unwrap_or(self.cap.saturating_mul(2)),
            max_content_bytes: self.max_bytes,
            reward: parse_tokens(&self.reward)?,
            stake_per_submission: parse_tokens(&self.stake)?,
            reject_penalty: parse_tokens(&self.reject_penalty)?,
            unpublished_penalty: parse_tokens(&self.unpublished_penalty)?,
            submit_period: self.submit_period,
            publish_period: self.publish_period,
            instructions_uri: self
                .instructions_uri
                .clone()
                .unwrap_or_else(|| self.instructions.display().to_string()),
            review,
        })
    }

    pub async fn run(self, args: &ConcordArgs) -> eyre::Result<()> {
        let instructions: Vec<Instruction> =
            generation::read_jsonl(&self.instructions, "instructions")?;
        let o = self.options()?;
        let client = args.connect().await?;
        let created = generation::create(&client, &instructions, &o).await?;
        emit(
            args.json(),
            &serde_json::json!({
                "generation": created.id,
                "escrow": fmt_tokens(created.escrow),
                "instructions": instructions.len(),
                "tx": created.tx,
            }),
            |_| {
                println!(
                    "generation batch {} created: {} instructions, up to {} accepted datapoints paid {} each; escrowed {} (tx {})",
                    created.id,
                    instructions.len(),
                    o.cap,
                    fmt_tokens(o.reward),
                    fmt_tokens(created.escrow),
                    created.tx
                );
                println!(
                    "contributors: concord-annotator submit -g {} --file datapoints.jsonl, then publish after the submit deadline",
                    created.id
                );
            },
        )
    }
}

impl ReviewArgs {
    pub async fn run(self, args: &ConcordArgs) -> eyre::Result<()> {
        let gold: Vec<GoldExample> = match &self.gold {
            Some(p) => generation::read_jsonl(p, "gold examples")?,
            None => Vec::new(),
        };
        let client = args.connect().await?;
        let uri = self
            .manifest_uri
            .clone()
            .unwrap_or_else(|| self.out.display().to_string());
        let r = generation::open_review(&client, self.generation, &gold, &self.out, &uri).await?;
        let gold_file = generation::gold_path(&self.out);
        emit(
            args.json(),
            &serde_json::json!({
                "generation": self.generation,
                "reviewBatch": r.review_batch,
                "items": r.items,
                "gold": r.gold,
                "manifest": self.out,
                "goldFile": (r.gold > 0).then_some(&gold_file),
            }),
            |_| {
                println!(
                    "review of generation {} opened as batch {}: {} datapoints ({} gold); manifest {}",
                    self.generation,
                    r.review_batch,
                    r.items,
                    r.gold,
                    self.out.display()
                );
                if r.gold > 0 {
                    println!(
                        "after its commit phase: concord-requester reveal-gold -b {} --gold {}",
                        r.review_batch,
                        gold_file.display()
                    );
                }
                println!(
                    "then: concord-requester settle -b {} and concord-requester generate finalize -g {}",
                    r.review_batch, self.generation
                );
            },
        )
    }
}

impl ExportArgs {
    pub async fn run(self, args: &ConcordArgs) -> eyre::Result<()> {
        let instructions: Option<Vec<Instruction>> = self
            .instructions
            .as_deref()
            .map(|p| generation::read_jsonl(p, "instructions"))
            .transpose()?;
        let client = args.connect().await?;
        let rows = generation::export(&client, self.generation, instructions.as_deref(), !self.all)
            .await?;
        let mut text = String::new();
        for r in &rows {
            text.push_str(&serde_json::to_string(r)?);
            text.push('\n');
        }
        match &self.out {
            Some(p) => {
                std::fs::write(p, &text)
                    .map_err(|e| eyre::eyre!("cannot write {}: {e}", p.display()))?;
                eprintln!("wrote {} datapoints to {}", rows.len(), p.display());
            }
            None => std::io::stdout().write_all(text.as_bytes())?,
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crate::args::Cmd;
    use concord_cli::Tool;

    use super::GenerateCmd;

    #[test]
    fn parses_create_with_defaults_and_the_review_terms() {
        let Cmd::Generate(g) =
            Cmd::parse_line(&["generate", "create", "prompts.jsonl", "--cap", "20"]).cmd
        else {
            panic!("not generate")
        };
        let GenerateCmd::Create(c) = g.cmd else {
            panic!("not create")
        };
        let o = c.options().expect("valid");
        assert_eq!(o.max_items, 40, "twice the cap by default");
        assert_eq!(o.review.replicas, 3);
        assert!(o.review.noRevealPenalty > o.review.wrongLabelPenalty);
        assert!(
            Cmd::try_parse_line(&["generate", "create", "p.jsonl"]).is_err(),
            "--cap is needed"
        );
        assert!(
            Cmd::try_parse_line(&["generate", "finalize"]).is_err(),
            "-g is needed"
        );
    }
}

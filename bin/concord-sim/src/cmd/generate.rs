//! `concord-sim generate`: generation batches (docs/generation.md) with generator and reviewer populations, over
//! several seeds; prints the README's table (Markdown) or JSON.

use clap::Parser;
use concord_cli::emit;

use crate::gensim::{self, GenOutcome, GenParams};

#[derive(Parser)]
pub struct GenerateArgs {
    #[command(flatten)]
    pub params: GenParams,
    /// Seeds to run, from --seed on.
    #[arg(long, default_value_t = 1)]
    pub seeds: u64,
}

impl GenerateArgs {
    pub async fn run(self, json: bool) -> eyre::Result<()> {
        let mut outcomes = Vec::new();
        for s in 0..self.seeds {
            let mut p = self.params.clone();
            p.seed = self.params.seed + s;
            let o = gensim::run(&p).await?;
            if !json {
                eprintln!(
                    "seed {}: {:.1}% of accepted truly good",
                    p.seed,
                    100.0 * o.accepted_good_share
                );
            }
            outcomes.push((p.seed, o));
        }
        emit(json, &outcomes, |o| print_table(o))
    }
}

fn print_table(rows: &[(u64, GenOutcome)]) {
    println!("| seed | published | accepted | truly good among accepted | filtered by review (Sahara: 17 % / 33 %) | copies refused | reviewer kappa |");
    println!("|---|---|---|---|---|---|---|");
    for (seed, o) in rows {
        println!(
            "| {seed} | {} | {} | {:.1} % | {:.1} % | {} | {} |",
            o.published,
            o.accepted,
            100.0 * o.accepted_good_share,
            100.0 * o.filtered_share,
            o.duplicates_refused,
            o.reviewer_kappa.map_or("-".into(), |k| format!("{k:.2}"))
        );
    }
    println!();
    let roles: Vec<_> = rows
        .first()
        .map(|(_, o)| o.by_role.keys().copied().collect())
        .unwrap_or_default();
    print!("| net per member (CCD) |");
    for (seed, _) in rows {
        print!(" seed {seed} |");
    }
    println!();
    print!("|---|");
    for _ in rows {
        print!("---|");
    }
    println!();
    for role in roles {
        print!(
            "| {} |",
            serde_json::to_value(role)
                .ok()
                .and_then(|v| v.as_str().map(String::from))
                .unwrap_or_default()
        );
        for (_, o) in rows {
            print!(
                " {:+.2} |",
                o.by_role.get(&role).map_or(0.0, |r| r.net_per_member)
            );
        }
        println!();
    }
}

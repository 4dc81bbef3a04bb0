//! `concord-sim sweep`: adversary share x r, as a Markdown table for the README and JSON.

use clap::Parser;
use std::path::PathBuf;

use crate::sim::{self, Kind, Params};

#[derive(Parser)]
pub struct SweepArgs {
    #[command(flatten)]
    pub base: Params,
    /// Adversary shares to run.
    #[arg(long, value_delimiter = ',', default_value = "0,0.1,0.2,0.3,0.4,0.5")]
    pub shares: Vec<f64>,
    /// Replication factors to run.
    #[arg(long, value_delimiter = ',', default_value = "3,5,7")]
    pub rs: Vec<u8>,
    /// JSON output.
    #[arg(long, default_value = "target/bench/sweep.json")]
    pub out: PathBuf,
}

impl SweepArgs {
    pub async fn run(self) -> eyre::Result<()> {
        let mut all = Vec::new();
        println!("| r | adversaries | accepted items | accepted correct | Dawid-Skene correct | acceptance | careful net | random | constant | colluder | steering colluder | silent |");
        println!("|---|---|---|---|---|---|---|---|---|---|---|---|");
        for &r in &self.rs {
            for &share in &self.shares {
                let p = Params {
                    replicas: r,
                    adversary_share: share,
                    ..self.base.clone()
                };
                let o = sim::run(&p).await?;
                let net = |k: Kind| {
                    o.by_type
                        .get(&k)
                        .map(|t| format!("{:+.1}", t.net_per_annotator))
                        .unwrap_or_else(|| "–".into())
                };
                println!(
                    "| {r} | {:.0}% | {} | {:.1}% | {:.1}% | {:.1}% | {} | {} | {} | {} | {} | {} |",
                    100.0 * share,
                    o.accepted_items,
                    100.0 * o.accepted_accuracy,
                    100.0 * o.dawid_skene_accuracy,
                    100.0 * o.acceptance_rate,
                    net(Kind::Careful),
                    net(Kind::Random),
                    net(Kind::Constant),
                    net(Kind::Colluder),
                    net(Kind::Steerer),
                    net(Kind::Silent)
                );
                all.push(o);
            }
        }
        if let Some(d) = self.out.parent() {
            std::fs::create_dir_all(d)?;
        }
        std::fs::write(&self.out, serde_json::to_string_pretty(&all)? + "\n")?;
        println!("wrote {}", self.out.display());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crate::args::Cmd;
    use concord_cli::Tool;

    #[test]
    fn shares_and_rs_are_comma_lists() {
        let Cmd::Sweep(s) =
            Cmd::parse_line(&["sweep", "--shares", "0,0.3", "--rs", "5", "--items", "60"]).cmd
        else {
            panic!("not sweep")
        };
        assert_eq!(s.shares, vec![0.0, 0.3]);
        assert_eq!(s.rs, vec![5]);
        assert_eq!(s.base.items, 60);
    }
}

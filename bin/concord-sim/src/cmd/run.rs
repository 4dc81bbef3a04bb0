//! `concord-sim run`: one batch with one population.

use clap::Parser;
use concord_cli::emit;
use concord_client::quality::html::bar_chart;
use std::path::PathBuf;

use crate::sim::{self, Outcome, Params};

#[derive(Parser)]
pub struct RunArgs {
    #[command(flatten)]
    pub params: Params,
    /// Write an SVG chart of net return per annotator type.
    #[arg(long)]
    pub svg: Option<PathBuf>,
}

impl RunArgs {
    pub async fn run(self, json: bool) -> eyre::Result<()> {
        let o = sim::run(&self.params).await?;
        if let Some(svg) = &self.svg {
            let bars: Vec<(String, f64)> = o
                .by_type
                .iter()
                .map(|(k, t)| {
                    (
                        format!("{k:?}"),
                        (t.net_per_annotator * 100.0).round() / 100.0,
                    )
                })
                .collect();
            let chart = bar_chart("net return per annotator (CCD)", &bars);
            std::fs::write(
                svg,
                chart
                    .replace(
                        "<figure><figcaption>net return per annotator (CCD)</figcaption>",
                        "",
                    )
                    .replace("</figure>", ""),
            )?;
        }
        emit(json, &o, print)
    }
}

fn print(o: &Outcome) {
    println!(
        "r={} adversaries {:.0}%: accepted items {} with {:.1}% correct, Dawid-Skene {:.1}% correct, acceptance {:.1}%, {} gas per accepted label, {:.1}s",
        o.replicas,
        100.0 * o.adversary_share,
        o.accepted_items,
        100.0 * o.accepted_accuracy,
        100.0 * o.dawid_skene_accuracy,
        100.0 * o.acceptance_rate,
        o.gas_per_accepted_label,
        o.wall_seconds
    );
    println!(
        "  {:<10} {:>4} {:>7} {:>9} {:>9} {:>12}",
        "type", "n", "labels", "rewards", "slashed", "net/annot."
    );
    for (k, t) in &o.by_type {
        println!(
            "  {:<10} {:>4} {:>7} {:>9.1} {:>9.1} {:>+12.2}",
            kind_name(k),
            t.annotators,
            t.labels,
            t.rewards,
            t.slashed,
            t.net_per_annotator
        );
    }
    let w = &o.wrong_accepted;
    let kinds: Vec<String> = w
        .adversary_in_majority
        .iter()
        .map(|(k, n)| format!("{} {n}", kind_name(k)))
        .collect();
    println!(
        "  wrong accepted items {}: {} decided on fewer than {} revealed labels; majority of careful annotators only {}, with adversary labels: {}",
        w.items,
        w.short_of_labels,
        o.replicas,
        w.careful_only,
        if kinds.is_empty() { "none".to_string() } else { kinds.join(", ") }
    );
    println!(
        "  if the threshold counted all {} replicas: {} accepted items with {:.1}% correct",
        o.replicas,
        w.over_replicas_accepted,
        100.0 * w.over_replicas_correct as f64 / w.over_replicas_accepted.max(1) as f64
    );
}

fn kind_name(k: &sim::Kind) -> String {
    serde_json::to_value(k)
        .ok()
        .and_then(|v| v.as_str().map(String::from))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use crate::args::Cmd;
    use concord_cli::Tool;

    #[test]
    fn defaults_are_the_readme_target_point() {
        let cli = Cmd::parse_line(&["run", "--json"]);
        assert!(cli.args.json);
        let Cmd::Run(r) = cli.cmd else {
            panic!("not run")
        };
        let p = &r.params;
        assert_eq!((p.items, p.replicas, p.annotators), (600, 5, 40));
        assert_eq!((p.honest_accuracy, p.adversary_share), (0.8, 0.3));
        assert!(r.svg.is_none());
    }
}

//! The quality report of a settled batch: acceptance, inter-annotator agreement, per-annotator accuracy and
//! Dawid–Skene confusion, spammer and colluder flags, and the items most worth a second look — assembled from a
//! [`BatchQuality`] and the batch's on-chain scores, rendered as text here and as HTML in [`crate::html`].

use concord_protocol::ItemStatus;
use serde::Serialize;
use std::collections::BTreeMap;

use crate::metrics::{
    collusion, fleiss_kappa, krippendorff_alpha, worker_stats, CollusionFlag, WorkerStats,
};
use crate::BatchQuality;

/// Per-annotator line of the report.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AnnotatorLine {
    #[serde(flatten)]
    pub stats: WorkerStats,
    /// Dawid–Skene confusion `[observed][true]`.
    pub confusion: Vec<Vec<f64>>,
}

/// An item worth a second look.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SecondLook {
    pub index: u64,
    pub id: String,
    pub text: String,
    pub label: Option<String>,
    pub ds_label: Option<String>,
    pub ds_confidence: f64,
    pub agreement: f64,
    pub reason: String,
}

/// The report.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    pub batch_id: u64,
    pub chain_id: u64,
    pub market: String,
    pub classes: Vec<String>,
    pub items: usize,
    pub items_by_status: BTreeMap<String, usize>,
    pub labels_revealed: usize,
    pub labels_accepted: u64,
    pub labels_rejected: u64,
    pub commits_unrevealed: u64,
    pub acceptance_rate: f64,
    pub rejection_rate: f64,
    pub fleiss_kappa: Option<f64>,
    pub krippendorff_alpha: Option<f64>,
    pub ds_iterations: usize,
    pub ds_disagrees_with_consensus: usize,
    pub label_distribution: BTreeMap<String, usize>,
    /// Items per agreement decile (0–10%, …, 90–100%).
    pub agreement_histogram: Vec<usize>,
    pub annotators: Vec<AnnotatorLine>,
    pub likely_spammers: Vec<String>,
    pub likely_colluders: Vec<CollusionFlag>,
    pub second_look: Vec<SecondLook>,
}

/// What settlement counted on-chain (`LabelsScored` events), summed over the batch.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Scores {
    pub accepted: u64,
    pub rejected: u64,
    pub unrevealed: u64,
}

/// Assembles the report of batch `batch_id` on `chain_id`/`market`.
pub fn assemble(
    chain_id: u64,
    market: &str,
    batch_id: u64,
    q: &BatchQuality,
    scores: Scores,
) -> Report {
    let Scores {
        accepted,
        rejected,
        unrevealed,
    } = scores;
    let m = &q.manifest;
    let r = &q.responses;
    let mut by_status = BTreeMap::new();
    let mut dist: BTreeMap<String, usize> = m.classes.iter().map(|c| (c.clone(), 0)).collect();
    let mut hist = vec![0usize; 10];
    for o in &q.outcomes {
        *by_status.entry(o.status.as_str().to_string()).or_insert(0) += 1;
        if let Some(l) = o.label.and_then(|l| m.classes.get(usize::from(l))) {
            *dist.entry(l.clone()).or_insert(0) += 1;
        }
        if o.num_labels > 0 {
            hist[((o.agreement * 10.0) as usize).min(9)] += 1;
        }
    }
    // Reference label per response task: the final on-chain label; gold where revealed.
    let item_of_task: Vec<u64> = r.tasks.iter().map(|t| t.parse().unwrap_or(0)).collect();
    let reference: Vec<Option<usize>> = item_of_task
        .iter()
        .map(|&i| q.outcomes[i as usize].label.map(usize::from))
        .collect();
    let gold: Vec<Option<usize>> = item_of_task
        .iter()
        .map(|i| q.gold.get(i).map(|&g| usize::from(g)))
        .collect();
    let stats = worker_stats(r, &reference, &gold, &q.ds);
    let spammers = stats
        .iter()
        .filter(|s| !s.flags.is_empty())
        .map(|s| s.worker.clone())
        .collect();
    let annotators = stats
        .into_iter()
        .enumerate()
        .map(|(w, s)| AnnotatorLine {
            stats: s,
            confusion: q.ds.errors[w].clone(),
        })
        .collect();

    let mut second = Vec::new();
    let mut ds_disagree = 0;
    for (i, o) in q.outcomes.iter().enumerate() {
        let Some((dl, conf)) = q.ds_of(i) else {
            continue;
        };
        let mut reasons = Vec::new();
        if o.label.is_some_and(|l| l != dl) {
            ds_disagree += 1;
            reasons.push("Dawid-Skene disagrees with the on-chain label");
        }
        if o.status == ItemStatus::NoConsensus {
            reasons.push("no consensus and not reviewed");
        }
        if o.agreement < 0.67 && o.status != ItemStatus::Gold {
            reasons.push("low agreement");
        }
        if conf < 0.8 {
            reasons.push("low Dawid-Skene confidence");
        }
        if !reasons.is_empty() {
            let it = &m.items[i];
            second.push(SecondLook {
                index: o.index,
                id: it.id.clone(),
                text: it.text.clone().unwrap_or_else(|| it.uri.clone()),
                label: o.label.and_then(|l| m.classes.get(usize::from(l)).cloned()),
                ds_label: m.classes.get(usize::from(dl)).cloned(),
                ds_confidence: conf,
                agreement: o.agreement,
                reason: reasons.join("; "),
            });
        }
    }
    second.sort_by(|a, b| {
        a.ds_confidence
            .total_cmp(&b.ds_confidence)
            .then(a.agreement.total_cmp(&b.agreement))
    });
    second.truncate(20);
    let revealed = accepted + rejected;
    let rate = |x: u64| {
        if revealed == 0 {
            0.0
        } else {
            x as f64 / revealed as f64
        }
    };
    Report {
        batch_id,
        chain_id,
        market: market.to_string(),
        classes: m.classes.clone(),
        items: q.outcomes.len(),
        items_by_status: by_status,
        labels_revealed: r.rows.len(),
        labels_accepted: accepted,
        labels_rejected: rejected,
        commits_unrevealed: unrevealed,
        acceptance_rate: rate(accepted),
        rejection_rate: rate(rejected),
        fleiss_kappa: fleiss_kappa(r),
        krippendorff_alpha: krippendorff_alpha(r),
        ds_iterations: q.ds.iterations,
        ds_disagrees_with_consensus: ds_disagree,
        label_distribution: dist,
        agreement_histogram: hist,
        annotators,
        likely_spammers: spammers,
        likely_colluders: collusion(r, &reference, 10),
        second_look: second,
    }
}

fn opt(x: Option<f64>) -> String {
    x.map(|v| format!("{v:.3}")).unwrap_or_else(|| "n/a".into())
}

fn short(a: &str) -> String {
    if a.len() > 12 {
        format!("{}…{}", &a[..6], &a[a.len() - 4..])
    } else {
        a.to_string()
    }
}

/// Plain-text rendering.
pub fn render_text(r: &Report) -> String {
    let mut s = String::new();
    let pct = |x: f64| format!("{:.1}%", 100.0 * x);
    s += &format!(
        "Quality report — batch {} on chain {} (market {})\n",
        r.batch_id, r.chain_id, r.market
    );
    s += &format!(
        "items {}: {}\n",
        r.items,
        r.items_by_status
            .iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    s += &format!(
        "labels revealed {}: accepted {} ({}), rejected {} ({}); commits never revealed {}\n",
        r.labels_revealed,
        r.labels_accepted,
        pct(r.acceptance_rate),
        r.labels_rejected,
        pct(r.rejection_rate),
        r.commits_unrevealed
    );
    s += &format!(
        "agreement: Fleiss' kappa {}, Krippendorff's alpha {}\n",
        opt(r.fleiss_kappa),
        opt(r.krippendorff_alpha)
    );
    s += &format!(
        "Dawid-Skene: {} EM iterations, disagrees with the on-chain label on {} items\n",
        r.ds_iterations, r.ds_disagrees_with_consensus
    );
    s += &format!(
        "label distribution: {}\n",
        r.label_distribution
            .iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    s += "\nannotator        answers  agree   gold acc   DS acc  flags\n";
    for a in &r.annotators {
        let st = &a.stats;
        s += &format!(
            "{:<16} {:>7}  {:>5}  {:>9}  {:>7}  {}\n",
            short(&st.worker),
            st.answers,
            pct(st.agreement),
            st.gold_accuracy
                .map(|g| format!("{} ({})", pct(g), st.gold_answers))
                .unwrap_or_else(|| "-".into()),
            pct(st.ds_accuracy),
            st.flags.join(", ")
        );
    }
    if !r.likely_colluders.is_empty() {
        s += "\nlikely colluders (identical answers incl. shared mistakes):\n";
        for c in &r.likely_colluders {
            s += &format!(
                "  {} & {}: {} shared items, {} identical, {} identical mistakes\n",
                short(&c.workers.0),
                short(&c.workers.1),
                c.shared_tasks,
                pct(c.identical_share),
                c.shared_mistakes
            );
        }
    }
    if !r.second_look.is_empty() {
        s += "\nitems most worth a second look:\n";
        for i in r.second_look.iter().take(10) {
            s += &format!(
                "  #{} {} {:?} label {} / DS {} ({:.2}), agreement {:.2}: {}\n",
                i.index,
                i.id,
                i.text.chars().take(50).collect::<String>(),
                i.label.as_deref().unwrap_or("-"),
                i.ds_label.as_deref().unwrap_or("-"),
                i.ds_confidence,
                i.agreement,
                i.reason
            );
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_counts_statuses_rates_and_second_looks() {
        let q = crate::sample_batch();
        let scores = Scores {
            accepted: 6,
            rejected: 2,
            unrevealed: 1,
        };
        let r = assemble(31337, "0xmarket", 7, &q, scores);
        assert_eq!(
            (r.batch_id, r.chain_id, r.market.as_str()),
            (7, 31337, "0xmarket")
        );
        assert_eq!(r.items, 4);
        let by: Vec<(&str, usize)> = r
            .items_by_status
            .iter()
            .map(|(k, v)| (k.as_str(), *v))
            .collect();
        assert_eq!(
            by,
            vec![
                ("accepted", 1),
                ("gold", 1),
                ("no-consensus", 1),
                ("reviewed", 1)
            ]
        );
        assert_eq!(r.labels_revealed, 12, "3 annotators x 4 items");
        assert_eq!(
            (r.labels_accepted, r.labels_rejected, r.commits_unrevealed),
            (6, 2, 1)
        );
        assert!((r.acceptance_rate - 0.75).abs() < 1e-12);
        assert!((r.rejection_rate - 0.25).abs() < 1e-12);
        // final labels: a (consensus), b (gold), c (reviewed); the no-consensus item has none
        assert_eq!(r.label_distribution.get("a"), Some(&1));
        assert_eq!(r.label_distribution.get("b"), Some(&1));
        assert_eq!(r.label_distribution.get("c"), Some(&1));
        assert_eq!(r.agreement_histogram.iter().sum::<usize>(), 4);
        assert_eq!(r.annotators.len(), 3);
        let gold_answers: Vec<usize> = r.annotators.iter().map(|a| a.stats.gold_answers).collect();
        assert_eq!(
            gold_answers,
            vec![1, 1, 1],
            "each annotator answered the one gold item"
        );
        let why: Vec<&str> = r.second_look.iter().map(|s| s.reason.as_str()).collect();
        assert!(
            why.iter()
                .any(|w| w.contains("no consensus and not reviewed")),
            "{why:?}"
        );
        let text = render_text(&r);
        assert!(text.starts_with("Quality report — batch 7 on chain 31337 (market 0xmarket)\n"));
        assert!(text.contains("items 4: accepted 1, gold 1, no-consensus 1, reviewed 1\n"));
        assert!(text.contains("accepted 6 (75.0%), rejected 2 (25.0%); commits never revealed 1"));
    }
}

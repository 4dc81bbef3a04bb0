//! The quality report of a settled batch: acceptance, inter-annotator agreement, per-annotator accuracy and
//! Dawid–Skene confusion, spammer and colluder flags, and the items most worth a second look. Built from
//! chain events and the verified manifest only. Rendered as text, JSON or a self-contained HTML page.

use alloy::primitives::U256;
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};

use crate::dataset::Manifest;
use crate::quality::{
    collusion, dawid_skene, fleiss_kappa, krippendorff_alpha, worker_stats, CollusionFlag,
    DawidSkene, Responses, WorkerStats,
};
use crate::requester::{batch, outcomes, ItemOutcome};
use crate::{ClientError, Concord, Result};

/// A batch's responses with their Dawid–Skene fit, aligned with item indexes.
pub struct BatchQuality {
    pub manifest: Manifest,
    pub outcomes: Vec<ItemOutcome>,
    pub responses: Responses,
    /// Task index of `responses` for each item (None: no revealed label).
    pub task_of_item: Vec<Option<usize>>,
    pub ds: DawidSkene,
    pub gold: HashMap<u64, u8>,
}

impl BatchQuality {
    /// Dawid–Skene label and posterior of item `i`.
    pub fn ds_of(&self, i: usize) -> Option<(u8, f64)> {
        let t = self.task_of_item.get(i).copied().flatten()?;
        let l = self.ds.labels[t];
        Some((l as u8, self.ds.probas[t][l]))
    }
}

/// Loads outcomes, manifest and gold of a batch and fits Dawid–Skene on its revealed labels.
pub async fn batch_quality(
    c: &Concord,
    batch_id: u64,
    manifest: Option<&std::path::Path>,
) -> Result<BatchQuality> {
    let (cfg, _) = batch(c, batch_id).await?;
    let uri = match manifest {
        Some(p) => p.display().to_string(),
        None => crate::requester::manifest_uri(c, batch_id).await?,
    };
    let m = Manifest::load(&uri)?;
    m.verify(cfg.manifestRoot)?;
    let outcomes = outcomes(c, batch_id).await?;
    let gold_logs = c
        .market
        .GoldRevealed_filter()
        .from_block(c.deployment.deploy_block)
        .topic1(U256::from(batch_id))
        .query()
        .await
        .map_err(c.read_err("read GoldRevealed events"))?;
    let gold: HashMap<u64, u8> = gold_logs
        .into_iter()
        .map(|(e, _)| (e.item.to::<u64>(), e.label.to::<u8>()))
        .collect();
    let mut triples = Vec::new();
    for o in &outcomes {
        for (a, l) in o.annotators.iter().zip(&o.annotator_labels) {
            if let Some(class) = m.classes.get(usize::from(*l)) {
                triples.push((o.index.to_string(), a.to_string(), class.clone()));
            }
        }
    }
    let responses = Responses::from_triples(
        triples
            .iter()
            .map(|(a, b, c)| (a.as_str(), b.as_str(), c.as_str())),
        Some(m.classes.clone()),
    );
    let ix: HashMap<&str, usize> = responses
        .tasks
        .iter()
        .enumerate()
        .map(|(i, t)| (t.as_str(), i))
        .collect();
    let task_of_item = outcomes
        .iter()
        .map(|o| ix.get(o.index.to_string().as_str()).copied())
        .collect();
    let ds = dawid_skene(&responses, 100, 1e-5);
    Ok(BatchQuality {
        manifest: m,
        outcomes,
        responses,
        task_of_item,
        ds,
        gold,
    })
}

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

/// Builds the report of a batch.
pub async fn build(
    c: &Concord,
    batch_id: u64,
    manifest: Option<&std::path::Path>,
) -> Result<Report> {
    let q = batch_quality(c, batch_id, manifest).await?;
    let scored = c
        .market
        .LabelsScored_filter()
        .from_block(c.deployment.deploy_block)
        .topic1(U256::from(batch_id))
        .query()
        .await
        .map_err(c.read_err("read LabelsScored events"))?;
    let (mut accepted, mut rejected, mut unrevealed) = (0u64, 0u64, 0u64);
    for (e, _) in &scored {
        accepted += e.agreed.to::<u64>();
        rejected += e.disagreed.to::<u64>();
        unrevealed += u64::from(!e.revealed);
    }
    if scored.is_empty() {
        return Err(ClientError::Input(format!("batch {batch_id} has no settled task yet; run `concord-requester settle -b {batch_id}` first")));
    }
    Ok(assemble(
        c.chain_id(),
        &c.market_address().to_string(),
        batch_id,
        &q,
        accepted,
        rejected,
        unrevealed,
    ))
}

fn assemble(
    chain_id: u64,
    market: &str,
    batch_id: u64,
    q: &BatchQuality,
    accepted: u64,
    rejected: u64,
    unrevealed: u64,
) -> Report {
    let m = &q.manifest;
    let r = &q.responses;
    let mut by_status = BTreeMap::new();
    let mut dist: BTreeMap<String, usize> = m.classes.iter().map(|c| (c.clone(), 0)).collect();
    let mut hist = vec![0usize; 10];
    for o in &q.outcomes {
        *by_status.entry(o.status.clone()).or_insert(0) += 1;
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
        if o.status == "no-consensus" {
            reasons.push("no consensus and not reviewed");
        }
        if o.agreement < 0.67 && o.status != "gold" {
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

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// An inline SVG bar chart (negative values are drawn as zero-height bars with their value printed).
pub fn bar_chart(title: &str, bars: &[(String, f64)]) -> String {
    let max = bars.iter().map(|b| b.1).fold(0.0f64, f64::max).max(1.0);
    let (w, h, pad) = (40.0 * bars.len() as f64 + 60.0, 200.0, 30.0);
    let mut svg = format!(
        "<figure><figcaption>{}</figcaption><svg width=\"{w}\" height=\"{}\" role=\"img\">",
        esc(title),
        h + 40.0
    );
    for (i, (label, v)) in bars.iter().enumerate() {
        let bh = (h - pad) * v / max;
        let x = 40.0 + 40.0 * i as f64;
        svg += &format!(
            "<rect x=\"{x}\" y=\"{}\" width=\"30\" height=\"{bh}\" fill=\"#3b6ea5\"/><text x=\"{}\" y=\"{}\" font-size=\"10\" text-anchor=\"middle\">{}</text><text x=\"{}\" y=\"{}\" font-size=\"10\" text-anchor=\"middle\">{v}</text>",
            h - bh,
            x + 15.0,
            h + 14.0,
            esc(label),
            x + 15.0,
            h - bh - 3.0
        );
    }
    svg + "</svg></figure>"
}

fn scatter(title: &str, points: &[(f64, f64, String)]) -> String {
    let max_x = points.iter().map(|p| p.0).fold(1.0f64, f64::max);
    let (w, h) = (420.0, 220.0);
    let mut svg = format!(
        "<figure><figcaption>{}</figcaption><svg width=\"{}\" height=\"{}\" role=\"img\"><line x1=\"40\" y1=\"{h}\" x2=\"{}\" y2=\"{h}\" stroke=\"#888\"/><line x1=\"40\" y1=\"10\" x2=\"40\" y2=\"{h}\" stroke=\"#888\"/>",
        esc(title),
        w + 20.0,
        h + 30.0,
        w
    );
    for (x, y, label) in points {
        let px = 40.0 + (w - 50.0) * x / max_x;
        let py = h - (h - 10.0) * y;
        svg += &format!("<circle cx=\"{px}\" cy=\"{py}\" r=\"5\" fill=\"#c0504d\"><title>{}: {x} answers, {:.1}%</title></circle>", esc(label), 100.0 * y);
    }
    svg += &format!("<text x=\"{}\" y=\"{}\" font-size=\"10\">answers (max {max_x})</text><text x=\"0\" y=\"10\" font-size=\"10\">100%</text>", w / 2.0, h + 25.0);
    svg + "</svg></figure>"
}

/// Self-contained HTML page (inline SVG plots, no scripts, every dataset string escaped).
pub fn render_html(r: &Report) -> String {
    let dist: Vec<(String, f64)> = r
        .label_distribution
        .iter()
        .map(|(k, v)| (k.clone(), *v as f64))
        .collect();
    let hist: Vec<(String, f64)> = r
        .agreement_histogram
        .iter()
        .enumerate()
        .map(|(i, v)| (format!("{}%", i * 10), *v as f64))
        .collect();
    let points: Vec<(f64, f64, String)> = r
        .annotators
        .iter()
        .map(|a| {
            (
                a.stats.answers as f64,
                a.stats.gold_accuracy.unwrap_or(a.stats.agreement),
                a.stats.worker.clone(),
            )
        })
        .collect();
    let mut rows = String::new();
    for a in &r.annotators {
        let s = &a.stats;
        rows += &format!(
            "<tr><td><code>{}</code></td><td>{}</td><td>{:.1}%</td><td>{}</td><td>{:.1}%</td><td>{}</td></tr>",
            esc(&s.worker),
            s.answers,
            100.0 * s.agreement,
            s.gold_accuracy.map(|g| format!("{:.1}%", 100.0 * g)).unwrap_or_else(|| "-".into()),
            100.0 * s.ds_accuracy,
            esc(&s.flags.join(", "))
        );
    }
    let mut looks = String::new();
    for i in &r.second_look {
        looks += &format!(
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{} ({:.2})</td><td>{}</td></tr>",
            i.index,
            esc(&i.id),
            esc(&i.text),
            esc(i.label.as_deref().unwrap_or("-")),
            esc(i.ds_label.as_deref().unwrap_or("-")),
            i.ds_confidence,
            esc(&i.reason)
        );
    }
    format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>Concord quality report — batch {b}</title>\
<style>body{{font-family:system-ui,sans-serif;max-width:960px;margin:2em auto;color:#222}}table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:3px 8px;font-size:13px}}figure{{display:inline-block;margin:1em}}</style></head><body>\
<h1>Quality report — batch {b}</h1><p>chain {chain}, market <code>{market}</code></p><pre>{text}</pre>{d}{h}{s}\
<h2>Annotators</h2><table><tr><th>address</th><th>answers</th><th>agreement</th><th>gold accuracy</th><th>DS accuracy</th><th>flags</th></tr>{rows}</table>\
<h2>Items worth a second look</h2><table><tr><th>#</th><th>id</th><th>item</th><th>label</th><th>Dawid-Skene</th><th>why</th></tr>{looks}</table></body></html>\n",
        b = r.batch_id,
        chain = r.chain_id,
        market = esc(&r.market),
        text = esc(&render_text(r)),
        d = bar_chart("label distribution", &dist),
        h = bar_chart("items per agreement level", &hist),
        s = scatter("per-annotator accuracy (gold, else agreement) vs volume", &points),
    )
}

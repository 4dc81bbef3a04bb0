//! Label quality: majority vote, Dawid–Skene (EM), Fleiss' kappa, Krippendorff's alpha, spammer and colluder
//! flags. Works on any `task,worker,label` table, so it serves both settled batches and offline `aggregate`.
//!
//! Dawid–Skene follows crowd-kit's `DawidSkene` (v1.4) step for step so results can be cross-checked:
//! initialisation from majority-vote proportions, M-step counts clipped at 1e-10 and normalised per worker
//! over the labels the worker used, E-step in log space, stop when the evidence lower bound per response
//! improves by less than `tol`, labels by first maximum posterior in class order.

use serde::Serialize;
use std::collections::{BTreeMap, HashMap};

const EPS: f64 = 1e-10;

/// A table of responses with dense indexes.
#[derive(Debug, Clone, Default)]
pub struct Responses {
    pub tasks: Vec<String>,
    pub workers: Vec<String>,
    pub classes: Vec<String>,
    /// (task, worker, class) indexes.
    pub rows: Vec<(usize, usize, usize)>,
}

impl Responses {
    /// Builds the table from string triples; classes are the distinct labels in sorted order unless given.
    pub fn from_triples<'a>(
        triples: impl IntoIterator<Item = (&'a str, &'a str, &'a str)>,
        classes: Option<Vec<String>>,
    ) -> Self {
        let triples: Vec<_> = triples.into_iter().collect();
        let classes = classes.unwrap_or_else(|| {
            let mut c: Vec<String> = triples.iter().map(|t| t.2.to_string()).collect();
            c.sort();
            c.dedup();
            c
        });
        let class_ix: HashMap<&str, usize> = classes
            .iter()
            .enumerate()
            .map(|(i, c)| (c.as_str(), i))
            .collect();
        let (mut tasks, mut workers) = (Vec::new(), Vec::new());
        let (mut task_ix, mut worker_ix) = (HashMap::new(), HashMap::new());
        let mut rows = Vec::with_capacity(triples.len());
        for (t, w, l) in &triples {
            let Some(&c) = class_ix.get(l) else { continue };
            let ti = *task_ix.entry(t.to_string()).or_insert_with(|| {
                tasks.push(t.to_string());
                tasks.len() - 1
            });
            let wi = *worker_ix.entry(w.to_string()).or_insert_with(|| {
                workers.push(w.to_string());
                workers.len() - 1
            });
            rows.push((ti, wi, c));
        }
        Self {
            tasks,
            workers,
            classes,
            rows,
        }
    }

    fn votes(&self) -> Vec<Vec<u32>> {
        let mut v = vec![vec![0u32; self.classes.len()]; self.tasks.len()];
        for &(t, _, c) in &self.rows {
            v[t][c] += 1;
        }
        v
    }
}

/// Majority vote: per task the most voted class, ties broken towards the **lowest class index** (the same
/// rule as the contract's plurality; crowd-kit breaks ties by pandas' order of first appearance, so tied
/// tasks are excluded from the cross-check), and vote proportions.
pub fn majority_vote(r: &Responses) -> (Vec<usize>, Vec<Vec<f64>>) {
    let votes = r.votes();
    let labels = votes
        .iter()
        .map(|v| {
            let max = v.iter().copied().max().unwrap_or(0);
            v.iter().position(|&x| x == max).unwrap_or(0)
        })
        .collect();
    let probas = votes
        .iter()
        .map(|v| {
            let n: u32 = v.iter().sum();
            v.iter()
                .map(|&x| {
                    if n == 0 {
                        0.0
                    } else {
                        f64::from(x) / f64::from(n)
                    }
                })
                .collect()
        })
        .collect();
    (labels, probas)
}

/// Result of Dawid–Skene.
#[derive(Debug, Clone, Serialize)]
pub struct DawidSkene {
    /// Posterior per task and class.
    pub probas: Vec<Vec<f64>>,
    /// Class priors.
    pub priors: Vec<f64>,
    /// Confusion per worker: `errors[w][observed][true]`, columns sum to 1 over the labels the worker used.
    pub errors: Vec<Vec<Vec<f64>>>,
    /// Most probable class per task.
    pub labels: Vec<usize>,
    /// EM iterations run.
    pub iterations: usize,
    /// Evidence lower bound per response, per iteration.
    pub loss_history: Vec<f64>,
}

fn m_step(r: &Responses, probas: &[Vec<f64>]) -> Vec<Vec<Vec<f64>>> {
    let k = r.classes.len();
    let mut used = vec![vec![false; k]; r.workers.len()];
    let mut counts = vec![vec![vec![0.0; k]; k]; r.workers.len()];
    for &(t, w, l) in &r.rows {
        used[w][l] = true;
        for c in 0..k {
            counts[w][l][c] += probas[t][c];
        }
    }
    for (m, used) in counts.iter_mut().zip(&used) {
        for (row, _) in m.iter_mut().zip(used).filter(|(_, u)| **u) {
            for x in row.iter_mut() {
                *x = x.max(EPS);
            }
        }
        #[allow(clippy::needless_range_loop)] // column-wise normalisation over a row-major matrix
        for c in 0..k {
            let col: f64 = m
                .iter()
                .zip(used)
                .filter(|(_, u)| **u)
                .map(|(row, _)| row[c])
                .sum();
            if col > 0.0 {
                for (row, _) in m.iter_mut().zip(used).filter(|(_, u)| **u) {
                    row[c] /= col;
                }
            }
        }
    }
    counts
}

fn e_step(r: &Responses, priors: &[f64], errors: &[Vec<Vec<f64>>]) -> Vec<Vec<f64>> {
    let k = r.classes.len();
    let mut ll: Vec<Vec<f64>> =
        vec![priors.iter().map(|p| p.max(EPS).ln()).collect(); r.tasks.len()];
    for &(t, w, l) in &r.rows {
        for c in 0..k {
            ll[t][c] += errors[w][l][c].ln();
        }
    }
    ll.into_iter()
        .map(|row| {
            let max = row.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let e: Vec<f64> = row.iter().map(|x| (x - max).exp()).collect();
            let s: f64 = e.iter().sum();
            e.into_iter().map(|x| x / s).collect()
        })
        .collect()
}

fn elbo(r: &Responses, probas: &[Vec<f64>], priors: &[f64], errors: &[Vec<Vec<f64>>]) -> f64 {
    let k = r.classes.len();
    let mut joint = 0.0;
    for &(t, w, l) in &r.rows {
        for c in 0..k {
            joint += probas[t][c] * (errors[w][l][c].ln() + priors[c].max(EPS).ln());
        }
    }
    let entropy: f64 = probas
        .iter()
        .flatten()
        .map(|&p| -p.max(EPS).ln() * p.max(EPS))
        .sum();
    (joint + entropy) / r.rows.len().max(1) as f64
}

fn priors_of(probas: &[Vec<f64>], k: usize) -> Vec<f64> {
    let n = probas.len().max(1) as f64;
    (0..k)
        .map(|c| probas.iter().map(|p| p[c]).sum::<f64>() / n)
        .collect()
}

/// Dawid–Skene with at most `n_iter` EM iterations, stopping when the ELBO gains less than `tol`.
pub fn dawid_skene(r: &Responses, n_iter: usize, tol: f64) -> DawidSkene {
    let k = r.classes.len();
    let (_, mut probas) = majority_vote(r);
    let mut priors = priors_of(&probas, k);
    let mut errors = m_step(r, &probas);
    let mut loss = f64::NEG_INFINITY;
    let mut history = Vec::new();
    let mut iterations = 0;
    for _ in 0..n_iter {
        iterations += 1;
        probas = e_step(r, &priors, &errors);
        priors = priors_of(&probas, k);
        errors = m_step(r, &probas);
        let new_loss = elbo(r, &probas, &priors, &errors);
        history.push(new_loss);
        if new_loss - loss < tol {
            break;
        }
        loss = new_loss;
    }
    let labels = probas
        .iter()
        .map(|p| {
            let max = p.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            p.iter().position(|&x| x == max).unwrap_or(0)
        })
        .collect();
    DawidSkene {
        probas,
        priors,
        errors,
        labels,
        iterations,
        loss_history: history,
    }
}

/// Fleiss' kappa over tasks with at least two ratings (per-task rater counts may differ).
pub fn fleiss_kappa(r: &Responses) -> Option<f64> {
    let votes: Vec<Vec<u32>> = r
        .votes()
        .into_iter()
        .filter(|v| v.iter().sum::<u32>() >= 2)
        .collect();
    if votes.is_empty() {
        return None;
    }
    let total: f64 = votes.iter().flatten().map(|&x| f64::from(x)).sum();
    let p_bar = votes
        .iter()
        .map(|v| {
            let n = f64::from(v.iter().sum::<u32>());
            (v.iter().map(|&x| f64::from(x) * f64::from(x)).sum::<f64>() - n) / (n * (n - 1.0))
        })
        .sum::<f64>()
        / votes.len() as f64;
    let k = r.classes.len();
    let p_e: f64 = (0..k)
        .map(|c| (votes.iter().map(|v| f64::from(v[c])).sum::<f64>() / total).powi(2))
        .sum();
    if (1.0 - p_e).abs() < f64::EPSILON {
        return None;
    }
    Some((p_bar - p_e) / (1.0 - p_e))
}

/// Krippendorff's alpha for nominal data (coincidence-matrix form; units with < 2 values are not pairable).
pub fn krippendorff_alpha(r: &Responses) -> Option<f64> {
    let k = r.classes.len();
    let mut o = vec![vec![0.0f64; k]; k];
    for v in r.votes() {
        let m: u32 = v.iter().sum();
        if m < 2 {
            continue;
        }
        for c in 0..k {
            for d in 0..k {
                let pairs = if c == d {
                    f64::from(v[c]) * (f64::from(v[c]) - 1.0)
                } else {
                    f64::from(v[c]) * f64::from(v[d])
                };
                o[c][d] += pairs / (f64::from(m) - 1.0);
            }
        }
    }
    let n_c: Vec<f64> = o.iter().map(|row| row.iter().sum()).collect();
    let n: f64 = n_c.iter().sum();
    if n <= 1.0 {
        return None;
    }
    let d_o: f64 = (0..k)
        .flat_map(|c| (0..k).map(move |d| (c, d)))
        .filter(|(c, d)| c != d)
        .map(|(c, d)| o[c][d])
        .sum();
    let d_e: f64 = (0..k)
        .flat_map(|c| (0..k).map(move |d| (c, d)))
        .filter(|(c, d)| c != d)
        .map(|(c, d)| n_c[c] * n_c[d])
        .sum();
    if d_e == 0.0 {
        return None;
    }
    Some(1.0 - (n - 1.0) * d_o / d_e)
}

/// Per-worker statistics.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WorkerStats {
    pub worker: String,
    pub answers: usize,
    /// Share of answers equal to the reference label (consensus/gold/DS, whichever the caller passes).
    pub agreement: f64,
    /// Accuracy on gold items, if the worker answered any.
    pub gold_accuracy: Option<f64>,
    pub gold_answers: usize,
    /// Share of the worker's most used class.
    pub top_class_share: f64,
    /// Dawid–Skene probability of answering correctly, weighted by class priors.
    pub ds_accuracy: f64,
    pub flags: Vec<String>,
}

/// A pair of workers whose answers look copied.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CollusionFlag {
    pub workers: (String, String),
    pub shared_tasks: usize,
    pub identical_share: f64,
    /// Tasks where both gave the same answer and it differs from the reference label.
    pub shared_mistakes: usize,
}

/// Per-worker stats and spammer flags. `reference[t]` is the label answers are compared with; `gold[t]` the
/// gold answer where known.
pub fn worker_stats(
    r: &Responses,
    reference: &[Option<usize>],
    gold: &[Option<usize>],
    ds: &DawidSkene,
) -> Vec<WorkerStats> {
    let k = r.classes.len();
    let mut per: Vec<Vec<(usize, usize)>> = vec![Vec::new(); r.workers.len()];
    for &(t, w, l) in &r.rows {
        per[w].push((t, l));
    }
    per.iter()
        .enumerate()
        .map(|(w, answers)| {
            let n = answers.len();
            let with_ref: Vec<_> = answers
                .iter()
                .filter_map(|&(t, l)| reference[t].map(|x| x == l))
                .collect();
            let agreement = if with_ref.is_empty() {
                0.0
            } else {
                with_ref.iter().filter(|&&x| x).count() as f64 / with_ref.len() as f64
            };
            let golds: Vec<bool> = answers
                .iter()
                .filter_map(|&(t, l)| gold.get(t).copied().flatten().map(|g| g == l))
                .collect();
            let mut hist = vec![0usize; k];
            for &(_, l) in answers {
                hist[l] += 1;
            }
            let top = hist.iter().copied().max().unwrap_or(0) as f64 / n.max(1) as f64;
            let ds_accuracy = (0..k).map(|c| ds.priors[c] * ds.errors[w][c][c]).sum();
            let mut flags = Vec::new();
            if n >= 10 && top >= 0.95 && k > 1 {
                flags.push("constant answers".to_string());
            } else if n >= 10 && agreement <= 1.0 / k as f64 + 0.15 {
                flags.push("near-random answers".to_string());
            }
            WorkerStats {
                worker: r.workers[w].clone(),
                answers: n,
                agreement,
                gold_accuracy: (!golds.is_empty())
                    .then(|| golds.iter().filter(|&&x| x).count() as f64 / golds.len() as f64),
                gold_answers: golds.len(),
                top_class_share: top,
                ds_accuracy,
                flags,
            }
        })
        .collect()
}

/// Pairs of workers with ≥ `min_shared` common tasks, ≥ 95% identical answers and ≥ 3 identical mistakes.
pub fn collusion(
    r: &Responses,
    reference: &[Option<usize>],
    min_shared: usize,
) -> Vec<CollusionFlag> {
    let mut by_worker: Vec<BTreeMap<usize, usize>> = vec![BTreeMap::new(); r.workers.len()];
    for &(t, w, l) in &r.rows {
        by_worker[w].insert(t, l);
    }
    let mut out = Vec::new();
    for a in 0..r.workers.len() {
        for b in a + 1..r.workers.len() {
            let (mut shared, mut same, mut mistakes) = (0, 0, 0);
            for (t, la) in &by_worker[a] {
                if let Some(lb) = by_worker[b].get(t) {
                    shared += 1;
                    if la == lb {
                        same += 1;
                        if reference[*t].is_some_and(|x| x != *la) {
                            mistakes += 1;
                        }
                    }
                }
            }
            let share = same as f64 / shared.max(1) as f64;
            if shared >= min_shared && share >= 0.95 && mistakes >= 3 {
                out.push(CollusionFlag {
                    workers: (r.workers[a].clone(), r.workers[b].clone()),
                    shared_tasks: shared,
                    identical_share: share,
                    shared_mistakes: mistakes,
                });
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(rows: &[(&str, &str, &str)]) -> Responses {
        Responses::from_triples(rows.iter().copied(), None)
    }

    #[test]
    fn perfect_agreement_gives_kappa_and_alpha_one() {
        let r = table(&[
            ("t1", "a", "x"),
            ("t1", "b", "x"),
            ("t2", "a", "y"),
            ("t2", "b", "y"),
        ]);
        assert!((fleiss_kappa(&r).expect("defined") - 1.0).abs() < 1e-12);
        assert!((krippendorff_alpha(&r).expect("defined") - 1.0).abs() < 1e-12);
    }

    #[test]
    fn krippendorff_matches_the_textbook_example() {
        // Krippendorff (2011), nominal example with 4 coders and 12 units (missing values allowed): alpha = 0.743.
        let data = [
            ["1", "1", "", "1"],
            ["2", "2", "3", "2"],
            ["3", "3", "3", "3"],
            ["3", "3", "3", "3"],
            ["2", "2", "2", "2"],
            ["1", "2", "3", "4"],
            ["4", "4", "4", "4"],
            ["1", "1", "2", "1"],
            ["2", "2", "2", "2"],
            ["", "5", "5", "5"],
            ["", "", "1", "1"],
            ["", "", "3", ""],
        ];
        let mut rows = Vec::new();
        let units: Vec<String> = (0..12).map(|i| format!("u{i}")).collect();
        let coders = ["A", "B", "C", "D"];
        for (u, row) in data.iter().enumerate() {
            for (c, v) in row.iter().enumerate() {
                if !v.is_empty() {
                    rows.push((units[u].as_str(), coders[c], *v));
                }
            }
        }
        let r = Responses::from_triples(rows, None);
        let a = krippendorff_alpha(&r).expect("defined");
        assert!((a - 0.743).abs() < 0.001, "alpha {a}");
    }

    #[test]
    fn fleiss_matches_the_wikipedia_example() {
        // Fleiss' kappa example (10 subjects, 14 raters, 5 categories): kappa = 0.210.
        let counts = [
            [0, 0, 0, 0, 14],
            [0, 2, 6, 4, 2],
            [0, 0, 3, 5, 6],
            [0, 3, 9, 2, 0],
            [2, 2, 8, 1, 1],
            [7, 7, 0, 0, 0],
            [3, 2, 6, 3, 0],
            [2, 5, 3, 2, 2],
            [6, 5, 2, 1, 0],
            [0, 2, 2, 3, 7],
        ];
        let mut owned = Vec::new();
        for (s, row) in counts.iter().enumerate() {
            let mut rater = 0;
            for (c, &n) in row.iter().enumerate() {
                for _ in 0..n {
                    owned.push((format!("s{s}"), format!("r{rater}"), format!("c{c}")));
                    rater += 1;
                }
            }
        }
        let r = Responses::from_triples(
            owned
                .iter()
                .map(|(a, b, c)| (a.as_str(), b.as_str(), c.as_str())),
            None,
        );
        let k = fleiss_kappa(&r).expect("defined");
        assert!((k - 0.210).abs() < 0.001, "kappa {k}");
    }

    #[test]
    fn dawid_skene_outvotes_a_spammer_pair_with_a_reliable_worker_history() {
        // Workers a, b are reliable on 20 tasks; spammers s1, s2 always answer "x".
        let mut owned = Vec::new();
        for t in 0..20 {
            let truth = if t % 2 == 0 { "x" } else { "y" };
            for w in ["a", "b", "c"] {
                owned.push((format!("t{t}"), w.to_string(), truth.to_string()));
            }
            owned.push((format!("t{t}"), "s1".into(), "x".into()));
        }
        let r = Responses::from_triples(
            owned
                .iter()
                .map(|(a, b, c)| (a.as_str(), b.as_str(), c.as_str())),
            None,
        );
        let ds = dawid_skene(&r, 100, 1e-5);
        let y = r.classes.iter().position(|c| c == "y").expect("class y");
        for (t, name) in r.tasks.iter().enumerate() {
            let idx: usize = name[1..].parse().expect("task number");
            assert_eq!(ds.labels[t] == y, idx % 2 == 1, "task {name}");
        }
        assert!(ds.iterations >= 1 && ds.iterations <= 100);
        let mv = majority_vote(&r).1;
        assert!((mv[0].iter().sum::<f64>() - 1.0).abs() < 1e-12);
    }
}

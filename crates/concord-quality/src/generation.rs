//! Quality of a generation batch (docs/generation.md): how many datapoints the review filtered, acceptance per
//! instruction, how much the reviewers agreed (Fleiss' kappa), accepted datapoints that are near-duplicates of
//! each other (Jaccard similarity of word 3-gram shingles), and the authors most often rejected.

use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::metrics::{fleiss_kappa, Responses};

/// Jaccard similarity of word 3-grams at or above which two accepted datapoints are flagged.
pub const NEAR_DUPLICATE: f64 = 0.8;

/// One finalized datapoint, as the report needs it.
#[derive(Debug, Clone, PartialEq)]
pub struct Datapoint {
    pub sid: u64,
    pub instruction: u32,
    pub author: String,
    pub text: String,
    /// `accepted`, `accepted_over_cap`, `rejected`, `undecided` or `gold`.
    pub verdict: String,
    /// (reviewer, class name) of each revealed review.
    pub votes: Vec<(String, String)>,
}

/// Acceptance of one instruction's datapoints.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct InstructionLine {
    pub instruction: u32,
    pub reviewed: usize,
    pub accepted: usize,
    pub rejected: usize,
    pub acceptance_rate: f64,
}

/// One author's record, most rejected first.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AuthorLine {
    pub author: String,
    pub submitted: usize,
    pub accepted: usize,
    pub rejected: usize,
    pub rejection_rate: f64,
}

/// Two accepted datapoints that say nearly the same thing.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NearDuplicate {
    pub sid_a: u64,
    pub sid_b: u64,
    pub similarity: f64,
}

/// The generation quality report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GenerationReport {
    pub datapoints: usize,
    pub accepted: usize,
    pub accepted_over_cap: usize,
    pub rejected: usize,
    pub undecided: usize,
    pub gold: usize,
    /// Rejected share of the datapoints the review decided (gold excluded): what peer review filtered out.
    pub filtered_share: f64,
    pub per_instruction: Vec<InstructionLine>,
    /// Fleiss' kappa of the reviews over the datapoints with two or more (none if no such datapoint).
    pub reviewer_kappa: Option<f64>,
    pub near_duplicates: Vec<NearDuplicate>,
    pub authors: Vec<AuthorLine>,
}

fn is_accepted(v: &str) -> bool {
    v == "accepted" || v == "accepted_over_cap"
}

/// Word 3-gram shingles of a text's normal form (lower case, runs of non-alphanumerics as one space); a text of
/// fewer than three words is its own single shingle.
pub fn shingles(text: &str) -> BTreeSet<String> {
    let lower = text.to_lowercase();
    let words: Vec<&str> = lower
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .collect();
    if words.len() < 3 {
        return BTreeSet::from([words.join(" ")]);
    }
    words.windows(3).map(|w| w.join(" ")).collect()
}

/// Jaccard similarity of two shingle sets (1 for two empty sets).
pub fn jaccard(a: &BTreeSet<String>, b: &BTreeSet<String>) -> f64 {
    let union = a.union(b).count();
    if union == 0 {
        return 1.0;
    }
    a.intersection(b).count() as f64 / union as f64
}

/// Builds the report of `datapoints` (finalized ones, any verdict).
pub fn report(datapoints: &[Datapoint]) -> GenerationReport {
    let count = |f: &dyn Fn(&Datapoint) -> bool| datapoints.iter().filter(|d| f(d)).count();
    let accepted = count(&|d| d.verdict == "accepted");
    let accepted_over_cap = count(&|d| d.verdict == "accepted_over_cap");
    let rejected = count(&|d| d.verdict == "rejected");
    let decided = accepted + accepted_over_cap + rejected;

    let mut per: BTreeMap<u32, (usize, usize, usize)> = BTreeMap::new();
    for d in datapoints.iter().filter(|d| d.verdict != "gold") {
        let e = per.entry(d.instruction).or_default();
        e.0 += 1;
        if is_accepted(&d.verdict) {
            e.1 += 1;
        } else if d.verdict == "rejected" {
            e.2 += 1;
        }
    }
    let per_instruction = per
        .into_iter()
        .map(|(instruction, (reviewed, a, r))| InstructionLine {
            instruction,
            reviewed,
            accepted: a,
            rejected: r,
            acceptance_rate: if a + r == 0 {
                0.0
            } else {
                a as f64 / (a + r) as f64
            },
        })
        .collect();

    let triples: Vec<(String, String, String)> = datapoints
        .iter()
        .flat_map(|d| {
            d.votes
                .iter()
                .map(move |(who, class)| (d.sid.to_string(), who.clone(), class.clone()))
        })
        .collect();
    let responses = Responses::from_triples(
        triples
            .iter()
            .map(|(t, w, l)| (t.as_str(), w.as_str(), l.as_str())),
        Some(vec!["reject".into(), "accept".into()]),
    );
    let reviewer_kappa = fleiss_kappa(&responses);

    let kept: Vec<(&Datapoint, BTreeSet<String>)> = datapoints
        .iter()
        .filter(|d| is_accepted(&d.verdict))
        .map(|d| (d, shingles(&d.text)))
        .collect();
    let mut near_duplicates = Vec::new();
    for (i, (a, sa)) in kept.iter().enumerate() {
        for (b, sb) in &kept[i + 1..] {
            let similarity = jaccard(sa, sb);
            if similarity >= NEAR_DUPLICATE {
                near_duplicates.push(NearDuplicate {
                    sid_a: a.sid,
                    sid_b: b.sid,
                    similarity,
                });
            }
        }
    }

    let mut by_author: HashMap<&str, (usize, usize, usize)> = HashMap::new();
    for d in datapoints.iter().filter(|d| d.verdict != "gold") {
        let e = by_author.entry(d.author.as_str()).or_default();
        e.0 += 1;
        if is_accepted(&d.verdict) {
            e.1 += 1;
        } else if d.verdict == "rejected" {
            e.2 += 1;
        }
    }
    let mut authors: Vec<AuthorLine> = by_author
        .into_iter()
        .map(|(author, (submitted, a, r))| AuthorLine {
            author: author.to_string(),
            submitted,
            accepted: a,
            rejected: r,
            rejection_rate: r as f64 / submitted.max(1) as f64,
        })
        .collect();
    authors.sort_by(|x, y| {
        y.rejected
            .cmp(&x.rejected)
            .then(y.rejection_rate.total_cmp(&x.rejection_rate))
            .then(x.author.cmp(&y.author))
    });

    GenerationReport {
        datapoints: datapoints.len(),
        accepted,
        accepted_over_cap,
        rejected,
        undecided: count(&|d| d.verdict == "undecided"),
        gold: count(&|d| d.verdict == "gold"),
        filtered_share: if decided == 0 {
            0.0
        } else {
            rejected as f64 / decided as f64
        },
        per_instruction,
        reviewer_kappa,
        near_duplicates,
        authors,
    }
}

/// The report as text.
pub fn render_text(r: &GenerationReport) -> String {
    let mut s = format!(
        "{} datapoints: {} accepted ({} over the cap), {} rejected, {} undecided, {} gold\n\
         filtered by review: {:.1}% of the decided datapoints (Sahara reports 17% simple, 33% in-depth)\n",
        r.datapoints,
        r.accepted + r.accepted_over_cap,
        r.accepted_over_cap,
        r.rejected,
        r.undecided,
        r.gold,
        100.0 * r.filtered_share
    );
    match r.reviewer_kappa {
        Some(k) => s.push_str(&format!("reviewer agreement: Fleiss' kappa {k:.3}\n")),
        None => s.push_str("reviewer agreement: no datapoint with two reviews\n"),
    }
    s.push_str("acceptance per instruction:\n");
    for l in &r.per_instruction {
        s.push_str(&format!(
            "  instruction {:>3}: {:>3} reviewed, {:>3} accepted, {:>3} rejected ({:.0}% accepted)\n",
            l.instruction,
            l.reviewed,
            l.accepted,
            l.rejected,
            100.0 * l.acceptance_rate
        ));
    }
    if r.near_duplicates.is_empty() {
        s.push_str(&format!(
            "near-duplicates among the accepted (word 3-gram Jaccard >= {NEAR_DUPLICATE}): none\n"
        ));
    } else {
        s.push_str(&format!(
            "near-duplicates among the accepted (word 3-gram Jaccard >= {NEAR_DUPLICATE}):\n"
        ));
        for n in &r.near_duplicates {
            s.push_str(&format!(
                "  submissions {} and {}: {:.2}\n",
                n.sid_a, n.sid_b, n.similarity
            ));
        }
    }
    s.push_str("authors, most rejected first:\n");
    for a in r.authors.iter().take(10) {
        s.push_str(&format!(
            "  {}: {} submitted, {} accepted, {} rejected ({:.0}% rejected)\n",
            a.author,
            a.submitted,
            a.accepted,
            a.rejected,
            100.0 * a.rejection_rate
        ));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dp(sid: u64, instruction: u32, author: &str, text: &str, verdict: &str) -> Datapoint {
        let vote = if is_accepted(verdict) {
            "accept"
        } else {
            "reject"
        };
        Datapoint {
            sid,
            instruction,
            author: author.into(),
            text: text.into(),
            verdict: verdict.into(),
            votes: vec![
                ("r1".into(), vote.into()),
                ("r2".into(), vote.into()),
                (
                    "r3".into(),
                    if sid % 2 == 0 {
                        vote.into()
                    } else {
                        "accept".into()
                    },
                ),
            ],
        }
    }

    #[test]
    fn counts_filters_flags_near_duplicates_and_ranks_authors() {
        let ds = [
            dp(
                0,
                0,
                "alice",
                "What is the capital of France? Paris.",
                "accepted",
            ),
            dp(1, 0, "bob", "asdf", "rejected"),
            dp(
                2,
                1,
                "carol",
                "what is the capital of France?  Paris!",
                "accepted",
            ),
            dp(3, 1, "bob", "buy now", "rejected"),
            dp(
                4,
                1,
                "dave",
                "Name a prime larger than 100: 101.",
                "accepted_over_cap",
            ),
            dp(5, 0, "req", "2 + 2 = 4", "gold"),
        ];
        let r = report(&ds);
        assert_eq!(
            (r.accepted, r.accepted_over_cap, r.rejected, r.gold),
            (2, 1, 2, 1)
        );
        assert!((r.filtered_share - 0.4).abs() < 1e-9, "2 of 5 decided");
        assert_eq!(r.per_instruction[0].accepted, 1);
        assert_eq!(r.per_instruction[1].rejected, 1);
        assert_eq!(
            r.near_duplicates.len(),
            1,
            "0 and 2 differ in case and punctuation only"
        );
        assert_eq!(
            (r.near_duplicates[0].sid_a, r.near_duplicates[0].sid_b),
            (0, 2)
        );
        assert_eq!(r.authors[0].author, "bob", "most rejected first");
        assert_eq!(r.authors[0].rejected, 2);
        let k = r.reviewer_kappa.expect("three reviews each");
        assert!(k > 0.0 && k < 1.0, "mostly agreeing, not always: {k}");
        let text = render_text(&r);
        assert!(text.contains("filtered by review: 40.0%"), "{text}");
        assert!(text.contains("submissions 0 and 2"), "{text}");
    }

    #[test]
    fn shingles_and_jaccard() {
        let a = shingles("one two three four");
        assert_eq!(a.len(), 2);
        assert_eq!(jaccard(&a, &a), 1.0);
        assert_eq!(jaccard(&a, &shingles("five six seven")), 0.0);
        assert_eq!(shingles("hi").len(), 1, "a short text is one shingle");
    }
}

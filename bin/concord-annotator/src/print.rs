//! Human output shared by several commands.

use concord_client::annotator::{Claim, RunReport, Standing};
use concord_client::dataset::{Manifest, ManifestItem};
use concord_client::protocol::time::fmt_unix;

pub fn standing(s: &Standing) {
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

pub fn claim(cl: &Claim) {
    println!(
        "claimed task {} of batch {} (slot {}); commit before {}",
        cl.task,
        cl.batch,
        cl.slot,
        fmt_unix(cl.expiry)
    );
}

pub fn item(m: &Manifest, it: &ManifestItem, n: usize, of: usize) {
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

/// What a commit or reveal run did, `verb` being "committed" or "revealed".
pub fn run(verb: &str, r: &RunReport) {
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

/// Prints a commit or reveal run (JSON or human) and fails if any task failed.
pub fn finish_run(json: bool, verb: &str, r: &RunReport) -> eyre::Result<()> {
    concord_cli::emit(json, r, |r| run(verb, r))?;
    fail_if_any(Some(r))
}

/// A run that failed for some tasks ends with one line: the first failure, how many more, what to do.
pub fn fail_if_any(r: Option<&RunReport>) -> eyre::Result<()> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_run_is_one_line_that_says_what_to_do() {
        let ok = RunReport {
            done: vec![(0, 1)],
            ..Default::default()
        };
        assert!(fail_if_any(Some(&ok)).is_ok());
        assert!(fail_if_any(None).is_ok());
        let bad = RunReport {
            done: vec![(0, 1)],
            failed: vec!["batch 0 task 2: boom".into(), "batch 0 task 3: boom".into()],
            ..Default::default()
        };
        let e = fail_if_any(Some(&bad)).expect_err("fails").to_string();
        assert_eq!(
            e,
            "batch 0 task 2: boom (and 1 more tasks); 1 tasks confirmed; labels and salts are stored: run the same command again"
        );
    }
}

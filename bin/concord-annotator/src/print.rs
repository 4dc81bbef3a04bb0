//! Human output shared by several commands.

use concord_client::annotator::{Joined, Pending, RunReport, Standing};
use concord_client::dataset::{Manifest, ManifestItem};
use concord_client::protocol::time::fmt_unix;
use concord_client::store::BundleRecord;

pub fn standing(s: &Standing) {
    println!("{}", s.address);
    println!(
        "  balance {} CCD, staked {} ({} locked, {} unstaking), claimable {}",
        s.balance, s.staked, s.locked, s.pending_unstake, s.claimable
    );
    println!(
        "  reputation {} in domain {} (accepted {}, rejected {}, gold {}/{}, unrevealed {}, squatted {})",
        s.reputation,
        s.domain,
        s.accepted,
        s.rejected,
        s.gold_correct,
        s.gold_correct + s.gold_wrong,
        s.unrevealed,
        s.squatted
    );
}

pub fn joined(j: &Joined, asked: u64) {
    println!(
        "joined batch {} round {} for {} of the {asked} tasks asked (lane {}, bundle {}), locked {} CCD; commit before {}",
        j.batch,
        j.round,
        j.size,
        j.lane,
        j.bundle,
        j.stake_locked,
        fmt_unix(j.commit_end)
    );
}

/// The tasks of a bundle and the command that labels the first.
pub fn tasks_next(batch: u64, tasks: &[u64]) {
    let list: Vec<String> = tasks.iter().map(u64::to_string).collect();
    println!("tasks {}", list.join(", "));
    if let Some(t) = tasks.first() {
        println!("next: concord-annotator show -b {batch} -t {t}   (then `label`, one task at a time or all with --from)");
    }
}

/// Why a bundle's tasks are not known yet.
pub fn pending(round: u64, p: &Pending) {
    match p {
        Pending::Joins { join_end } => println!(
            "its tasks are drawn when round {round} seals (at {}, or earlier once every lane is full); then run `concord-annotator status`",
            fmt_unix(*join_end)
        ),
        Pending::SeedBlock { block } => println!(
            "round {round} is sealed; its tasks come with block {block}: run `concord-annotator status` in a few seconds"
        ),
        Pending::Lost => println!("round {round}'s commit window closed before its seed was drawn; the bundle can only expire"),
        Pending::Opens { at } => println!(
            "reserved in round {round}, which opens after the current round's commits ({}); then run `concord-annotator status`",
            fmt_unix(*at)
        ),
        Pending::Void => println!(
            "reserved in round {round}, but the round's pool in its lane ended before its tickets: it holds no task (its stake is released by `expire` after the round's commit window, without penalty)"
        ),
    }
}

/// One line per bundle: its tasks and how far labeling got.
pub fn bundle(r: &BundleRecord) {
    let tasks = match &r.tasks {
        Some(t) => {
            let labeled = r.labels.iter().filter(|l| l.is_some()).count();
            let list: Vec<String> = t.iter().map(u64::to_string).collect();
            format!("tasks {} ({labeled}/{} labeled)", list.join(","), t.len())
        }
        None => format!("{} tasks, not drawn yet", r.tickets.size),
    };
    let window = if r.commit_end == concord_client::store::COMMIT_END_UNKNOWN {
        format!(
            "its commit window is set when round {} opens",
            r.tickets.round
        )
    } else {
        format!("commit before {}", fmt_unix(r.commit_end))
    };
    println!(
        "  batch {} bundle {} round {}: {} — {tasks}; {window}",
        r.batch,
        r.bundle,
        r.tickets.round,
        r.status.as_str(),
    );
}

/// One item: text, URI and, for a media file, the verified local copy to open.
pub fn item(m: &Manifest, it: &ManifestItem, media: Option<&std::path::Path>, n: usize, of: usize) {
    println!("[{n}/{of}] item {} `{}`", it.index, it.id);
    if let Some(t) = &it.text {
        println!("    {t}");
    }
    if !it.uri.is_empty() {
        println!("    {}", it.uri);
    }
    // A generated datapoint under review: where it was hosted, and why it does not open if it does not.
    if let Some(meta) = it.meta.as_ref().filter(|_| it.raw) {
        if let Some(u) = meta["uri"].as_str() {
            println!("    published at {u}");
        }
        if let Some(why) = meta["problem"].as_str() {
            println!("    this datapoint {why}");
        }
    }
    if let Some(p) = media {
        println!("    verified copy: {}", p.display());
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
            .map(|(b, id)| format!("batch {b} bundle {id}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let (what, carrier, window) = if verb == "committed" {
        (
            "commit",
            "the requester relays them",
            "the round's commit window",
        )
    } else {
        ("reveal", "the settlement carries them", "the reveal window")
    };
    for why in &r.handoff_refused {
        println!("the settler did not take a {what}, so it was sent on-chain: {why}");
    }
    if !r.handed.is_empty() {
        println!(
            "handed {} {what}{} to the settler (no transaction; {carrier}): {}",
            r.handed.len(),
            if r.handed.len() == 1 { "" } else { "s" },
            list(&r.handed)
        );
        println!(
            "  if they are not on-chain by the last quarter of {window}, run `{what} --via` (or `{what}`) again: it then sends them itself"
        );
    }
    let n = r.done.len();
    let sep = if n == 0 { "" } else { ": " };
    // After a hand-over, "revealed 0 bundles" would only confuse: say it only when something else happened.
    if n > 0 || r.handed.is_empty() {
        println!(
            "{verb} {n} bundle{}{sep}{}",
            if n == 1 { "" } else { "s" },
            list(&r.done)
        );
    }
    for j in &r.reserved {
        println!(
            "joined round {} of batch {} in the same transaction: bundle {}, up to {} tasks, {} CCD stake locked; its tasks are drawn once the round opens (after this round's commits) and seals — `concord-annotator status` then shows them",
            j.round, j.batch, j.bundle, j.size, j.stake_locked
        );
    }
    for why in &r.not_reserved {
        println!("{why}");
    }
    if !r.waiting.is_empty() {
        let why = if verb == "committed" {
            "not every task labeled yet"
        } else {
            "reveals open once every position of the batch is committed, or after the commit deadline"
        };
        println!("waiting ({why}): {}", list(&r.waiting));
    }
    if !r.expired.is_empty() {
        println!(
            "expired (not committed before its round's commit window closed; its stake's squat penalty is forfeit): {}",
            list(&r.expired)
        );
    }
    if !r.reorged_commits.is_empty() {
        let what = if verb == "committed" {
            "sent again with the stored salt and labels"
        } else {
            "salt and labels are kept: `concord-annotator commit` sends it again"
        };
        println!(
            "commit no longer on the chain (a reorg replaced its block); {what}: {}",
            list(&r.reorged_commits)
        );
    }
    if !r.reorged_joins.is_empty() {
        println!(
            "join no longer on the chain (a reorg replaced its block; nothing is locked for it): {}",
            list(&r.reorged_joins)
        );
    }
    if !r.reorged_reveals.is_empty() {
        println!(
            "reveal no longer on the chain (a reorg replaced its block); sent again: {}",
            list(&r.reorged_reveals)
        );
    }
    for f in &r.failed {
        println!("failed {f}");
    }
}

/// Prints a commit or reveal run (JSON or human) and fails if any task failed.
pub fn finish_run(json: bool, verb: &str, r: &RunReport) -> eyre::Result<()> {
    concord_cli::emit(json, r, |r| run(verb, r))?;
    if let (Some((b, id)), true) = (r.reorged_commits.first(), verb == "revealed") {
        eyre::bail!(
            "batch {b} bundle {id}: its commit is no longer on the chain (a reorg replaced its block); salt and labels are kept: run `concord-annotator commit` to send it again, then reveal"
        );
    }
    fail_if_any(Some(r))
}

/// A run that failed for some tasks ends with one line: the first failure, how many more, what to do.
pub fn fail_if_any(r: Option<&RunReport>) -> eyre::Result<()> {
    if let Some((b, id)) = r.and_then(|r| r.reorged_joins.first()) {
        eyre::bail!(
            "batch {b} bundle {id}: its join is no longer on the chain (a reorg replaced its block; no stake is locked for it); run `concord-annotator join -b {b}` again"
        );
    }
    if let Some((b, id)) = r.and_then(|r| r.expired.first()) {
        eyre::bail!(
            "batch {b} bundle {id}: its round's commit window closed before it was committed, so it expired (its squat penalty is forfeit); join a later round for new tasks"
        );
    }
    match r {
        Some(r) if !r.failed.is_empty() => {
            let more = match r.failed.len() {
                1 => String::new(),
                n => format!(" (and {} more bundles)", n - 1),
            };
            eyre::bail!(
                "{}{more}; {} bundles confirmed; labels and salts are stored: run the same command again",
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
            failed: vec![
                "batch 0 bundle 2: boom".into(),
                "batch 0 bundle 3: boom".into(),
            ],
            ..Default::default()
        };
        let e = fail_if_any(Some(&bad)).expect_err("fails").to_string();
        assert_eq!(
            e,
            "batch 0 bundle 2: boom (and 1 more bundles); 1 bundles confirmed; labels and salts are stored: run the same command again"
        );
    }
}

//! The contract's per-item consensus rule, off-chain: used to show votes, find items for review and to test
//! that the client and `LabelPacking.consensus` agree.

/// Outcome of one item.
#[derive(Debug, Clone, PartialEq)]
pub struct ItemVotes {
    /// Votes per class.
    pub votes: Vec<u32>,
    /// Plurality class (lowest index on ties) when consensus is reached.
    pub consensus: Option<u8>,
    /// Share of the plurality among all votes (0 when no votes).
    pub agreement: f64,
}

/// Same rule as `LabelPacking.consensus`: at least two votes, the plurality strictly beats the runner-up and
/// reaches `threshold_bps` of all votes.
pub fn decide(labels: &[u8], num_classes: usize, threshold_bps: u32) -> ItemVotes {
    let mut votes = vec![0u32; num_classes];
    for &l in labels {
        if let Some(v) = votes.get_mut(l as usize) {
            *v += 1;
        }
    }
    let total: u32 = votes.iter().sum();
    let (mut best, mut top, mut runner_up) = (0usize, 0u32, 0u32);
    for (c, &v) in votes.iter().enumerate() {
        if v > top {
            runner_up = top;
            top = v;
            best = c;
        } else if v > runner_up {
            runner_up = v;
        }
    }
    let reached = total >= 2
        && top > runner_up
        && u64::from(top) * 10_000 >= u64::from(threshold_bps) * u64::from(total);
    let agreement = if total == 0 {
        0.0
    } else {
        f64::from(top) / f64::from(total)
    };
    ItemVotes {
        votes,
        consensus: reached.then_some(best as u8),
        agreement,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_of_three_reach_two_thirds_at_6600_bps() {
        assert_eq!(decide(&[1, 1, 2], 3, 6600).consensus, Some(1));
        assert_eq!(decide(&[1, 1, 2], 3, 6700).consensus, None);
    }

    #[test]
    fn ties_single_votes_and_splits_have_no_consensus() {
        assert_eq!(decide(&[0, 1], 3, 5000).consensus, None);
        assert_eq!(decide(&[2], 3, 5000).consensus, None);
        assert_eq!(decide(&[0, 1, 2], 3, 3000).consensus, None);
        assert_eq!(decide(&[], 3, 3000).consensus, None);
    }
}

//! Typed statuses: the phase a batch is in, an assignment's on-chain status and an item's final status. Each
//! has one spelling, used by every crate (never a bare string compared in three places).

use serde::{Deserialize, Serialize};

/// A batch's deadlines (unix seconds), as stored in its on-chain config.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deadlines {
    pub commit: u64,
    pub reveal: u64,
    pub review: u64,
}

/// The phase a batch is in. Each deadline is inclusive, as in the contract (`block.timestamp <= deadline`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Phase {
    Commit,
    Reveal,
    Review,
    /// After the review window; refund opens once every task is settled.
    Ended,
    /// Unspent escrow went back to the requester.
    Refunded,
}

impl Phase {
    /// The phase at chain time `now`.
    pub fn at(deadlines: &Deadlines, refunded: bool, now: u64) -> Self {
        if refunded {
            Self::Refunded
        } else if now <= deadlines.commit {
            Self::Commit
        } else if now <= deadlines.reveal {
            Self::Reveal
        } else if now <= deadlines.review {
            Self::Review
        } else {
            Self::Ended
        }
    }

    /// What the CLIs and the web page print.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Commit => "commit",
            Self::Reveal => "reveal",
            Self::Review => "review",
            Self::Ended => "ended (refund open once settled)",
            Self::Refunded => "closed (refunded)",
        }
    }
}

impl std::fmt::Display for Phase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Phase {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// Whether a v2 batch accepts reveals at `now`: once every position of every lane is committed
/// (`committed == positions`) or the commit phase ended, until the reveal deadline (as `LabelMarketV2.reveal`).
pub fn reveal_open(deadlines: &Deadlines, committed: u64, positions: u64, now: u64) -> bool {
    (committed >= positions || now > deadlines.commit) && now <= deadlines.reveal
}

/// A bundle's on-chain status (mirrors `ILabelMarketV2Types.Status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
#[repr(u8)]
pub enum BundleStatus {
    /// Never joined, or expired (its word is deleted).
    None = 0,
    Joined = 1,
    Committed = 2,
    Revealed = 3,
}

impl BundleStatus {
    /// Decodes the enum value the contract returns; `None` for a value the contract never returns.
    pub fn from_u8(v: u8) -> Option<Self> {
        Some(match v {
            0 => Self::None,
            1 => Self::Joined,
            2 => Self::Committed,
            3 => Self::Revealed,
            _ => return None,
        })
    }

    /// The commit landed (committed or already revealed).
    pub fn has_committed(self) -> bool {
        matches!(self, Self::Committed | Self::Revealed)
    }
}

/// An item's final status, rebuilt from chain events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ItemStatus {
    /// Its task is not settled yet.
    Pending,
    /// The replicas reached consensus.
    Accepted,
    /// A gold question: its label is the requester's revealed answer.
    Gold,
    /// No consensus; the reviewer decided it.
    Reviewed,
    /// No consensus and not (yet) reviewed.
    NoConsensus,
}

impl ItemStatus {
    /// The spelling in exports, reports and `--json` output.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Accepted => "accepted",
            Self::Gold => "gold",
            Self::Reviewed => "reviewed",
            Self::NoConsensus => "no-consensus",
        }
    }

    /// The item has a final label (consensus, gold or review).
    pub fn is_decided(self) -> bool {
        matches!(self, Self::Accepted | Self::Gold | Self::Reviewed)
    }
}

impl std::fmt::Display for ItemStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: Deadlines = Deadlines {
        commit: 100,
        reveal: 200,
        review: 300,
    };

    #[test]
    fn phases_follow_inclusive_deadlines() {
        assert_eq!(Phase::at(&D, false, 0), Phase::Commit);
        assert_eq!(Phase::at(&D, false, 100), Phase::Commit);
        assert_eq!(Phase::at(&D, false, 101), Phase::Reveal);
        assert_eq!(Phase::at(&D, false, 200), Phase::Reveal);
        assert_eq!(Phase::at(&D, false, 201), Phase::Review);
        assert_eq!(Phase::at(&D, false, 300), Phase::Review);
        assert_eq!(Phase::at(&D, false, 301), Phase::Ended);
        assert_eq!(
            Phase::at(&D, true, 50),
            Phase::Refunded,
            "a refund ends every phase"
        );
        assert_eq!(Phase::Ended.to_string(), "ended (refund open once settled)");
        assert_eq!(
            serde_json::to_value(Phase::Refunded).unwrap(),
            serde_json::json!("closed (refunded)")
        );
    }

    #[test]
    fn reveals_open_when_every_position_is_committed_or_after_the_commit_deadline() {
        assert!(reveal_open(&D, 30, 30, 50), "every position in: open early");
        assert!(
            !reveal_open(&D, 29, 30, 100),
            "a position missing: wait for the deadline"
        );
        assert!(reveal_open(&D, 29, 30, 101));
        assert!(reveal_open(&D, 0, 30, 200));
        assert!(
            !reveal_open(&D, 30, 30, 201),
            "closed after the reveal deadline"
        );
    }

    #[test]
    fn bundle_statuses_decode_the_contract_enum() {
        for v in 0..=3u8 {
            assert_eq!(BundleStatus::from_u8(v).map(|s| s as u8), Some(v));
        }
        assert_eq!(BundleStatus::from_u8(4), None);
        assert!(BundleStatus::Revealed.has_committed());
        assert!(!BundleStatus::Joined.has_committed());
    }

    #[test]
    fn item_statuses_have_one_spelling() {
        for s in [
            ItemStatus::Pending,
            ItemStatus::Accepted,
            ItemStatus::Gold,
            ItemStatus::Reviewed,
            ItemStatus::NoConsensus,
        ] {
            assert_eq!(
                serde_json::to_value(s).unwrap(),
                serde_json::json!(s.as_str())
            );
        }
        assert_eq!(ItemStatus::NoConsensus.as_str(), "no-consensus");
        assert!(!ItemStatus::NoConsensus.is_decided() && ItemStatus::Reviewed.is_decided());
    }
}

//! Turns a failed call into one human sentence: every custom error of the market gets its own explanation
//! (which phase, which deadline, what to do next), never a hex blob.

use alloy::primitives::U256;
use concord_bindings::{ConcordToken::ConcordTokenErrors, LabelMarket::LabelMarketErrors};
use concord_protocol::time::fmt_ts;
use concord_protocol::units::fmt_tokens as tokens;

/// One sentence for a decoded market error.
pub fn explain_market(err: &LabelMarketErrors) -> String {
    use LabelMarketErrors as E;
    match err {
        E::InvalidParams(e) => format!("batch parameter `{}` is out of range; see `concord-requester create --help`", e.reason),
        E::TokenShortfall(e) => format!(
            "the reward token delivered {} of {} tokens (fee-on-transfer or rebasing token); use a standard ERC-20",
            tokens(e.received),
            tokens(e.expected)
        ),
        E::UnknownBatch(e) => format!("batch {} does not exist on this market; check --batch and --deployment", e.batchId),
        E::UnknownTask(e) => format!("task {} does not exist in batch {}", e.taskId, e.batchId),
        E::UnknownItem(e) => format!("item {} does not exist in batch {}", e.item, e.batchId),
        E::CommitPhaseOver(e) => format!("the commit phase ended at {}; no more claims or commits for this batch", fmt_ts(e.deadline)),
        E::RevealNotOpen(e) => format!(
            "reveal of batch {} task {} is not open yet: it opens when all replicas committed or after the commit deadline; run `reveal` again later",
            e.batchId, e.taskId
        ),
        E::RevealPhaseOver(e) => format!("the reveal phase ended at {}; unrevealed commits are forfeited", fmt_ts(e.deadline)),
        E::GoldRevealClosed(e) => format!(
            "gold answers can only be revealed between {} and {}",
            fmt_ts(e.opensAt),
            fmt_ts(e.closesAt)
        ),
        E::SettlementNotOpen(e) => format!(
            "task {} of batch {} cannot settle yet: waiting for reveals or gold answers (latest at {})",
            e.taskId,
            e.batchId,
            fmt_ts(e.opensAt)
        ),
        E::AlreadySettled(e) => format!("task {} of batch {} is already settled", e.taskId, e.batchId),
        E::ReviewClosed(e) => format!("the review window closed at {}; unresolved items are refunded", fmt_ts(e.deadline)),
        E::NotReviewer(e) => format!("{} is not this batch's reviewer; use the reviewer's key", e.caller),
        E::ItemNotInReview(e) => format!("item {} of batch {} already has a decided label (consensus, gold or reviewed)", e.item, e.batchId),
        E::TaskNotSettled(e) => format!("task {} of batch {} is not settled yet; run `concord-requester settle` first", e.taskId, e.batchId),
        E::RefundNotOpen(e) => format!(
            "refund opens after {} once every task is settled ({} of {} settled); run `concord-requester settle` first",
            fmt_ts(e.opensAt),
            e.tasksSettled,
            e.numTasks
        ),
        E::AlreadyRefunded(e) => format!("batch {} was already refunded", e.batchId),
        E::NoTaskAvailable(e) => format!(
            "no open task in batch {} has a free slot for you right now (you may have labeled them all); try again later",
            e.batchId
        ),
        E::InsufficientStake(e) => format!(
            "your unlocked stake is {} CCD but this needs {} CCD; run `concord-annotator stake <amount>`",
            tokens(e.available),
            tokens(e.required)
        ),
        E::InsufficientReputation(e) => format!("your reputation score {} is below the batch minimum {}", e.score, e.required),
        E::NotQualified(e) => format!(
            "batch {} requires a qualification for {}; get an attestation from the requester and run `concord-annotator qualify`",
            e.batchId, e.annotator
        ),
        E::InvalidQualification(_) => "the qualification attestation was not signed by this batch's qualifier".to_string(),
        E::QualificationExpired(e) => format!("the qualification attestation expired at {}", fmt_ts(e.deadline)),
        E::NotClaimed(e) => format!("{} holds no live claim on task {} of batch {}; run `concord-annotator claim`", e.annotator, e.taskId, e.batchId),
        E::ClaimExpired(e) => format!(
            "your claim on task {} of batch {} expired at {}; claim a new task",
            e.taskId,
            e.batchId,
            fmt_ts(e.expiry)
        ),
        E::ClaimNotExpired(e) => format!(
            "the claim on task {} of batch {} is valid until {}; it can only be released after that",
            e.taskId,
            e.batchId,
            fmt_ts(e.expiry)
        ),
        E::AlreadyCommitted(e) => format!("labels for task {} of batch {} are already committed", e.taskId, e.batchId),
        E::NotCommitted(e) => format!("nothing committed for task {} of batch {}", e.taskId, e.batchId),
        E::AlreadyRevealed(e) => format!("labels for task {} of batch {} are already revealed", e.taskId, e.batchId),
        E::CommitMismatch(_) => "labels and salt do not match the commit (wrong local store or key?)".to_string(),
        E::LabelOutOfRange(e) => format!(
            "label {} at position {} is not a class of this batch (classes are 0..{})",
            e.label,
            e.position,
            e.numClasses.saturating_sub(U256::from(1))
        ),
        E::InvalidGoldProof(e) => format!("gold answer for item {} does not match the gold root committed at creation", e.item),
        E::GoldAlreadyRevealed(e) => format!("gold answer for item {} is already revealed", e.item),
        E::NoGold(e) => format!("batch {} has no gold questions", e.batchId),
        E::ZeroAmount(_) => "the amount must be greater than zero".to_string(),
        E::StakeLocked(e) => format!(
            "only {} CCD of your stake is unlocked (the rest backs open claims); requested {}",
            tokens(e.unlocked),
            tokens(e.requested)
        ),
        E::CooldownActive(e) => format!("unstaked tokens unlock at {}; run `withdraw` after that", fmt_ts(e.unlockAt)),
        E::NothingToWithdraw(_) => "there is nothing to withdraw or collect".to_string(),
        E::SafeERC20FailedOperation(e) => format!("token transfer failed for token {}", e.token),
        E::ReentrancyGuardReentrantCall(_) => "reentrant call rejected".to_string(),
        E::SafeCastOverflowedUintDowncast(_) => "the amount is too large".to_string(),
        #[allow(unreachable_patterns)]
        other => format!("the market rejected the call: {other:?}"),
    }
}

/// One sentence for a decoded token error (ERC-20 / permit).
pub fn explain_token(err: &ConcordTokenErrors) -> String {
    use ConcordTokenErrors as E;
    match err {
        E::ERC20InsufficientBalance(e) => format!(
            "insufficient token balance: {} has {} CCD, needs {}",
            e.sender,
            tokens(e.balance),
            tokens(e.needed)
        ),
        E::ERC20InsufficientAllowance(e) => format!(
            "insufficient allowance: {} may spend {} CCD, needs {}",
            e.spender,
            tokens(e.allowance),
            tokens(e.needed)
        ),
        other => format!("the token rejected the call: {other:?}"),
    }
}

/// Explains raw revert data from either contract (ERC-20 errors bubble up through the market).
pub fn explain_revert_data(data: &[u8]) -> Option<String> {
    use alloy::sol_types::SolInterface;
    if let Ok(e) = LabelMarketErrors::abi_decode(data) {
        return Some(explain_market(&e));
    }
    if let Ok(e) = ConcordTokenErrors::abi_decode(data) {
        return Some(explain_token(&e));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy::sol_types::SolInterface;
    use concord_bindings::LabelMarket;

    #[test]
    fn decodes_market_error_into_sentence() {
        let e = LabelMarketErrors::InsufficientStake(LabelMarket::InsufficientStake {
            available: U256::from(5u64) * U256::from(10u64).pow(U256::from(18u64)),
            required: U256::from(20u64) * U256::from(10u64).pow(U256::from(18u64)),
        });
        let msg = explain_revert_data(&e.abi_encode()).expect("decodes");
        assert_eq!(
            msg,
            "your unlocked stake is 5 CCD but this needs 20 CCD; run `concord-annotator stake <amount>`"
        );
    }

    #[test]
    fn unknown_data_is_not_explained() {
        assert_eq!(explain_revert_data(&[1, 2, 3, 4, 5]), None);
    }
}

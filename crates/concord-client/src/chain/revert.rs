//! Turns a failed call into one human sentence: every custom error of the market gets its own explanation
//! (which phase, which deadline, what to do next), never a hex blob.

use concord_bindings::generation::GenerationMarket::GenerationMarketErrors;
use concord_bindings::{ConcordToken::ConcordTokenErrors, LabelMarketV2::LabelMarketV2Errors};
use concord_protocol::time::fmt_ts;
use concord_protocol::units::fmt_tokens as tokens;

/// One sentence for a decoded market error.
pub fn explain_market(err: &LabelMarketV2Errors) -> String {
    use LabelMarketV2Errors as E;
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
        E::BundleMismatch(e) => format!(
            "bundle {} is not what the market stored for it (status {}); the local store is stale: run `concord-annotator status`",
            e.bundleId, e.status
        ),
        E::NotYourBundle(e) => format!("bundle {} belongs to another annotator than {}", e.bundleId, e.caller),
        E::InvalidRelayedCommit(e) => format!(
            "the relayed commit of bundle {} is not signed by its annotator for exactly these fields; have the annotator sign it again (`concord-annotator commit --via`)",
            e.bundleId
        ),
        E::CommitPhaseOver(e) => format!(
            "no more joins for this batch: a new round's commits would end after the commit deadline ({})",
            fmt_ts(e.deadline)
        ),
        E::RoundClosed(e) => format!(
            "round {} of this batch is sealed; the next round opens for joins at {}: run `join` again then",
            e.round,
            fmt_ts(e.opensAt)
        ),
        E::AlreadyJoined(e) => format!(
            "you already joined round {} of batch {}: one join per round; label and commit that bundle, then join the next round",
            e.round, e.batchId
        ),
        E::NoTaskAvailable(e) => format!(
            "your lane of batch {} has no free position in this round (every task of it is taken or done); try the next round",
            e.batchId
        ),
        E::TooManyRounds(e) => format!(
            "this batch already had its {} join rounds; no more joins (the settlement proves the leftovers empty)",
            e.max
        ),
        E::DecisionWithoutLabel(e) => format!(
            "no revealed label of item {} is class {}: a reviewer decides among the labels annotators gave",
            e.item, e.label
        ),
        E::InvalidBundleSize(e) => format!("a join takes 1..={} tasks in this batch, not {}", e.maxBundle, e.requested),
        E::RoundStillOpen(e) => format!("round {} still takes joins until {}", e.round, fmt_ts(e.joinEnd)),
        E::AlreadySealed(e) => format!("round {} is already sealed", e.round),
        E::SeedNotReady(e) => format!(
            "the seed of round {} is not in a block yet (ready from block {}); try again in a few seconds",
            e.round, e.readyAt
        ),
        E::SeedExpired(e) => format!(
            "the seed block of round {} is older than 256 blocks; anyone can re-arm it with `drawSeed` (the tasks change)",
            e.round
        ),
        E::CommitWindowClosed(e) => format!(
            "the commit window of round {} closed at {}; the bundle can only be expired now (squat penalty)",
            e.round,
            fmt_ts(e.commitEnd)
        ),
        E::CommitWindowOpen(e) => format!("round {}'s commit window is open until {}; a bundle can only expire after it", e.round, fmt_ts(e.commitEnd)),
        E::RevealNotOpen(e) => format!(
            "reveals open at {} (or earlier, once every position of the batch is committed); run `reveal` again later",
            fmt_ts(e.opensAt)
        ),
        E::RevealPhaseOver(e) => format!("the reveal phase ended at {}; unrevealed commits are forfeited", fmt_ts(e.deadline)),
        E::CommitMismatch(_) => "labels and salt do not match the commit (wrong local store or key?)".to_string(),
        E::LabelOutOfRange(e) => format!(
            "label {} for item {} of the bundle's task {} is not a class of this batch",
            e.label, e.item, e.task
        ),
        E::WrongBundleLength(e) => format!("the bundle's labels are {} words, the market expects {}", e.words, e.expected),
        E::TaskOutOfBundle(e) => format!("task index {} is outside a bundle of {} words", e.index, e.words),
        E::GoldRevealClosed(e) => format!(
            "gold answers can only be revealed between {} and {}",
            fmt_ts(e.opensAt),
            fmt_ts(e.closesAt)
        ),
        E::InvalidGoldProof(e) => format!("gold answer for item {} does not match the gold root committed at creation", e.item),
        E::GoldAlreadyRevealed(e) => format!("gold answer for item {} is already revealed", e.item),
        E::NoGold(e) => format!("batch {} has no gold questions", e.batchId),
        E::SettlementNotOpen(e) => format!(
            "task {} cannot settle yet: waiting for reveals or gold answers (at the latest from {})",
            e.taskId,
            fmt_ts(e.opensAt)
        ),
        E::AlreadySettled(e) => format!("task {} of batch {} is already settled", e.taskId, e.batchId),
        E::MissingBundle(e) => format!(
            "a committed bundle holding task {} in lane {} was left out of the call; re-read the batch's events and retry",
            e.taskId, e.lane
        ),
        E::DuplicateBundle(e) => format!("bundle {} was supplied twice", e.bundleId),
        E::TasksNotSorted(_) => "the tasks of a settlement must be strictly increasing".to_string(),
        E::ProposalPending(e) => format!(
            "batch {} has a live or final optimistic proposal: it settles through it (`concord-requester claim`), not `settle`",
            e.batchId
        ),
        E::OptimisticUnavailable(e) => format!(
            "batch {} cannot settle optimistically (it has a reviewer, a contract qualifier, or tasks settled already): use `concord-requester settle`",
            e.batchId
        ),
        E::BundlesNotSorted(_) => "a proposal's bundles must be in strictly increasing id order".to_string(),
        E::BundlesIncomplete(e) => format!(
            "the proposal supplies {} of {} committed positions (before the reveal deadline every one must be revealed): wait for the missing reveals or for the reveal deadline",
            e.supplied, e.committed
        ),
        E::WrongCreditCount(e) => format!("a proposal posts two credit words per bundle: {} words, {} expected", e.words, e.expected),
        E::InvalidCredit(e) => format!(
            "the credit of bundle {} does not fit it (another annotator or task count, a slash above its stake, or a credit for a bundle never committed)",
            e.bundleId
        ),
        E::ProposalInsolvent(e) => format!(
            "the proposal pays {} of an escrow of {} and redistributes {} of {} slashed: it cannot be right",
            tokens(e.earned),
            tokens(e.escrow),
            tokens(e.redistributed),
            tokens(e.slashed)
        ),
        E::NoLiveProposal(e) => format!("batch {} has no live proposal (none, voided, or final already)", e.batchId),
        E::ChallengeWindowOver(e) => format!("the challenge window closed at {}", fmt_ts(e.challengeEnd)),
        E::ChallengeWindowOpen(e) => format!(
            "the proposal can be challenged until {}; finalize and claim after that",
            fmt_ts(e.challengeEnd)
        ),
        E::InvalidCreditProof(e) => format!(
            "the credit of bundle {} is not the one the proposal posted (re-read its `Proposed` event)",
            e.bundleId
        ),
        E::ChallengeFailed(e) => format!("the proposal's credit of bundle {} is right: nothing to challenge", e.bundleId),
        E::ChallengeIncomplete(e) => format!(
            "the challenge covers {} of the {} positions of bundle {}: supply every task it holds and their bundles",
            e.counted, e.size, e.bundleId
        ),
        E::ProposalNotFinal(e) => format!("batch {}'s proposal is not final yet: `concord-requester claim` finalizes it after its window", e.batchId),
        E::NothingToClaim(e) => format!("bundle {} has nothing to claim (never committed, expired, or claimed already)", e.bundleId),
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
        E::InsufficientStake(e) => format!(
            "your unlocked stake is {} CCD but this needs {} CCD; run `concord-annotator stake <amount>`",
            tokens(e.available),
            tokens(e.required)
        ),
        E::InsufficientReputation(e) => format!("your reputation score {} in this batch's domain is below its minimum {}", e.score, e.required),
        E::NotQualified(e) => format!(
            "batch {} requires a qualification for {}; get an attestation from the requester and run `concord-annotator qualify`",
            e.batchId, e.annotator
        ),
        E::InvalidQualification(_) => "the qualification attestation was not signed by this batch's qualifier".to_string(),
        E::QualificationExpired(e) => format!("the qualification attestation expired at {}", fmt_ts(e.deadline)),
        E::ZeroAmount(_) => "the amount must be greater than zero".to_string(),
        E::StakeLocked(e) => format!(
            "only {} CCD of your stake is unlocked (the rest backs open bundles); requested {}",
            tokens(e.unlocked),
            tokens(e.requested)
        ),
        E::CooldownActive(e) => format!("unstaked tokens unlock at {}; run `withdraw` after that", fmt_ts(e.unlockAt)),
        E::NothingToWithdraw(_) => "there is nothing to withdraw or collect".to_string(),
        E::OutOfDomain(e) => format!("ticket {} is outside its round's pool of {}", e.x, e.n),
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

/// One sentence for a decoded generation-market error (its errors that share a market error's signature are
/// explained as the market's, which reads the same).
pub fn explain_generation(err: &GenerationMarketErrors) -> String {
    use GenerationMarketErrors as E;
    match err {
        E::UnknownGeneration(e) => format!("generation batch {} does not exist; check -g and --deployment", e.id),
        E::UnknownSubmission(e) => format!("generation batch {} has no submission {}", e.id, e.sid),
        E::UnknownInstruction(e) => format!("instruction {} does not exist: the batch has {}", e.instruction, e.count),
        E::SubmitClosed(e) => format!("submissions closed at {}", fmt_ts(e.deadline)),
        E::GenerationFull(e) => format!("the batch already holds its {} submissions", e.maxItems),
        E::PublishNotOpen(e) => format!(
            "publishing opens at {}, after the submit deadline (so nobody copies a pending datapoint)",
            fmt_ts(e.opensAt)
        ),
        E::PublishClosed(e) => format!("publishing closed at {}; unpublished submissions forfeit their penalty", fmt_ts(e.deadline)),
        E::NotYourSubmission(e) => format!("submission {} is not {}'s", e.sid, e.caller),
        E::WrongStatus(e) => format!("submission {} is not in a state this call takes (status {})", e.sid, e.status),
        E::CommitMismatch(e) => format!("the text and salt do not open submission {}'s commit (wrong local record or key?)", e.sid),
        E::EmptyContent(e) => format!("submission {} is empty once whitespace is removed", e.sid),
        E::ContentTooLarge(e) => format!("a datapoint of {} bytes is longer than the batch takes inline ({})", e.length, e.max),
        E::DuplicateDatapoint(e) => format!(
            "the same datapoint (up to case and whitespace) was already published as submission {}; submission {} is refused",
            e.firstSid, e.sid
        ),
        E::StillPublishable(e) => format!("the submission can still be published until {}", fmt_ts(e.until)),
        E::NotRequester(e) => format!("only the batch's requester may do this, not {}", e.caller),
        E::ReviewNotOpenYet(e) => format!("the review opens after the publish deadline, at {}", fmt_ts(e.opensAt)),
        E::ReviewWindowMissed(e) => format!(
            "the window to open the review closed at {}: every published datapoint is now paid up to the cap (`generate finalize`)",
            fmt_ts(e.deadline)
        ),
        E::ReviewAlreadyOpen(e) => format!("the review of generation {} is already open as batch {}", e.id, e.reviewBatch),
        E::NoReview(e) => format!("generation {} has no review open yet", e.id),
        E::ReviewTermsMismatch(_) => "the review terms differ from those the batch was created with".to_string(),
        E::NothingToReview(e) => format!("nothing was published in generation {}", e.id),
        E::ContributorCannotReview(e) => format!(
            "{} contributed to generation {} (or is its requester): nobody reviews its own batch",
            e.annotator, e.id
        ),
        E::FinalizeNotOpen(e) => format!("finalizing opens at {} (once the review is open, or its window passed)", fmt_ts(e.opensAt)),
        E::ReviewNotSettled(e) => format!(
            "the review of submission {} (item {}) is not settled yet: run `concord-requester settle -b <review batch>` first",
            e.sid, e.item
        ),
        E::RefundNotOpen(e) => format!(
            "the refund needs every submission finalized ({} of {}): run `concord-requester generate finalize` first",
            e.finalized, e.submitted
        ),
        other => format!("the generation market rejected the call: {other:?}"),
    }
}

/// Explains raw revert data from either contract (ERC-20 errors bubble up through the market).
pub fn explain_revert_data(data: &[u8]) -> Option<String> {
    use alloy::sol_types::SolInterface;
    if let Ok(e) = LabelMarketV2Errors::abi_decode(data) {
        return Some(explain_market(&e));
    }
    if let Ok(e) = ConcordTokenErrors::abi_decode(data) {
        return Some(explain_token(&e));
    }
    if let Ok(e) = GenerationMarketErrors::abi_decode(data) {
        return Some(explain_generation(&e));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy::primitives::U256;
    use alloy::sol_types::SolInterface;
    use concord_bindings::LabelMarketV2;

    #[test]
    fn decodes_market_error_into_sentence() {
        let e = LabelMarketV2Errors::InsufficientStake(LabelMarketV2::InsufficientStake {
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

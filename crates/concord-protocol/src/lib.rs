//! Concord's protocol rules, shared with the contract and free of I/O: what the client computes must equal what
//! `LabelMarketV2` computes, so these live in one place and are tested on their own.
//!
//! - [`labels`]: packing a task's labels into the uint256 the contract commits and reveals; task sizes
//! - [`bundle`]: a bundle's labels in calldata and their digest (protocol v2)
//! - [`commit`]: the commit hash `LabelMarketV2.commit` checks
//! - [`merkle`]: manifest and gold leaves and the OpenZeppelin-compatible tree over them
//! - [`manifest`]: items, their content hash, the manifest and the private gold file
//! - [`consensus`]: the per-item plurality rule (`LabelPacking.consensus`, `BitTally`)
//! - [`generation`]: a generated datapoint's normal form and commit hash (`GenerationMarket`)
//! - [`status`]: typed phases, assignment and item statuses
//! - [`outcome`]: an item's final outcome from the batch's events (plain data in, no chain access)
//! - [`permutation`]: the keyed permutation that maps a lane's positions to its tasks (protocol v2)
//! - [`assignment`]: the task every ticket of every round holds, from seeds and committed tickets (protocol v2)
//! - [`units`], [`time`]: token amounts and timestamps for humans

#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod assignment;
pub mod bundle;
pub mod commit;
pub mod consensus;
pub mod generation;
pub mod labels;
pub mod manifest;
pub mod merkle;
pub mod outcome;
pub mod permutation;
pub mod status;
pub mod time;
pub mod units;

pub use status::{reveal_open, BundleStatus, Deadlines, ItemStatus, Phase};

/// A rule was broken by the input, one line a user can act on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProtocolError {
    /// The manifest does not match what was committed on-chain, or is malformed.
    #[error("manifest: {0}")]
    Manifest(String),
    /// A value the user gave is out of the protocol's range.
    #[error("{0}")]
    Input(String),
}

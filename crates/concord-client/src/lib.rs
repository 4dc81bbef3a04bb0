//! Concord client: chain I/O and the two roles' operations, over typed bindings of the contracts. The rules it
//! shares with the contract are `concord-protocol`'s; quality metrics and renderers are `concord-quality`'s.
//!
//! - [`chain`]: connecting (RPC, chain id, deployment), the transaction pipeline, error classification and
//!   revert sentences, progress reporting
//! - [`market`]: market reads and event queries used by both roles
//! - [`requester`] / [`annotator`]: the two roles' operations
//! - [`report`]: a batch's quality report and labeled dataset, fetched from chain events
//! - [`store`], [`backup`]: the annotator's durable local store and encrypted on-chain backup
//! - [`dataset`]: dataset files in, the published manifest, response tables for `aggregate`
//! - [`deploy`], [`deployment`]: deploying the contracts and the deployment file both CLIs read
//! - [`generation`]: generation batches (create, submit, publish, review, finalize, refund, export)
//! - [`optimistic`]: optimistic settlement (propose with a bond, check and challenge, finalize and claim)
//! - [`handoff`], [`relay`]: reveals and signed commits handed to the batch's settler instead of sent

#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod annotator;
pub mod backup;
pub mod chain;
pub mod dataset;
pub mod deploy;
pub mod deployment;
pub mod generation;
pub mod handoff;
pub mod logcache;
pub mod market;
pub mod media;
pub mod optimistic;
pub mod preview;
pub mod relay;
pub mod report;
pub mod requester;
pub mod store;

pub use chain::Concord;
pub use concord_bindings as bindings;
pub use concord_protocol as protocol;
pub use concord_quality as quality;
pub use deployment::Deployment;

use concord_protocol::ProtocolError;
use std::path::PathBuf;

/// Everything that can go wrong, each variant one line a user can act on.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("cannot reach the RPC at {url}: {reason}; is the node running? (start one with `concord-devnet`)")]
    Rpc { url: String, reason: String },
    #[error(
        "{url} answered, but not as a JSON-RPC node; pass the node's HTTP endpoint with --rpc-url"
    )]
    NotRpc { url: String },
    #[error("wrong chain: the RPC is chain {actual} but the deployment is for chain {expected}; pass the matching --rpc-url or --deployment")]
    WrongChain { expected: u64, actual: u64 },
    #[error("no contract at {address} on chain {chain_id}; the deployment file is stale (restart the devnet or pass --deployment)")]
    NoContract { address: String, chain_id: u64 },
    #[error("deployment file {path}: {reason}")]
    Deployment { path: PathBuf, reason: String },
    #[error("{action} failed: {reason}")]
    Revert { action: String, reason: String },
    #[error("{action}: transaction {tx} reverted on-chain")]
    Reverted { action: String, tx: String },
    #[error("{action} failed: {reason}")]
    Transport { action: String, reason: String },
    #[error("{path}:{line}: {reason}")]
    Dataset {
        path: PathBuf,
        line: usize,
        reason: String,
    },
    #[error("manifest: {0}")]
    Manifest(String),
    #[error("local store {0}")]
    Store(String),
    #[error("wallet: {0}")]
    Wallet(String),
    #[error("{0}")]
    Input(String),
}

impl From<ProtocolError> for ClientError {
    fn from(e: ProtocolError) -> Self {
        match e {
            ProtocolError::Manifest(m) => Self::Manifest(m),
            ProtocolError::Input(m) => Self::Input(m),
        }
    }
}

impl From<concord_quality::RenderError> for ClientError {
    fn from(e: concord_quality::RenderError) -> Self {
        Self::Input(e.0)
    }
}

/// Result alias of the client.
pub type Result<T, E = ClientError> = std::result::Result<T, E>;

/// Concord's local folder: `$CONCORD_HOME`, else `~/.concord`.
pub fn concord_home() -> PathBuf {
    if let Some(h) = std::env::var_os("CONCORD_HOME") {
        return PathBuf::from(h);
    }
    std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("."))
        .join(".concord")
}

//! Option groups shared by the CLIs, shaped like Foundry's `cast`: `--rpc-url`/`ETH_RPC_URL`, `--private-key`,
//! `--keystore`/`ETH_KEYSTORE` with `--password-file`/`ETH_PASSWORD`, plus Concord's `--deployment`.

use alloy::signers::local::PrivateKeySigner;
use clap::Args;
use concord_client::chain::pipeline::FeeCaps;
use concord_client::chain::Timeouts;
use concord_client::logcache::LogCache;
use concord_client::{ClientError, Concord, Deployment, Result};
use std::path::PathBuf;
use std::sync::Arc;

use crate::progress::Bars;

/// The options every command of `concord-requester` and `concord-annotator` takes: where the chain is, who
/// signs, and whether to print JSON.
#[derive(Debug, Clone, Args)]
pub struct ConcordArgs {
    #[command(flatten)]
    pub rpc: RpcOpts,
    #[command(flatten)]
    pub wallet: WalletOpts,
    #[command(flatten)]
    pub output: OutputArgs,
}

/// How to print.
#[derive(Debug, Clone, Copy, Default, Args)]
pub struct OutputArgs {
    /// Print one JSON object instead of human output (errors too).
    #[arg(long, global = true)]
    pub json: bool,
}

impl ConcordArgs {
    /// Whether `--json` was given.
    pub fn json(&self) -> bool {
        self.output.json
    }

    /// Connects (read-only if no wallet option is set), with progress bars unless `--json`.
    pub async fn connect(&self) -> Result<Concord> {
        let c = self.connect_quiet().await?;
        Ok(if self.json() {
            c
        } else {
            c.with_progress(Arc::new(Bars))
        })
    }

    /// Connects without progress output (for commands whose stdout is data).
    pub async fn connect_quiet(&self) -> Result<Concord> {
        let deployment = Deployment::load(&self.rpc.deployment)?;
        let signer = self.wallet.signer()?;
        let mut c =
            Concord::connect_with(&self.rpc.rpc_url, deployment, signer, self.rpc.timeouts())
                .await?
                .with_log_range(self.rpc.log_range)
                .with_fee_caps(FeeCaps {
                    max_fee_per_gas: self.rpc.max_fee_per_gas,
                    priority_fee_per_gas: self.rpc.priority_gas_price,
                });
        c.ipfs_gateway = self.rpc.ipfs_gateway.clone();
        if self.rpc.no_log_cache {
            return Ok(c);
        }
        // The cache only saves reads: without a writable home, every read goes to the node.
        let path = concord_client::concord_home().join("logs.sqlite");
        Ok(match LogCache::open(&path) {
            Ok(cache) => c.with_log_cache(cache, self.rpc.confirmations),
            Err(e) => {
                tracing::warn!("event cache unavailable, reading every event from the node: {e}");
                c
            }
        })
    }
}

/// Where the chain is.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Chain")]
pub struct RpcOpts {
    /// RPC endpoint.
    #[arg(
        long,
        short = 'r',
        env = "ETH_RPC_URL",
        default_value = "http://127.0.0.1:8545",
        global = true
    )]
    pub rpc_url: String,
    /// Deployment file with the token and market addresses (written by `concord-devnet`).
    #[arg(
        long,
        env = "CONCORD_DEPLOYMENT",
        default_value = "deployments/local.json",
        global = true
    )]
    pub deployment: PathBuf,
    /// Seconds to wait for the node to answer one request.
    #[arg(
        long,
        env = "ETH_RPC_TIMEOUT",
        default_value_t = 30,
        value_name = "SECS",
        global = true
    )]
    pub rpc_timeout: u64,
    /// Seconds to wait for a submitted transaction to be mined (it may still land later; run again to check).
    #[arg(
        long,
        env = "CONCORD_TX_TIMEOUT",
        default_value_t = 300,
        value_name = "SECS",
        global = true
    )]
    pub tx_timeout: u64,
    /// Most blocks one event read (`eth_getLogs`) asks for; halved while the node says a range is too large or
    /// holds too many results.
    #[arg(
        long,
        env = "CONCORD_LOG_RANGE",
        default_value_t = concord_client::chain::DEFAULT_LOG_RANGE,
        value_name = "BLOCKS",
        global = true
    )]
    pub log_range: u64,
    /// Blocks below the head that are read again every time (events in older blocks are cached in
    /// $CONCORD_HOME/logs.sqlite; a reorg deeper than this drops the cache).
    #[arg(
        long,
        env = "CONCORD_CONFIRMATIONS",
        default_value_t = concord_client::chain::DEFAULT_CONFIRMATIONS,
        value_name = "BLOCKS",
        global = true
    )]
    pub confirmations: u64,
    /// Read every event from the node, without the local event cache.
    #[arg(long, global = true)]
    pub no_log_cache: bool,
    /// HTTP(S) gateway that `ipfs://` manifest URIs are fetched through.
    #[arg(
        long,
        env = "CONCORD_IPFS_GATEWAY",
        default_value = concord_client::dataset::DEFAULT_IPFS_GATEWAY,
        global = true
    )]
    pub ipfs_gateway: String,
    /// Most a transaction may pay per gas, base fee and tip together (wei, or with a unit: `30gwei`). A cap
    /// under the current base fee is refused before anything is sent.
    #[arg(long, env = "ETH_MAX_FEE_PER_GAS", value_parser = parse_fee, value_name = "PRICE", global = true)]
    pub max_fee_per_gas: Option<u128>,
    /// Tip per gas instead of the node's suggestion (wei, or with a unit: `2gwei`).
    #[arg(long, env = "ETH_PRIORITY_GAS_PRICE", value_parser = parse_fee, value_name = "PRICE", global = true)]
    pub priority_gas_price: Option<u128>,
}

/// A gas price: wei, or a decimal with `gwei`/`ether`/`wei` (as cast takes them).
pub fn parse_fee(s: &str) -> std::result::Result<u128, String> {
    let t = s.trim().to_ascii_lowercase();
    let (num, unit) = match t.find(|c: char| c.is_ascii_alphabetic()) {
        Some(i) => (t[..i].trim(), t[i..].trim()),
        None => (t.as_str(), "wei"),
    };
    let wei = alloy::primitives::utils::parse_units(num, unit)
        .map_err(|e| format!("`{s}` is not a gas price (e.g. 30gwei or 30000000000): {e}"))?;
    u128::try_from(wei.get_absolute()).map_err(|_| format!("`{s}` is too large for a gas price"))
}

impl RpcOpts {
    /// The timeouts these options ask for.
    pub fn timeouts(&self) -> Timeouts {
        Timeouts {
            rpc: std::time::Duration::from_secs(self.rpc_timeout.max(1)),
            tx: std::time::Duration::from_secs(self.tx_timeout.max(1)),
        }
    }
}

/// Who signs.
#[derive(Debug, Clone, Args, Default)]
#[command(next_help_heading = "Wallet")]
pub struct WalletOpts {
    /// Raw private key (hex). Prefer a keystore outside of test setups.
    #[arg(long, env = "ETH_PRIVATE_KEY", hide_env_values = true, global = true)]
    pub private_key: Option<String>,
    /// Encrypted JSON keystore file (or a directory with --account).
    #[arg(long, env = "ETH_KEYSTORE", global = true)]
    pub keystore: Option<PathBuf>,
    /// Keystore account name inside `--keystore` (or ~/.foundry/keystores).
    #[arg(long, global = true)]
    pub account: Option<String>,
    /// File holding the keystore password.
    #[arg(long, env = "ETH_PASSWORD", global = true)]
    pub password_file: Option<PathBuf>,
}

impl WalletOpts {
    /// Loads the signer if any wallet option is given.
    pub fn signer(&self) -> Result<Option<PrivateKeySigner>> {
        if let Some(pk) = &self.private_key {
            let pk = pk.trim();
            return pk.parse::<PrivateKeySigner>().map(Some).map_err(|_| {
                ClientError::Wallet("--private-key is not a 32-byte hex private key".into())
            });
        }
        let path = match (&self.keystore, &self.account) {
            (Some(k), Some(a)) if k.is_dir() => k.join(a),
            (Some(k), _) => k.clone(),
            (None, Some(a)) => {
                let home = std::env::var_os("HOME")
                    .map(PathBuf::from)
                    .unwrap_or_default();
                home.join(".foundry").join("keystores").join(a)
            }
            (None, None) => return Ok(None),
        };
        if !path.is_file() {
            return Err(ClientError::Wallet(format!(
                "keystore {} does not exist",
                path.display()
            )));
        }
        let password = match &self.password_file {
            Some(p) => std::fs::read_to_string(p)
                .map_err(|e| {
                    ClientError::Wallet(format!("cannot read password file {}: {e}", p.display()))
                })?
                .trim_end_matches(['\n', '\r'])
                .to_string(),
            None => {
                return Err(ClientError::Wallet(
                    "the keystore needs --password-file (or ETH_PASSWORD)".into(),
                ))
            }
        };
        PrivateKeySigner::decrypt_keystore(&path, password)
            .map(Some)
            .map_err(|e| {
                ClientError::Wallet(format!(
                    "cannot decrypt keystore {}: {e} (wrong password?)",
                    path.display()
                ))
            })
    }

    /// Like [`WalletOpts::signer`] but required.
    pub fn require_signer(&self) -> Result<PrivateKeySigner> {
        self.signer()?.ok_or_else(|| {
            ClientError::Wallet(
                "this command sends transactions: pass --private-key, --keystore or --account"
                    .into(),
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_private_key_is_a_clear_error() {
        let w = WalletOpts {
            private_key: Some("0x1234".into()),
            ..Default::default()
        };
        assert!(w
            .signer()
            .expect_err("bad key")
            .to_string()
            .contains("32-byte hex"));
        assert!(WalletOpts::default().require_signer().is_err());
    }
}

#[cfg(test)]
mod fee_tests {
    #[test]
    fn gas_prices_take_wei_or_units() {
        assert_eq!(super::parse_fee("30gwei"), Ok(30_000_000_000));
        assert_eq!(super::parse_fee("1.5 gwei"), Ok(1_500_000_000));
        assert_eq!(super::parse_fee("12345"), Ok(12_345));
        assert_eq!(super::parse_fee("7wei"), Ok(7));
        assert!(super::parse_fee("cheap").is_err());
        assert!(super::parse_fee("-1gwei").is_err());
    }
}

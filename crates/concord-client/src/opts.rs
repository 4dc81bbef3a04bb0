//! Option groups shared by the CLIs, shaped like Foundry's `cast`: `--rpc-url`/`ETH_RPC_URL`, `--private-key`,
//! `--keystore`/`ETH_KEYSTORE` with `--password-file`/`ETH_PASSWORD`, plus Concord's `--deployment`.

use alloy::signers::local::PrivateKeySigner;
use clap::Args;
use std::path::PathBuf;

use crate::{ClientError, Concord, Deployment, Result};

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
}

impl RpcOpts {
    /// The timeouts these options ask for.
    pub fn timeouts(&self) -> crate::chain::Timeouts {
        crate::chain::Timeouts {
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

/// Connects with the given options (read-only if no wallet option is set).
pub async fn connect(rpc: &RpcOpts, wallet: &WalletOpts, quiet: bool) -> Result<Concord> {
    let deployment = Deployment::load(&rpc.deployment)?;
    let signer = wallet.signer()?;
    Ok(
        Concord::connect_with(&rpc.rpc_url, deployment, signer, rpc.timeouts())
            .await?
            .quiet(quiet),
    )
}

/// Parses a token amount in whole tokens with up to 18 decimals (`1.5` -> 1.5e18 wei).
pub fn parse_tokens(s: &str) -> Result<alloy::primitives::U256> {
    let t = s.trim();
    if t.starts_with('-') {
        return Err(ClientError::Input(format!(
            "`{s}` is negative; amounts are positive token counts"
        )));
    }
    // alloy's parse_units slices by byte offset and panics on non-ASCII input: accept only plain decimals
    // (found by the property test `class_lists_and_amounts_never_panic`).
    let well_formed = !t.is_empty()
        && t.len() <= 60
        && t.bytes().all(|b| b.is_ascii_digit() || b == b'.')
        && t.matches('.').count() <= 1;
    if !well_formed {
        return Err(ClientError::Input(format!(
            "`{s}` is not a token amount (e.g. 100 or 0.5)"
        )));
    }
    alloy::primitives::utils::parse_units(t, 18)
        .map(|u| u.get_absolute())
        .map_err(|_| ClientError::Input(format!("`{s}` is not a token amount (e.g. 100 or 0.5)")))
}

/// Formats wei of an 18-decimals token as whole tokens, trimming trailing zeros.
pub fn fmt_tokens(x: alloy::primitives::U256) -> String {
    let s = alloy::primitives::utils::format_units(x, 18).unwrap_or_else(|_| x.to_string());
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_amounts_round_trip() {
        let x = parse_tokens("1.5").expect("valid");
        assert_eq!(x.to_string(), "1500000000000000000");
        assert_eq!(fmt_tokens(x), "1.5");
        assert!(parse_tokens("abc").is_err());
        assert!(parse_tokens("-1").is_err());
    }

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

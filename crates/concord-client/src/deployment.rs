//! The deployment file both CLIs read: which chain, which token and market, from which block to scan events.

use alloy::primitives::Address;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

use crate::ClientError;

/// Addresses of one Concord deployment (written by `concord-devnet` or `script/Deploy.s.sol`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Deployment {
    pub chain_id: u64,
    pub token: Address,
    pub market: Address,
    #[serde(default)]
    pub treasury: Option<Address>,
    /// The generation market on `market` (docs/generation.md); absent in deployments made before it existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generation: Option<Address>,
    /// First block worth scanning for events.
    #[serde(default)]
    pub deploy_block: u64,
}

/// Default deployment path: `$CONCORD_DEPLOYMENT`, else `deployments/local.json` (written by the devnet).
pub fn default_path() -> PathBuf {
    std::env::var_os("CONCORD_DEPLOYMENT")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("deployments/local.json"))
}

impl Deployment {
    /// Reads and validates a deployment file.
    pub fn load(path: &Path) -> Result<Self, ClientError> {
        let text = std::fs::read_to_string(path).map_err(|e| ClientError::Deployment {
            path: path.to_path_buf(),
            reason: format!(
                "{e}; start a devnet with `concord-devnet` or pass --deployment <file>"
            ),
        })?;
        Self::parse(&text).map_err(|reason| ClientError::Deployment {
            path: path.to_path_buf(),
            reason,
        })
    }

    /// Parses a deployment JSON document.
    pub fn parse(text: &str) -> Result<Self, String> {
        let d: Deployment =
            serde_json::from_str(text).map_err(|e| format!("not a deployment file: {e}"))?;
        if d.market == Address::ZERO || d.token == Address::ZERO {
            return Err("market and token addresses must be non-zero".into());
        }
        Ok(d)
    }

    /// Writes the file atomically (temp file + rename), creating parent folders.
    pub fn save(&self, path: &Path) -> std::io::Result<()> {
        if let Some(dir) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        let tmp = path.with_extension("json.tmp");
        std::fs::write(
            &tmp,
            serde_json::to_string_pretty(self).map_err(std::io::Error::other)? + "\n",
        )?;
        std::fs::rename(tmp, path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_forge_script_output() {
        let text = r#"{"chainId":31337,"deployBlock":0,"market":"0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512",
            "token":"0x5FbDB2315678afecb367f032d93F642f64180aa3","treasury":"0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"}"#;
        let d = Deployment::parse(text).expect("valid");
        assert_eq!(d.chain_id, 31337);
        assert_eq!(
            d.market.to_string(),
            "0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512"
        );
    }

    #[test]
    fn rejects_garbage_and_zero_addresses() {
        assert!(Deployment::parse("{}").is_err());
        assert!(Deployment::parse("not json").is_err());
        let zero = r#"{"chainId":1,"market":"0x0000000000000000000000000000000000000000","token":"0x5FbDB2315678afecb367f032d93F642f64180aa3"}"#;
        assert!(Deployment::parse(zero).unwrap_err().contains("non-zero"));
    }
}

//! Deploying Concord (token + market) to any chain, and the local devnet (anvil) used by the demo and tests.

use alloy::network::EthereumWallet;
use alloy::node_bindings::{Anvil, AnvilInstance};
use alloy::primitives::{Address, U256};
use alloy::providers::{Provider, ProviderBuilder};
use alloy::signers::local::PrivateKeySigner;
use concord_bindings::{ConcordToken, LabelMarket};
use std::path::PathBuf;

use crate::chain::transport_error;
use crate::{ClientError, Deployment, Result};

/// Deploys the token (whole supply to `treasury`) and the market with `cooldown` seconds of unstake cooldown.
pub async fn deploy(rpc_url: &str, signer: PrivateKeySigner, treasury: Address, cooldown: u64) -> Result<Deployment> {
    let url = rpc_url.parse().map_err(|e| ClientError::Input(format!("--rpc-url `{rpc_url}`: {e}")))?;
    let provider = ProviderBuilder::new().wallet(EthereumWallet::from(signer)).connect_http(url);
    let err = |e: alloy::contract::Error| crate::chain::contract_error("deploy", rpc_url, e);
    let chain_id = provider.get_chain_id().await.map_err(|e| transport_error("deploy", rpc_url, &e.to_string()))?;
    let deploy_block = provider.get_block_number().await.map_err(|e| transport_error("deploy", rpc_url, &e.to_string()))?;
    let token = ConcordToken::deploy(&provider, treasury).await.map_err(err)?;
    let market = LabelMarket::deploy(&provider, *token.address(), treasury, U256::from(cooldown)).await.map_err(err)?;
    Ok(Deployment { chain_id, token: *token.address(), market: *market.address(), treasury: Some(treasury), deploy_block })
}

/// Finds the anvil binary: `$CONCORD_ANVIL`, the project's `node_modules`, else `anvil` on PATH.
pub fn anvil_path() -> PathBuf {
    if let Some(p) = std::env::var_os("CONCORD_ANVIL") {
        return PathBuf::from(p);
    }
    let rel = "node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil";
    let mut dirs: Vec<PathBuf> = std::env::current_dir().into_iter().collect();
    if let Ok(exe) = std::env::current_exe() {
        dirs.extend(exe.ancestors().map(PathBuf::from));
    }
    for d in dirs {
        for a in d.ancestors() {
            let p = a.join(rel);
            if p.is_file() {
                return p;
            }
        }
    }
    PathBuf::from("anvil")
}

/// Starts anvil on `port` with `accounts` funded accounts; `block_time` 0 means instant mining.
pub fn spawn_anvil(port: u16, accounts: u32, block_time: u64) -> Result<AnvilInstance> {
    let mut anvil = Anvil::at(anvil_path()).port(port).arg("--accounts").arg(accounts.to_string());
    if block_time > 0 {
        anvil = anvil.block_time(block_time);
    }
    anvil
        .try_spawn()
        .map_err(|e| ClientError::Input(format!("cannot start anvil ({}): {e}; run `make deps` first", anvil_path().display())))
}

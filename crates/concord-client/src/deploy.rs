//! Deploying Concord (token, settlement module, market, generation market) to any chain (`concord-requester deploy`; the devnet uses it too).

use alloy::network::EthereumWallet;
use alloy::primitives::{Address, U256};
use alloy::providers::{Provider, ProviderBuilder};
use alloy::signers::local::PrivateKeySigner;
use concord_bindings::generation::GenerationMarket;
use concord_bindings::optimistic::LabelMarketV2Optimistic;
use concord_bindings::relay::LabelMarketV2Relay;
use concord_bindings::settlement::LabelMarketV2Settlement;
use concord_bindings::{ConcordToken, LabelMarketV2};

use crate::chain::{contract_error, transport_error};
use crate::{ClientError, Deployment, Result};

/// Deploys the token (whole supply to `treasury`), the market's settlement module, the market with `cooldown`
/// seconds of unstake cooldown, and the generation market on it.
pub async fn deploy(
    rpc_url: &str,
    signer: PrivateKeySigner,
    treasury: Address,
    cooldown: u64,
) -> Result<Deployment> {
    let url = rpc_url
        .parse()
        .map_err(|e| ClientError::Input(format!("--rpc-url `{rpc_url}`: {e}")))?;
    let provider = ProviderBuilder::new()
        .wallet(EthereumWallet::from(signer))
        .connect_http(url);
    let err = |e: alloy::contract::Error| contract_error("deploy", rpc_url, e);
    let chain_id = provider
        .get_chain_id()
        .await
        .map_err(|e| transport_error("deploy", rpc_url, &e.to_string()))?;
    let deploy_block = provider
        .get_block_number()
        .await
        .map_err(|e| transport_error("deploy", rpc_url, &e.to_string()))?;
    let token = ConcordToken::deploy(&provider, treasury)
        .await
        .map_err(err)?;
    // The modules first: the market delegates to the settlement module, which routes optimistic settlement and
    // relayed commits on to their own modules; each checks the next was made for the same token and treasury.
    let optimistic = LabelMarketV2Optimistic::deploy(&provider, *token.address(), treasury)
        .await
        .map_err(err)?;
    let relay = LabelMarketV2Relay::deploy(&provider, *token.address(), treasury)
        .await
        .map_err(err)?;
    let module = LabelMarketV2Settlement::deploy(
        &provider,
        *token.address(),
        treasury,
        *optimistic.address(),
        *relay.address(),
    )
    .await
    .map_err(err)?;
    let market = LabelMarketV2::deploy(
        &provider,
        *token.address(),
        treasury,
        U256::from(cooldown),
        *module.address(),
    )
    .await
    .map_err(err)?;
    let generation = GenerationMarket::deploy(&provider, *market.address())
        .await
        .map_err(err)?;
    Ok(Deployment {
        chain_id,
        token: *token.address(),
        market: *market.address(),
        treasury: Some(treasury),
        generation: Some(*generation.address()),
        deploy_block,
    })
}

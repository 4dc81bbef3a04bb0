//! Protocol v2 from Rust against a real anvil: the bindings, the Rust twins of the bundle commit hash and of the
//! round-1 task map agree with the contract, a whole batch runs (join, seed, commit, reveal, settle), and an
//! annotator that simulates before sending (`eth_call`) learns nothing about its tasks.

use alloy::network::EthereumWallet;
use alloy::primitives::{Address, B256, U256};
use alloy::providers::{Provider, ProviderBuilder};
use alloy::signers::local::PrivateKeySigner;
use concord_bindings::optimistic::LabelMarketV2Optimistic;
use concord_bindings::relay::LabelMarketV2Relay;
use concord_bindings::settlement::LabelMarketV2Settlement;
use concord_bindings::ILabelMarketV2Types;
use concord_bindings::{ConcordToken, LabelMarketV2};
use concord_protocol::bundle::pack_bundle;
use concord_protocol::commit::BundleKey;
use concord_protocol::permutation::round_one_task;
use concord_testkit::spawn_anvil;

const UNIT: u128 = 1_000_000_000_000_000_000;

fn signers(anvil: &alloy::node_bindings::AnvilInstance) -> Vec<PrivateKeySigner> {
    anvil
        .keys()
        .iter()
        .map(|k| PrivateKeySigner::from(alloy::signers::k256::ecdsa::SigningKey::from(k.clone())))
        .collect()
}

/// Token and market deployed by account 0 (also treasury and requester); accounts 1..=n stake 1,000 CCD each.
async fn setup(rpc: &str, keys: &[PrivateKeySigner], n: usize) -> eyre::Result<(Address, Address)> {
    let p = ProviderBuilder::new()
        .wallet(EthereumWallet::from(keys[0].clone()))
        .connect_http(rpc.parse()?);
    let token = ConcordToken::deploy(&p, keys[0].address()).await?;
    let optimistic =
        LabelMarketV2Optimistic::deploy(&p, *token.address(), keys[0].address()).await?;
    let relay = LabelMarketV2Relay::deploy(&p, *token.address(), keys[0].address()).await?;
    let module = LabelMarketV2Settlement::deploy(
        &p,
        *token.address(),
        keys[0].address(),
        *optimistic.address(),
        *relay.address(),
    )
    .await?;
    let market = LabelMarketV2::deploy(
        &p,
        *token.address(),
        keys[0].address(),
        U256::from(3600),
        *module.address(),
    )
    .await?;
    token
        .approve(*market.address(), U256::MAX)
        .send()
        .await?
        .get_receipt()
        .await?;
    for k in &keys[1..=n] {
        token
            .transfer(k.address(), U256::from(10_000 * UNIT))
            .send()
            .await?
            .get_receipt()
            .await?;
        let pa = ProviderBuilder::new()
            .wallet(EthereumWallet::from(k.clone()))
            .connect_http(rpc.parse()?);
        let t = ConcordToken::new(*token.address(), &pa);
        t.approve(*market.address(), U256::MAX)
            .send()
            .await?
            .get_receipt()
            .await?;
        LabelMarketV2::new(*market.address(), &pa)
            .stake(U256::from(1_000 * UNIT))
            .send()
            .await?
            .get_receipt()
            .await?;
    }
    Ok((*token.address(), *market.address()))
}

fn params(token: Address, items: u32) -> ILabelMarketV2Types::BatchParams {
    ILabelMarketV2Types::BatchParams {
        rewardToken: token,
        reviewer: Address::ZERO,
        qualifier: Address::ZERO,
        numItems: items,
        taskSize: 4,
        replicas: 3,
        numClasses: 4,
        thresholdBps: 6600,
        maxBundle: 2,
        rewardPerLabel: UNIT,
        stakePerTask: alloy::primitives::Uint::from(20 * UNIT),
        wrongLabelPenalty: alloy::primitives::Uint::from(2 * UNIT),
        noRevealPenalty: alloy::primitives::Uint::from(10 * UNIT),
        squatPenalty: alloy::primitives::Uint::from(5 * UNIT),
        minStake: alloy::primitives::Uint::from(50 * UNIT),
        minReputation: -100,
        periods: ILabelMarketV2Types::Periods {
            commitPeriod: 86_400,
            revealPeriod: 86_400,
            reviewPeriod: 86_400,
            roundPeriod: 3_600,
            commitWindow: 7_200,
        },
        manifestRoot: B256::repeat_byte(1),
        manifestURI: "ipfs://manifest".into(),
        goldRoot: B256::ZERO,
        goldCount: 0,
        goldBond: 0,
    }
}

#[tokio::test]
async fn a_batch_runs_end_to_end_and_rust_agrees_with_the_contract() -> eyre::Result<()> {
    let anvil = spawn_anvil(0, 5, 0)?;
    let rpc = anvil.endpoint();
    let keys = signers(&anvil);
    let (token, market_addr) = setup(&rpc, &keys, 3).await?;
    let requester = ProviderBuilder::new()
        .wallet(EthereumWallet::from(keys[0].clone()))
        .connect_http(rpc.parse()?);
    let market = LabelMarketV2::new(market_addr, &requester);
    market
        .createBatch(params(token, 8))
        .send()
        .await?
        .get_receipt()
        .await?;
    let chain_id = requester.get_chain_id().await?;

    // Three annotators join for two tasks each; the third join fills the round and seals it.
    let mut bundles = Vec::new();
    for k in &keys[1..=3] {
        let pa = ProviderBuilder::new()
            .wallet(EthereumWallet::from(k.clone()))
            .connect_http(rpc.parse()?);
        let receipt = LabelMarketV2::new(market_addr, &pa)
            .join(U256::ZERO, U256::from(2))
            .send()
            .await?
            .get_receipt()
            .await?;
        let joined = receipt
            .inner
            .logs()
            .iter()
            .find_map(|l| l.log_decode::<LabelMarketV2::Joined>().ok())
            .ok_or_else(|| eyre::eyre!("no Joined event"))?;
        bundles.push((
            joined.inner.data.bundleId,
            joined.inner.data.bundle.clone(),
            pa,
        ));
    }
    let seal_block = market
        .getRound(U256::ZERO, U256::from(1))
        .call()
        .await?
        .sealBlock;
    let _: serde_json::Value = requester.raw_request("evm_mine".into(), ()).await?;
    market
        .drawSeed(U256::ZERO, U256::from(1))
        .send()
        .await?
        .get_receipt()
        .await?;
    let seed = market.seedOf(U256::ZERO, U256::from(1)).call().await?;
    let seed_block = requester
        .get_block_by_number((seal_block + 1).into())
        .await?
        .ok_or_else(|| eyre::eyre!("no block after the seal"))?;
    assert_eq!(
        seed, seed_block.header.hash,
        "the seed is the hash of the block after the seal"
    );

    // Each annotator computes its tasks in Rust from the seed; the contract agrees.
    let truth = |task: u64| -> Vec<u8> { (0..4).map(|i| ((task * 7 + i * 3) % 4) as u8).collect() };
    let mut labelled = Vec::new();
    for (id, b, pa) in &bundles {
        let mut tasks = Vec::new();
        for m in 0..u64::from(b.size) {
            let ticket = u64::from(b.first) + m;
            let rust = round_one_task(seed, u64::from(b.lane), ticket, 2).expect("in range");
            let chain = market
                .taskAt(
                    U256::ZERO,
                    U256::from(b.lane),
                    U256::from(1),
                    U256::from(ticket),
                )
                .call()
                .await?;
            assert_eq!(
                U256::from(rust),
                chain,
                "task of lane {} ticket {ticket}",
                b.lane
            );
            tasks.push(truth(rust));
        }
        let words = pack_bundle(&tasks).expect("4 items per task");
        let salt = B256::repeat_byte(0x5A);
        let key = BundleKey {
            chain_id,
            market: market_addr,
            batch: 0,
            bundle: id.to::<u64>(),
            annotator: b.annotator,
        };
        let hash = key.commit_hash(&words, salt);
        let on_chain = market
            .commitHashOf(U256::ZERO, *id, b.annotator, words.clone(), salt)
            .call()
            .await?;
        assert_eq!(hash, on_chain, "the Rust commit hash is the contract's");
        LabelMarketV2::new(market_addr, pa)
            .commit(U256::ZERO, *id, b.clone(), hash, Default::default())
            .send()
            .await?
            .get_receipt()
            .await?;
        labelled.push((words, salt));
    }
    let mut proofs = Vec::new();
    for ((id, b, pa), (words, salt)) in bundles.iter().zip(&labelled) {
        LabelMarketV2::new(market_addr, pa)
            .reveal(U256::ZERO, *id, b.clone(), words.clone(), *salt)
            .send()
            .await?
            .get_receipt()
            .await?;
        proofs.push(ILabelMarketV2Types::BundleProof {
            id: id.to::<u32>(),
            positions: u32::MAX,
            bundle: b.clone(),
            commitHash: B256::ZERO,
            labels: words.clone(),
            salt: B256::ZERO,
        });
    }
    market
        .settle(U256::ZERO, vec![U256::ZERO, U256::from(1)], proofs)
        .send()
        .await?
        .get_receipt()
        .await?;
    for k in &keys[1..=3] {
        let owed = market.claimable(k.address(), token).call().await?;
        assert_eq!(
            owed,
            U256::from(8 * UNIT),
            "8 agreeing labels paid to {}",
            k.address()
        );
    }
    Ok(())
}

#[tokio::test]
async fn simulating_a_join_reveals_nothing_about_its_tasks() -> eyre::Result<()> {
    let anvil = spawn_anvil(0, 3, 0)?;
    let rpc = anvil.endpoint();
    let keys = signers(&anvil);
    let (token, market_addr) = setup(&rpc, &keys, 1).await?;
    let requester = ProviderBuilder::new()
        .wallet(EthereumWallet::from(keys[0].clone()))
        .connect_http(rpc.parse()?);
    LabelMarketV2::new(market_addr, &requester)
        .createBatch(params(token, 200))
        .send()
        .await?
        .get_receipt()
        .await?;
    let pa = ProviderBuilder::new()
        .wallet(EthereumWallet::from(keys[1].clone()))
        .connect_http(rpc.parse()?);
    let market = LabelMarketV2::new(market_addr, &pa);
    let seed_not_ready = |e: alloy::contract::Error| {
        matches!(
            e.as_decoded_interface_error::<LabelMarketV2::LabelMarketV2Errors>(),
            Some(LabelMarketV2::LabelMarketV2Errors::SeedNotReady(_))
        )
    };
    // Simulate the join: it would succeed, and says which tickets — not which tasks.
    let sim = market.join(U256::ZERO, U256::from(2)).call().await?;
    assert_eq!(sim.size, U256::from(2));
    // The tasks are a function of a block hash that does not exist yet: every way to ask fails.
    let asked = market
        .taskAt(U256::ZERO, U256::ZERO, U256::from(1), U256::ZERO)
        .call()
        .await;
    assert!(asked.is_err_and(seed_not_ready), "taskAt before the seed");
    let drawn = market.drawSeed(U256::ZERO, U256::from(1)).call().await;
    assert!(drawn.is_err_and(seed_not_ready), "drawSeed before the seal");
    // Send the join for real: still nothing to learn until the round seals and a later block is mined.
    market
        .join(U256::ZERO, U256::from(2))
        .send()
        .await?
        .get_receipt()
        .await?;
    let asked = market
        .taskAt(U256::ZERO, U256::ZERO, U256::from(1), U256::ZERO)
        .call()
        .await;
    assert!(asked.is_err_and(seed_not_ready), "taskAt after the join");
    Ok(())
}

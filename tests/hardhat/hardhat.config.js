// Hardhat's node as a second EVM implementation for the end-to-end test (tests/tests/hardhat.rs): the same
// chain id and well-known test mnemonic as anvil, Prague rules like forge's `evm_version`, and interval mining
// only (a block every second, no block per transaction), as on a real network. Nothing is compiled here.
module.exports = {
  solidity: "0.8.30",
  networks: {
    hardhat: {
      chainId: 31337,
      hardfork: "prague",
      mining: { auto: false, interval: 1000 },
      accounts: { count: 20 },
    },
  },
};

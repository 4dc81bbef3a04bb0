//! Property tests: the wallet options return a signer or a clear error, never panic.

use concord_cli::WalletOpts;
use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn keystore_paths_never_panic(path in "[a-zA-Z0-9_./ -]{0,40}", account in prop::option::of("[a-z]{0,8}")) {
        let w = WalletOpts { keystore: Some(path.into()), account, password_file: None, private_key: None };
        prop_assert!(w.signer().is_err(), "no keystore exists at random paths");
    }

    #[test]
    fn private_keys_never_panic(s in ".{0,80}") {
        let w = WalletOpts { private_key: Some(s), ..Default::default() };
        let _ = w.signer();
    }

}

//! Property tests: everything that parses user input returns a value or a clear error, never panics.

use concord_client::dataset::{load_items, parse_classes, read_responses_csv, Manifest};
use concord_client::deployment::Deployment;
use concord_client::protocol::units::parse_tokens;
use proptest::prelude::*;
use std::io::Write;

fn write_tmp(ext: &str, bytes: &[u8]) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = dir.path().join(format!("input.{ext}"));
    std::fs::File::create(&p)
        .and_then(|mut f| f.write_all(bytes))
        .expect("write");
    (dir, p)
}

/// Lines that look like dataset rows, with random corruption.
fn jsonish() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(
        prop_oneof![
            Just(b"{\"id\":\"a\",\"text\":\"x\"}\n".to_vec()),
            Just(b"{\"id\":1,\"uri\":\"http://x\"}\n".to_vec()),
            Just(b"{\"id\":\"a\",\"text\":\"x\",\"gold\":\"c\"}\n".to_vec()),
            Just(b"{\"text\":null}\n".to_vec()),
            Just(b"[1,2]\n".to_vec()),
            prop::collection::vec(any::<u8>(), 0..40),
        ],
        0..12,
    )
    .prop_map(|parts| parts.concat())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn dataset_loaders_never_panic(bytes in jsonish(), ext in prop::sample::select(vec!["jsonl", "csv", "json", "txt"])) {
        let (_d, p) = write_tmp(ext, &bytes);
        match load_items(&p) {
            Ok(items) => {
                prop_assert!(!items.is_empty());
                // A loaded dataset always builds a manifest that verifies against its own root.
                let m = Manifest::build(&items, &["a".into(), "b".into()]);
                prop_assert!(m.verify(m.root).is_ok());
            }
            Err(e) => prop_assert!(!e.to_string().is_empty()),
        }
    }

    #[test]
    fn deployment_parser_never_panics(s in ".{0,200}") {
        let _ = Deployment::parse(&s);
    }

    #[test]
    fn deployment_parser_handles_near_valid_json(chain in any::<u64>(), a in "[0-9a-fA-Fx]{0,44}", b in "[0-9a-fA-Fx]{0,44}") {
        let text = format!("{{\"chainId\":{chain},\"token\":\"{a}\",\"market\":\"{b}\"}}");
        if let Ok(d) = Deployment::parse(&text) {
            prop_assert_eq!(d.chain_id, chain);
        }
    }

    #[test]
    fn class_lists_and_amounts_never_panic(s in ".{0,80}") {
        let _ = parse_classes(&s);
        let _ = parse_tokens(&s);
    }

    #[test]
    fn responses_csv_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        let (_d, p) = write_tmp("csv", &bytes);
        let _ = read_responses_csv(&p);
    }
}

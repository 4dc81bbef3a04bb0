//! The item manifest both sides agree on: items with their content hash, the Merkle root that goes on-chain,
//! the class list, and the requester's private gold answers with the salts that hide them until revealed.

use alloy_primitives::{keccak256, B256};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::merkle::{gold_leaf, manifest_leaf, MerkleTree};
use crate::ProtocolError;

/// One item to label.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Item {
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uri: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meta: Option<Value>,
    /// Gold answer (class name); never published in the manifest.
    #[serde(default, skip_serializing)]
    pub gold: Option<String>,
    /// The bytes behind `uri`, hashed when the batch is created (never read from a dataset).
    #[serde(skip)]
    pub media: Option<Media>,
}

/// The file behind an item's `uri`: its SHA-256, size and CIDv1 (raw codec, so `ipfs://<cid>` names exactly
/// these bytes when they were added as one raw block, as `ipfs add --raw-leaves --cid-version 1` does up to its
/// chunk size). Part of the item's content hash, so the on-chain root binds the bytes, not only the URI.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Media {
    pub sha256: B256,
    pub size: u64,
    pub cid: String,
}

impl Media {
    /// The record of `bytes`.
    pub fn of(bytes: &[u8]) -> Self {
        let sha256 = B256::from_slice(&Sha256::digest(bytes));
        Self {
            sha256,
            size: bytes.len() as u64,
            cid: cid_v1_raw(&sha256),
        }
    }

    /// Whether `bytes` are this file.
    pub fn matches(&self, bytes: &[u8]) -> bool {
        bytes.len() as u64 == self.size
            && Sha256::digest(bytes).as_slice() == self.sha256.as_slice()
    }
}

/// CIDv1 of a raw block with this SHA-256 (multibase base32 lower-case: `bafkrei…`).
pub fn cid_v1_raw(sha256: &B256) -> String {
    // version 1, codec raw (0x55), multihash sha2-256 (0x12) of 32 bytes (0x20)
    let mut bytes = vec![0x01, 0x55, 0x12, 0x20];
    bytes.extend_from_slice(sha256.as_slice());
    format!("b{}", base32_lower(&bytes))
}

/// RFC 4648 base32, lower-case alphabet, no padding (multibase `b`).
fn base32_lower(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";
    let mut out = String::with_capacity(bytes.len().div_ceil(5) * 8);
    let (mut buffer, mut bits) = (0u32, 0u32);
    for &b in bytes {
        buffer = (buffer << 8) | u32::from(b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(ALPHABET[((buffer >> bits) & 31) as usize] as char);
        }
    }
    if bits > 0 {
        out.push(ALPHABET[((buffer << (5 - bits)) & 31) as usize] as char);
    }
    out
}

impl Item {
    /// keccak256 of the canonical JSON (sorted keys, no whitespace) of id, text, uri, meta and, for an item with a
    /// media file, its SHA-256 and size.
    pub fn content_hash(&self) -> B256 {
        let mut m = Map::new();
        m.insert("id".into(), Value::String(self.id.clone()));
        if let Some(t) = &self.text {
            m.insert("text".into(), Value::String(t.clone()));
        }
        if let Some(u) = &self.uri {
            m.insert("uri".into(), Value::String(u.clone()));
        }
        if let Some(meta) = &self.meta {
            m.insert("meta".into(), meta.clone());
        }
        if let Some(media) = &self.media {
            m.insert("sha256".into(), Value::String(media.sha256.to_string()));
            m.insert("size".into(), Value::from(media.size));
        }
        keccak256(Value::Object(m).to_string())
    }
}

/// Parses a class list `a,b,c` (2..=16 distinct names).
pub fn parse_classes(spec: &str) -> Result<Vec<String>, ProtocolError> {
    let classes: Vec<String> = spec
        .split(',')
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect();
    if classes.len() < 2 || classes.len() > crate::labels::MAX_CLASSES {
        return Err(ProtocolError::Input(format!(
            "need 2 to 16 classes, got {} in `{spec}`",
            classes.len()
        )));
    }
    let mut sorted = classes.clone();
    sorted.sort();
    sorted.dedup();
    if sorted.len() != classes.len() {
        return Err(ProtocolError::Input(format!(
            "class names must be distinct: `{spec}`"
        )));
    }
    Ok(classes)
}

/// An item as published in the manifest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ManifestItem {
    pub index: u64,
    pub id: String,
    pub content_hash: B256,
    pub uri: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meta: Option<Value>,
    /// The file behind `uri`, when the requester published one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media: Option<Media>,
    /// A generated datapoint under review: its content hash is keccak256 of `text`'s bytes, as the generation market
    /// computes the review manifest on-chain (`meta` is informational and not covered). A raw item without `text`
    /// is one whose content could not be fetched or did not match its hash: it carries the committed hash as is
    /// (its `meta` says why), so the root still matches, and reviewers see that it does not open.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub raw: bool,
}

/// A generated datapoint for a review manifest: its text when it opened, and the content hash committed on-chain.
#[derive(Debug, Clone, PartialEq)]
pub struct RawDatapoint {
    pub id: String,
    pub text: Option<String>,
    pub content_hash: B256,
    pub meta: Option<Value>,
}

/// The public manifest annotators fetch: classes, items and the Merkle root that goes on-chain.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Manifest {
    pub version: u32,
    pub classes: Vec<String>,
    pub root: B256,
    pub items: Vec<ManifestItem>,
}

impl Manifest {
    /// Builds the manifest of `items` in order.
    pub fn build(items: &[Item], classes: &[String]) -> Self {
        let items: Vec<ManifestItem> = items
            .iter()
            .enumerate()
            .map(|(i, it)| ManifestItem {
                index: i as u64,
                id: it.id.clone(),
                content_hash: it.content_hash(),
                uri: it.uri.clone().unwrap_or_default(),
                text: it.text.clone(),
                meta: it.meta.clone(),
                media: it.media.clone(),
                raw: false,
            })
            .collect();
        Self::of_items(items, classes)
    }

    /// The manifest of a generation batch's review: the published datapoints in publication order (`id`, text,
    /// `meta`), each hashed as raw bytes — the root `GenerationMarket.openReview` computes on-chain.
    pub fn of_datapoints(
        datapoints: &[(String, String, Option<Value>)],
        classes: &[String],
    ) -> Self {
        let raw: Vec<RawDatapoint> = datapoints
            .iter()
            .map(|(id, text, meta)| RawDatapoint {
                id: id.clone(),
                content_hash: keccak256(text.as_bytes()),
                text: Some(text.clone()),
                meta: meta.clone(),
            })
            .collect();
        Self::of_raw(&raw, classes)
    }

    /// [`Manifest::of_datapoints`] where some contents are missing (kept as their committed hash).
    pub fn of_raw(datapoints: &[RawDatapoint], classes: &[String]) -> Self {
        let items: Vec<ManifestItem> = datapoints
            .iter()
            .enumerate()
            .map(|(i, d)| ManifestItem {
                index: i as u64,
                id: d.id.clone(),
                content_hash: d.content_hash,
                uri: String::new(),
                text: d.text.clone(),
                meta: d.meta.clone(),
                media: None,
                raw: true,
            })
            .collect();
        Self::of_items(items, classes)
    }

    /// The manifest of `items` as given, with the root over them.
    fn of_items(items: Vec<ManifestItem>, classes: &[String]) -> Self {
        let root = Self::tree_of(&items).root();
        Self {
            version: 1,
            classes: classes.to_vec(),
            root,
            items,
        }
    }

    fn tree_of(items: &[ManifestItem]) -> MerkleTree {
        MerkleTree::new(
            items
                .iter()
                .map(|i| manifest_leaf(i.index, i.content_hash, &i.uri))
                .collect(),
        )
    }

    /// Recomputes every content hash and the root; fails if anything was altered.
    pub fn verify(&self, expected_root: B256) -> Result<(), ProtocolError> {
        for (pos, item) in self.items.iter().enumerate() {
            if item.index != pos as u64 {
                return Err(ProtocolError::Manifest(format!(
                    "item {} is out of order (position {pos})",
                    item.index
                )));
            }
            let recomputed = if item.raw {
                match &item.text {
                    Some(text) => keccak256(text.as_bytes()),
                    None => item.content_hash, // does not open: the committed hash, as is
                }
            } else {
                Item {
                    id: item.id.clone(),
                    text: item.text.clone(),
                    uri: Some(item.uri.clone()).filter(|u| !u.is_empty()),
                    meta: item.meta.clone(),
                    gold: None,
                    media: item.media.clone(),
                }
                .content_hash()
            };
            let cid_ok = item
                .media
                .as_ref()
                .is_none_or(|m| m.cid == cid_v1_raw(&m.sha256));
            if recomputed != item.content_hash || !cid_ok {
                return Err(ProtocolError::Manifest(format!(
                    "item {} (`{}`) does not match its content hash",
                    item.index, item.id
                )));
            }
        }
        let root = Self::tree_of(&self.items).root();
        if root != expected_root {
            return Err(ProtocolError::Manifest(format!(
                "manifest root {root} does not match the batch's on-chain root {expected_root}: the items you were served are not the ones the requester committed"
            )));
        }
        Ok(())
    }

    /// Merkle proof of item `index` (for `LabelMarketV2.verifyItem`).
    pub fn proof(&self, index: usize) -> Option<Vec<B256>> {
        Self::tree_of(&self.items).proof(index)
    }

    /// Index of a class name.
    pub fn class_index(&self, name: &str) -> Option<u8> {
        self.classes.iter().position(|c| c == name).map(|i| i as u8)
    }
}

/// One gold answer with the salt that hides it until revealed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GoldSecret {
    pub item: u64,
    pub label: u8,
    pub salt: B256,
}

/// The requester's private gold file: answers, salts and the root committed on-chain.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GoldFile {
    pub root: B256,
    pub answers: Vec<GoldSecret>,
}

impl GoldFile {
    /// Collects gold answers from the items, with fresh random salts. `None` when no item has gold.
    pub fn from_items(items: &[Item], classes: &[String]) -> Result<Option<Self>, ProtocolError> {
        let mut answers = Vec::new();
        for (i, item) in items.iter().enumerate() {
            if let Some(g) = &item.gold {
                let label = classes.iter().position(|c| c == g).ok_or_else(|| {
                    ProtocolError::Input(format!(
                        "gold answer `{g}` of item `{}` is not one of the classes {classes:?}",
                        item.id
                    ))
                })?;
                answers.push(GoldSecret {
                    item: i as u64,
                    label: label as u8,
                    salt: B256::from(rand::random::<[u8; 32]>()),
                });
            }
        }
        if answers.is_empty() {
            return Ok(None);
        }
        let root = Self::tree(&answers).root();
        Ok(Some(Self { root, answers }))
    }

    fn tree(answers: &[GoldSecret]) -> MerkleTree {
        MerkleTree::new(
            answers
                .iter()
                .map(|a| gold_leaf(a.item, a.label, a.salt))
                .collect(),
        )
    }

    /// Proof of the answer at position `i`.
    pub fn proof(&self, i: usize) -> Option<Vec<B256>> {
        Self::tree(&self.answers).proof(i)
    }

    /// The proof of every answer, in order (one tree for all of them).
    pub fn proofs(&self) -> Vec<Vec<B256>> {
        let tree = Self::tree(&self.answers);
        (0..self.answers.len())
            .map(|i| tree.proof(i).unwrap_or_default())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The review of a generation batch: the root `GenerationMarket.openReview` computes over these five datapoints
    /// (`GenerationReview.t.sol`, `test_openReview_createsTheReviewBatchOverThePublishedDatapoints`).
    #[test]
    fn datapoints_hash_as_raw_bytes_to_the_generation_markets_root_and_verify() {
        let texts = [
            "Q: What is 17 * 23? A: 391.",
            "asdf asdf asdf",
            "Q: Which planet has the most moons? A: Saturn.",
            "Q: What is 2 + 2? A: 4.",
            "buy cheap watches",
        ];
        let items: Vec<(String, String, Option<Value>)> = texts
            .iter()
            .enumerate()
            .map(|(i, t)| (format!("sid-{i}"), t.to_string(), None))
            .collect();
        let classes = vec!["reject".to_string(), "accept".to_string()];
        let m = Manifest::of_datapoints(&items, &classes);
        assert_eq!(
            m.root.to_string(),
            "0x54806d7d29ddf1a9b49dcda7babbae484261602679faae12c28e694857e4119b",
            "the contract's root"
        );
        m.verify(m.root).expect("verifies");
        let json = serde_json::to_string(&m).expect("json");
        let back: Manifest = serde_json::from_str(&json).expect("parses");
        back.verify(m.root).expect("raw survives the round trip");
        let mut tampered = m.clone();
        tampered.items[1].text = Some("asdf asdf asdf!".into());
        assert!(
            tampered.verify(m.root).is_err(),
            "a changed datapoint fails"
        );
        let mut not_raw = m.clone();
        not_raw.items[0].raw = false;
        assert!(
            not_raw.verify(m.root).is_err(),
            "hashed as JSON it is another item"
        );
        // A datapoint published by URI that does not open keeps its committed hash and no text: same root.
        let mut raw: Vec<RawDatapoint> = m
            .items
            .iter()
            .map(|i| RawDatapoint {
                id: i.id.clone(),
                text: i.text.clone(),
                content_hash: i.content_hash,
                meta: None,
            })
            .collect();
        raw[4].text = None;
        let missing = Manifest::of_raw(&raw, &classes);
        assert_eq!(missing.root, m.root, "the committed hash, as is");
        missing.verify(m.root).expect("verifies without the text");
    }

    fn media_item(bytes: &[u8]) -> Item {
        Item {
            id: "img".into(),
            text: None,
            uri: Some("https://host/media/img.png".into()),
            meta: None,
            gold: None,
            media: Some(Media::of(bytes)),
        }
    }

    #[test]
    fn the_cid_of_the_empty_file_is_the_well_known_one() {
        // The raw-codec CIDv1 of zero bytes, as `ipfs add --raw-leaves --cid-version 1` of an empty file prints.
        assert_eq!(
            Media::of(b"").cid,
            "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku"
        );
        assert_eq!(
            base32_lower(b"foobar"),
            "mzxw6ytboi",
            "RFC 4648 test vector"
        );
    }

    #[test]
    fn the_root_binds_the_media_bytes_not_only_the_uri() {
        let classes = ["a".to_string(), "b".to_string()];
        let m = Manifest::build(&[media_item(b"cat picture")], &classes);
        let other = Manifest::build(&[media_item(b"dog picture")], &classes);
        assert_ne!(m.root, other.root, "same URI, other bytes: another root");
        m.verify(m.root).expect("verifies");
        assert!(m.items[0]
            .media
            .as_ref()
            .is_some_and(|x| x.matches(b"cat picture")));
        assert!(!m.items[0]
            .media
            .as_ref()
            .is_some_and(|x| x.matches(b"dog picture")));

        // A server that swaps the hash in the manifest (to pass off other bytes) breaks the item's content hash.
        let mut swapped = m.clone();
        swapped.items[0].media = Some(Media::of(b"dog picture"));
        assert!(swapped.verify(m.root).is_err());
        // A CID that does not belong to the hash is refused too.
        let mut bad_cid = m.clone();
        if let Some(x) = bad_cid.items[0].media.as_mut() {
            x.cid = Media::of(b"dog picture").cid;
        }
        assert!(bad_cid.verify(m.root).is_err());
    }

    #[test]
    fn unknown_gold_class_is_rejected() {
        let items = vec![Item {
            id: "a".into(),
            text: Some("t".into()),
            uri: None,
            meta: None,
            gold: Some("maybe".into()),
            media: None,
        }];
        let e =
            GoldFile::from_items(&items, &["yes".into(), "no".into()]).expect_err("unknown class");
        assert!(e.to_string().contains("`maybe`"));
    }

    #[test]
    fn every_gold_proof_verifies_against_the_root() {
        let items: Vec<Item> = (0..7)
            .map(|i| Item {
                id: format!("g{i}"),
                text: Some("t".into()),
                uri: None,
                meta: None,
                gold: Some(if i % 2 == 0 { "yes" } else { "no" }.into()),
                media: None,
            })
            .collect();
        let g = GoldFile::from_items(&items, &["yes".into(), "no".into()])
            .unwrap()
            .unwrap();
        let proofs = g.proofs();
        assert_eq!(proofs.len(), 7);
        for (a, proof) in g.answers.iter().zip(&proofs) {
            let leaf = crate::merkle::gold_leaf(a.item, a.label, a.salt);
            assert!(crate::merkle::verify(proof, g.root, leaf));
            assert_eq!(Some(proof.clone()), g.proof(a.item as usize));
        }
    }

    #[test]
    fn manifest_verifies_and_detects_tampering() {
        let items: Vec<Item> = (0..10)
            .map(|i| Item {
                id: format!("i{i}"),
                text: Some(format!("text {i}")),
                uri: None,
                meta: None,
                gold: None,
                media: None,
            })
            .collect();
        let m = Manifest::build(&items, &["a".into(), "b".into()]);
        m.verify(m.root).expect("untouched manifest verifies");
        let mut bad = m.clone();
        bad.items[3].text = Some("changed".into());
        assert!(bad.verify(m.root).is_err());
        assert!(m.verify(B256::ZERO).is_err());
    }
}

//! Encrypted backup of a bundle's commit (label words + salt) carried in the `Committed` event, readable only
//! with the annotator's key: a lost laptop does not lose a reveal.
//!
//! key = keccak256("concord-backup-v1" || private key), cipher = ChaCha20-Poly1305,
//! blob = nonce || ciphertext of (salt || words), 32 bytes each.

use alloy::primitives::{keccak256, B256, U256};
use chacha20poly1305::aead::{Aead, KeyInit};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use rand::RngCore;

/// Symmetric key derived from the annotator's private key.
#[derive(Clone)]
pub struct BackupKey([u8; 32]);

impl BackupKey {
    /// Derives the key from the 32 secret bytes of the annotator's signing key.
    pub fn derive(secret: &[u8]) -> Self {
        let mut buf = b"concord-backup-v1".to_vec();
        buf.extend_from_slice(secret);
        Self(keccak256(&buf).0)
    }

    /// Encrypts a bundle's label words and salt.
    pub fn seal(&self, words: &[U256], salt: B256) -> Vec<u8> {
        let cipher = ChaCha20Poly1305::new(Key::from_slice(&self.0));
        let mut nonce = [0u8; 12];
        rand::thread_rng().fill_bytes(&mut nonce);
        let mut plain = salt.to_vec();
        for w in words {
            plain.extend_from_slice(&w.to_be_bytes::<32>());
        }
        let mut out = nonce.to_vec();
        // Encryption with a valid key and nonce length cannot fail.
        out.extend(
            cipher
                .encrypt(Nonce::from_slice(&nonce), plain.as_slice())
                .unwrap_or_default(),
        );
        out
    }

    /// Decrypts a blob into (words, salt); `None` if it was not sealed with this key or is corrupt.
    pub fn open(&self, blob: &[u8]) -> Option<(Vec<U256>, B256)> {
        if blob.len() < 12 + 32 + 32 + 16 || (blob.len() - 12 - 16) % 32 != 0 {
            return None;
        }
        let cipher = ChaCha20Poly1305::new(Key::from_slice(&self.0));
        let plain = cipher
            .decrypt(Nonce::from_slice(&blob[..12]), &blob[12..])
            .ok()?;
        let words = plain[32..].chunks(32).map(U256::from_be_slice).collect();
        Some((words, B256::from_slice(&plain[..32])))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_same_key_opens_a_backup() {
        let k = BackupKey::derive(&[1u8; 32]);
        let words = vec![U256::from(0x1234), U256::MAX];
        let blob = k.seal(&words, B256::repeat_byte(5));
        assert_eq!(k.open(&blob), Some((words, B256::repeat_byte(5))));
        assert_eq!(BackupKey::derive(&[2u8; 32]).open(&blob), None);
        let mut tampered = blob.clone();
        tampered[20] ^= 1;
        assert_eq!(k.open(&tampered), None);
        assert_eq!(k.open(&blob[..10]), None);
    }
}

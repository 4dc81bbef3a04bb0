//! Encrypted backup of a commit (labels + salt) carried in the `Committed` event, readable only with the
//! annotator's key: a lost laptop does not lose a reveal.
//!
//! key = keccak256("concord-backup-v1" || private key), cipher = ChaCha20-Poly1305, blob = nonce || ciphertext.

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

    /// Encrypts packed labels and salt.
    pub fn seal(&self, labels: U256, salt: B256) -> Vec<u8> {
        let cipher = ChaCha20Poly1305::new(Key::from_slice(&self.0));
        let mut nonce = [0u8; 12];
        rand::thread_rng().fill_bytes(&mut nonce);
        let mut plain = [0u8; 64];
        plain[..32].copy_from_slice(&labels.to_be_bytes::<32>());
        plain[32..].copy_from_slice(salt.as_slice());
        let mut out = nonce.to_vec();
        // Encryption with a valid key and nonce length cannot fail.
        out.extend(
            cipher
                .encrypt(Nonce::from_slice(&nonce), plain.as_slice())
                .unwrap_or_default(),
        );
        out
    }

    /// Decrypts a blob; `None` if it was not sealed with this key or is corrupt.
    pub fn open(&self, blob: &[u8]) -> Option<(U256, B256)> {
        if blob.len() != 12 + 64 + 16 {
            return None;
        }
        let cipher = ChaCha20Poly1305::new(Key::from_slice(&self.0));
        let plain = cipher
            .decrypt(Nonce::from_slice(&blob[..12]), &blob[12..])
            .ok()?;
        Some((
            U256::from_be_slice(&plain[..32]),
            B256::from_slice(&plain[32..]),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_same_key_opens_a_backup() {
        let k = BackupKey::derive(&[1u8; 32]);
        let blob = k.seal(U256::from(0x1234), B256::repeat_byte(5));
        assert_eq!(
            k.open(&blob),
            Some((U256::from(0x1234), B256::repeat_byte(5)))
        );
        assert_eq!(BackupKey::derive(&[2u8; 32]).open(&blob), None);
        let mut tampered = blob.clone();
        tampered[20] ^= 1;
        assert_eq!(k.open(&tampered), None);
        assert_eq!(k.open(&blob[..10]), None);
    }
}

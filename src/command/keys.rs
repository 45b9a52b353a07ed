//! Ed25519 keys: the signer's secret key (a file only the center has), the public keys a
//! gateway trusts (in its provisioning file, or added by a `rotate_keys` command), and key ids
//! (the first 8 bytes of the public key's SHA-256, in hex).
//!
//! Files: `forewarn-ed25519-secret <64 hex digits>` (the seed) and
//! `forewarn-ed25519-public <key id> <64 hex digits>`, one line each.

use ed25519_dalek::{Signer, SigningKey, Verifier, VerifyingKey};
use serde::{Deserialize, Serialize};
use sha2::Digest;

use crate::util::{hex, unhex};

const SECRET_TAG: &str = "forewarn-ed25519-secret";
const PUBLIC_TAG: &str = "forewarn-ed25519-public";

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum KeyError {
    #[error("not a forewarn {0} key file (expected `{1} ...`)")]
    Format(&'static str, &'static str),
    #[error("the public key is not 32 bytes of hex, or not a point on the curve")]
    BadPublic,
    #[error("the key id {given} does not match the key (its id is {actual})")]
    WrongId { given: String, actual: String },
    #[error("no randomness from the system: {0}")]
    Random(String),
}

/// A key a gateway trusts: its id and public key (hex), as the provisioning file and a
/// `rotate_keys` command give it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TrustedKey {
    pub id: String,
    pub public_key: String,
}

impl TrustedKey {
    /// The key, checked: hex, on the curve, and `id` its id.
    pub fn verifying_key(&self) -> Result<VerifyingKey, KeyError> {
        let bytes: [u8; 32] = unhex(&self.public_key)
            .and_then(|b| b.try_into().ok())
            .ok_or(KeyError::BadPublic)?;
        let key = VerifyingKey::from_bytes(&bytes).map_err(|_| KeyError::BadPublic)?;
        let actual = key_id(&key);
        if actual != self.id {
            return Err(KeyError::WrongId {
                given: self.id.clone(),
                actual,
            });
        }
        Ok(key)
    }

    /// Read a public key file.
    pub fn parse(text: &str) -> Result<TrustedKey, KeyError> {
        let format = KeyError::Format("public", PUBLIC_TAG);
        let mut words = text.split_whitespace();
        let (Some(PUBLIC_TAG), Some(id), Some(public), None) =
            (words.next(), words.next(), words.next(), words.next())
        else {
            return Err(format);
        };
        let k = TrustedKey {
            id: id.to_string(),
            public_key: public.to_string(),
        };
        k.verifying_key()?;
        Ok(k)
    }

    /// The public key file's text.
    pub fn to_file(&self) -> String {
        format!("{PUBLIC_TAG} {} {}\n", self.id, self.public_key)
    }
}

/// The id of a public key: the first 8 bytes of its SHA-256, in hex.
pub fn key_id(key: &VerifyingKey) -> String {
    hex(&sha2::Sha256::digest(key.as_bytes())[..8])
}

/// Whether `signature` (hex) is `key`'s signature of `message`.
pub fn verify(key: &VerifyingKey, message: &[u8], signature: &str) -> bool {
    let Some(bytes) = unhex(signature).and_then(|b| <[u8; 64]>::try_from(b).ok()) else {
        return false;
    };
    key.verify(message, &ed25519_dalek::Signature::from_bytes(&bytes))
        .is_ok()
}

/// A signer's secret key.
pub struct SecretKey(SigningKey);

impl SecretKey {
    /// A new key from the system's randomness.
    pub fn generate() -> Result<SecretKey, KeyError> {
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).map_err(|e| KeyError::Random(e.to_string()))?;
        Ok(SecretKey(SigningKey::from_bytes(&seed)))
    }

    /// Read a secret key file.
    pub fn parse(text: &str) -> Result<SecretKey, KeyError> {
        let mut words = text.split_whitespace();
        let (Some(SECRET_TAG), Some(seed), None) = (words.next(), words.next(), words.next())
        else {
            return Err(KeyError::Format("secret", SECRET_TAG));
        };
        let seed: [u8; 32] = unhex(seed)
            .and_then(|b| b.try_into().ok())
            .ok_or(KeyError::Format("secret", SECRET_TAG))?;
        Ok(SecretKey(SigningKey::from_bytes(&seed)))
    }

    /// The secret key file's text.
    pub fn to_file(&self) -> String {
        format!("{SECRET_TAG} {}\n", hex(self.0.as_bytes()))
    }

    pub fn id(&self) -> String {
        key_id(&self.0.verifying_key())
    }

    /// The public half, as a gateway trusts it.
    pub fn trusted(&self) -> TrustedKey {
        let public = self.0.verifying_key();
        TrustedKey {
            id: key_id(&public),
            public_key: hex(public.as_bytes()),
        }
    }

    pub fn sign(&self, message: &[u8]) -> [u8; 64] {
        self.0.sign(message).to_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_files_round_trip_and_a_wrong_id_or_junk_is_refused() {
        let k = SecretKey::generate().expect("key");
        let again = SecretKey::parse(&k.to_file()).expect("secret file");
        assert_eq!(again.id(), k.id());
        let public = TrustedKey::parse(&k.trusted().to_file()).expect("public file");
        assert_eq!(public, k.trusted());
        let key = public.verifying_key().expect("key");
        let sig = hex(&k.sign(b"hello"));
        assert!(verify(&key, b"hello", &sig));
        assert!(!verify(&key, b"hellO", &sig));
        assert!(!verify(&key, b"hello", "00"));
        let other = SecretKey::generate().expect("key");
        let wrong = TrustedKey {
            id: other.id(),
            ..k.trusted()
        };
        assert!(matches!(
            wrong.verifying_key(),
            Err(KeyError::WrongId { .. })
        ));
        assert!(TrustedKey::parse("forewarn-ed25519-public abc zz").is_err());
        assert!(SecretKey::parse("ssh-ed25519 AAAA").is_err());
        assert!(SecretKey::parse(&format!("{SECRET_TAG} 00")).is_err());
    }

    #[test]
    fn a_known_seed_gives_the_rfc_8032_public_key() {
        // RFC 8032, section 7.1, TEST 1.
        let k = SecretKey::parse(&format!(
            "{SECRET_TAG} 9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60"
        ))
        .expect("seed");
        assert_eq!(
            k.trusted().public_key,
            "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"
        );
        assert_eq!(
            hex(&k.sign(b"")),
            "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"
        );
    }
}

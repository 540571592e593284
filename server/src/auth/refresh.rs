//! Refresh tokens: 256 random bits, shown to the device once as 64 hex
//! digits, stored only as their SHA-256.

use sha2::{Digest, Sha256};

use crate::store::TokenHash;

/// A new token and the hash to store.
pub fn generate() -> (String, TokenHash) {
    let token = hex::encode(rand::random::<[u8; 32]>());
    let hash = hash(&token);
    (token, hash)
}

/// The stored form of a presented token; `None` if it cannot be one of ours.
pub fn parse(presented: &str) -> Option<TokenHash> {
    let ok = presented.len() == 64 && presented.bytes().all(|b| b.is_ascii_hexdigit());
    ok.then(|| hash(&presented.to_ascii_lowercase()))
}

fn hash(token: &str) -> TokenHash {
    TokenHash(Sha256::digest(token.as_bytes()).into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_and_parse_to_their_hash() {
        let (a, ha) = generate();
        let (b, _) = generate();
        assert_ne!(a, b);
        assert_eq!(a.len(), 64);
        assert_eq!(parse(&a), Some(ha));
        assert_eq!(parse(&a.to_uppercase()), Some(ha));
        assert_eq!(parse("not a token"), None);
    }
}

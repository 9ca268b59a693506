//! Request ids and new tokens. Request ids are short enough to type in a
//! chat reply (`approve 7F3KQ2M9XA`), random enough not to guess.

use rand::Rng;

/// Crockford base32: no I, L, O or U to misread.
const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/// Ten characters, 50 random bits.
pub fn new_request_id() -> String {
    random_id(10)
}

/// `len` characters of Crockford base32.
pub fn random_id(len: usize) -> String {
    let mut rng = rand::rng();
    (0..len)
        .map(|_| ALPHABET[rng.random_range(0..32)] as char)
        .collect()
}

/// A bearer token: 256 random bits, hex.
pub fn new_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn ids_use_the_alphabet_and_tokens_are_256_bits() {
        let id = super::new_request_id();
        assert_eq!(id.len(), 10);
        assert!(id.bytes().all(|b| super::ALPHABET.contains(&b)));
        let t = super::new_token();
        assert_eq!(t.len(), 64);
        assert_ne!(t, super::new_token());
    }
}

//! Request ids the service makes up when the caller gives none: short enough
//! to type in a chat reply (`approve 7F3KQ2M9XA`), random enough not to guess.

use rand::Rng;

/// Crockford base32: no I, L, O or U to misread.
const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/// Ten characters, 50 random bits.
pub fn new_request_id() -> String {
    let mut rng = rand::rng();
    (0..10)
        .map(|_| ALPHABET[rng.random_range(0..32)] as char)
        .collect()
}

/// A bearer token for the API: 256 random bits, hex.
pub fn new_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

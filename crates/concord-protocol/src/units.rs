//! Token amounts: whole tokens with up to 18 decimals in, trimmed decimals out.

use alloy_primitives::utils::{format_units, parse_units};
use alloy_primitives::U256;

use crate::ProtocolError;

/// Decimals of the protocol token (and of every amount the CLIs accept).
pub const DECIMALS: u8 = 18;

/// Parses a token amount in whole tokens with up to 18 decimals (`1.5` -> 1.5e18 wei).
pub fn parse_tokens(s: &str) -> Result<U256, ProtocolError> {
    let t = s.trim();
    if t.starts_with('-') {
        return Err(ProtocolError::Input(format!(
            "`{s}` is negative; amounts are positive token counts"
        )));
    }
    // alloy's parse_units slices by byte offset and panics on non-ASCII input: accept only plain decimals
    // (found by the property test `class_lists_and_amounts_never_panic`).
    let well_formed = !t.is_empty()
        && t.len() <= 60
        && t.bytes().all(|b| b.is_ascii_digit() || b == b'.')
        && t.matches('.').count() <= 1;
    let not_amount =
        || ProtocolError::Input(format!("`{s}` is not a token amount (e.g. 100 or 0.5)"));
    if !well_formed {
        return Err(not_amount());
    }
    parse_units(t, DECIMALS)
        .map(|u| u.get_absolute())
        .map_err(|_| not_amount())
}

/// `n` whole tokens in wei.
pub fn tokens(n: u64) -> U256 {
    U256::from(n) * U256::from(10u64).pow(U256::from(DECIMALS))
}

/// Formats wei of an 18-decimals token as whole tokens, trimming trailing zeros.
pub fn fmt_tokens(x: U256) -> String {
    let s = format_units(x, DECIMALS).unwrap_or_else(|_| x.to_string());
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_amounts_round_trip() {
        let x = parse_tokens("1.5").expect("valid");
        assert_eq!(x.to_string(), "1500000000000000000");
        assert_eq!(fmt_tokens(x), "1.5");
        assert_eq!(fmt_tokens(tokens(20)), "20");
        assert!(parse_tokens("abc").is_err());
        assert!(parse_tokens("-1").is_err());
        assert!(parse_tokens("1.2.3").is_err());
        assert!(
            parse_tokens("١٢").is_err(),
            "non-ASCII digits are refused, not a panic"
        );
    }
}

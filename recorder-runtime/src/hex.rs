//! Lowercase hex, for binary bodies in recordings and for hashes (two functions do
//! not warrant a dependency).

const DIGITS: &[u8; 16] = b"0123456789abcdef";

/// Lowercase hex of some bytes.
pub(crate) fn encode(bytes: impl AsRef<[u8]>) -> String {
    let bytes = bytes.as_ref();
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(DIGITS[(b >> 4) as usize] as char);
        out.push(DIGITS[(b & 15) as usize] as char);
    }
    out
}

/// The bytes of hex text (either case); `None` for an odd length or a non-hex digit.
pub(crate) fn decode(text: impl AsRef<[u8]>) -> Option<Vec<u8>> {
    let text = text.as_ref();
    if text.len() % 2 != 0 {
        return None;
    }
    let digit = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
    text.chunks_exact(2)
        .map(|pair| Some(digit(pair[0])? << 4 | digit(pair[1])?))
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn round_trips_and_refuses_bad_text() {
        let all: Vec<u8> = (0..=255).collect();
        assert_eq!(super::decode(super::encode(&all)).unwrap(), all);
        assert_eq!(super::encode([0x0f, 0xa0]), "0fa0");
        assert_eq!(super::decode("0FA0").unwrap(), [0x0f, 0xa0]);
        assert_eq!(super::decode("abc"), None);
        assert_eq!(super::decode("zz"), None);
    }
}

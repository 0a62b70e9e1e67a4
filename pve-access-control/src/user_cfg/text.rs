//! Free-text fields of user.cfg (names, comments): percent-encoded for control and
//! non-ASCII bytes, `:` and `%`, so that a field never contains the separator.

/// Whether a byte is written as is.
fn is_safe(b: u8) -> bool {
    matches!(b, 0x20..=0x24 | 0x26..=0x39 | 0x3b..=0x7e)
}

/// Encodes the UTF-8 bytes of `text` (`%XX`, upper-case hex).
pub fn encode_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for &b in text.as_bytes() {
        if is_safe(b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Decodes `%XX` escapes (any case); invalid escapes stay as they are, and bytes that
/// do not form UTF-8 are replaced.
pub fn decode_text(data: &str) -> String {
    let bytes = data.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 3 <= bytes.len()
            && bytes[i + 1].is_ascii_hexdigit()
            && bytes[i + 2].is_ascii_hexdigit()
        {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("00");
            out.push(u8::from_str_radix(hex, 16).unwrap_or(0));
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        for text in ["VM operator", "a:b%c", "Jürgen", "line\nbreak", "", "100%"] {
            assert_eq!(decode_text(&encode_text(text)), text);
        }
        assert_eq!(encode_text("a:b%c ü"), "a%3Ab%25c %C3%BC");
        assert_eq!(decode_text("%zz%4"), "%zz%4");
        assert_eq!(decode_text("%3a"), ":");
    }
}

//! Secrets under `priv/`: API token values (`priv/token.cfg`) and the passwords of the
//! `pve` realm (`priv/shadow.cfg`, SHA-256 crypt).

use std::collections::BTreeMap;
use std::ffi::{CStr, CString};

use openssl::rand::rand_bytes;

/// `priv/token.cfg`: one `<user@realm!token> <secret>` per line.
pub fn parse_token_cfg(raw: &str) -> BTreeMap<String, String> {
    raw.lines()
        .filter_map(|l| {
            let mut it = l.split_whitespace();
            let (id, secret) = (it.next()?, it.next()?);
            it.next()
                .is_none()
                .then(|| (id.to_string(), secret.to_string()))
        })
        .collect()
}

pub fn write_token_cfg(tokens: &BTreeMap<String, String>) -> String {
    tokens.iter().map(|(id, s)| format!("{id} {s}\n")).collect()
}

/// A random (version 4) UUID, the form of a new token secret.
pub fn new_uuid() -> String {
    let mut b = [0u8; 16];
    rand_bytes(&mut b).expect("openssl random bytes");
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// Compares a presented token secret with the stored one in constant time.
pub fn token_secret_matches(stored: &str, given: &str) -> bool {
    stored.len() == given.len() && openssl::memcmp::eq(stored.as_bytes(), given.as_bytes())
}

/// `priv/shadow.cfg`: `<name without realm>:<crypt hash>:` per line; other lines are
/// ignored.
pub fn parse_shadow_cfg(raw: &str) -> BTreeMap<String, String> {
    raw.lines()
        .map(str::trim)
        .filter_map(|l| {
            let body = l.strip_suffix(':')?;
            let (user, hash) = body.split_once(':')?;
            let ok = !user.is_empty()
                && !hash.is_empty()
                && !l.chars().any(char::is_whitespace)
                && !hash.contains(':');
            ok.then(|| (user.to_string(), hash.to_string()))
        })
        .collect()
}

pub fn write_shadow_cfg(users: &BTreeMap<String, String>) -> String {
    users.iter().map(|(u, h)| format!("{u}:{h}:\n")).collect()
}

#[link(name = "crypt")]
extern "C" {
    fn crypt_rn(
        phrase: *const libc::c_char,
        setting: *const libc::c_char,
        data: *mut libc::c_void,
        size: libc::c_int,
    ) -> *mut libc::c_char;
}

/// Size of libxcrypt's `struct crypt_data`.
const CRYPT_DATA_SIZE: usize = 32768;

/// crypt(3) of `password` with `setting` (a salt spec or a full stored hash).
pub fn crypt(password: &str, setting: &str) -> Option<String> {
    let phrase = CString::new(password).ok()?;
    let setting = CString::new(setting).ok()?;
    let mut data = vec![0u8; CRYPT_DATA_SIZE];
    // SAFETY: both strings are NUL-terminated and live across the call; `data` is a
    // zeroed buffer of the size we pass, used by crypt_rn as its scratch space, and the
    // result points into it (copied out before `data` is dropped).
    unsafe {
        let out = crypt_rn(
            phrase.as_ptr(),
            setting.as_ptr(),
            data.as_mut_ptr().cast(),
            CRYPT_DATA_SIZE as libc::c_int,
        );
        if out.is_null() {
            return None;
        }
        let text = CStr::from_ptr(out).to_string_lossy().into_owned();
        // Failure tokens start with '*'.
        (!text.starts_with('*')).then_some(text)
    }
}

/// A new SHA-256 crypt hash (`$5$`, 8-character salt).
pub fn encrypt_password(password: &str) -> Option<String> {
    const SALT: &[u8] = b"./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let mut rnd = [0u8; 8];
    rand_bytes(&mut rnd).ok()?;
    let salt: String = rnd
        .iter()
        .map(|b| SALT[*b as usize % SALT.len()] as char)
        .collect();
    crypt(password, &format!("$5${salt}$"))
}

/// Whether `password` matches a stored crypt hash.
pub fn verify_password(password: &str, stored: &str) -> bool {
    crypt(password, stored).is_some_and(|h| {
        h.len() == stored.len() && openssl::memcmp::eq(h.as_bytes(), stored.as_bytes())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_crypt() {
        // Vector from `openssl passwd -5 -salt saltstring "Hello world!"`.
        assert_eq!(
            crypt("Hello world!", "$5$saltstring").as_deref(),
            Some("$5$saltstring$5B8vYYiY.CVt1RlTTf8KbXBH3hsxY/GNooZaBBGWEc5")
        );
        let h = encrypt_password("s3cret").unwrap();
        assert!(h.starts_with("$5$") && h.len() == 3 + 8 + 1 + 43, "{h}");
        assert!(verify_password("s3cret", &h));
        assert!(!verify_password("wrong", &h));
    }

    #[test]
    fn files() {
        let shadow = parse_shadow_cfg("alice:$5$abc$def:\nbad line\nbob::\n");
        assert_eq!(shadow.len(), 1);
        assert_eq!(write_shadow_cfg(&shadow), "alice:$5$abc$def:\n");
        let tokens = parse_token_cfg("alice@pve!a 1234\n\njunk\n");
        assert_eq!(tokens["alice@pve!a"], "1234");
        assert!(token_secret_matches("abc", "abc"));
        assert!(!token_secret_matches("abc", "abd"));
        assert!(!token_secret_matches("abc", "ab"));
        let u = new_uuid();
        assert_eq!(u.len(), 36);
        assert_eq!(&u[14..15], "4");
    }
}

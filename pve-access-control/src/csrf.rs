//! CSRF prevention tokens: `<HEXTIME>:<base64 HMAC-SHA256>` keyed by a secret derived
//! from `/etc/pve/pve-www.key`.
//!
//! The secret is the unpadded base64 of HMAC-SHA256 with the whole key file as the
//! *key* and an empty message (what upstream's one-argument call computes); the token
//! signs `<HEXTIME>:<userid>` with that secret's text as the key.

use openssl::hash::{hash, MessageDigest};
use openssl::pkey::PKey;
use openssl::rsa::Rsa;
use openssl::sign::Signer;

use crate::store::ConfigFiles;
use crate::tickets::{now, AUTH_GRACE_PERIOD, TICKET_LIFETIME};

pub const WWW_KEY: &str = "pve-www.key";

fn b64_nopad(bytes: &[u8]) -> String {
    openssl::base64::encode_block(bytes)
        .trim_end_matches('=')
        .to_string()
}

fn hmac_sha256(key: &[u8], msg: &[u8]) -> Vec<u8> {
    let run = || -> Result<Vec<u8>, openssl::error::ErrorStack> {
        let pkey = PKey::hmac(key)?;
        let mut s = Signer::new(MessageDigest::sha256(), &pkey)?;
        s.update(msg)?;
        s.sign_to_vec()
    };
    run().unwrap_or_default()
}

/// The current and the legacy (SHA-1) secret from the key file's contents.
pub fn secrets_from_key(www_key: &[u8]) -> (String, String) {
    let legacy = hash(MessageDigest::sha1(), www_key)
        .map(|d| b64_nopad(&d))
        .unwrap_or_default();
    (b64_nopad(&hmac_sha256(www_key, b"")), legacy)
}

/// Reads pve-www.key, creating it (an RSA-2048 key, as upstream) when missing.
pub fn www_key(files: &ConfigFiles) -> std::io::Result<Vec<u8>> {
    if let Some(k) = files.read(WWW_KEY)? {
        return Ok(k.into_bytes());
    }
    let _lock = files.lock("pve-www.key")?;
    if let Some(k) = files.read(WWW_KEY)? {
        return Ok(k.into_bytes());
    }
    let pem = Rsa::generate(2048)
        .and_then(|k| k.private_key_to_pem())
        .map_err(std::io::Error::other)?;
    files.write(WWW_KEY, &pem)?;
    Ok(pem)
}

/// A token for `userid` at `time`.
pub fn assemble_with_secret(secret: &str, userid: &str, time: i64) -> String {
    let ts = format!("{time:08X}");
    let digest = hmac_sha256(secret.as_bytes(), format!("{ts}:{userid}").as_bytes());
    format!("{ts}:{}", b64_nopad(&digest))
}

/// Checks a token (`-300 < age < 7200`); a 27-character signature uses the legacy secret.
pub fn verify_with_secrets(secrets: &(String, String), userid: &str, token: &str) -> bool {
    let Some((ts, sig)) = token.split_once(':') else {
        return false;
    };
    if ts.len() != 8
        || !ts
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
        || sig.is_empty()
        || sig.chars().any(char::is_whitespace)
    {
        return false;
    }
    let secret = if sig.len() == 27 {
        &secrets.1
    } else {
        &secrets.0
    };
    let expected = b64_nopad(&hmac_sha256(
        secret.as_bytes(),
        format!("{ts}:{userid}").as_bytes(),
    ));
    let Ok(time) = i64::from_str_radix(ts, 16) else {
        return false;
    };
    let age = now() - time;
    expected.len() == sig.len()
        && openssl::memcmp::eq(expected.as_bytes(), sig.as_bytes())
        && age > -AUTH_GRACE_PERIOD
        && age < TICKET_LIFETIME
}

/// A new CSRF prevention token for `userid`.
pub fn assemble_csrf_token(files: &ConfigFiles, userid: &str) -> std::io::Result<String> {
    let (secret, _) = secrets_from_key(&www_key(files)?);
    Ok(assemble_with_secret(&secret, userid, now()))
}

/// Whether `token` is a valid CSRF prevention token of `userid`.
pub fn verify_csrf_token(files: &ConfigFiles, userid: &str, token: &str) -> bool {
    match www_key(files) {
        Ok(key) => verify_with_secrets(&secrets_from_key(&key), userid, token),
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    fn openssl_hmac(key: &str, msg: &str) -> String {
        // `openssl dgst -sha256 -hmac KEY -binary`, base64 without padding
        let mut child = Command::new("openssl")
            .args(["dgst", "-sha256", "-hmac", key, "-binary"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("openssl CLI");
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(msg.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        b64_nopad(&out.stdout)
    }

    #[test]
    fn matches_the_openssl_cli() {
        let key =
            "-----BEGIN RSA PRIVATE KEY-----\nnot really a key\n-----END RSA PRIVATE KEY-----\n";
        let (secret, legacy) = secrets_from_key(key.as_bytes());
        assert_eq!(secret, openssl_hmac(key, ""));
        assert_eq!(secret.len(), 43);
        assert_eq!(legacy.len(), 27);
        let token = assemble_with_secret(&secret, "root@pam", 0x6B00_0000);
        assert_eq!(
            token,
            format!("6B000000:{}", openssl_hmac(&secret, "6B000000:root@pam"))
        );
        let secrets = (secret.clone(), legacy);
        let fresh = assemble_with_secret(&secret, "root@pam", now());
        assert!(verify_with_secrets(&secrets, "root@pam", &fresh));
        assert!(!verify_with_secrets(&secrets, "alice@pve", &fresh));
        assert!(!verify_with_secrets(&secrets, "root@pam", &token)); // too old
        let future = assemble_with_secret(&secret, "root@pam", now() + 400);
        assert!(!verify_with_secrets(&secrets, "root@pam", &future));
        assert!(!verify_with_secrets(&secrets, "root@pam", "garbage"));
    }
}

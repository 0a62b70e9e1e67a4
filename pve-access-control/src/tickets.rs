//! Authentication tickets: `PVE:<userid>:<HEXTIME>::<base64 signature>`, RSA PKCS#1 v1.5
//! over SHA-1 with the cluster's auth key (priv/authkey.key, authkey.pub), the previous
//! public key kept as authkey.pub.old, the key pair rotated when 24 h old (by the pub
//! file's mtime). Also the short-lived `PVEVNC` tickets.

use std::time::{SystemTime, UNIX_EPOCH};

use openssl::base64;
use openssl::hash::MessageDigest;
use openssl::pkey::{PKey, Private, Public};
use openssl::rsa::Rsa;
use openssl::sign::{Signer, Verifier};

use crate::store::ConfigFiles;

pub const TICKET_LIFETIME: i64 = 7200;
pub const AUTH_GRACE_PERIOD: i64 = 300;
pub const AUTHKEY_LIFETIME: i64 = 86400;

pub const PRIV_KEY: &str = "priv/authkey.key";
pub const PUB_KEY: &str = "authkey.pub";
pub const PUB_KEY_OLD: &str = "authkey.pub.old";

#[derive(Debug, thiserror::Error)]
pub enum TicketError {
    #[error("permission denied - invalid {0} ticket")]
    Invalid(String),
    #[error("auth key: {0}")]
    Key(String),
}

pub fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

fn epoch(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

fn key_err(e: impl std::fmt::Display) -> TicketError {
    TicketError::Key(e.to_string())
}

/// Perl's `uri_escape($data, ':')`.
fn escape_colons(data: &str) -> String {
    data.replace(':', "%3A")
}

fn unescape(data: &str) -> String {
    crate::user_cfg::text::decode_text(data)
}

/// The auth key pair of the cluster.
pub struct AuthKeys<'a> {
    files: &'a ConfigFiles,
}

impl<'a> AuthKeys<'a> {
    pub fn new(files: &'a ConfigFiles) -> Self {
        Self { files }
    }

    /// A public key and its file's mtime (epoch seconds).
    pub fn public_key(&self, old: bool) -> Option<(PKey<Public>, i64)> {
        let (pem, mtime) = self.public_key_pem(old)?;
        let key = PKey::public_key_from_pem(pem.as_bytes()).ok()?;
        Some((key, mtime))
    }

    /// The PEM text of the current (or old) public key and its file's mtime.
    pub fn public_key_pem(&self, old: bool) -> Option<(String, i64)> {
        let name = if old { PUB_KEY_OLD } else { PUB_KEY };
        let pem = self.files.read(name).ok()??;
        let mtime = epoch(self.files.mtime(name)?);
        Some((pem, mtime))
    }

    /// Whether the current key pair exists and needs no rotation.
    fn key_is_current(&self) -> bool {
        let Some((_, mtime)) = self.public_key(false) else {
            return false;
        };
        let now = now();
        if now - mtime >= AUTHKEY_LIFETIME {
            return false;
        }
        if mtime > now + AUTH_GRACE_PERIOD {
            // generated "in the future": fine while the old key is recent enough
            return self
                .public_key(true)
                .is_some_and(|(_, old)| mtime >= old && mtime - old < TICKET_LIFETIME);
        }
        true
    }

    /// The private key, generating or rotating the pair first when it is missing or
    /// too old (as upstream does at the first ticket issue).
    pub fn private_key(&self) -> Result<PKey<Private>, TicketError> {
        let read = || -> Option<PKey<Private>> {
            let pem = self.files.read(PRIV_KEY).ok()??;
            PKey::private_key_from_pem(pem.as_bytes()).ok()
        };
        match read() {
            Some(k) if self.key_is_current() => Ok(k),
            _ => {
                self.rotate()?;
                read().ok_or_else(|| key_err("unable to read new auth key"))
            }
        }
    }

    /// Makes a new key pair, keeping the current public key as authkey.pub.old.
    pub fn rotate(&self) -> Result<(), TicketError> {
        let _lock = self.files.lock("authkey").map_err(key_err)?;
        if self.key_is_current() && self.files.read(PRIV_KEY).ok().flatten().is_some() {
            return Ok(());
        }
        let new = Rsa::generate(2048).map_err(key_err)?;
        if let Some((old, _)) = self.public_key(false) {
            let pem = old.public_key_to_pem().map_err(key_err)?;
            self.files.write(PUB_KEY_OLD, &pem).map_err(key_err)?;
        }
        let pub_pem = new.public_key_to_pem().map_err(key_err)?;
        self.files.write(PUB_KEY, &pub_pem).map_err(key_err)?;
        let priv_pem = new.private_key_to_pem().map_err(key_err)?;
        if let Err(e) = self.files.write(PRIV_KEY, &priv_pem) {
            let _ = self.files.remove(PUB_KEY);
            let _ = self.files.remove(PRIV_KEY);
            return Err(key_err(e));
        }
        Ok(())
    }
}

/// Signs `<prefix>:[<escaped data>:]<HEXTIME>` (plus `:<aad>` in the signed text only).
pub fn assemble_rsa_ticket(
    key: &PKey<Private>,
    prefix: &str,
    data: Option<&str>,
    aad: Option<&str>,
    time: i64,
) -> Result<String, TicketError> {
    let mut plain = format!("{prefix}:");
    if let Some(d) = data {
        plain.push_str(&escape_colons(d));
        plain.push(':');
    }
    plain.push_str(&format!("{:08X}", time));
    let full = match aad {
        Some(a) => format!("{plain}:{a}"),
        None => plain.clone(),
    };
    let mut signer = Signer::new(MessageDigest::sha1(), key).map_err(key_err)?;
    signer.update(full.as_bytes()).map_err(key_err)?;
    let sig = signer.sign_to_vec().map_err(key_err)?;
    Ok(format!("{plain}::{}", base64::encode_block(&sig)))
}

/// Checks signature and age window (`min < age < max`); returns the data (or `""` for
/// tickets without data) and the age.
pub fn verify_rsa_ticket(
    key: &PKey<Public>,
    prefix: &str,
    ticket: &str,
    aad: Option<&str>,
    min_age: i64,
    max_age: i64,
) -> Option<(String, i64)> {
    let (plain, sig) = ticket.rsplit_once("::")?;
    let rest = plain.strip_prefix(prefix)?.strip_prefix(':')?;
    if rest.is_empty()
        || rest.chars().any(char::is_whitespace)
        || sig.is_empty()
        || sig.contains(':')
        || sig.chars().any(char::is_whitespace)
    {
        return None;
    }
    let full = match aad {
        Some(a) => format!("{plain}:{a}"),
        None => plain.to_string(),
    };
    let sig = base64::decode_block(sig).ok()?;
    let mut verifier = Verifier::new(MessageDigest::sha1(), key).ok()?;
    verifier.update(full.as_bytes()).ok()?;
    if !verifier.verify(&sig).ok()? {
        return None;
    }
    let (data, ts) = match rest.rsplit_once(':') {
        Some((d, ts)) => (Some(d), ts),
        None => (None, rest),
    };
    if ts.len() != 8
        || !ts
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
    {
        return None;
    }
    let age = now() - i64::from_str_radix(ts, 16).ok()?;
    (age > min_age && age < max_age).then(|| (data.map(unescape).unwrap_or_default(), age))
}

/// The accepted age window for tickets checked with a key of that mtime.
fn ticket_age_range(now: i64, mtime: i64, rotated: bool) -> Option<(i64, i64)> {
    let key_age = (now - mtime).max(0);
    let mut min = -AUTH_GRACE_PERIOD;
    let mut max = TICKET_LIFETIME;
    if rotated {
        // only tickets made before the rotation
        min = key_age - AUTH_GRACE_PERIOD;
    } else {
        if key_age > AUTHKEY_LIFETIME {
            min = key_age - AUTHKEY_LIFETIME;
        }
        if key_age < TICKET_LIFETIME {
            max = key_age + AUTH_GRACE_PERIOD;
        }
    }
    (min <= TICKET_LIFETIME).then_some((min, max))
}

/// A new `PVE:` ticket for `userid`.
pub fn assemble_ticket(files: &ConfigFiles, userid: &str) -> Result<String, TicketError> {
    let key = AuthKeys::new(files).private_key()?;
    assemble_rsa_ticket(&key, "PVE", Some(userid), None, now())
}

/// Verifies a `PVE:` ticket with the current key, then the old one; returns the user
/// id (or the data of a half-authenticated `!tfa!` ticket) and the age.
pub fn verify_ticket(files: &ConfigFiles, ticket: &str) -> Result<(String, i64), TicketError> {
    let keys = AuthKeys::new(files);
    let now = now();
    for old in [false, true] {
        let Some((pem, mtime)) = keys.public_key_pem(old) else {
            continue;
        };
        let Some((min, max)) = ticket_age_range(now, mtime, old) else {
            continue;
        };
        // A signature checked once with this very key need not be checked again; the
        // age window is still applied on every use.
        if let Some((data, created)) = verified_signature(ticket, &pem) {
            let age = now - created;
            if age > min && age < max {
                return Ok((data, age));
            }
            continue;
        }
        let Ok(key) = PKey::public_key_from_pem(pem.as_bytes()) else {
            continue;
        };
        if let Some(found) = verify_rsa_ticket(&key, "PVE", ticket, None, min, max) {
            remember_signature(ticket, &pem, &found.0, now - found.1);
            return Ok(found);
        }
    }
    Err(TicketError::Invalid("PVE".into()))
}

/// Tickets whose signature verified: ticket → (public key PEM, data, creation time).
type SignatureCache = std::sync::Mutex<std::collections::HashMap<String, (String, String, i64)>>;

fn signature_cache() -> &'static SignatureCache {
    static CACHE: std::sync::OnceLock<SignatureCache> = std::sync::OnceLock::new();
    CACHE.get_or_init(Default::default)
}

fn verified_signature(ticket: &str, pem: &str) -> Option<(String, i64)> {
    let cache = signature_cache().lock().ok()?;
    let (key, data, created) = cache.get(ticket)?;
    (key == pem).then(|| (data.clone(), *created))
}

fn remember_signature(ticket: &str, pem: &str, data: &str, created: i64) {
    if let Ok(mut cache) = signature_cache().lock() {
        if cache.len() >= 4096 {
            cache.clear();
        }
        cache.insert(
            ticket.to_string(),
            (pem.to_string(), data.to_string(), created),
        );
    }
}

fn vnc_aad(userid: &str, path: &str, port: Option<&str>) -> Result<String, TicketError> {
    let path = crate::ids::normalize_path(path).ok_or_else(|| key_err("invalid ticket path"))?;
    Ok(match port {
        Some(p) => format!("{userid}:{path}:{p}"),
        None => format!("{userid}:{path}"),
    })
}

/// A `PVEVNC:<HEXTIME>::sig` ticket bound to user, path and port.
pub fn assemble_vnc_ticket(
    files: &ConfigFiles,
    userid: &str,
    path: &str,
    port: Option<&str>,
) -> Result<String, TicketError> {
    let key = AuthKeys::new(files).private_key()?;
    let aad = vnc_aad(userid, path, port)?;
    assemble_rsa_ticket(&key, "PVEVNC", None, Some(&aad), now())
}

/// Checks a `PVEVNC` ticket (valid from -20 to 40 seconds).
pub fn verify_vnc_ticket(
    files: &ConfigFiles,
    ticket: &str,
    userid: &str,
    path: &str,
    port: Option<&str>,
) -> Result<(), TicketError> {
    // legacy form: 8 characters and ':' in front
    let ticket = match ticket.get(8..).and_then(|t| t.strip_prefix(':')) {
        Some(t) if t.starts_with("PVEVNC:") => t,
        _ => ticket,
    };
    let aad = vnc_aad(userid, path, port)?;
    let invalid = || TicketError::Invalid("PVEVNC".into());
    let (key, mtime) = AuthKeys::new(files).public_key(false).ok_or_else(invalid)?;
    if now() - mtime > AUTHKEY_LIFETIME {
        return Err(invalid());
    }
    verify_rsa_ticket(&key, "PVEVNC", ticket, Some(&aad), -20, 40)
        .map(|_| ())
        .ok_or_else(invalid)
}

#[cfg(test)]
mod tests;

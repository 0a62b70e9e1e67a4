//! The node's TLS certificates, made as upstream's cluster setup makes them: a cluster
//! CA (`pve-root-ca.pem`, key in `priv/pve-root-ca.key`, serial in
//! `priv/pve-root-ca.srl`) and per node `nodes/<node>/pve-ssl.{key,pem}` signed by it,
//! for localhost, the node name and its address. pveproxy serves `pve-ssl.pem`, or
//! `pveproxy-ssl.pem` when an admin put one there.

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use openssl::asn1::{Asn1Integer, Asn1Time};
use openssl::bn::BigNum;
use openssl::hash::MessageDigest;
use openssl::pkey::{PKey, Private};
use openssl::rsa::Rsa;
use openssl::x509::extension::{
    BasicConstraints, ExtendedKeyUsage, KeyUsage, SubjectAlternativeName, SubjectKeyIdentifier,
};
use openssl::x509::{X509Builder, X509NameBuilder, X509};
use pve_common::NodePaths;

const DAY: i64 = 24 * 3600;

/// The certificate and key pveproxy serves for `node`.
pub fn proxy_cert_files(paths: &NodePaths, node: &str) -> (PathBuf, PathBuf) {
    let dir = paths.pve_file(&format!("nodes/{node}"));
    let custom = (dir.join("pveproxy-ssl.pem"), dir.join("pveproxy-ssl.key"));
    if custom.0.exists() && custom.1.exists() {
        return custom;
    }
    (dir.join("pve-ssl.pem"), dir.join("pve-ssl.key"))
}

fn write_private(path: &Path, data: &[u8], mode: u32) -> Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(&tmp)
        .with_context(|| format!("unable to create '{}'", tmp.display()))?;
    f.write_all(data)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path).with_context(|| format!("unable to write '{}'", path.display()))
}

fn load_or_make_key(path: &Path, bits: u32) -> Result<PKey<Private>> {
    if let Ok(pem) = std::fs::read(path) {
        return PKey::private_key_from_pem(&pem)
            .with_context(|| format!("bad key '{}'", path.display()));
    }
    let key = PKey::from_rsa(Rsa::generate(bits)?)?;
    write_private(path, &key.rsa()?.private_key_to_pem()?, 0o600)?;
    Ok(key)
}

fn random_uuid() -> Result<String> {
    let mut b = [0u8; 16];
    openssl::rand::rand_bytes(&mut b)?;
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    Ok(format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    ))
}

/// Yesterday, as upstream back-dates certificates (clock skew between nodes).
fn not_before() -> Result<Asn1Time> {
    Ok(Asn1Time::from_unix(now() - DAY)?)
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// Makes the CA when it is missing; returns whether it made one.
fn ensure_ca(paths: &NodePaths) -> Result<bool> {
    let key_path = paths.pve_file("priv/pve-root-ca.key");
    let cert_path = paths.pve_file("pve-root-ca.pem");
    if key_path.exists() && cert_path.exists() {
        return Ok(false);
    }
    let key = load_or_make_key(&key_path, 4096)?;
    let mut name = X509NameBuilder::new()?;
    name.append_entry_by_text("CN", "Proxmox Virtual Environment")?;
    name.append_entry_by_text("OU", &random_uuid()?)?;
    name.append_entry_by_text("O", "PVE Cluster Manager CA")?;
    let name = name.build();
    let mut b = X509Builder::new()?;
    b.set_version(2)?;
    let serial = random_serial()?;
    b.set_serial_number(&serial)?;
    b.set_subject_name(&name)?;
    b.set_issuer_name(&name)?;
    b.set_pubkey(&key)?;
    let start = not_before()?;
    b.set_not_before(&start)?;
    let end = Asn1Time::from_unix(now() - DAY + 3650 * DAY)?;
    b.set_not_after(&end)?;
    b.append_extension(BasicConstraints::new().critical().ca().build()?)?;
    b.append_extension(
        KeyUsage::new()
            .critical()
            .key_cert_sign()
            .crl_sign()
            .build()?,
    )?;
    let ski = SubjectKeyIdentifier::new().build(&b.x509v3_context(None, None))?;
    b.append_extension(ski)?;
    b.sign(&key, MessageDigest::sha256())?;
    std::fs::write(&cert_path, b.build().to_pem()?)?;
    Ok(true)
}

fn random_serial() -> Result<Asn1Integer> {
    let mut bn = BigNum::new()?;
    bn.rand(63, openssl::bn::MsbOption::MAYBE_ZERO, false)?;
    Ok(bn.to_asn1_integer()?)
}

/// The next serial from `pve-root-ca.srl` (hex), written back incremented.
fn next_serial(paths: &NodePaths) -> Result<Asn1Integer> {
    let srl = paths.pve_file("priv/pve-root-ca.srl");
    let text = std::fs::read_to_string(&srl).unwrap_or_else(|_| "0000000000000000".into());
    let mut bn = BigNum::from_hex_str(text.trim()).unwrap_or(BigNum::from_u32(0)?);
    bn.add_word(1)?;
    write_private(&srl, format!("{}\n", bn.to_hex_str()?).as_bytes(), 0o600)?;
    Ok(bn.to_asn1_integer()?)
}

/// Makes the node certificate (and the CA) when missing, or always with `force`.
pub fn ensure_node_cert(paths: &NodePaths, node: &str, ip: IpAddr, force: bool) -> Result<()> {
    for dir in [
        "priv",
        "nodes",
        &format!("nodes/{node}"),
        &format!("nodes/{node}/priv"),
    ] {
        std::fs::create_dir_all(paths.pve_file(dir))?;
    }
    let new_ca = ensure_ca(paths)?;
    let dir = paths.pve_file(&format!("nodes/{node}"));
    let cert_path = dir.join("pve-ssl.pem");
    if cert_path.exists() && !force && !new_ca {
        return Ok(());
    }
    let key = load_or_make_key(&dir.join("pve-ssl.key"), 2048)?;
    let ca_key =
        PKey::private_key_from_pem(&std::fs::read(paths.pve_file("priv/pve-root-ca.key"))?)?;
    let ca = X509::from_pem(&std::fs::read(paths.pve_file("pve-root-ca.pem"))?)?;

    let mut name = X509NameBuilder::new()?;
    name.append_entry_by_text("OU", "PVE Cluster Node")?;
    name.append_entry_by_text("O", "Proxmox Virtual Environment")?;
    name.append_entry_by_text("CN", node)?;
    let name = name.build();
    let mut b = X509Builder::new()?;
    b.set_version(2)?;
    let serial = next_serial(paths)?;
    b.set_serial_number(&serial)?;
    b.set_subject_name(&name)?;
    b.set_issuer_name(ca.subject_name())?;
    b.set_pubkey(&key)?;
    let start = not_before()?;
    b.set_not_before(&start)?;
    // Two years at most, and two days before the CA ends.
    let today = Asn1Time::from_unix(now())?;
    let ca_end = today.diff(ca.not_after())?;
    let days_left = i64::from(ca_end.days) - 2;
    anyhow::ensure!(
        days_left >= 12,
        "CA expires in less than 2 weeks, unable to generate certificate."
    );
    let end = Asn1Time::from_unix(now() - DAY + days_left.min(730) * DAY)?;
    b.set_not_after(&end)?;
    b.append_extension(BasicConstraints::new().build()?)?;
    b.append_extension(ExtendedKeyUsage::new().server_auth().build()?)?;
    let san = SubjectAlternativeName::new()
        .ip("127.0.0.1")
        .ip("::1")
        .dns("localhost")
        .ip(&ip.to_string())
        .dns(node)
        .build(&b.x509v3_context(Some(&ca), None))?;
    b.append_extension(san)?;
    b.sign(&ca_key, MessageDigest::sha256())?;
    std::fs::write(&cert_path, b.build().to_pem()?)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_certificate_is_signed_by_the_cluster_ca() {
        let root = std::env::temp_dir().join(format!("certs-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let paths = NodePaths::new(&root);
        ensure_node_cert(&paths, "n1", "192.0.2.7".parse().unwrap(), false).unwrap();
        let ca =
            X509::from_pem(&std::fs::read(paths.pve_file("pve-root-ca.pem")).unwrap()).unwrap();
        let (cert, key) = proxy_cert_files(&paths, "n1");
        let cert = X509::from_pem(&std::fs::read(cert).unwrap()).unwrap();
        assert!(cert.verify(&ca.public_key().unwrap()).unwrap());
        let sans: Vec<String> = cert
            .subject_alt_names()
            .unwrap()
            .iter()
            .map(|n| {
                n.dnsname()
                    .map(str::to_string)
                    .unwrap_or_else(|| format!("{:?}", n.ipaddress()))
            })
            .collect();
        assert!(sans.contains(&"n1".to_string()) && sans.contains(&"localhost".to_string()));
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(key).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        // A second run keeps what exists.
        let before = std::fs::read(paths.pve_file("nodes/n1/pve-ssl.pem")).unwrap();
        ensure_node_cert(&paths, "n1", "192.0.2.7".parse().unwrap(), false).unwrap();
        assert_eq!(
            before,
            std::fs::read(paths.pve_file("nodes/n1/pve-ssl.pem")).unwrap()
        );
        let _ = std::fs::remove_dir_all(&root);
    }
}

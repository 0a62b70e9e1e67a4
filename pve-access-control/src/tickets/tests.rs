use std::path::PathBuf;
use std::process::Command;

use super::*;
use pve_common::NodePaths;

fn temp_root(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("pve-ac-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn openssl(args: &[&str]) -> std::process::Output {
    Command::new("openssl")
        .args(args)
        .output()
        .expect("openssl CLI")
}

#[test]
fn tickets_interoperate_with_the_openssl_cli() {
    let root = temp_root("ticket");
    let files = ConfigFiles::new(NodePaths::new(&root));
    let ticket = assemble_ticket(&files, "alice@pve").unwrap();
    // Key files as upstream writes them.
    let priv_pem = files.read(PRIV_KEY).unwrap().unwrap();
    assert!(priv_pem.starts_with("-----BEGIN RSA PRIVATE KEY-----"));
    assert!(files
        .read(PUB_KEY)
        .unwrap()
        .unwrap()
        .starts_with("-----BEGIN PUBLIC KEY-----"));

    let (plain, sig) = ticket.rsplit_once("::").unwrap();
    assert!(
        plain.starts_with("PVE:alice@pve:") && plain.len() == 22,
        "{plain}"
    );
    assert_eq!(sig.len(), 344);
    // our signature verifies with `openssl dgst -sha1 -verify`
    let plain_file = root.join("plain");
    let sig_file = root.join("sig");
    std::fs::write(&plain_file, plain).unwrap();
    std::fs::write(&sig_file, openssl::base64::decode_block(sig).unwrap()).unwrap();
    let pub_path = files.path(PUB_KEY);
    let out = openssl(&[
        "dgst",
        "-sha1",
        "-verify",
        pub_path.to_str().unwrap(),
        "-signature",
        sig_file.to_str().unwrap(),
        plain_file.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(verify_ticket(&files, &ticket).unwrap().0, "alice@pve");

    // a ticket signed by `openssl dgst -sha1 -sign` verifies with our code
    let plain = format!("PVE:bob@pve:{:08X}", now() - 10);
    std::fs::write(&plain_file, &plain).unwrap();
    let priv_path = files.path(PRIV_KEY);
    let out = openssl(&[
        "dgst",
        "-sha1",
        "-sign",
        priv_path.to_str().unwrap(),
        "-out",
        sig_file.to_str().unwrap(),
        plain_file.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{out:?}");
    let sig = openssl::base64::encode_block(&std::fs::read(&sig_file).unwrap());
    let (user, age) = verify_ticket(&files, &format!("{plain}::{sig}")).unwrap();
    assert_eq!(user, "bob@pve");
    assert!((9..=11).contains(&age));

    // tampering, expiry and garbage fail
    assert!(verify_ticket(&files, &ticket.replace("alice", "alicf")).is_err());
    assert!(verify_ticket(&files, "PVE:root@pam:6B000000::garbage").is_err());
    assert!(verify_ticket(&files, "").is_err());
    let key = AuthKeys::new(&files).private_key().unwrap();
    let old = assemble_rsa_ticket(&key, "PVE", Some("a@pve"), None, now() - 7300).unwrap();
    assert!(verify_ticket(&files, &old).is_err());
    // colons in the data are escaped
    let t = assemble_rsa_ticket(&key, "PVE", Some("!tfa!{\"a\":1}"), None, now()).unwrap();
    assert!(t.starts_with("PVE:!tfa!{\"a\"%3A1}:"));
    assert_eq!(verify_ticket(&files, &t).unwrap().0, "!tfa!{\"a\":1}");
    std::fs::remove_dir_all(&root).unwrap();
}

#[test]
fn rotation_keeps_the_old_key_for_older_tickets() {
    let root = temp_root("rotate");
    let files = ConfigFiles::new(NodePaths::new(&root));
    let keys = AuthKeys::new(&files);
    let key = keys.private_key().unwrap();
    let before = assemble_rsa_ticket(&key, "PVE", Some("alice@pve"), None, now() - 60).unwrap();
    // Age the public key past 24 h: the next issue rotates.
    let day_ago = SystemTime::now() - std::time::Duration::from_secs(86400 + 100);
    std::fs::File::options()
        .write(true)
        .open(files.path(PUB_KEY))
        .unwrap()
        .set_modified(day_ago)
        .unwrap();
    let after = assemble_ticket(&files, "alice@pve").unwrap();
    assert!(files.read(PUB_KEY_OLD).unwrap().is_some());
    assert!(verify_ticket(&files, &after).is_ok());
    assert_eq!(verify_ticket(&files, &before).unwrap().0, "alice@pve");
    // once the rotation is older than the grace period, a ticket signed with the old
    // key after the rotation is refused, one from before it still passes
    std::fs::File::options()
        .write(true)
        .open(files.path(PUB_KEY_OLD))
        .unwrap()
        .set_modified(SystemTime::now() - std::time::Duration::from_secs(1000))
        .unwrap();
    let early = assemble_rsa_ticket(&key, "PVE", Some("alice@pve"), None, now() - 1100).unwrap();
    assert!(verify_ticket(&files, &early).is_ok());
    let forged = assemble_rsa_ticket(&key, "PVE", Some("alice@pve"), None, now()).unwrap();
    assert!(verify_ticket(&files, &forged).is_err());
    std::fs::remove_dir_all(&root).unwrap();
}

#[test]
fn vnc_tickets() {
    let root = temp_root("vnc");
    let files = ConfigFiles::new(NodePaths::new(&root));
    let t = assemble_vnc_ticket(&files, "root@pam", "/vms/100", Some("5900")).unwrap();
    assert!(t.starts_with("PVEVNC:"));
    assert!(verify_vnc_ticket(&files, &t, "root@pam", "/vms/100", Some("5900")).is_ok());
    assert!(verify_vnc_ticket(&files, &t, "root@pam", "/vms/101", Some("5900")).is_err());
    assert!(verify_vnc_ticket(&files, &t, "root@pam", "/vms/100", Some("5901")).is_err());
    std::fs::remove_dir_all(&root).unwrap();
}

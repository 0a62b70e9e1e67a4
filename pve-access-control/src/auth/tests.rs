use super::*;
use crate::csrf::assemble_csrf_token;
use crate::secrets::encrypt_password;
use crate::tickets::assemble_ticket;
use pve_common::NodePaths;

fn setup(name: &str) -> (std::path::PathBuf, ConfigFiles) {
    let dir = std::env::temp_dir().join(format!("pve-ac-auth-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let files = ConfigFiles::new(NodePaths::new(&dir));
    files
        .write(
            "user.cfg",
            b"user:alice@pve:1:0::::::\ntoken:alice@pve!ci:0:1::\n\
              user:off@pve:0:0::::::\nuser:old@pve:1:1000::::::\n",
        )
        .unwrap();
    let hash = encrypt_password("secret1").unwrap();
    files
        .write(
            "priv/shadow.cfg",
            format!("alice:{hash}:\noff:{hash}:\n").as_bytes(),
        )
        .unwrap();
    files
        .write(
            "priv/token.cfg",
            b"alice@pve!ci 11111111-2222-3333-4444-555555555555\n",
        )
        .unwrap();
    (dir, files)
}

#[test]
fn passwords_through_the_pve_realm() {
    let (dir, files) = setup("pw");
    assert_eq!(authenticate_user(&files, "alice@pve", "secret1"), Ok(()));
    assert_eq!(
        authenticate_user(&files, "alice@pve", "nope"),
        Err("invalid credentials".into())
    );
    assert_eq!(
        authenticate_user(&files, "off@pve", "secret1"),
        Err("user 'off@pve' is disabled".into())
    );
    assert_eq!(
        authenticate_user(&files, "old@pve", "x"),
        Err("user 'old@pve' access expired".into())
    );
    assert_eq!(
        authenticate_user(&files, "bob@pve", "x"),
        Err("no such user ('bob@pve')".into())
    );
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn requests_with_tickets_tokens_and_csrf() {
    let (dir, files) = setup("req");
    let cfg = load_user_config(&files).unwrap();
    let ticket = assemble_ticket(&files, "alice@pve").unwrap();
    let cookie = format!("foo=bar; PVEAuthCookie={}", ticket.replace(':', "%3A"));
    let cred = extract_credential(Some(&cookie), None).unwrap();
    assert_eq!(cred, Credential::Ticket(ticket.clone()));
    let get = authenticate_request(&files, &cfg, Some(&cred), HttpMethod::Get, None, false);
    assert_eq!(get.unwrap().full(), "alice@pve");
    let post = authenticate_request(&files, &cfg, Some(&cred), HttpMethod::Post, None, false);
    assert_eq!(
        post.unwrap_err().reason,
        "Permission denied - invalid csrf token"
    );
    let csrf = assemble_csrf_token(&files, "alice@pve").unwrap();
    let post = authenticate_request(
        &files,
        &cfg,
        Some(&cred),
        HttpMethod::Post,
        Some(&csrf),
        false,
    );
    assert!(post.is_ok());
    assert!(authenticate_request(&files, &cfg, Some(&cred), HttpMethod::Put, None, true).is_ok());

    let token = extract_credential(
        None,
        Some("PVEAPIToken=alice@pve!ci=11111111-2222-3333-4444-555555555555"),
    )
    .unwrap();
    let id = authenticate_request(&files, &cfg, Some(&token), HttpMethod::Post, None, false);
    assert_eq!(id.unwrap().full(), "alice@pve!ci");
    let bad = extract_credential(
        None,
        Some("PVEAPIToken alice@pve!ci=00000000-0000-0000-0000-000000000000"),
    )
    .unwrap();
    let err = authenticate_request(&files, &cfg, Some(&bad), HttpMethod::Get, None, false);
    assert_eq!(err.unwrap_err().reason, "Authentication failed!");
    let none = authenticate_request(&files, &cfg, None, HttpMethod::Get, None, false);
    assert_eq!(none.unwrap_err().to_api_error().status, 401);
    let forged = Credential::Ticket("PVE:root@pam:6B000000::garbage".into());
    assert!(
        authenticate_request(&files, &cfg, Some(&forged), HttpMethod::Get, None, false).is_err()
    );
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn pam_realm_rejects_unknown_users() {
    // Needs no host user: a user PAM does not know must fail, never succeed.
    assert!(pam_authenticate("no-such-user-pve-test", "x").is_err());
}

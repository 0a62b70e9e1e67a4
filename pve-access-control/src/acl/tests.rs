use super::*;

const CFG: &str = "\
user:alice@pve:1:0::::::
token:alice@pve!automation:0:1::
token:alice@pve!full:0:0::
user:bob@pve:1:0::::::
token:bob@pve!sep:0:1::
user:carol@pve:1:0::::::
user:dave@pve:1:0::::::

group:ops:alice@pve,carol@pve::
group:audit:carol@pve::

pool:prod::100,200:local:
pool:locked::300::

role:VMObserver:VM.Audit,VM.Console:

acl:1:/:bob@pve:PVEAuditor:
acl:1:/:dave@pve:PVEVMAdmin:
acl:1:/pool/prod:@ops:VMObserver:
acl:1:/pool/locked:carol@pve:NoAccess:
acl:1:/pool/locked:dave@pve:PVEAuditor:
acl:1:/vms:@audit:PVEAuditor:
acl:0:/vms/100:bob@pve:NoAccess:
acl:1:/vms/100:alice@pve!automation:PVEAuditor:
acl:1:/vms/100:alice@pve:PVEVMUser:
acl:1:/vms/300:carol@pve:PVEVMAdmin:
acl:0:/vms/400:dave@pve:PVEAuditor:
";

fn has(authid: &str, path: &str, privs: &[&str]) -> bool {
    has_privs(&UserConfig::parse(CFG), authid, path, privs, false)
}

#[test]
fn propagation_and_precedence() {
    assert!(has("bob@pve", "/nodes/pveo", &["Sys.Audit"]));
    assert!(!has("bob@pve", "/nodes/pveo", &["Sys.Modify"]));
    // NoAccess on the path itself wins over the propagated PVEAuditor.
    assert!(!has("bob@pve", "/vms/100", &["VM.Audit"]));
    assert!(has("bob@pve", "/vms/101", &["VM.Audit"]));
    // a user entry replaces group entries at the same level
    assert!(has("alice@pve", "/vms/100", &["VM.PowerMgmt"]));
    assert!(!has("alice@pve", "/vms/100", &["VM.Allocate"]));
    // a non-propagating entry counts on its path only; a more specific user entry
    // replaces the inherited one
    assert!(!has("dave@pve", "/vms/400", &["VM.PowerMgmt"]));
    assert!(has("dave@pve", "/vms/400", &["VM.Audit"]));
    assert!(has(
        "root@pam",
        "/anything",
        &["Sys.PowerMgmt", "Realm.Allocate"]
    ));
    assert!(!has("nobody@pve", "/", &["Sys.Audit"]));
}

#[test]
fn pools_apply_to_members() {
    // alice: VMObserver via group ops on /pool/prod applies to VM 200 and storage local.
    assert!(has("alice@pve", "/vms/200", &["VM.Console"]));
    assert!(has("alice@pve", "/storage/local", &["VM.Audit"]));
    assert!(!has("alice@pve", "/vms/201", &["VM.Audit"]));
    // NoAccess on the pool beats the member's own roles... only when the path has none
    // of its own NoAccess: carol has PVEVMAdmin on /vms/300 and NoAccess on its pool.
    assert!(!has("carol@pve", "/vms/300", &["VM.Audit"]));
    // a pool's roles do not override NoAccess on the path: bob on /vms/100
    assert!(!has("bob@pve", "/vms/100", &["VM.Audit"]));
}

#[test]
fn tokens_and_privilege_separation() {
    // privsep: the intersection of the token's ACL (PVEAuditor) and alice's (PVEVMUser).
    assert!(has("alice@pve!automation", "/vms/100", &["VM.Audit"]));
    assert!(!has("alice@pve!automation", "/vms/100", &["VM.PowerMgmt"]));
    assert!(!has("alice@pve!automation", "/vms/100", &["Sys.Audit"]));
    // without privsep: exactly the user's
    assert!(has("alice@pve!full", "/vms/100", &["VM.PowerMgmt"]));
    // privsep token without own ACL: nothing
    assert!(!has("bob@pve!sep", "/", &["Sys.Audit"]));
    // unknown token: nothing
    assert!(!has("alice@pve!nope", "/vms/100", &["VM.Audit"]));
}

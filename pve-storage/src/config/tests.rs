use super::*;

#[test]
fn implicit_local_and_defaults() {
    let cfg = StorageConfig::parse("");
    let local = cfg.storage("local").unwrap();
    assert_eq!(local.path.as_deref(), Some("/var/lib/vz"));
    assert!(local.content.contains("iso") && local.content.contains("snippets"));
    let cfg =
        StorageConfig::parse("nfs: n1\n\tpath /mnt/pve/n1\n\tserver 10.0.0.1\n\texport /x\n\n");
    let n = cfg.storage("n1").unwrap();
    assert!(n.shared);
    assert!(n.content.contains("images"));
    assert_eq!(cfg.ids(), vec!["local", "n1"]);
    assert_eq!(
        cfg.storage("nope").unwrap_err().to_string(),
        "storage 'nope' does not exist"
    );
}

#[test]
fn round_trip_keeps_sections() {
    let text = "dir: local\n\tpath /var/lib/vz\n\tcontent iso,vztmpl,backup\n\nbtrfs: bfs\n\tpath /mnt/b\n\tcontent images,rootdir\n\nweird: ww\n\tfoo bar\n\n";
    let cfg = StorageConfig::parse(text);
    let out = cfg.to_text().unwrap();
    assert!(out.contains("dir: local\n\tpath /var/lib/vz\n\tcontent iso,vztmpl,backup\n"));
    assert!(out.contains("btrfs: bfs\n"));
    assert!(out.contains("weird: ww\n\tfoo bar\n"));
    let bad = StorageConfig::parse("dir: 1bad\n\tpath /x\n\n");
    assert!(bad.raw("1bad").is_none());
}

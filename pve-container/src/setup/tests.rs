//! Unit tests of distribution setup on scratch root file systems.

use super::*;

#[test]
fn drand48_matches_perl() {
    let mut r = Drand48::new(0);
    let mins: Vec<u32> = (0..4).map(|_| (r.next_f64() * 59.0) as u32).collect();
    assert_eq!(mins, [10, 44, 5, 51]);
}

#[test]
fn os_release() {
    let v = parse_os_release("ID=debian\nNAME=\"Debian \\\"x\\\"\"\nVERSION_ID='12'\n# c\n");
    assert_eq!(v["ID"], "debian");
    assert_eq!(v["NAME"], "Debian \"x\"");
    assert_eq!(v["VERSION_ID"], "12");
}

fn scratch(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("ct-setup-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("etc")).unwrap();
    std::fs::create_dir_all(dir.join("root")).unwrap();
    dir
}

fn test_opts() -> SetupOptions {
    SetupOptions {
        testmode: true,
        host: HostInfo {
            dns: vec![],
            search: None,
            timezone: None,
            localtime: "/usr/share/zoneinfo/UTC".into(),
        },
        ssh_host_keys: false,
        uuid: || "u".into(),
        seed: Some(0),
    }
}

#[test]
fn ubuntu_networkd_and_ostype_warning() {
    let root = scratch("ubuntu");
    std::fs::write(
        root.join("etc/lsb-release"),
        "DISTRIB_ID=Ubuntu\nDISTRIB_RELEASE=22.04\n",
    )
    .unwrap();
    std::fs::write(root.join("etc/netplan-keep"), "").unwrap();
    let raw = "hostname: ct1.example.com\nostype: debian\nnet0: name=eth0,bridge=vmbr0,ip=10.0.0.2/24,gw=10.0.1.1\n";
    let conf = crate::config::parse_ct_config(100, raw, true)
        .unwrap()
        .config
        .main;
    let mut setup = Setup::new(&conf, &root, test_opts()).unwrap();
    assert_eq!(setup.distro, Distro::Ubuntu);
    assert_eq!(setup.conf.get("ostype"), Some("ubuntu"));
    assert!(setup
        .warnings
        .iter()
        .any(|w| w == "got unexpected ostype (ubuntu != debian)\n"));
    setup.post_create_hook(None, None).unwrap();
    let networkd = std::fs::read_to_string(root.join("etc/systemd/network/eth0.network")).unwrap();
    assert_eq!(
        networkd,
        "[Match]\nName = eth0\n\n[Network]\nDescription = Interface eth0 autoconfigured by PVE\nAddress = 10.0.0.2/24\nGateway = 10.0.1.1\nDHCP = no\nIPv6AcceptRA = false\n\n[Route]\nDestination = 10.0.1.1/32\nScope = link\n"
    );
    assert_eq!(
        std::fs::read_to_string(root.join("etc/hostname")).unwrap(),
        "ct1\n"
    );
    let hosts = std::fs::read_to_string(root.join("etc/hosts")).unwrap();
    assert!(hosts.contains("10.0.0.2 ct1.example.com ct1\n"), "{hosts}");
    let resolv = std::fs::read_to_string(root.join("etc/resolv.conf")).unwrap();
    assert!(resolv.contains("search proxmox.com\nnameserver 8.8.8.8\nnameserver 8.8.8.9\n"));
    std::fs::remove_dir_all(&root).unwrap();
}

#[test]
fn machine_id_create_and_clone() {
    let root = scratch("machineid");
    std::fs::write(root.join("etc/debian_version"), "12.5\n").unwrap();
    std::fs::create_dir_all(root.join("usr/lib/systemd")).unwrap();
    let systemd = root.join("usr/lib/systemd/systemd");
    std::fs::write(&systemd, "").unwrap();
    std::fs::set_permissions(
        &systemd,
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    std::fs::write(root.join("etc/machine-id"), "abc\n").unwrap();
    let conf = crate::config::parse_ct_config(100, "arch: amd64\n", true)
        .unwrap()
        .config
        .main;
    let mut setup = Setup::new(&conf, &root, test_opts()).unwrap();
    setup.post_clone_hook().unwrap();
    assert_eq!(
        std::fs::read_to_string(root.join("etc/machine-id")).unwrap(),
        "\n"
    );
    setup.post_create_hook(None, None).unwrap();
    assert!(!root.join("etc/machine-id").exists());
    std::fs::remove_dir_all(&root).unwrap();
}

#[test]
fn unmanaged_and_undetectable() {
    let root = scratch("unmanaged");
    let conf = crate::config::parse_ct_config(100, "ostype: unmanaged\n", true)
        .unwrap()
        .config
        .main;
    let mut setup = Setup::new(&conf, &root, test_opts()).unwrap();
    assert_eq!(setup.distro, Distro::Unmanaged);
    setup.post_create_hook(Some("x"), None).unwrap();
    assert!(!root.join("etc/hostname").exists());
    std::fs::write(root.join("etc/os-release"), "ID=plan9\n").unwrap();
    let conf = CtSection::default();
    let err = Setup::new(&conf, &root, test_opts()).err().unwrap();
    assert_eq!(err, "unable to detect OS distribution\n");
    assert_eq!(
        Setup::new(&conf, Path::new("/"), test_opts())
            .err()
            .unwrap(),
        "no root directory\n"
    );
    std::fs::remove_dir_all(&root).unwrap();
}

#[test]
fn elf_architecture() {
    let root = scratch("elf");
    std::fs::create_dir_all(root.join("usr/bin")).unwrap();
    std::fs::create_dir_all(root.join("bin")).unwrap();
    let mut header = vec![0x7f, b'E', b'L', b'F', 2, 1, 1, 0];
    header.extend([0; 8]);
    header.extend([2, 0, 0xb7, 0]);
    std::fs::write(root.join("usr/bin/dash"), &header).unwrap();
    std::os::unix::fs::symlink("/usr/bin/dash", root.join("bin/sh")).unwrap();
    let fs = CtFs::new(&root, None);
    assert_eq!(detect_elf_architecture(&fs, "/bin/sh").unwrap(), "arm64");
    header[18] = 0xf3;
    header[4] = 1;
    std::fs::write(root.join("usr/bin/dash"), &header).unwrap();
    assert_eq!(detect_elf_architecture(&fs, "/bin/sh").unwrap(), "riscv32");
    std::fs::write(root.join("usr/bin/dash"), b"#!/bin/sh\n echo hello world\n").unwrap();
    assert_eq!(
        detect_elf_architecture(&fs, "/bin/sh").unwrap_err(),
        "'/bin/sh' does not resolve to an ELF!\n"
    );
    std::fs::remove_dir_all(&root).unwrap();
}

#[test]
fn pve_sections() {
    let d = "a\n# --- BEGIN PVE ---\n127.0.0.1 x\n# --- END PVE ---\nb\n";
    assert_eq!(remove_pve_sections(d), "a\n\nb\n");
}

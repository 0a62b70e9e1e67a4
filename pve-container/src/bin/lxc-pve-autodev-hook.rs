//! LXC's `lxc.hook.autodev` for Proxmox VE containers (upstream's `lxc-pve-autodev-hook`);
//! see [`pve_container::hooks`].

fn main() {
    std::process::exit(pve_container::hooks::hook_main(
        "autodev",
        pve_container::hooks::autodev,
    ));
}

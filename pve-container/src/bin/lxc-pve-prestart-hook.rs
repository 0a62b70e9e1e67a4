//! LXC's `lxc.hook.pre-start` for Proxmox VE containers (upstream's `lxc-pve-prestart-hook`);
//! see [`pve_container::hooks`].

fn main() {
    std::process::exit(pve_container::hooks::hook_main(
        "pre-start",
        pve_container::hooks::prestart,
    ));
}

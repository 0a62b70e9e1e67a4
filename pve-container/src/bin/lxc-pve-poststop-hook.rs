//! LXC's `lxc.hook.post-stop` for Proxmox VE containers (upstream's `lxc-pve-poststop-hook`);
//! see [`pve_container::hooks`].

fn main() {
    std::process::exit(pve_container::hooks::hook_main(
        "post-stop",
        pve_container::hooks::poststop,
    ));
}

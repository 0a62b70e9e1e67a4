//! `lxc.net.N.script.up` hook (upstream's `lxcnetaddbr`): LXC calls it as
//! `lxcnetaddbr VMID net up veth vethVMIDiN` once the host side of the veth pair exists;
//! it puts that interface on the bridge of `netN` in the container's config.

fn main() {
    if let Err(e) = pve_container::net_hook::add_to_bridge(std::env::args().skip(1).collect()) {
        pve_container::hooks::report_hook_error(&e);
        std::process::exit(1);
    }
}

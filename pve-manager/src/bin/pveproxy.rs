//! pveproxy: the API over HTTPS on :8006; hands protected calls to pvedaemon.

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    std::process::exit(pve_manager::daemon::main(
        pve_manager::daemon::Daemon::Pveproxy,
        &args,
    ));
}

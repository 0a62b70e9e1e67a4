//! pvedaemon: the API daemon on 127.0.0.1:85, running `protected` methods as root.

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    std::process::exit(pve_manager::daemon::main(
        pve_manager::daemon::Daemon::Pvedaemon,
        &args,
    ));
}

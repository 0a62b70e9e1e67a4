//! Runs the conformance suites of every crate; driven by `cargo xtask conformance`.

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let suites = pve_manager::conformance_suites();
    std::process::exit(pve_common::conformance::run_cli(&suites, &args));
}

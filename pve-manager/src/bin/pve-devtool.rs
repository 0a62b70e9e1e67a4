//! Developer tool behind `cargo xtask conformance` and `cargo xtask apidump`; not shipped.
//!
//! - `pve-devtool conformance [--corpus DIR] [-v] [COMPONENT[/SUITE] …]`
//! - `pve-devtool apidump [--pretty]`: the API tree as upstream's apidoc JSON
//! - `pve-devtool devnode-user USERID PASSWORD ROLE`: a `pve`-realm user with ROLE on
//!   `/` in the node below `$PVE_ROOT` (the dev node's admin)

fn main() {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let cmd = if args.is_empty() {
        String::new()
    } else {
        args.remove(0)
    };
    let code = match cmd.as_str() {
        "conformance" => {
            let suites = pve_manager::conformance_suites();
            pve_common::conformance::run_cli(&suites, &args)
        }
        "apidump" => {
            let dump = pve_common::api::dump::api_dump(&pve_manager::api::root());
            let text = if args.iter().any(|a| a == "--pretty") {
                serde_json::to_string_pretty(&dump)
            } else {
                serde_json::to_string(&dump)
            };
            match text {
                Ok(t) => {
                    println!("{t}");
                    0
                }
                Err(e) => {
                    eprintln!("apidump: {e}");
                    1
                }
            }
        }
        "devnode-user" => match (args.first(), args.get(1), args.get(2)) {
            (Some(user), Some(password), Some(role)) => {
                match pve_manager::devnode::add_admin(
                    &pve_common::NodePaths::from_env(),
                    user,
                    password,
                    role,
                ) {
                    Ok(()) => 0,
                    Err(e) => {
                        eprintln!("devnode-user: {e:#}");
                        1
                    }
                }
            }
            _ => {
                eprintln!("usage: pve-devtool devnode-user USERID PASSWORD ROLE");
                2
            }
        },
        other => {
            eprintln!("unknown command '{other}'; usage: pve-devtool conformance|apidump|devnode-user [ARGS]");
            2
        }
    };
    std::process::exit(code);
}

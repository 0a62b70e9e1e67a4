//! `cargo xtask bench lxc`: `pct start VMID` (the `pct` binary beside this one, as an
//! admin runs it: process start, worker task, config lock, rootfs mount, LXC config
//! generation, `lxc-start` with the pre-start hook mounting the root) until it exits
//! with the container running, against `lxc-start` by hand of the same generated config
//! without the PVE hooks on the root mounted beforehand (the floor), in the same run;
//! and `pct list` (the vmlist method) over 1,000 container configs. Root, LXC and a
//! busybox template are needed.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use pve_common::api::{AuthId, EnvKind, HttpMethod, RpcEnv};
use pve_container::run::LxcRuntime;
use serde_json::{json, Value};

fn arg(args: &[String], name: &str) -> Option<String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

fn template(args: &[String]) -> Option<PathBuf> {
    if let Some(t) = arg(args, "--template") {
        return Some(PathBuf::from(t));
    }
    pve_container::devtemplate::busybox_template()
}

fn stats(mut v: Vec<f64>) -> Value {
    v.sort_by(f64::total_cmp);
    let median = v[v.len() / 2];
    json!({"samples": v.len(), "median_ms": median, "min_ms": v[0], "max_ms": v[v.len() - 1]})
}

fn call(env: &RpcEnv, m: HttpMethod, path: &str, p: Value) -> anyhow::Result<Value> {
    let router = pve_container::api::node_lxc_router();
    let (method, _) = router
        .find(m, path)
        .ok_or_else(|| anyhow::anyhow!("no method {path}"))?;
    let Value::Object(mut p) = p else {
        anyhow::bail!("params")
    };
    p.insert("node".into(), json!(env.node));
    pve_common::api::call_method(method, env, p)
        .map(|r| r.data)
        .map_err(|e| anyhow::anyhow!("{}", e.message))
}

fn rpc_env(root: &Path) -> RpcEnv {
    RpcEnv {
        auth: AuthId::root(),
        node: "pveo".into(),
        client_ip: None,
        kind: EnvKind::Cli,
        paths: pve_common::paths::NodePaths::new(root),
        permissions: None,
    }
}

struct RemoveRoot(PathBuf, LxcRuntime, u32);
impl Drop for RemoveRoot {
    fn drop(&mut self) {
        if self.1.check_running(self.2) {
            let _ = self.1.stop(self.2, false, None, true);
        }
        let _ = pve_container::create::unmount_all(&self.1.rootdir(self.2));
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let samples: usize = arg(&args, "--samples").map_or(Ok(10), |s| s.parse())?;
    let out =
        arg(&args, "--out").map_or_else(|| PathBuf::from("target/bench/lxc.json"), PathBuf::from);
    let template = template(&args)
        .ok_or_else(|| anyhow::anyhow!("no busybox template (run `cargo xtask ct-template`)"))?;
    let root = std::env::temp_dir().join(format!("pve-lxc-bench-{}", std::process::id()));
    std::fs::create_dir_all(root.join("etc/pve/nodes/pveo/lxc"))?;
    std::fs::write(
        root.join("etc/pve/storage.cfg"),
        "dir: local\n\tpath /var/lib/vz\n\tcontent images,rootdir,vztmpl\n\n",
    )?;
    let env = rpc_env(&root);
    let paths = env.paths.clone();
    let vmid = 9000;
    let rt = LxcRuntime::new(&paths);
    let _cleanup = RemoveRoot(root.clone(), rt.clone(), vmid);
    let storage = pve_storage::Storage::load(&paths)?;
    let mut conf = pve_container::parse_ct_config(
        vmid,
        "arch: amd64\nostype: unmanaged\nhostname: bench\nmemory: 64\n",
        true,
    )
    .map_err(anyhow::Error::msg)?
    .config;
    let (volid, main) = pve_container::create::create_rootfs(
        &storage,
        &pve_container::create::RootfsRequest {
            vmid,
            storeid: "local",
            size_gib: 1,
            archive: &template,
            conf: &conf.main,
            password: None,
            ssh_keys: None,
            setup: Default::default(),
            mount_dir: &rt.rootdir(vmid),
        },
    )
    .map_err(anyhow::Error::msg)?;
    conf.main = main;
    conf.main.set("rootfs", format!("{volid},size=1G"));
    let store = pve_container::store::CtConfigStore::new(&paths, "pveo");
    store
        .write_config(vmid, &conf)
        .map_err(anyhow::Error::msg)?;

    // `pct` from the same build; every start is its own process as on a real node (one
    // process starting the same container twice within a second waits for a new UPID)
    let pct_bin = std::env::current_exe()?.with_file_name("pct");
    if !pct_bin.is_file() {
        anyhow::bail!(
            "{} missing (build the pve-container binaries)",
            pct_bin.display()
        );
    }
    let mut pct = Vec::new();
    let mut floor = Vec::new();
    for _ in 0..samples {
        let t = Instant::now();
        let out = Command::new(&pct_bin)
            .args(["start", &vmid.to_string()])
            .env(pve_common::paths::ROOT_ENV, &root)
            .env("PVE_NODE_NAME", &env.node)
            .env(
                "PVE_LXC_HOOK_DIR",
                pct_bin.parent().unwrap_or(Path::new(".")),
            )
            .output()?;
        if !out.status.success() || !rt.check_running(vmid) {
            anyhow::bail!(
                "pct start did not start the container: {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        pct.push(t.elapsed().as_secs_f64() * 1000.0);
        rt.stop(vmid, false, None, true)?;

        // the floor: the generated config without the PVE hooks, root mounted before
        let ctdir = rt.lxc_dir.join(vmid.to_string());
        let plain: String = std::fs::read_to_string(ctdir.join("config"))?
            .lines()
            .filter(|l| !l.starts_with("lxc.hook."))
            .map(|l| format!("{l}\n"))
            .collect();
        std::fs::write(ctdir.join("config.floor"), plain)?;
        for m in pve_container::create::mount_all(&storage, &conf.main, &rt.rootdir(vmid))
            .map_err(anyhow::Error::msg)?
        {
            m.keep();
        }
        let t = Instant::now();
        let st = Command::new("lxc-start")
            .arg("-P")
            .arg(&rt.lxc_dir)
            .args(["-n", &vmid.to_string(), "-f"])
            .arg(ctdir.join("config.floor"))
            .status()?;
        if !st.success() || !rt.check_running(vmid) {
            anyhow::bail!("lxc-start by hand failed");
        }
        floor.push(t.elapsed().as_secs_f64() * 1000.0);
        rt.stop(vmid, false, None, true)?;
        rt.unmount(vmid)?;
    }

    // pct list over 1,000 configs (stopped containers; no LXC involved)
    let list_root = root.join("list");
    std::fs::create_dir_all(list_root.join("etc/pve/nodes/pveo/lxc"))?;
    for i in 0..1000u32 {
        std::fs::write(
            list_root.join(format!("etc/pve/nodes/pveo/lxc/{}.conf", 10000 + i)),
            format!(
                "arch: amd64\nhostname: ct{i}\nmemory: 512\nostype: debian\nrootfs: local:{0}/vm-{0}-disk-0.raw,size=8G\nswap: 512\n",
                10000 + i
            ),
        )?;
    }
    let lenv = rpc_env(&list_root);
    let mut list = Vec::new();
    for _ in 0..samples.max(5) {
        let t = Instant::now();
        let v = call(&lenv, HttpMethod::Get, "", json!({}))?;
        list.push(t.elapsed().as_secs_f64() * 1000.0);
        if v.as_array().map_or(0, Vec::len) != 1000 {
            anyhow::bail!(
                "pct list returned {} entries",
                v.as_array().map_or(0, Vec::len)
            );
        }
    }
    let pct_s = stats(pct);
    let floor_s = stats(floor);
    let overhead =
        pct_s["median_ms"].as_f64().unwrap_or(0.0) - floor_s["median_ms"].as_f64().unwrap_or(0.0);
    let result = json!({
        "pct_start": pct_s,
        "lxc_start_by_hand": floor_s,
        "start_overhead_median_ms": overhead,
        "start_overhead_target_ms": 150,
        "pct_list_1000": stats(list),
        "pct_list_target_ms": 50,
    });
    if let Some(dir) = out.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(&out, serde_json::to_string_pretty(&result)? + "\n")?;
    println!("{}", serde_json::to_string_pretty(&result)?);
    Ok(())
}

//! `cargo xtask bench qemu`: `vm_start` until QMP answers `running`, against starting
//! the same QEMU command line by hand (the floor), in the same run.
//! Usage: qemu-start-bench --out FILE [--samples N]   (root; QEMU and `ip` needed)

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use pve_common::paths::NodePaths;
use qemu_server::helpers;
use qemu_server::qmp::QmpClient;
use qemu_server::run::{self, RunEnv, StartOptions, StopOptions};

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut out = PathBuf::from("target/bench/qemu.json");
    let mut samples = 5usize;
    let mut i = 0;
    while i < args.len() {
        match args[i].as_str() {
            "--out" => {
                out = PathBuf::from(&args[i + 1]);
                i += 1;
            }
            "--samples" => {
                samples = args[i + 1].parse()?;
                i += 1;
            }
            other => bail!("unknown argument '{other}'"),
        }
        i += 1;
    }
    let root = std::env::temp_dir().join(format!("qemu-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(root.join("etc/pve/nodes/bench/qemu-server"))?;
    std::fs::write(
        root.join("etc/pve/storage.cfg"),
        "dir: local\n\tpath /var/lib/vz\n\tcontent images\n\n",
    )?;
    let vmid = 9399;
    let bridge = "qsbench0";
    let _ = Command::new("ip").args(["link", "del", bridge]).output();
    if !Command::new("ip")
        .args(["link", "add", bridge, "type", "bridge"])
        .status()?
        .success()
    {
        bail!("cannot create bridge (root needed)");
    }
    let img_dir = root.join(format!("var/lib/vz/images/{vmid}"));
    std::fs::create_dir_all(&img_dir)?;
    let st = Command::new("qemu-img")
        .args(["create", "-q", "-f", "qcow2"])
        .arg(img_dir.join(format!("vm-{vmid}-disk-0.qcow2")))
        .arg("1G")
        .status()?;
    if !st.success() {
        bail!("qemu-img failed");
    }
    let paths = NodePaths::new(&root);
    let env = RunEnv::new(paths.clone(), "bench");
    std::fs::write(
        env.config_path(vmid),
        format!("memory: 256\ncores: 1\nnet0: virtio=BC:24:11:00:99:99,bridge={bridge}\nscsi0: local:{vmid}/vm-{vmid}-disk-0.qcow2,size=1G\nboot: order=scsi0\n"),
    )?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;

    let mut ours = Vec::new();
    let mut floor = Vec::new();
    for _ in 0..samples {
        // ours
        let t = Instant::now();
        run::vm_start(&env, vmid, &StartOptions::default())?;
        ours.push(t.elapsed().as_secs_f64() * 1000.0);
        let status = rt.block_on(async {
            let c = QmpClient::open(&helpers::qmp_socket(&paths, vmid)).await?;
            c.status_name().await
        })?;
        if status != "running" {
            bail!("VM not running after start: {status}");
        }
        run::vm_stop(
            &env,
            vmid,
            &StopOptions {
                force: true,
                ..Default::default()
            },
            &mut |w| eprintln!("warning: {w}"),
        )?;

        // the floor: the same argv by hand, taps made beforehand
        let storage = pve_storage::Storage::load(&paths).map_err(|e| anyhow::format_err!("{e}"))?;
        let conf = env.load_config(vmid)?;
        let sc = run::start_command(&paths, &env.node, &storage, vmid, &conf, &env.host)?;
        std::fs::create_dir_all(helpers::run_dir(&paths))?;
        for tap in &sc.taps {
            run::create_tap(tap)?;
        }
        let socket = helpers::qmp_socket(&paths, vmid);
        let t = Instant::now();
        let st = Command::new(&sc.argv[0]).args(&sc.argv[1..]).status()?;
        if !st.success() {
            bail!("QEMU failed");
        }
        rt.block_on(async {
            loop {
                if let Ok(c) = QmpClient::connect(&socket, Duration::from_secs(1)).await {
                    if c.status_name().await.ok().as_deref() == Some("running") {
                        return;
                    }
                }
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        });
        floor.push(t.elapsed().as_secs_f64() * 1000.0);
        run::vm_stop(
            &env,
            vmid,
            &StopOptions {
                force: true,
                ..Default::default()
            },
            &mut |w| eprintln!("warning: {w}"),
        )?;
    }
    let _ = Command::new("ip").args(["link", "del", bridge]).output();
    let _ = std::fs::remove_dir_all(&root);
    let (m_ours, m_floor) = (median(&mut ours.clone()), median(&mut floor.clone()));
    let res = serde_json::json!({
        "kvm": env.host.kvm,
        "samples": samples,
        "qm_start_to_running_ms": { "median": m_ours, "all": ours },
        "by_hand_to_running_ms": { "median": m_floor, "all": floor },
        "overhead_ms_median": m_ours - m_floor,
        "target_overhead_ms": 100,
        "pass": m_ours - m_floor <= 100.0,
    });
    if let Some(dir) = out.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(&out, serde_json::to_string_pretty(&res)? + "\n")?;
    println!("{}", serde_json::to_string_pretty(&res)?);
    Ok(())
}

//! `cargo xtask bench qemu`: `vm_start` until QMP answers `running`, against starting
//! the same QEMU command line by hand (the floor), in the same run.
//! Also the CLI: `qm showcmd` on that VM and `qm list` with 1,000 VM configs (the `qm`
//! binary beside this one), which need neither root nor QEMU; without them the start
//! part is reported as skipped.
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
    let cli = cli_timings(samples.max(10))?;
    let start = vm_start_bench(samples);
    let mut res = serde_json::json!({
        "showcmd_ms": cli.0,
        "target_showcmd_ms": 10,
        "qm_list_1000_ms": cli.1,
        "target_qm_list_1000_ms": 50,
    });
    match start {
        Ok(m) => res.as_object_mut().expect("object").extend(m),
        Err(e) => {
            eprintln!("SKIP: VM start part: {e:#}");
            res["vm_start_skipped"] = serde_json::json!(format!("{e:#}"));
        }
    }
    if let Some(dir) = out.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(&out, serde_json::to_string_pretty(&res)? + "\n")?;
    println!("{}", serde_json::to_string_pretty(&res)?);
    Ok(())
}

/// Median wall time of `qm ARGS` (the binary beside this one) over `samples` runs, ms.
fn time_qm(root: &std::path::Path, args: &[&str], samples: usize) -> Result<f64> {
    let qm = std::env::current_exe()?.with_file_name("qm");
    let mut times = Vec::new();
    for _ in 0..samples {
        let t = Instant::now();
        let out = Command::new(&qm)
            .args(args)
            .env("PVE_ROOT", root)
            .env("PVE_NODE_NAME", "bench")
            .output()?;
        times.push(t.elapsed().as_secs_f64() * 1000.0);
        if !out.status.success() {
            bail!(
                "qm {} failed: {}",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
    Ok(median(&mut times))
}

/// (`qm showcmd` ms, `qm list` with 1,000 configs ms), medians.
fn cli_timings(samples: usize) -> Result<(f64, f64)> {
    let root = std::env::temp_dir().join(format!("qm-cli-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    let dir = root.join("etc/pve/nodes/bench/qemu-server");
    std::fs::create_dir_all(&dir)?;
    std::fs::write(
        root.join("etc/pve/storage.cfg"),
        "dir: local\n\tpath /var/lib/vz\n\tcontent images\n\n",
    )?;
    for vmid in 1000..2000u32 {
        std::fs::write(
            dir.join(format!("{vmid}.conf")),
            format!("boot: order=scsi0\ncores: 2\nmemory: 2048\nname: bench{vmid}\nnet0: virtio=BC:24:11:00:{:02X}:{:02X},bridge=vmbr0\nostype: l26\nscsi0: local:{vmid}/vm-{vmid}-disk-0.qcow2,size=8G\nscsihw: virtio-scsi-single\n", (vmid >> 8) & 0xff, vmid & 0xff),
        )?;
    }
    let res = (|| {
        let showcmd = time_qm(&root, &["showcmd", "1000"], samples)?;
        let list = time_qm(&root, &["list"], samples)?;
        Ok((showcmd, list))
    })();
    let _ = std::fs::remove_dir_all(&root);
    res
}

/// The start part: fields of the result, or why it cannot run here.
fn vm_start_bench(samples: usize) -> Result<serde_json::Map<String, serde_json::Value>> {
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
    match res {
        serde_json::Value::Object(m) => Ok(m),
        _ => unreachable!("a JSON object literal"),
    }
}

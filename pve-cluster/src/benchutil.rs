//! What the benchmark binaries (`pmxcfs-bench`, `pmxcfs-cluster-bench`) share.

use std::path::Path;
use std::process::{Child, Command, Stdio};

/// The median of `v` (the mean of the middle two for an even count); NaN when empty.
pub fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    match n {
        0 => f64::NAN,
        _ if n % 2 == 1 => v[n / 2],
        _ => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

/// Writes a report as pretty JSON to `out` (creating its directory) and prints it.
pub fn write_report(out: &Path, report: &serde_json::Value) -> std::io::Result<()> {
    if let Some(dir) = out.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let text = serde_json::to_string_pretty(report)?;
    std::fs::write(out, format!("{text}\n"))?;
    println!("{text}");
    println!("written to {}", out.display());
    Ok(())
}

/// Starts `pmxcfs -f -l` (local mode, foreground) with its data under `root`.
pub fn spawn_local_pmxcfs(pmxcfs: &Path, root: &Path) -> std::io::Result<Child> {
    Command::new(pmxcfs)
        .args(["-f", "-l"])
        .env("PVE_ROOT", root)
        .env("PVE_NODE_NAME", "bench")
        .stdin(Stdio::null())
        .spawn()
}

/// CPU time (user + system) of a process so far, in seconds.
pub fn cpu_secs(pid: u32) -> f64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0.0;
    };
    // Fields after the command name (which may hold spaces): state is field 3,
    // utime and stime are fields 14 and 15.
    let rest = stat.rsplit_once(')').map(|r| r.1).unwrap_or("");
    let f: Vec<&str> = rest.split_whitespace().collect();
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / hz
}

#[cfg(test)]
mod tests {
    #[test]
    fn median_of_odd_and_even_counts() {
        assert_eq!(super::median(vec![3.0, 1.0, 2.0]), 2.0);
        assert_eq!(super::median(vec![4.0, 1.0, 3.0, 2.0]), 2.5);
        assert!(super::median(Vec::new()).is_nan());
    }
}

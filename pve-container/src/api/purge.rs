//! What `destroy` with `purge` removes besides the container: its entries in backup
//! jobs (`jobs.cfg`, upstream's `remove_vmid_from_backup_jobs`) and its HA resource
//! (`ha/resources.cfg`). Both files are edited section by section as text, so other
//! job types and unknown properties stay as they are (upstream does a limited parse
//! for the same reason).

use pve_common::paths::NodePaths;

/// Upstream's `remove_vmid_from_list`: the comma list without `vmid`.
fn remove_from_list(list: &str, vmid: u32) -> String {
    let id = vmid.to_string();
    list.split(|c: char| c == ',' || c == ';' || c.is_whitespace())
        .filter(|v| !v.is_empty() && *v != id)
        .collect::<Vec<_>>()
        .join(",")
}

/// Splits a section config into sections (header line + property lines), keeping
/// everything before the first header and blank lines as their own chunks.
fn sections(text: &str) -> Vec<Vec<String>> {
    let mut out: Vec<Vec<String>> = Vec::new();
    for line in text.lines() {
        let is_header = !line.is_empty()
            && !line.starts_with(char::is_whitespace)
            && !line.starts_with('#')
            && line.contains(':');
        if is_header || out.is_empty() || line.trim().is_empty() {
            out.push(vec![line.to_string()]);
        } else {
            out.last_mut().expect("not empty").push(line.to_string());
        }
    }
    out
}

fn join(sections: &[Vec<String>]) -> String {
    let mut text = String::new();
    for line in sections.iter().flatten() {
        text.push_str(line);
        text.push('\n');
    }
    text
}

/// `remove_vmid_from_job` on the `vzdump` sections of jobs.cfg: the VMID leaves the
/// `vmid` list (a job left without guests is removed) or the `exclude` list.
pub fn remove_vmid_from_backup_jobs_text(text: &str, vmid: u32) -> String {
    let mut out = Vec::new();
    for mut section in sections(text) {
        if !section[0].starts_with("vzdump:") {
            out.push(section);
            continue;
        }
        let prop = |section: &[String], key: &str| {
            section.iter().position(|l| {
                l.split_whitespace().next() == Some(key) && l.starts_with(char::is_whitespace)
            })
        };
        if let Some(i) = prop(&section, "vmid") {
            let list = section[i].split_whitespace().nth(1).unwrap_or_default();
            let rest = remove_from_list(list, vmid);
            if rest.is_empty() {
                // the job had only this guest: it goes, with its blank separator
                if out
                    .last()
                    .is_some_and(|s: &Vec<String>| s[0].trim().is_empty())
                {
                    out.pop();
                }
                continue;
            }
            section[i] = format!("\tvmid {rest}");
        } else if let Some(i) = prop(&section, "exclude") {
            let list = section[i].split_whitespace().nth(1).unwrap_or_default();
            let rest = remove_from_list(list, vmid);
            if rest.is_empty() {
                section.remove(i);
            } else {
                section[i] = format!("\texclude {rest}");
            }
        }
        out.push(section);
    }
    // no blank chunk at the start after a removed first job
    while out
        .first()
        .is_some_and(|s| s[0].trim().is_empty() && s.len() == 1)
    {
        out.remove(0);
    }
    join(&out)
}

/// Removes the `ct: VMID` section of ha/resources.cfg; `true` when it was there.
pub fn remove_ha_resource_text(text: &str, vmid: u32) -> (String, bool) {
    let mut found = false;
    let mut out = Vec::new();
    for section in sections(text) {
        let header = section[0].as_str();
        let is_it = header
            .split_once(':')
            .is_some_and(|(t, id)| t.trim() == "ct" && id.trim() == vmid.to_string());
        if is_it {
            found = true;
            if out
                .last()
                .is_some_and(|s: &Vec<String>| s[0].trim().is_empty())
            {
                out.pop();
            }
            continue;
        }
        out.push(section);
    }
    while out
        .first()
        .is_some_and(|s| s[0].trim().is_empty() && s.len() == 1)
    {
        out.remove(0);
    }
    (join(&out), found)
}

/// A failed purge step (a cfs lock or a write).
struct PurgeError(String);

impl From<pve_cluster::cfs::CfsError> for PurgeError {
    fn from(e: pve_cluster::cfs::CfsError) -> Self {
        PurgeError(format!("{e}\n"))
    }
}

/// Rewrites `rel` (below /etc/pve) under the cfs lock `lockid`; a missing file is
/// left alone.
fn edit(
    paths: &NodePaths,
    rel: &str,
    lockid: &str,
    f: impl FnOnce(&str) -> String,
) -> Result<(), String> {
    let cfs = pve_cluster::cfs::Cfs::new(paths);
    cfs.lock(lockid, None, || -> Result<(), PurgeError> {
        let Ok(text) = std::fs::read_to_string(cfs.path(rel)) else {
            return Ok(());
        };
        let new = f(&text);
        if new != text {
            cfs.write_raw(rel, new.as_bytes())?;
        }
        Ok(())
    })
    .map_err(|e| e.0)
}

/// Removes the guest from the backup jobs of jobs.cfg.
pub fn remove_vmid_from_backup_jobs(paths: &NodePaths, vmid: u32) -> Result<(), String> {
    edit(
        paths,
        "jobs.cfg",
        &pve_cluster::cfs::file_lock_id("jobs.cfg"),
        |t| remove_vmid_from_backup_jobs_text(t, vmid),
    )
}

/// Removes the guest's HA resource; `true` when it had one.
pub fn remove_ha_resource(paths: &NodePaths, vmid: u32) -> Result<bool, String> {
    let mut found = false;
    edit(paths, "ha/resources.cfg", "domain-ha", |t| {
        let (new, f) = remove_ha_resource_text(t, vmid);
        found = f;
        new
    })?;
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backup_jobs() {
        let text = "vzdump: backup-a\n\tschedule sun 01:00\n\tvmid 100,105\n\tstorage local\n\n\
                    vzdump: backup-b\n\tschedule daily\n\tvmid 105\n\n\
                    vzdump: backup-c\n\tall 1\n\texclude 105\n\n\
                    realm-sync: sync-1\n\tvmid 105\n";
        assert_eq!(
            remove_vmid_from_backup_jobs_text(text, 105),
            "vzdump: backup-a\n\tschedule sun 01:00\n\tvmid 100\n\tstorage local\n\n\
             vzdump: backup-c\n\tall 1\n\n\
             realm-sync: sync-1\n\tvmid 105\n"
        );
        let only = "vzdump: backup-b\n\tvmid 105\n\nvzdump: backup-d\n\tvmid 7,105\n";
        assert_eq!(
            remove_vmid_from_backup_jobs_text(only, 105),
            "vzdump: backup-d\n\tvmid 7\n"
        );
        assert_eq!(remove_vmid_from_backup_jobs_text(text, 999), text);
    }

    #[test]
    fn ha_resources() {
        let text = "vm: 100\n\tstate started\n\nct: 105\n\tstate stopped\n\tgroup g1\n\nct: 1050\n";
        let (new, found) = remove_ha_resource_text(text, 105);
        assert!(found);
        assert_eq!(new, "vm: 100\n\tstate started\n\nct: 1050\n");
        let (same, found) = remove_ha_resource_text(text, 100);
        assert!(!found, "vm: 100 is no container");
        assert_eq!(same, text);
    }
}

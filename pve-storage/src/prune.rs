//! prune-backups: which backups a retention policy keeps (upstream's
//! `prune_mark_backup_group`).

use std::collections::{BTreeMap, HashSet};

use jiff::tz::TimeZone;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::error::{Result, StorageError};

/// The keep-* options; `None` and 0 mean "not set".
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct PruneOptions {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep_all: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep_last: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep_hourly: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep_daily: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep_weekly: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep_monthly: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep_yearly: Option<u64>,
    /// Keys the schema does not know (only reachable by library callers); like upstream,
    /// a positive one still disables keep-all.
    #[serde(flatten)]
    pub other: BTreeMap<String, u64>,
}

impl PruneOptions {
    /// From a parsed map (`{keep-last: 3, …}`, numbers or numeric strings).
    pub fn from_map(map: &Map<String, Value>) -> Result<Self> {
        let mut o = PruneOptions::default();
        for (k, v) in map {
            let n = match v {
                Value::Number(n) => n.as_u64(),
                Value::String(s) => s.parse().ok(),
                Value::Bool(b) => Some(u64::from(*b)),
                Value::Null => None,
                _ => None,
            };
            let slot = match k.as_str() {
                "keep-all" => &mut o.keep_all,
                "keep-last" => &mut o.keep_last,
                "keep-hourly" => &mut o.keep_hourly,
                "keep-daily" => &mut o.keep_daily,
                "keep-weekly" => &mut o.keep_weekly,
                "keep-monthly" => &mut o.keep_monthly,
                "keep-yearly" => &mut o.keep_yearly,
                other => {
                    o.other.insert(other.to_string(), n.unwrap_or(0));
                    continue;
                }
            };
            *slot = n;
        }
        Ok(o)
    }

    /// Parses the `prune-backups` property string.
    pub fn parse(text: &str) -> Result<Self> {
        let map =
            pve_common::schema::property_string::parse_named_property_string("prune-backups", text)
                .map_err(StorageError::msg)?;
        Self::from_map(&map)
    }

    fn periods(&self) -> [u64; 6] {
        [
            self.keep_last.unwrap_or(0),
            self.keep_hourly.unwrap_or(0),
            self.keep_daily.unwrap_or(0),
            self.keep_weekly.unwrap_or(0),
            self.keep_monthly.unwrap_or(0),
            self.keep_yearly.unwrap_or(0),
        ]
    }

    /// No positive keep option, or keep-all: everything stays.
    pub fn keeps_all(&self) -> bool {
        self.keep_all.unwrap_or(0) > 0
            || (self.periods().iter().all(|n| *n == 0) && self.other.values().all(|n| *n == 0))
    }
}

/// The verdict on one backup.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PruneMark {
    Keep,
    Remove,
    Protected,
    Renamed,
}

/// One backup in a prune selection.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PruneEntry {
    pub volid: String,
    pub ctime: i64,
    #[serde(rename = "type")]
    pub backup_type: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vmid: Option<u32>,
    pub mark: Option<PruneMark>,
}

/// Marks the entries of one backup group (`type/vmid`). Entries already marked
/// (protected, renamed) are left alone.
pub fn mark_group(group: &mut [&mut PruneEntry], keep: &PruneOptions, tz: &TimeZone) {
    if keep.keeps_all() {
        for e in group.iter_mut() {
            if e.mark.is_none() || e.mark == Some(PruneMark::Remove) {
                e.mark = Some(PruneMark::Keep);
            }
        }
        return;
    }
    group.sort_by_key(|e| std::cmp::Reverse(e.ctime));
    let tz = tz.clone();
    let local = move |t: i64| {
        Timestamp::from_second(t)
            .ok()
            .map(|ts| ts.to_zoned(tz.clone()))
    };
    type PeriodKey = Box<dyn Fn(i64) -> String>;
    let keys: [PeriodKey; 6] = [
        Box::new(|t| t.to_string()),
        Box::new({
            let local = local.clone();
            move |t| {
                local(t).map_or(t.to_string(), |z| {
                    format!("{}/{}/{}/{}", z.hour(), z.day(), z.month(), z.year())
                })
            }
        }),
        Box::new({
            let local = local.clone();
            move |t| {
                local(t).map_or(t.to_string(), |z| {
                    format!("{}/{}/{}", z.day(), z.month(), z.year())
                })
            }
        }),
        Box::new({
            let local = local.clone();
            move |t| {
                local(t).map_or(t.to_string(), |z| {
                    let w = z.date().iso_week_date();
                    format!("{}/{}", w.week(), w.year())
                })
            }
        }),
        Box::new({
            let local = local.clone();
            move |t| local(t).map_or(t.to_string(), |z| format!("{}/{}", z.month(), z.year()))
        }),
        Box::new(move |t| local(t).map_or(t.to_string(), |z| z.year().to_string())),
    ];
    for (count, key) in keep.periods().into_iter().zip(keys.iter()) {
        mark_period(group, count, key);
    }
    for e in group.iter_mut() {
        e.mark.get_or_insert(PruneMark::Remove);
    }
}

fn mark_period(list: &mut [&mut PruneEntry], count: u64, key: &dyn Fn(i64) -> String) {
    if count == 0 {
        return;
    }
    let covered: HashSet<String> = list
        .iter()
        .filter(|e| e.mark == Some(PruneMark::Keep))
        .map(|e| key(e.ctime))
        .collect();
    let mut taken: HashSet<String> = HashSet::new();
    for e in list.iter_mut() {
        let id = key(e.ctime);
        if e.mark.is_some() || covered.contains(&id) {
            continue;
        }
        if !taken.contains(&id) {
            if taken.len() as u64 >= count {
                break;
            }
            taken.insert(id);
            e.mark = Some(PruneMark::Keep);
        } else {
            e.mark = Some(PruneMark::Remove);
        }
    }
}

/// A backup as the lister sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BackupItem {
    pub volid: String,
    pub ctime: i64,
    pub vmid: Option<u32>,
    pub protected: bool,
}

/// The selection for a list of backups (upstream's plugin `prune_backups` without the
/// removal): groups by `type/vmid`, non-standard names are `renamed`, protected ones
/// `protected`.
pub fn select(
    backups: &[BackupItem],
    keep: &PruneOptions,
    vmid: Option<u32>,
    backup_type: Option<&str>,
    tz: &TimeZone,
) -> Result<Vec<PruneEntry>> {
    let mut entries = Vec::new();
    let mut groups: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for b in backups {
        let info = crate::archive::archive_info_in(&b.volid, tz).ok();
        let btype = info
            .as_ref()
            .map_or("unknown".to_string(), |i| i.guest_type.clone());
        if backup_type.is_some_and(|t| t != btype) {
            continue;
        }
        let bvmid = info.as_ref().and_then(|i| i.vmid).or(b.vmid);
        let mut entry = PruneEntry {
            volid: b.volid.clone(),
            ctime: b.ctime,
            backup_type: btype.clone(),
            vmid: bvmid,
            mark: None,
        };
        match info.as_ref().filter(|i| i.is_std_name) {
            Some(i) => {
                let Some(bv) = bvmid else {
                    return Err(StorageError::msg("internal error - got no VMID"));
                };
                if let Some(want) = vmid.filter(|w| *w != bv) {
                    return Err(StorageError::msg(format!(
                        "internal error - got wrong VMID '{bv}' != '{want}'"
                    )));
                }
                entry.ctime = i.ctime.unwrap_or(b.ctime);
                groups
                    .entry(format!("{btype}/{bv}"))
                    .or_default()
                    .push(entries.len());
            }
            None => entry.mark = Some(PruneMark::Renamed),
        }
        if b.protected {
            entry.mark = Some(PruneMark::Protected);
        }
        entries.push(entry);
    }
    for idx in groups.values() {
        let mut group: Vec<&mut PruneEntry> = entries
            .iter_mut()
            .enumerate()
            .filter(|(i, _)| idx.contains(i))
            .map(|(_, e)| e)
            .collect();
        mark_group(&mut group, keep, tz);
    }
    Ok(entries)
}

//! `-cpu`: CPU model resolution (built-in, abstract x86-64-vN and custom models) and
//! flag merging, as upstream's `PVE::QemuServer::CPUConfig::get_cpu_options`.

use std::collections::BTreeMap;

/// Vendor of each QEMU x86_64 CPU model (`default` for the generic ones).
const X86_MODELS: &[(&str, &str)] = &[
    ("486", "GenuineIntel"),
    ("pentium", "GenuineIntel"),
    ("pentium2", "GenuineIntel"),
    ("pentium3", "GenuineIntel"),
    ("coreduo", "GenuineIntel"),
    ("core2duo", "GenuineIntel"),
    ("Conroe", "GenuineIntel"),
    ("Penryn", "GenuineIntel"),
    ("Nehalem", "GenuineIntel"),
    ("Nehalem-IBRS", "GenuineIntel"),
    ("Westmere", "GenuineIntel"),
    ("Westmere-IBRS", "GenuineIntel"),
    ("SandyBridge", "GenuineIntel"),
    ("SandyBridge-IBRS", "GenuineIntel"),
    ("IvyBridge", "GenuineIntel"),
    ("IvyBridge-IBRS", "GenuineIntel"),
    ("Haswell", "GenuineIntel"),
    ("Haswell-IBRS", "GenuineIntel"),
    ("Haswell-noTSX", "GenuineIntel"),
    ("Haswell-noTSX-IBRS", "GenuineIntel"),
    ("Broadwell", "GenuineIntel"),
    ("Broadwell-IBRS", "GenuineIntel"),
    ("Broadwell-noTSX", "GenuineIntel"),
    ("Broadwell-noTSX-IBRS", "GenuineIntel"),
    ("Skylake-Client", "GenuineIntel"),
    ("Skylake-Client-IBRS", "GenuineIntel"),
    ("Skylake-Client-noTSX-IBRS", "GenuineIntel"),
    ("Skylake-Client-v4", "GenuineIntel"),
    ("Skylake-Server", "GenuineIntel"),
    ("Skylake-Server-IBRS", "GenuineIntel"),
    ("Skylake-Server-noTSX-IBRS", "GenuineIntel"),
    ("Skylake-Server-v4", "GenuineIntel"),
    ("Skylake-Server-v5", "GenuineIntel"),
    ("Cascadelake-Server", "GenuineIntel"),
    ("Cascadelake-Server-v2", "GenuineIntel"),
    ("Cascadelake-Server-noTSX", "GenuineIntel"),
    ("Cascadelake-Server-v4", "GenuineIntel"),
    ("Cascadelake-Server-v5", "GenuineIntel"),
    ("Cooperlake", "GenuineIntel"),
    ("Cooperlake-v2", "GenuineIntel"),
    ("KnightsMill", "GenuineIntel"),
    ("Icelake-Client", "GenuineIntel"),
    ("Icelake-Client-noTSX", "GenuineIntel"),
    ("Icelake-Server", "GenuineIntel"),
    ("Icelake-Server-noTSX", "GenuineIntel"),
    ("Icelake-Server-v3", "GenuineIntel"),
    ("Icelake-Server-v4", "GenuineIntel"),
    ("Icelake-Server-v5", "GenuineIntel"),
    ("Icelake-Server-v6", "GenuineIntel"),
    ("Icelake-Server-v7", "GenuineIntel"),
    ("SapphireRapids", "GenuineIntel"),
    ("SapphireRapids-v2", "GenuineIntel"),
    ("SapphireRapids-v3", "GenuineIntel"),
    ("SapphireRapids-v4", "GenuineIntel"),
    ("GraniteRapids", "GenuineIntel"),
    ("GraniteRapids-v2", "GenuineIntel"),
    ("GraniteRapids-v3", "GenuineIntel"),
    ("SierraForest", "GenuineIntel"),
    ("SierraForest-v2", "GenuineIntel"),
    ("SierraForest-v3", "GenuineIntel"),
    ("ClearwaterForest", "GenuineIntel"),
    ("athlon", "AuthenticAMD"),
    ("phenom", "AuthenticAMD"),
    ("Opteron_G1", "AuthenticAMD"),
    ("Opteron_G2", "AuthenticAMD"),
    ("Opteron_G3", "AuthenticAMD"),
    ("Opteron_G4", "AuthenticAMD"),
    ("Opteron_G5", "AuthenticAMD"),
    ("EPYC", "AuthenticAMD"),
    ("EPYC-IBPB", "AuthenticAMD"),
    ("EPYC-v3", "AuthenticAMD"),
    ("EPYC-v4", "AuthenticAMD"),
    ("EPYC-v5", "AuthenticAMD"),
    ("EPYC-Rome", "AuthenticAMD"),
    ("EPYC-Rome-v2", "AuthenticAMD"),
    ("EPYC-Rome-v3", "AuthenticAMD"),
    ("EPYC-Rome-v4", "AuthenticAMD"),
    ("EPYC-Rome-v5", "AuthenticAMD"),
    ("EPYC-Milan", "AuthenticAMD"),
    ("EPYC-Milan-v2", "AuthenticAMD"),
    ("EPYC-Milan-v3", "AuthenticAMD"),
    ("EPYC-Genoa", "AuthenticAMD"),
    ("EPYC-Genoa-v2", "AuthenticAMD"),
    ("EPYC-Turin", "AuthenticAMD"),
    ("kvm32", "default"),
    ("kvm64", "default"),
    ("qemu32", "default"),
    ("qemu64", "default"),
    ("max", "default"),
    ("host", "default"),
];

/// Abstract models: reported model plus flags.
const BUILTIN_MODELS: &[(&str, &str, &str)] = &[
    ("x86-64-v2", "qemu64", "+popcnt;+pni;+sse4.1;+sse4.2;+ssse3"),
    ("x86-64-v2-AES", "qemu64", "+aes;+popcnt;+pni;+sse4.1;+sse4.2;+ssse3"),
    (
        "x86-64-v3",
        "qemu64",
        "+aes;+popcnt;+pni;+sse4.1;+sse4.2;+ssse3;+avx;+avx2;+bmi1;+bmi2;+f16c;+fma;+abm;+movbe;+xsave",
    ),
    (
        "x86-64-v4",
        "qemu64",
        "+aes;+popcnt;+pni;+sse4.1;+sse4.2;+ssse3;+avx;+avx2;+bmi1;+bmi2;+f16c;+fma;+abm;+movbe;+xsave;+avx512f;+avx512bw;+avx512cd;+avx512dq;+avx512vl",
    ),
];

/// Flags a VM config may set itself.
const VM_FLAGS: &[&str] = &[
    "nested-virt",
    "md-clear",
    "pcid",
    "spec-ctrl",
    "ssbd",
    "ibpb",
    "virt-ssbd",
    "amd-ssbd",
    "amd-no-ssb",
    "pdpe1gb",
    "hv-tlbflush",
    "hv-evmcs",
    "aes",
];

pub fn vendor_of(model: &str) -> Option<&'static str> {
    X86_MODELS
        .iter()
        .find(|(m, _)| *m == model)
        .map(|(_, v)| *v)
}

/// Parsed `cpu` property (or custom model entry).
#[derive(Default, Clone, Debug)]
pub struct CpuConf {
    pub cputype: Option<String>,
    pub reported_model: Option<String>,
    pub hidden: Option<bool>,
    pub hv_vendor_id: Option<String>,
    pub flags: Option<String>,
    pub guest_phys_bits: Option<String>,
    pub phys_bits: Option<String>,
    pub level: Option<String>,
}

impl CpuConf {
    fn set(&mut self, k: &str, v: &str) -> Result<(), String> {
        let v = Some(v.to_string());
        match k {
            "cputype" => self.cputype = v,
            "reported-model" => self.reported_model = v,
            "hidden" => self.hidden = v.map(|x| x == "1"),
            "hv-vendor-id" => self.hv_vendor_id = v,
            "flags" => self.flags = v,
            "guest-phys-bits" => self.guest_phys_bits = v,
            "phys-bits" => self.phys_bits = v,
            "level" => self.level = v,
            other => return Err(format!("invalid cpu option '{other}'")),
        }
        Ok(())
    }

    pub fn parse(value: &str) -> Result<CpuConf, String> {
        let mut c = CpuConf::default();
        for (i, part) in value.split(',').enumerate() {
            match part.split_once('=') {
                None if i == 0 => c.cputype = Some(part.to_string()),
                Some((k, v)) => c.set(k, v)?,
                None => return Err(format!("Cannot parse cpu description: {value}\n")),
            }
        }
        Ok(c)
    }
}

/// Parses cpu-models.conf (`cpu-model: NAME` sections with indented `key value`).
pub fn parse_custom_models(text: &str) -> Result<BTreeMap<String, CpuConf>, String> {
    let mut out = BTreeMap::new();
    let mut current: Option<(String, CpuConf)> = None;
    for line in text.lines() {
        let t = line.trim();
        if t.is_empty() || t.starts_with('#') {
            continue;
        }
        if let Some(name) = t.strip_prefix("cpu-model:") {
            if let Some((n, c)) = current.take() {
                out.insert(n, c);
            }
            current = Some((name.trim().to_string(), CpuConf::default()));
        } else if let Some((_, c)) = current.as_mut() {
            let (k, v) = t.split_once(char::is_whitespace).unwrap_or((t, ""));
            c.set(k, v.trim())?;
        }
    }
    if let Some((n, c)) = current.take() {
        out.insert(n, c);
    }
    Ok(out)
}

#[derive(Clone, Debug)]
struct Flag {
    op: &'static str,
    value: Option<String>,
    reason: String,
}

fn parse_flag_list(list: Option<&str>, only_vm: bool, reason: &str) -> Vec<(String, Flag)> {
    let mut out = Vec::new();
    for f in list.unwrap_or("").split(';') {
        let (op, name) = match f.split_at_checked(1) {
            Some(("+", n)) => ("+", n),
            Some(("-", n)) => ("-", n),
            _ => continue,
        };
        let valid = if only_vm {
            VM_FLAGS.contains(&name)
        } else {
            !name.is_empty()
                && name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
        };
        if valid {
            out.push((
                name.to_string(),
                Flag {
                    op,
                    value: None,
                    reason: reason.to_string(),
                },
            ));
        }
    }
    out
}

const CPU_32BIT: &[&str] = &[
    "486", "pentium", "pentium2", "pentium3", "coreduo", "athlon", "kvm32", "qemu32",
];

/// 32 or 64: the bitness of the configured x86_64 CPU model.
pub fn bitness(conf_cpu: Option<&str>, custom_models: Option<&str>) -> Result<u32, String> {
    let mut cputype = "qemu64".to_string();
    if let Some(s) = conf_cpu {
        let cpu = CpuConf::parse(s)?;
        cputype = cpu.cputype.unwrap_or_else(|| "kvm64".into());
        if let Some((_, reported, _)) = BUILTIN_MODELS.iter().find(|(n, _, _)| *n == cputype) {
            cputype = reported.to_string();
        } else if let Some(name) = cputype.strip_prefix("custom-") {
            let models = parse_custom_models(custom_models.unwrap_or(""))?;
            let model = models
                .get(name)
                .ok_or_else(|| format!("Custom cputype '{name}' not found\n"))?;
            cputype = model
                .reported_model
                .clone()
                .unwrap_or_else(|| "kvm64".into());
        }
    }
    Ok(if CPU_32BIT.contains(&cputype.as_str()) {
        32
    } else {
        64
    })
}

/// The QEMU model a hotplugged vCPU device is created with.
pub fn hotplug_model(
    conf_cpu: Option<&str>,
    custom_models: Option<&str>,
    kvm: bool,
) -> Result<String, String> {
    let mut cpu = if kvm { "kvm64" } else { "qemu64" }.to_string();
    if let Some(s) = conf_cpu {
        cpu = CpuConf::parse(s)?.cputype.unwrap_or_else(|| "kvm64".into());
        if let Some((_, reported, _)) = BUILTIN_MODELS.iter().find(|(n, _, _)| *n == cpu) {
            cpu = reported.to_string();
        } else if let Some(name) = cpu.strip_prefix("custom-") {
            let models = parse_custom_models(custom_models.unwrap_or(""))?;
            let model = models
                .get(name)
                .ok_or_else(|| format!("Custom cputype '{name}' not found\n"))?;
            cpu = model
                .reported_model
                .clone()
                .unwrap_or_else(|| "kvm64".into());
        }
        match cpu.as_str() {
            "Icelake-Client" => cpu = "Icelake-Server".into(),
            "Icelake-Client-noTSX" => cpu = "Icelake-Server-noTSX".into(),
            _ => {}
        }
    }
    Ok(cpu)
}

/// Inputs of the `-cpu` computation that come from elsewhere in the generator.
pub struct CpuInputs<'a> {
    pub conf_cpu: Option<&'a str>,
    pub ostype: Option<&'a str>,
    pub bios: Option<&'a str>,
    pub kvm: bool,
    pub kvm_off: bool,
    pub winversion: u32,
    pub gpu_passthrough: bool,
    pub qemu_version: (u32, u32, u32),
    pub host_vendor: &'a str,
    pub host_phys_bits: Option<u32>,
    pub custom_models: Option<&'a str>,
}

/// The `-cpu` value. `guard` is upstream's `$version_guard`.
pub fn cpu_option(
    inp: &CpuInputs,
    guard: &mut dyn FnMut(u32, u32, u32) -> bool,
    warnings: &mut Vec<String>,
    task_warnings: &mut Vec<String>,
) -> Result<String, String> {
    let mut cputype = if inp.kvm { "kvm64" } else { "qemu64" }.to_string();
    let mut cpu = CpuConf::default();
    let mut custom: Option<CpuConf> = None;
    let mut builtin_flags: Option<&str> = None;
    let mut kvm_off = inp.kvm_off;
    let mut hv_vendor_id = None;
    if let Some(s) = inp.conf_cpu {
        cpu = CpuConf::parse(s)?;
        cputype = cpu.cputype.clone().unwrap_or_else(|| "kvm64".into());
        if let Some((_, reported, flags)) = BUILTIN_MODELS.iter().find(|(n, _, _)| *n == cputype) {
            cputype = reported.to_string();
            builtin_flags = Some(flags);
        } else if let Some(name) = cputype.strip_prefix("custom-") {
            let models = parse_custom_models(inp.custom_models.unwrap_or(""))?;
            let model = models
                .get(name)
                .cloned()
                .ok_or_else(|| format!("Custom cputype '{name}' not found\n"))?;
            cputype = model
                .reported_model
                .clone()
                .unwrap_or_else(|| "kvm64".into());
            if let Some(h) = model.hidden {
                kvm_off = h;
            }
            hv_vendor_id = model.hv_vendor_id.clone();
            custom = Some(model);
        }
        match cputype.as_str() {
            "Icelake-Client" => cputype = "Icelake-Server".into(),
            "Icelake-Client-noTSX" => cputype = "Icelake-Server-noTSX".into(),
            _ => {}
        }
        if let Some(h) = cpu.hidden {
            kvm_off = h;
        }
        if cpu.hv_vendor_id.is_some() {
            hv_vendor_id = cpu.hv_vendor_id.clone();
        }
    }
    let vendor = vendor_of(&cputype).ok_or_else(|| {
        format!("CPU model '{cputype}' does not exist for configured vCPU architecture 'x86_64'\n")
    })?;

    // flags set by PVE
    let mut pve: Vec<(String, Flag)> = Vec::new();
    let add = |v: &mut Vec<(String, Flag)>,
               n: &str,
               op: &'static str,
               val: Option<String>,
               reason: &str| {
        v.push((
            n.to_string(),
            Flag {
                op,
                value: val,
                reason: reason.to_string(),
            },
        ));
    };
    const PVE: &str = "set by PVE;";
    const HV: &str = "automatic Hyper-V enlightenment for Windows";
    let hv7 = format!("{HV} 7 and higher");
    if cputype == "kvm64" {
        add(
            &mut pve,
            "lahf_lm",
            "+",
            None,
            &format!("{PVE} to support Windows 8.1+"),
        );
    }
    if inp.ostype == Some("solaris") {
        add(
            &mut pve,
            "x2apic",
            "-",
            None,
            &format!("{PVE} incompatible with Solaris"),
        );
    }
    if cputype == "kvm64" || cputype == "kvm32" {
        add(
            &mut pve,
            "sep",
            "+",
            None,
            &format!("{PVE} to support Windows 8+ and improve Windows XP+"),
        );
    }
    if cputype.starts_with("Opteron") {
        add(
            &mut pve,
            "rdtscp",
            "-",
            None,
            &format!("{PVE} broken on AMD Opteron"),
        );
    }
    if guard(2, 3, 0) && inp.kvm {
        add(
            &mut pve,
            "kvm_pv_unhalt",
            "+",
            None,
            &format!("{PVE} to improve Linux guest spinlock performance"),
        );
        add(
            &mut pve,
            "kvm_pv_eoi",
            "+",
            None,
            &format!("{PVE} to improve Linux guest interrupt performance"),
        );
    }
    let qemu_11 = (inp.qemu_version.0, inp.qemu_version.1) >= (11, 0);
    if qemu_11 && inp.winversion >= 11 {
        add(
            &mut pve,
            "cet-ibt",
            "-",
            None,
            &format!("{PVE} to avoid issues with certain Windows configurations like VBS"),
        );
        add(
            &mut pve,
            "cet-ss",
            "-",
            None,
            &format!("{PVE} to avoid issues with certain Windows configurations like VBS"),
        );
    }
    if qemu_11 && cputype == "host" && !guard(11, 0, 0) {
        add(
            &mut pve,
            "vmx-mbec",
            "-",
            None,
            &format!("{PVE} for backwards compatibility with older kernel and QEMU"),
        );
    }

    // Hyper-V enlightenments
    let mut hv: Vec<(String, Flag)> = Vec::new();
    if inp.kvm && inp.winversion >= 6 && !(inp.bios == Some("ovmf") && inp.winversion < 8) {
        if inp.gpu_passthrough || hv_vendor_id.is_some() {
            let id = hv_vendor_id.clone().unwrap_or_else(|| "proxmox".into());
            let reason = if hv_vendor_id.is_some() {
                "custom hv_vendor_id set"
            } else {
                "NVIDIA workaround for GPU passthrough"
            };
            add(&mut hv, "hv_vendor_id", "", Some(id), reason);
        }
        if guard(2, 3, 0) {
            add(&mut hv, "hv_spinlocks", "", Some("0x1fff".into()), HV);
            add(&mut hv, "hv_vapic", "", None, HV);
            add(&mut hv, "hv_time", "", None, HV);
        } else {
            add(&mut hv, "hv_spinlocks", "", Some("0xffff".into()), HV);
        }
        if guard(2, 6, 0) {
            add(&mut hv, "hv_reset", "", None, HV);
            add(&mut hv, "hv_vpindex", "", None, HV);
            add(&mut hv, "hv_runtime", "", None, HV);
        }
        if inp.winversion >= 7 {
            add(&mut hv, "hv_relaxed", "", None, &hv7);
            if guard(2, 12, 0) {
                add(&mut hv, "hv_synic", "", None, &hv7);
                add(&mut hv, "hv_stimer", "", None, &hv7);
            }
            if guard(3, 1, 0) {
                add(&mut hv, "hv_ipi", "", None, &hv7);
            }
        }
        if inp.host_vendor == "GenuineIntel" && inp.winversion >= 11 && guard(11, 0, 2) {
            add(
                &mut hv,
                "hv_evmcs",
                "",
                None,
                &format!("{HV} for Windows 11 on Intel host"),
            );
        }
    }

    let builtin = parse_flag_list(builtin_flags, false, "set by builtin CPU model");
    let custom_flags = parse_flag_list(
        custom.as_ref().and_then(|c| c.flags.as_deref()),
        false,
        "set by custom CPU model",
    );
    let vm_flags = parse_flag_list(cpu.flags.as_deref(), true, "manually set for VM");
    if vm_flags.iter().any(|(n, _)| n == "nested-virt") {
        return Err("not implemented yet: nested-virt CPU flag".into());
    }
    let mut forced: Vec<(String, Flag)> = Vec::new();
    if cputype != "host" && inp.kvm {
        add(
            &mut forced,
            "enforce",
            "",
            None,
            "error if requested CPU settings not available",
        );
    }
    if kvm_off {
        add(
            &mut forced,
            "kvm",
            "",
            Some("off".into()),
            "hide KVM virtualization from guest",
        );
    }
    if vendor != "default" {
        add(
            &mut forced,
            "vendor",
            "",
            Some(vendor.to_string()),
            "unknown origin",
        );
    }

    let mut resolved: BTreeMap<String, Flag> = BTreeMap::new();
    for list in [pve, hv, builtin, custom_flags, vm_flags, forced] {
        for (name, flag) in list {
            if let Some(old) = resolved.get_mut(&name) {
                if old.op == flag.op && old.value == flag.value {
                    old.reason.push_str(&format!(" & {}", flag.reason));
                    continue;
                }
                let show = |f: &Flag| {
                    format!(
                        "'{}{name}{}' ({})",
                        f.op,
                        f.value
                            .as_ref()
                            .map(|v| format!("={v}"))
                            .unwrap_or_default(),
                        f.reason
                    )
                };
                warnings.push(format!(
                    "warning: CPU flag/setting {} overwrites {}",
                    show(&flag),
                    show(old)
                ));
            }
            resolved.insert(name, flag);
        }
    }

    let mut out = cputype.clone();
    if let Some(level) = cpu
        .level
        .clone()
        .or_else(|| custom.as_ref().and_then(|c| c.level.clone()))
    {
        out.push_str(&format!(",level={level}"));
    }
    for (name, flag) in &resolved {
        out.push(',');
        out.push_str(flag.op);
        out.push_str(name);
        if let Some(v) = flag.value.as_ref().filter(|v| !v.is_empty() && *v != "0") {
            out.push_str(&format!("={v}"));
        }
    }
    let mut above_40 = false;
    for opt in ["guest-phys-bits", "phys-bits"] {
        let mut s = String::new();
        for c in [custom.as_ref(), Some(&cpu)].into_iter().flatten() {
            let val = if opt == "phys-bits" {
                c.phys_bits.as_deref()
            } else {
                c.guest_phys_bits.as_deref()
            };
            let Some(val) = val.filter(|v| !v.is_empty() && *v != "0") else {
                continue;
            };
            if val == "host" {
                if opt == "guest-phys-bits" {
                    return Err("unexpected value 'host' for guest-phys-bits".into());
                }
                s = ",host-phys-bits=true".into();
                if inp.host_phys_bits.is_some_and(|b| b > 40) {
                    above_40 = true;
                }
            } else {
                s = format!(",{opt}={val}");
                if opt == "phys-bits" && val.parse::<u32>().is_ok_and(|b| b > 40) {
                    above_40 = true;
                }
            }
        }
        out.push_str(&s);
    }
    if above_40
        && (cputype == "qemu64" || cputype == "kvm64")
        && inp.bios == Some("ovmf")
        && resolved.get("pdpe1gb").is_none_or(|f| f.op == "-")
    {
        task_warnings.push("OVMF firmware might limit CPU 'phys-bits' to 40 - enable the 'pdpe1gb' CPU flag to avoid this".into());
    }
    Ok(out)
}

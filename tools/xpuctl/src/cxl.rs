// SPDX-License-Identifier: GPL-2.0

//! `xpuctl cxl window`: CXL mode's window, a volatile region of a CXL memory device, made if
//! there is none, and printed as xpu's module parameters:
//!
//! ```sh
//! modprobe xpu $(xpuctl cxl window)      # cxl_base=0x... cxl_size=0x...
//! ```
//!
//! A region is what `cxl create-region -t ram` makes (ndctl 76.1, Debian bookworm's, makes only
//! persistent ones): the sysfs steps of the kernel's Documentation/ABI/testing/sysfs-bus-cxl,
//! in their order. The region is left without a dax device (xpu maps it itself; a dax device
//! would claim it).

use std::{
    fs,
    path::{Path, PathBuf},
};

use crate::link::{err, Error};

/// Where the CXL bus's devices are.
const CXL_DEVICES: &str = "/sys/bus/cxl/devices";
/// The region driver's bind file, relative to the devices' directory.
const REGION_BIND: &str = "../drivers/cxl_region/bind";

/// A committed volatile region: its physical address and size.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Region {
    pub(crate) name: String,
    pub(crate) base: u64,
    pub(crate) size: u64,
}

fn read(path: &Path) -> Result<String, Error> {
    fs::read_to_string(path)
        .map(|s| s.trim().to_owned())
        .map_err(|e| err(format!("cannot read {}: {e}", path.display())))
}

fn write(path: &Path, value: &str) -> Result<(), Error> {
    fs::write(path, value)
        .map_err(|e| err(format!("cannot write {value} to {}: {e}", path.display())))
}

/// A number as sysfs prints it: decimal, or hexadecimal with 0x.
fn number(path: &Path) -> Result<u64, Error> {
    let s = read(path)?;
    let v = match s.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16),
        None => s.parse(),
    };
    v.map_err(|_| err(format!("{}: '{s}' is not a number", path.display())))
}

/// The devices of the CXL bus whose names start with `prefix`, sorted (decoder0.0 before
/// decoder2.0).
fn devices(root: &Path, prefix: &str) -> Result<Vec<PathBuf>, Error> {
    let entries = fs::read_dir(root).map_err(|e| {
        err(format!(
            "no CXL bus ({}: {e}): the kernel needs CONFIG_CXL_BUS, and the machine a CXL memory device",
            root.display()
        ))
    })?;
    let mut v: Vec<PathBuf> = entries
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with(prefix))
        .map(|e| e.path())
        .collect();
    v.sort();
    Ok(v)
}

fn name(p: &Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// The first committed volatile region, if there is one.
fn committed(root: &Path) -> Result<Option<Region>, Error> {
    for r in devices(root, "region")? {
        if !r.join("commit").exists()
            || read(&r.join("commit"))? != "1"
            || read(&r.join("mode"))? != "ram"
        {
            continue;
        }
        return Ok(Some(Region {
            name: name(&r),
            base: number(&r.join("resource"))?,
            size: number(&r.join("size"))?,
        }));
    }
    Ok(None)
}

/// The first committed volatile region, or a new one over the first memory device's whole
/// volatile capacity, in the first root decoder that makes volatile regions.
pub(crate) fn window(root: &Path) -> Result<Region, Error> {
    if let Some(r) = committed(root)? {
        return Ok(r);
    }
    let decoders = devices(root, "decoder")?;
    let rootdec = decoders
        .iter()
        .find(|d| d.join("create_ram_region").exists())
        .ok_or_else(|| err("no CXL root decoder makes volatile regions (the platform's CXL windows, ACPI CEDT)"))?;
    // An endpoint decoder (a memory device's) has a DPA allocation: dpa_size.
    let ep = decoders
        .iter()
        .find(|d| d.join("dpa_size").exists() && number(&d.join("dpa_size")).is_ok_and(|n| n == 0))
        .ok_or_else(|| {
            err("no free endpoint decoder: no CXL memory device, or its decoders are all in use")
        })?;
    let mem = devices(root, "mem")?
        .into_iter()
        .next()
        .ok_or_else(|| err("no CXL memory device"))?;
    let size = number(&mem.join("ram/size"))?;
    if size == 0 {
        return Err(err(format!("{} has no volatile capacity", name(&mem))));
    }
    let region = read(&rootdec.join("create_ram_region"))?;
    write(&rootdec.join("create_ram_region"), &region)?;
    let r = root.join(&region);
    let steps: [(PathBuf, String); 8] = [
        (r.join("interleave_ways"), "1".into()),
        (
            r.join("interleave_granularity"),
            read(&rootdec.join("interleave_granularity"))?,
        ),
        (r.join("size"), size.to_string()),
        (ep.join("mode"), "ram".into()),
        (ep.join("dpa_size"), size.to_string()),
        (r.join("target0"), name(ep)),
        (r.join("commit"), "1".into()),
        (root.join(REGION_BIND), region.clone()),
    ];
    for (path, value) in &steps {
        // A region the kernel bound by itself on commit is bound already.
        if path.ends_with("bind") && r.join("driver").exists() {
            continue;
        }
        write(path, value).map_err(|e| {
            err(format!(
                "cannot make a volatile region over {} in {}: {e}",
                name(ep),
                name(rootdec)
            ))
        })?;
    }
    Ok(Region {
        name: region,
        base: number(&r.join("resource"))?,
        size,
    })
}

/// `xpuctl cxl window`.
pub(crate) fn run(json: bool) -> Result<(), Error> {
    let r = window(Path::new(CXL_DEVICES))?;
    if json {
        println!(
            "{{\"region\":\"{}\",\"cxl_base\":{},\"cxl_size\":{}}}",
            crate::json_escape(&r.name),
            r.base,
            r.size
        );
    } else {
        println!("cxl_base={:#x} cxl_size={:#x}", r.base, r.size);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A CXL bus as the kernel shows it with one memory device and no region; writes to the
    /// region's files are recorded as plain files.
    fn bus(ram: &str) -> tempfile::TempDir {
        let t = tempfile::tempdir().unwrap();
        let d = t.path().join("devices");
        let files: &[(&str, &str)] = &[
            ("decoder0.0/create_ram_region", "region0"),
            ("decoder0.0/interleave_granularity", "256"),
            ("decoder2.0/dpa_size", "0x0000000000000000"),
            ("decoder2.0/mode", "none"),
            ("mem0/ram/size", ram),
            ("region0/resource", "0x390000000"),
            ("drivers/cxl_region/bind", ""),
        ];
        for (f, v) in files {
            let p = if f.starts_with("drivers") {
                t.path().join(f)
            } else {
                d.join(f)
            };
            fs::create_dir_all(p.parent().unwrap()).unwrap();
            fs::write(p, v).unwrap();
        }
        t
    }

    #[test]
    fn makes_a_region_over_the_whole_volatile_capacity_in_order() {
        let t = bus("0x10000000");
        let d = t.path().join("devices");
        let r = window(&d).unwrap();
        assert_eq!(
            r,
            Region {
                name: "region0".into(),
                base: 0x3_9000_0000,
                size: 0x1000_0000
            }
        );
        let got = |f: &str| fs::read_to_string(d.join(f)).unwrap();
        assert_eq!(got("decoder0.0/create_ram_region"), "region0");
        assert_eq!(got("region0/interleave_granularity"), "256");
        assert_eq!(got("region0/size"), "268435456");
        assert_eq!(got("decoder2.0/mode"), "ram");
        assert_eq!(got("decoder2.0/dpa_size"), "268435456");
        assert_eq!(got("region0/target0"), "decoder2.0");
        assert_eq!(got("region0/commit"), "1");
        assert_eq!(
            fs::read_to_string(t.path().join("drivers/cxl_region/bind")).unwrap(),
            "region0"
        );
    }

    #[test]
    fn a_committed_region_is_taken_as_it_is() {
        let t = bus("0x10000000");
        let d = t.path().join("devices");
        for (f, v) in [("commit", "1"), ("mode", "ram"), ("size", "0x10000000")] {
            fs::write(d.join("region0").join(f), v).unwrap();
        }
        fs::write(d.join("decoder2.0/dpa_size"), "0x10000000").unwrap();
        let r = window(&d).unwrap();
        assert_eq!((r.base, r.size), (0x3_9000_0000, 0x1000_0000));
        assert_eq!(
            fs::read_to_string(d.join("decoder2.0/mode")).unwrap(),
            "none",
            "touched the decoder"
        );
    }

    #[test]
    fn no_volatile_capacity_is_an_error_that_says_so() {
        let t = bus("0");
        let e = window(&t.path().join("devices")).unwrap_err();
        assert!(
            e.to_string().contains("mem0 has no volatile capacity"),
            "{e}"
        );
    }

    #[test]
    fn no_cxl_bus_is_an_error_that_says_so() {
        let t = tempfile::tempdir().unwrap();
        let e = window(&t.path().join("nothing")).unwrap_err();
        assert!(e.to_string().contains("CONFIG_CXL_BUS"), "{e}");
    }
}

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
//! in their order. Committing it programs the decoders; it is left unbound, so that no dax
//! device claims it (xpu maps it itself).
//!
//! The window is the region's first power-of-two bytes, up to 4 GiB
//! ([`xpu_uapi::shm::window_within`]): a region of any size gives a window the driver takes.

use std::{
    fs,
    path::{Path, PathBuf},
};

use xpu_uapi::shm::{window_within, MIN_WINDOW_SIZE};

use crate::link::{err, Error};

/// Where the CXL bus's devices are.
const CXL_DEVICES: &str = "/sys/bus/cxl/devices";

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

/// The numbers in a device's name, for sorting as the kernel numbers them (`decoder2.0` before
/// `decoder10.0`).
fn numbers(name: &str) -> Vec<u64> {
    name.split(|c: char| !c.is_ascii_digit())
        .filter_map(|d| d.parse().ok())
        .collect()
}

/// The devices of the CXL bus whose names start with `prefix` and go on with a digit, in the
/// kernel's numeric order.
fn devices(root: &Path, prefix: &str) -> Result<Vec<PathBuf>, Error> {
    let entries = fs::read_dir(root).map_err(|e| {
        err(format!(
            "no CXL bus ({}: {e}): the kernel needs CONFIG_CXL_BUS, and the machine a CXL memory device",
            root.display()
        ))
    })?;
    let mut v: Vec<PathBuf> = entries
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| {
            name(p)
                .strip_prefix(prefix)
                .is_some_and(|rest| rest.starts_with(|c: char| c.is_ascii_digit()))
        })
        .collect();
    v.sort_by_key(|p| numbers(&name(p)));
    Ok(v)
}

fn name(p: &Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// The first committed volatile region that no driver holds, if there is one. A region bound
/// to `cxl_region` may have handed its memory to a dax device (and dax_kmem to the page
/// allocator), which xpu must not share.
fn committed(root: &Path) -> Result<Option<Region>, Error> {
    for r in devices(root, "region")? {
        let is = |f: &str, v: &str| read(&r.join(f)).is_ok_and(|s| s == v);
        // (`driver` is a link; whether its target resolves here does not matter.)
        if !is("commit", "1")
            || !is("mode", "ram")
            || fs::symlink_metadata(r.join("driver")).is_ok()
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

/// The first memory device with volatile capacity, and a free decoder of its own endpoint port
/// (`endpointN`, whose `uport` is the device: its decoders are `decoderN.*`).
fn device_and_decoder(root: &Path) -> Result<(PathBuf, PathBuf), Error> {
    let decoders = devices(root, "decoder")?;
    let endpoints = devices(root, "endpoint")?;
    for mem in devices(root, "mem")? {
        if number(&mem.join("ram/size")).unwrap_or(0) == 0 {
            continue;
        }
        let Some(port) = endpoints.iter().find(|e| {
            fs::read_link(e.join("uport")).is_ok_and(|u| u.file_name() == mem.file_name())
        }) else {
            continue;
        };
        let id = numbers(&name(port));
        // Free: no DPA allocated yet (the kernel allocates in decoder order).
        let free = decoders.iter().find(|d| {
            numbers(&name(d)).first() == id.first()
                && number(&d.join("dpa_size")).is_ok_and(|n| n == 0)
        });
        if let Some(d) = free {
            return Ok((mem, d.clone()));
        }
    }
    Err(err(
        "no CXL memory device with volatile capacity and a free decoder (cxl list -M -D)",
    ))
}

/// The first committed volatile region that no driver holds, or a new one over the first
/// memory device's whole volatile capacity, in the first root decoder that makes volatile
/// regions; left unbound, so that no dax device takes it. A failed step undoes the ones
/// before it, so the next attempt starts clean.
pub(crate) fn window(root: &Path) -> Result<Region, Error> {
    if let Some(r) = committed(root)? {
        return Ok(r);
    }
    let rootdec = devices(root, "decoder")?
        .into_iter()
        .find(|d| d.join("create_ram_region").exists())
        .ok_or_else(|| {
            err("no CXL root decoder makes volatile regions (the platform's CXL windows, ACPI CEDT)")
        })?;
    let (mem, ep) = device_and_decoder(root)?;
    let size = number(&mem.join("ram/size"))?;
    let region = read(&rootdec.join("create_ram_region"))?;
    write(&rootdec.join("create_ram_region"), &region)?;
    let r = root.join(&region);
    let steps: [(PathBuf, String); 7] = [
        (r.join("interleave_ways"), "1".into()),
        (
            r.join("interleave_granularity"),
            read(&rootdec.join("interleave_granularity"))?,
        ),
        (r.join("size"), size.to_string()),
        (ep.join("mode"), "ram".into()),
        (ep.join("dpa_size"), size.to_string()),
        (r.join("target0"), name(&ep)),
        (r.join("commit"), "1".into()),
    ];
    for (path, value) in &steps {
        if let Err(e) = write(path, value) {
            // Undone in reverse: the decoder's allocation, then the region (best effort:
            // what was not done refuses, and says nothing new).
            let _ = write(&r.join("target0"), "");
            let _ = write(&ep.join("dpa_size"), "0");
            let _ = write(&rootdec.join("delete_region"), &region);
            return Err(err(format!(
                "cannot make a volatile region over {} of {} in {}: {e}",
                name(&ep),
                name(&mem),
                name(&rootdec)
            )));
        }
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
    let size = window_within(r.size).ok_or_else(|| {
        err(format!(
            "{} has {} bytes, fewer than the smallest window ({MIN_WINDOW_SIZE})",
            r.name, r.size
        ))
    })?;
    if json {
        println!(
            "{{\"region\":\"{}\",\"region_size\":{},\"cxl_base\":{},\"cxl_size\":{size}}}",
            crate::json_escape(&r.name),
            r.size,
            r.base,
        );
    } else {
        println!("cxl_base={:#x} cxl_size={size:#x}", r.base);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A CXL bus as the kernel shows it with one memory device (mem0, behind endpoint2, whose
    /// decoders are decoder2.*) and no region; writes to the region's files are recorded as
    /// plain files.
    fn bus(ram: &str) -> tempfile::TempDir {
        let t = tempfile::tempdir().unwrap();
        let d = t.path().join("devices");
        let files: &[(&str, &str)] = &[
            ("decoder0.0/create_ram_region", "region0"),
            ("decoder0.0/interleave_granularity", "256"),
            ("decoder1.0/target_list", "0"),
            ("decoder2.0/dpa_size", "0x0000000000000000"),
            ("decoder2.0/mode", "none"),
            ("mem0/ram/size", ram),
            ("region0/resource", "0x390000000"),
        ];
        for (f, v) in files {
            let p = d.join(f);
            fs::create_dir_all(p.parent().unwrap()).unwrap();
            fs::write(p, v).unwrap();
        }
        fs::create_dir_all(d.join("endpoint2")).unwrap();
        std::os::unix::fs::symlink("../mem0", d.join("endpoint2/uport")).unwrap();
        t
    }

    /// The same bus, region0 made and committed over decoder2.0 (by someone, some time).
    fn bus_with_region0() -> tempfile::TempDir {
        let t = bus("0x10000000");
        let d = t.path().join("devices");
        for (f, v) in [("commit", "1"), ("mode", "ram"), ("size", "0x10000000")] {
            fs::write(d.join("region0").join(f), v).unwrap();
        }
        fs::write(d.join("decoder2.0/dpa_size"), "0x10000000").unwrap();
        t
    }

    fn got(d: &Path, f: &str) -> String {
        fs::read_to_string(d.join(f)).unwrap()
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
        assert_eq!(got(&d, "decoder0.0/create_ram_region"), "region0");
        assert_eq!(got(&d, "region0/interleave_granularity"), "256");
        assert_eq!(got(&d, "region0/size"), "268435456");
        assert_eq!(got(&d, "decoder2.0/mode"), "ram");
        assert_eq!(got(&d, "decoder2.0/dpa_size"), "268435456");
        assert_eq!(got(&d, "region0/target0"), "decoder2.0");
        assert_eq!(got(&d, "region0/commit"), "1");
        assert!(!d.join("region0/driver").exists(), "bound the region");
    }

    #[test]
    fn a_committed_unbound_region_is_taken_as_it_is() {
        let t = bus_with_region0();
        let d = t.path().join("devices");
        let r = window(&d).unwrap();
        assert_eq!((r.base, r.size), (0x3_9000_0000, 0x1000_0000));
        assert_eq!(got(&d, "decoder2.0/mode"), "none", "touched the decoder");
    }

    #[test]
    fn a_region_a_driver_holds_is_not_taken() {
        let t = bus_with_region0();
        let d = t.path().join("devices");
        std::os::unix::fs::symlink("/nonexistent/cxl_region", d.join("region0/driver")).unwrap();
        // Its decoder is taken, so no new region can be made either.
        let e = window(&d).unwrap_err();
        assert!(e.to_string().contains("free decoder"), "{e}");
    }

    #[test]
    fn a_failed_step_undoes_the_region() {
        let t = bus("0x10000000");
        let d = t.path().join("devices");
        // The commit is refused (a directory cannot be written).
        fs::create_dir_all(d.join("region0/commit")).unwrap();
        let e = window(&d).unwrap_err();
        assert!(
            e.to_string()
                .contains("cannot make a volatile region over decoder2.0"),
            "{e}"
        );
        assert_eq!(got(&d, "decoder2.0/dpa_size"), "0");
        assert_eq!(got(&d, "decoder0.0/delete_region"), "region0");
    }

    #[test]
    fn devices_are_in_the_kernels_numeric_order() {
        let t = tempfile::tempdir().unwrap();
        for n in [
            "decoder10.0",
            "decoder2.1",
            "decoder2.0",
            "decoders",
            "region1",
        ] {
            fs::create_dir(t.path().join(n)).unwrap();
        }
        let v: Vec<String> = devices(t.path(), "decoder")
            .unwrap()
            .iter()
            .map(|p| name(p))
            .collect();
        assert_eq!(v, ["decoder2.0", "decoder2.1", "decoder10.0"]);
    }

    #[test]
    fn no_volatile_capacity_is_an_error_that_says_so() {
        let t = bus("0");
        let e = window(&t.path().join("devices")).unwrap_err();
        assert!(e.to_string().contains("volatile capacity"), "{e}");
    }

    #[test]
    fn no_cxl_bus_is_an_error_that_says_so() {
        let t = tempfile::tempdir().unwrap();
        let e = window(&t.path().join("nothing")).unwrap_err();
        assert!(e.to_string().contains("CONFIG_CXL_BUS"), "{e}");
    }
}

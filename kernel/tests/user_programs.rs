//! The kernel's own loader checks every user program `cargo xtask` built
//! (`target/programs/x86_64-unknown-none/{debug,release}/`): each must plan
//! (static PIE, W^X, RELRO, entry in code, within `Limits::PROGRAM`) and
//! load. Programs that were not built are not checked; `cargo xtask
//! programs` builds them (and checks them with `object` as it packs them).

use std::path::{Path, PathBuf};

use mealy_kernel::program::elf::{Limits, load, plan};

fn built_programs() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"));
    let mut found = Vec::new();
    for profile in ["debug", "release"] {
        let dir = target.join("programs/x86_64-unknown-none").join(profile);
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let is_elf = std::fs::read(&path)
                .map(|bytes| bytes.starts_with(b"\x7fELF"))
                .unwrap_or(false);
            if path.is_file() && is_elf {
                found.push(path);
            }
        }
    }
    found
}

#[test]
fn every_built_program_plans_and_loads() {
    let programs = built_programs();
    if programs.is_empty() {
        eprintln!("no user programs built; `cargo xtask programs` builds them");
    }
    let base = 0x0000_4000_0000_0000;
    for path in programs {
        let file = std::fs::read(&path).unwrap();
        let plan = plan(&file, base, Limits::PROGRAM)
            .unwrap_or_else(|error| panic!("{}: {error}", path.display()));
        let mut image = vec![0u8; plan.size as usize];
        load(&file, &plan, &mut image)
            .unwrap_or_else(|error| panic!("{}: {error}", path.display()));
        eprintln!(
            "{}: {} bytes, image {} KiB, {} segments",
            path.display(),
            file.len(),
            plan.size / 1024,
            plan.segments.len()
        );
    }
}

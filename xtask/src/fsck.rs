//! `cargo xtask fsck PATH`: checks a Mealy data disk on the host, with the
//! same mount the fs service runs (`mealy_fs::disk::mount_image`, through
//! `mealy_image::data_disk::fsck`), and lists its files. PATH is a bare
//! data disk or a whole disk image from `cargo xtask image`, whose data
//! partition it finds by name.
//!
//! A disk that mounts prints a summary line and one line per entry
//! (directories end in `/`); one that does not is an error, which `main`
//! prints as one `xtask: error: PATH: ...` line and a failing exit status.

use std::path::Path;

use anyhow::{Context, Result, anyhow};
use mealy_image::data_disk::{BLOCK, FsckReport, fsck, locate};

/// Checks the disk at `path` and prints what is on it.
pub fn run(path: &Path) -> Result<()> {
    let image = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    for line in check(&image).with_context(|| path.display().to_string())? {
        println!("{line}");
    }
    Ok(())
}

/// The lines `run` prints for a disk image's bytes, or why it is refused.
pub fn check(image: &[u8]) -> Result<Vec<String>> {
    let disk = locate(image).map_err(|error| anyhow!("{error}"))?;
    let report = fsck(&disk).map_err(|error| anyhow!("{error}"))?;
    Ok(render(&report))
}

fn render(report: &FsckReport) -> Vec<String> {
    let files = report.entries.iter().filter(|e| e.size.is_some()).count();
    let mut lines = vec![format!(
        "fsck: clean: generation {}, {} files, {} directories, {} of {} blocks of {} KiB free",
        report.generation,
        files,
        report.entries.len() - files,
        report.free_blocks,
        report.block_count,
        BLOCK / 1024,
    )];
    if let Some(rejected) = report.fell_back {
        lines.push(format!(
            "fsck: warning: generation {} did not verify ({}); mounted the one before",
            rejected.generation, rejected.error
        ));
    }
    for entry in &report.entries {
        lines.push(match entry.size {
            Some(size) => format!("{size:>12}  {}", entry.path),
            None => format!("{:>12}  {}/", "-", entry.path),
        });
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;
    use mealy_image::data_disk::build_data_disk;
    use mealy_image::disk::build_disk_image_with_data;

    fn sample_disk() -> Vec<u8> {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../image/root");
        build_data_disk(&root, 1 << 20).unwrap()
    }

    #[test]
    fn a_good_disk_is_listed() {
        let lines = check(&sample_disk()).unwrap();
        assert!(
            lines[0].starts_with("fsck: clean: generation 1, "),
            "{lines:?}"
        );
        let hello = std::fs::metadata(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../image/root/hello.txt"),
        )
        .unwrap()
        .len();
        assert!(
            lines.contains(&format!("{hello:>12}  /hello.txt")),
            "{lines:?}"
        );
        assert!(lines.iter().any(|l| l.ends_with("  /etc/")), "{lines:?}");
    }

    #[test]
    fn the_data_partition_of_a_whole_disk_image_is_found() {
        let data = sample_disk();
        let whole = build_disk_image_with_data(&[], Some(&data)).unwrap();
        assert_eq!(check(&whole).unwrap(), check(&data).unwrap());
        let no_data = build_disk_image_with_data(&[], None).unwrap();
        let error = check(&no_data).unwrap_err().to_string();
        assert!(error.contains("Mealy data"), "{error}");
    }

    #[test]
    fn a_corrupt_disk_is_one_error() {
        let mut disk = sample_disk();
        // Generation 1 is in slot 1; damage its generation field.
        disk[BLOCK + 16] ^= 1;
        let error = format!("{:#}", check(&disk).unwrap_err());
        assert!(error.starts_with("no valid superblock"), "{error}");
        assert!(!error.contains('\n'), "{error}");
        assert!(check(&[0; 100]).is_err());
    }
}

//! The bootable disk image: a GPT disk with one EFI System Partition (FAT32)
//! holding the same files as the ESP directory `cargo xtask qemu` boots,
//! and optionally a data partition ([`DATA_PARTITION_NAME`]) holding a
//! Mealy data disk (`data_disk.rs`). Written byte for byte to a USB
//! stick, it boots real UEFI machines.
//!
//! The FAT volume is built in memory with `fatfs` and placed at a 1 MiB
//! aligned offset, the data partition 1 MiB aligned behind it; `gpt`
//! writes the protective MBR and both GPT headers.

use std::io::{self, Cursor, Read, Write};

use fatfs::{FatType, FileSystem, FormatVolumeOptions, FsOptions};
use gpt::disk::LogicalBlockSize;
use gpt::mbr::ProtectiveMBR;
use gpt::partition_types;

const SECTOR: u64 = 512;
const MIB: u64 = 1024 * 1024;
/// FAT32 needs at least 65525 clusters; with 512-byte clusters that is a
/// bit over 32 MiB, so the ESP is never smaller than this.
const MIN_ESP_BYTES: u64 = 64 * MIB;

/// A file to place on the ESP, by its path there (`EFI/BOOT/BOOTX64.EFI`).
#[derive(Clone, Debug)]
pub struct EspFile {
    pub path: String,
    pub data: Vec<u8>,
}

#[derive(Debug)]
pub enum DiskError {
    Io(io::Error),
    Gpt(String),
    /// A path with an empty component, `.` or `..`.
    BadPath(String),
    /// `read_esp_file` found no ESP or no such file.
    NotFound(String),
}

impl std::fmt::Display for DiskError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DiskError::Io(error) => write!(f, "I/O error: {error}"),
            DiskError::Gpt(message) => write!(f, "GPT: {message}"),
            DiskError::BadPath(path) => write!(f, "bad ESP path `{path}`"),
            DiskError::NotFound(what) => write!(f, "{what} not found"),
        }
    }
}

impl std::error::Error for DiskError {}

impl From<io::Error> for DiskError {
    fn from(error: io::Error) -> Self {
        DiskError::Io(error)
    }
}

fn gpt_error(error: impl std::fmt::Display) -> DiskError {
    DiskError::Gpt(error.to_string())
}

/// The GPT partition name of the Mealy data disk (its type is the
/// generic Linux-data GUID; the name is what Mealy's tools look for).
pub const DATA_PARTITION_NAME: &str = "Mealy data";

/// Builds the whole disk image, with only the ESP.
pub fn build_disk_image(files: &[EspFile]) -> Result<Vec<u8>, DiskError> {
    build_disk_image_with_data(files, None)
}

/// Builds the whole disk image: the ESP, then `data` (a data disk) in a
/// partition of its own if given.
pub fn build_disk_image_with_data(
    files: &[EspFile],
    data: Option<&[u8]>,
) -> Result<Vec<u8>, DiskError> {
    let esp = build_fat_volume(files)?;
    let esp_bytes = esp.len() as u64;
    let data_room = data.map_or(0, |d| (d.len() as u64).next_multiple_of(MIB));
    // 1 MiB in front for the MBR, the primary GPT and alignment; 1 MiB
    // behind for the backup GPT.
    let disk_bytes = MIB + esp_bytes + data_room + MIB;
    let mut disk = Cursor::new(vec![0u8; disk_bytes as usize]);

    let mbr =
        ProtectiveMBR::with_lb_size(u32::try_from(disk_bytes / SECTOR - 1).unwrap_or(u32::MAX));
    mbr.overwrite_lba0(&mut disk).map_err(gpt_error)?;
    let mut gpt = gpt::GptConfig::new()
        .writable(true)
        .logical_block_size(LogicalBlockSize::Lb512)
        .create_from_device(disk, None)
        .map_err(gpt_error)?;
    gpt.add_partition(
        "EFI System Partition",
        esp_bytes,
        partition_types::EFI,
        0,
        Some(MIB / SECTOR),
    )
    .map_err(gpt_error)?;
    let start = gpt
        .partitions()
        .values()
        .next()
        .ok_or_else(|| DiskError::Gpt("the partition was not added".into()))?
        .bytes_start(LogicalBlockSize::Lb512)
        .map_err(gpt_error)?;
    let data_start = match data {
        Some(data) if !data.is_empty() => {
            let id = gpt
                .add_partition(
                    DATA_PARTITION_NAME,
                    data.len() as u64,
                    partition_types::LINUX_FS,
                    0,
                    Some(MIB / SECTOR),
                )
                .map_err(gpt_error)?;
            let partition = gpt
                .partitions()
                .get(&id)
                .ok_or_else(|| DiskError::Gpt("the data partition was not added".into()))?;
            Some(
                partition
                    .bytes_start(LogicalBlockSize::Lb512)
                    .map_err(gpt_error)?,
            )
        }
        _ => None,
    };
    let mut disk = gpt.write().map_err(gpt_error)?.into_inner();
    place(&mut disk, start, &esp)?;
    if let (Some(at), Some(data)) = (data_start, data) {
        place(&mut disk, at, data)?;
    }
    Ok(disk)
}

fn place(disk: &mut [u8], start: u64, bytes: &[u8]) -> Result<(), DiskError> {
    let start = start as usize;
    let end = start + bytes.len();
    if end > disk.len() {
        return Err(DiskError::Gpt("a partition does not fit the disk".into()));
    }
    disk[start..end].copy_from_slice(bytes);
    Ok(())
}

fn build_fat_volume(files: &[EspFile]) -> Result<Vec<u8>, DiskError> {
    let payload: u64 = files.iter().map(|file| file.data.len() as u64).sum();
    let size = (payload * 2 + 16 * MIB)
        .max(MIN_ESP_BYTES)
        .next_multiple_of(MIB);
    let mut volume = Cursor::new(vec![0u8; size as usize]);
    fatfs::format_volume(
        &mut volume,
        FormatVolumeOptions::new()
            .fat_type(FatType::Fat32)
            .bytes_per_cluster(SECTOR as u32)
            .volume_label(*b"MEALY ESP  "),
    )?;
    {
        let fs = FileSystem::new(&mut volume, FsOptions::new())?;
        for file in files {
            let (dirs, name) = split_path(&file.path)?;
            let mut dir = fs.root_dir();
            for component in dirs {
                dir = match dir.open_dir(component) {
                    Ok(existing) => existing,
                    Err(_) => dir.create_dir(component)?,
                };
            }
            let mut out = dir.create_file(name)?;
            out.truncate()?;
            out.write_all(&file.data)?;
        }
    }
    Ok(volume.into_inner())
}

fn split_path(path: &str) -> Result<(Vec<&str>, &str), DiskError> {
    let components: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    if components
        .iter()
        .any(|part| part.is_empty() || *part == "." || *part == "..")
    {
        return Err(DiskError::BadPath(path.into()));
    }
    let (name, dirs) = components
        .split_last()
        .ok_or_else(|| DiskError::BadPath(path.into()))?;
    Ok((dirs.to_vec(), name))
}

/// The bytes of the partition named `name` of a GPT disk image (copied).
pub fn read_partition(disk: &[u8], name: &str) -> Result<Vec<u8>, DiskError> {
    let gpt = gpt::GptConfig::new()
        .writable(false)
        .logical_block_size(LogicalBlockSize::Lb512)
        .open_from_device(Cursor::new(disk.to_vec()))
        .map_err(gpt_error)?;
    let partition = gpt
        .partitions()
        .values()
        .find(|partition| partition.name == name)
        .ok_or_else(|| DiskError::NotFound(format!("partition `{name}`")))?;
    let start = partition
        .bytes_start(LogicalBlockSize::Lb512)
        .map_err(gpt_error)? as usize;
    let len = partition
        .bytes_len(LogicalBlockSize::Lb512)
        .map_err(gpt_error)? as usize;
    disk.get(start..start + len)
        .map(<[u8]>::to_vec)
        .ok_or_else(|| DiskError::Gpt(format!("partition `{name}` runs past the disk")))
}

/// Reads one file back from a disk image built by [`build_disk_image`]:
/// what a firmware would see. For tests and checks; it copies the image.
pub fn read_esp_file(disk: &[u8], path: &str) -> Result<Vec<u8>, DiskError> {
    let gpt = gpt::GptConfig::new()
        .writable(false)
        .logical_block_size(LogicalBlockSize::Lb512)
        .open_from_device(Cursor::new(disk.to_vec()))
        .map_err(gpt_error)?;
    let esp = gpt
        .partitions()
        .values()
        .find(|partition| partition.part_type_guid == partition_types::EFI)
        .ok_or_else(|| DiskError::NotFound("EFI System Partition".into()))?;
    let start = esp
        .bytes_start(LogicalBlockSize::Lb512)
        .map_err(gpt_error)? as usize;
    let len = esp.bytes_len(LogicalBlockSize::Lb512).map_err(gpt_error)? as usize;
    let volume = disk
        .get(start..start + len)
        .ok_or_else(|| DiskError::Gpt("the partition runs past the disk".into()))?;
    // Both crates want a writable device even to read; copy the bytes.
    let fs = FileSystem::new(Cursor::new(volume.to_vec()), FsOptions::new())?;
    let mut file = fs
        .root_dir()
        .open_file(path.trim_start_matches('/'))
        .map_err(|_| DiskError::NotFound(path.into()))?;
    let mut data = Vec::new();
    file.read_to_end(&mut data)?;
    Ok(data)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_round_trip_through_gpt_and_fat32() {
        let loader: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        let files = [
            EspFile {
                path: "EFI/BOOT/BOOTX64.EFI".into(),
                data: loader.clone(),
            },
            EspFile {
                path: "limine.conf".into(),
                data: b"timeout: 0\n".to_vec(),
            },
            EspFile {
                path: "boot/mealy-kernel".into(),
                data: vec![0x7f, b'E', b'L', b'F'],
            },
        ];
        let disk = build_disk_image(&files).unwrap();
        assert_eq!(&disk[510..512], &[0x55, 0xaa], "protective MBR signature");
        assert_eq!(&disk[512..520], b"EFI PART", "primary GPT header at LBA 1");
        assert_eq!(
            read_esp_file(&disk, "EFI/BOOT/BOOTX64.EFI").unwrap(),
            loader
        );
        assert_eq!(
            read_esp_file(&disk, "/limine.conf").unwrap(),
            b"timeout: 0\n"
        );
        assert_eq!(
            read_esp_file(&disk, "boot/mealy-kernel").unwrap(),
            [0x7f, b'E', b'L', b'F']
        );
        assert!(matches!(
            read_esp_file(&disk, "boot/missing"),
            Err(DiskError::NotFound(_))
        ));
    }

    #[test]
    fn esp_is_fat32_and_1mib_aligned() {
        let disk = build_disk_image(&[]).unwrap();
        let gpt = gpt::GptConfig::new()
            .open_from_device(Cursor::new(disk.clone()))
            .unwrap();
        let esp = gpt.partitions().values().next().unwrap();
        let start = esp.bytes_start(LogicalBlockSize::Lb512).unwrap();
        assert_eq!(start % MIB, 0);
        let fs = FileSystem::new(
            Cursor::new(disk[start as usize..].to_vec()),
            FsOptions::new(),
        )
        .unwrap();
        assert_eq!(fs.fat_type(), FatType::Fat32);
    }

    #[test]
    fn the_data_partition_comes_back_whole() {
        let data: Vec<u8> = (0..3 * MIB as u32 + 4096)
            .map(|i| (i % 253) as u8)
            .collect();
        let disk = build_disk_image_with_data(&[], Some(&data)).unwrap();
        let back = read_partition(&disk, DATA_PARTITION_NAME).unwrap();
        assert_eq!(&back[..data.len()], &data[..]);
        assert!(back[data.len()..].iter().all(|&b| b == 0));
        let gpt = gpt::GptConfig::new()
            .open_from_device(Cursor::new(disk.clone()))
            .unwrap();
        for partition in gpt.partitions().values() {
            let start = partition.bytes_start(LogicalBlockSize::Lb512).unwrap();
            assert_eq!(start % MIB, 0, "{}", partition.name);
        }
        assert!(matches!(
            read_partition(&build_disk_image(&[]).unwrap(), DATA_PARTITION_NAME),
            Err(DiskError::NotFound(_))
        ));
    }

    #[test]
    fn bad_paths_are_rejected() {
        for path in ["a//b", "../x", "EFI/./x", ""] {
            let files = [EspFile {
                path: path.into(),
                data: vec![],
            }];
            assert!(
                matches!(build_disk_image(&files), Err(DiskError::BadPath(_))),
                "{path}"
            );
        }
    }
}

//! `cargo xtask`: the one entry point for building, booting, imaging and
//! testing Mealy (the Hubris habit). Subcommands:
//!
//! - `qemu`: build everything, assemble `target/esp/`, boot it under OVMF;
//! - `test`: host tests and QEMU scenarios, the one test command;
//! - `image`: the bootable GPT disk image `target/mealy.img`, with a
//!   data partition in the persistent disk format;
//! - `fsck`: check a data disk (or a disk image's data partition) and
//!   list its files;
//! - `esp`: only assemble an ESP directory (tests use it to break one);
//! - `bench`: the benchmarks, host-native and in the guest;
//! - `new-service`: scaffold a state-machine crate and add it to the boot;
//! - `programs`: build the user programs (`user/programs/*`) and list them;
//! - `new-program`: scaffold a user program, packed as `/bin/NAME`;
//! - `graph`: the running system's capability graph as DOT, SVG and PNG.
//!
//! Depends on `mealy-image`; it runs cargo, rustup, apt-get and QEMU as
//! child processes and never links the kernel.

mod bench;
mod build;
mod data_disk;
mod esp;
mod fsck;
mod graph;
mod new_program;
mod new_service;
mod qemu;
mod serial_filter;
mod setup;

use std::path::PathBuf;
use std::process::{Command, ExitCode};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::{Args, Parser, Subcommand};

use build::Profile;

#[derive(Parser)]
#[command(name = "cargo xtask", about = "Build, boot and test Mealy")]
struct Cli {
    #[command(subcommand)]
    command: Task,
}

#[derive(Subcommand)]
enum Task {
    /// Build the loader, kernel and ESP, then boot them in QEMU (q35, OVMF).
    Qemu(QemuArgs),
    /// Run every host test and every QEMU scenario.
    Test,
    /// Write a bootable GPT disk image with a FAT32 ESP and a data
    /// partition holding the fs root in the persistent disk format.
    Image {
        #[command(flatten)]
        build: BuildArgs,
        /// Where to write the image.
        #[arg(long, default_value = "target/mealy.img")]
        out: PathBuf,
        /// Size of the data partition, in MiB.
        #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u64).range(1..=4096))]
        data_mib: u64,
    },
    /// Check a data disk, or the data partition of a disk image, as the
    /// fs would mount it, and list its files.
    Fsck {
        /// A data disk, or a disk image from `cargo xtask image`.
        path: PathBuf,
    },
    /// Assemble an ESP directory without booting it.
    Esp {
        #[command(flatten)]
        build: BuildArgs,
        /// The directory to fill (replaced if it exists).
        #[arg(long, default_value = "target/esp")]
        out: PathBuf,
    },
    /// Boot headless and save the capability graph as DOT, SVG and PNG
    /// (installing Graphviz when missing, as root on Debian).
    Graph {
        /// The directory for capgraph.dot, capgraph.svg and capgraph.png.
        #[arg(long, default_value = "target")]
        out: PathBuf,
        /// One node per capability slot, with derivation edges, instead of
        /// one node per task and per object.
        #[arg(long)]
        slots: bool,
    },
    /// Scaffold a new state-machine service and add it to the boot tasks.
    NewService {
        /// Lowercase letters, digits and dashes, e.g. `clock`.
        name: String,
    },
    /// Build the user programs (static PIEs for /bin) and list them with
    /// their sizes.
    Programs {
        /// Build with optimisations.
        #[arg(long)]
        release: bool,
    },
    /// Scaffold a new user program under user/programs, packed as /bin/NAME.
    NewProgram {
        /// Lowercase letters, digits and dashes, e.g. `clock`.
        name: String,
    },
    /// Run the benchmarks: capabilities, memory and IPC on the host, then
    /// the IPC round trip in the guest, counted in instructions.
    Bench,
}

#[derive(Args, Clone)]
struct BuildArgs {
    /// Build with optimisations.
    #[arg(long)]
    release: bool,
    /// The kernel command line written into limine.conf.
    #[arg(long, default_value = "")]
    cmdline: String,
    /// The directory packed into the file-system image (default
    /// `image/root`).
    #[arg(long)]
    fs_root: Option<PathBuf>,
}

impl BuildArgs {
    fn fs_root(&self) -> PathBuf {
        self.fs_root.clone().unwrap_or_else(esp::default_fs_root)
    }
}

#[derive(Args)]
struct QemuArgs {
    #[command(flatten)]
    build: BuildArgs,
    /// No window: the guest's serial is this process's stdin and stdout.
    #[arg(long)]
    headless: bool,
    /// Start QEMU paused, waiting for gdb on localhost:1234.
    #[arg(long)]
    gdb: bool,
    /// Number of CPUs.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=64))]
    smp: u32,
    /// Guest memory, as QEMU takes it (e.g. 256M, 1G).
    #[arg(long, default_value = "256M", value_parser = parse_memory)]
    memory: String,
    /// Stop QEMU and fail after this many seconds.
    #[arg(long)]
    timeout: Option<u64>,
    /// Make the guest's TSC count instructions (`-icount shift=0`), for
    /// repeatable in-guest measurements.
    #[arg(long)]
    icount: bool,
    /// Boot this ESP directory as it is, instead of building one.
    #[arg(long, conflicts_with_all = ["disk", "cmdline", "release", "fs_root"])]
    esp: Option<PathBuf>,
    /// Boot this disk image instead of an ESP directory.
    #[arg(long, conflicts_with_all = ["cmdline", "release", "fs_root"])]
    disk: Option<PathBuf>,
    /// Use what the last build left in target/ instead of building.
    #[arg(long)]
    no_build: bool,
    /// Serve QEMU's machine protocol (QMP) on this Unix socket, so a
    /// script can press keys (`send-key`) or save the screen
    /// (`screendump`).
    #[arg(long)]
    qmp: Option<PathBuf>,
    /// The data disk attached as a virtio-blk device (default
    /// `target/mealy-data.img`, or `$MEALY_DATA`); if missing, created
    /// 16 MiB holding a file system with the boot image's files (the fs
    /// root and the programs' `/bin`).
    #[arg(long)]
    data: Option<PathBuf>,
    /// Recreate the data disk (a fresh file system, as when missing)
    /// before booting.
    #[arg(long)]
    fresh_data: bool,
    /// Attach no data disk: the fs serves the boot image, in RAM only.
    #[arg(long, conflicts_with_all = ["data", "fresh_data"])]
    no_data: bool,
}

fn parse_memory(text: &str) -> Result<String, String> {
    let digits = text.trim_end_matches(['M', 'G', 'm', 'g']);
    let unit_ok = text.len() - digits.len() <= 1;
    if unit_ok && !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
        Ok(text.to_string())
    } else {
        Err(format!(
            "`{text}` is not a memory size: use a number of MiB, or a number with M or G (256M, 1G)"
        ))
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli.command) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("xtask: error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(task: Task) -> Result<ExitCode> {
    // A path given on the command line is relative to where cargo was
    // run, not to the workspace this enters.
    let task = match task {
        Task::Fsck { path } => Task::Fsck {
            path: std::path::absolute(&path)
                .with_context(|| format!("cannot resolve {}", path.display()))?,
        },
        other => other,
    };
    let root = build::workspace_root();
    std::env::set_current_dir(&root)
        .with_context(|| format!("cannot enter the workspace at {}", root.display()))?;
    match task {
        Task::Qemu(args) => run_qemu(args),
        Task::Test => run_tests(),
        Task::Image {
            build,
            out,
            data_mib,
        } => {
            setup::ensure_rust_targets()?;
            let artifacts = build::build(Profile::from_release(build.release))?;
            let files = esp::esp_files_with(&artifacts, &build.cmdline, &build.fs_root())?;
            let programs = esp::program_files(&artifacts.programs)?;
            let data = mealy_image::data_disk::build_data_disk_with(
                &build.fs_root(),
                &programs,
                data_mib << 20,
            )
            .with_context(|| {
                format!(
                    "cannot build a data disk from {}",
                    build.fs_root().display()
                )
            })?;
            let disk = mealy_image::disk::build_disk_image_with_data(&files, Some(&data))
                .context("cannot build the disk image")?;
            std::fs::write(&out, &disk)
                .with_context(|| format!("cannot write {}", out.display()))?;
            println!(
                "xtask: wrote {} ({} MiB, GPT with a FAT32 EFI System Partition and a {data_mib} MiB data partition)",
                out.display(),
                disk.len() >> 20
            );
            Ok(ExitCode::SUCCESS)
        }
        Task::Fsck { path } => {
            fsck::run(&path)?;
            Ok(ExitCode::SUCCESS)
        }
        Task::Esp { build, out } => {
            setup::ensure_rust_targets()?;
            let artifacts = build::build(Profile::from_release(build.release))?;
            let files = esp::esp_files_with(&artifacts, &build.cmdline, &build.fs_root())?;
            esp::publish_esp_dir(&files, &out)?;
            println!("xtask: assembled {}", out.display());
            Ok(ExitCode::SUCCESS)
        }
        Task::Bench => bench::run(),
        Task::Graph { out, slots } => {
            let detail = if slots {
                graph::Detail::Slots
            } else {
                graph::Detail::Objects
            };
            graph::run(&out, detail)
        }
        Task::NewService { name } => {
            new_service::run(&root, &name)?;
            Ok(ExitCode::SUCCESS)
        }
        Task::NewProgram { name } => {
            new_program::run(&root, &name)?;
            Ok(ExitCode::SUCCESS)
        }
        Task::Programs { release } => {
            setup::ensure_rust_targets()?;
            let programs = build::build_programs(Profile::from_release(release))?;
            list_programs(&programs)?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// One line per program: its `/bin` path, file size and loaded size.
fn list_programs(programs: &[build::Program]) -> Result<()> {
    let files = esp::program_files(programs)?;
    for (program, file) in programs.iter().zip(&files) {
        let summary = mealy_image::program::check(&file.data)?;
        println!(
            "/{:<24} {:>8} bytes  image {:>4} KiB  {:>5} relocations  {}",
            file.path,
            summary.file_bytes,
            summary.image_bytes.div_ceil(1024),
            summary.relocations,
            program.path.display()
        );
    }
    Ok(())
}

fn run_qemu(args: QemuArgs) -> Result<ExitCode> {
    let machine = setup::ensure_qemu()?;
    let mut kernel_elf = None;
    // The programs for a new data disk's `/bin`: those this run boots, or
    // for a given disk image or ESP, what the last build left (if any).
    let mut programs = None;
    let medium = if let Some(disk) = args.disk {
        if !disk.is_file() {
            bail!(
                "no disk image at {} (make one with `cargo xtask image`)",
                disk.display()
            );
        }
        qemu::BootMedium::Disk(disk)
    } else if let Some(esp) = args.esp {
        if !esp.is_dir() {
            bail!("no ESP directory at {}", esp.display());
        }
        qemu::BootMedium::EspDir(esp)
    } else {
        let profile = Profile::from_release(args.build.release);
        let artifacts = if args.no_build {
            build::existing(profile)?
        } else {
            setup::ensure_rust_targets()?;
            build::build(profile)?
        };
        let files = esp::esp_files_with(&artifacts, &args.build.cmdline, &args.build.fs_root())?;
        programs = Some(esp::program_files(&artifacts.programs)?);
        kernel_elf = Some(artifacts.kernel.clone());
        if args.build.cmdline.is_empty() && args.build.fs_root.is_none() {
            // target/esp is what the README shows; each run still boots
            // its own copy, so runs in parallel never share one.
            esp::publish_esp_dir(&files, &esp::default_esp_dir())?;
        }
        qemu::BootMedium::PrivateEsp(files)
    };
    let data = if args.no_data {
        None
    } else {
        let data = data_disk::path(args.data);
        let fs_root = args.build.fs_root();
        let release = args.build.release;
        data_disk::prepare(&data, args.fresh_data, || {
            let programs = match programs {
                Some(programs) => programs,
                None => build::existing(Profile::from_release(release))
                    .and_then(|artifacts| esp::program_files(&artifacts.programs))
                    .unwrap_or_default(),
            };
            data_disk::contents(&fs_root, &programs)
        })?;
        Some(data)
    };
    let options = qemu::RunOptions {
        medium,
        data,
        headless: args.headless,
        gdb: args.gdb.then(|| {
            kernel_elf.unwrap_or_else(|| PathBuf::from("<the kernel ELF on that boot medium>"))
        }),
        smp: args.smp,
        memory: args.memory,
        icount: args.icount,
        timeout: args.timeout.map(Duration::from_secs),
        qmp: args.qmp,
    };
    let status = qemu::run(&machine, options)?;
    Ok(ExitCode::from(status))
}

/// The README's test command: build once, then every host test; the QEMU
/// scenarios in `tests/` call back into this binary to boot.
fn run_tests() -> Result<ExitCode> {
    setup::ensure_rust_targets()?;
    setup::ensure_qemu()?;
    let artifacts = build::build(Profile::Debug)?;
    esp::publish_esp_dir(&esp::esp_files(&artifacts, "")?, &esp::default_esp_dir())?;
    let xtask = std::env::current_exe().context("cannot find the xtask binary")?;
    let status = Command::new(build::cargo())
        .args(["test", "--workspace", "--no-fail-fast"])
        .env("MEALY_XTASK", xtask)
        .status()
        .context("cannot run cargo test")?;
    Ok(exit_code(status.success()))
}

fn exit_code(success: bool) -> ExitCode {
    if success {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_sizes() {
        assert_eq!(parse_memory("256M").unwrap(), "256M");
        assert_eq!(parse_memory("1G").unwrap(), "1G");
        assert_eq!(parse_memory("512").unwrap(), "512");
        for bad in ["", "M", "12MB", "-1G", "lots"] {
            assert!(parse_memory(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn cli_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}

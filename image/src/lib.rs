//! What goes on Mealy's boot medium, built on the host: the `limine.conf`
//! the loader reads, the kernel's symbol table module, the file-system
//! image (`fs_image`, packing `image/root/` and the user programs with
//! `mealy-fs`'s builder), the check every user program passes before it
//! goes into `/bin` (`program`), the persistent data disk (`data_disk`,
//! the same tree in `mealy-fs`'s crash-consistent disk format, and
//! `fsck`), and the bootable GPT disk image.
//!
//! Used by xtask; depends on `mealy-fs` (the image format) and `object` (ELF
//! reading) only. The loader itself
//! is the crate in `image/loader`.

pub mod data_disk;
pub mod disk;
pub mod fs_image;
pub mod limine_conf;
pub mod program;
pub mod symbols;

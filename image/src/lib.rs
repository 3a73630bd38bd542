//! What goes on Mealy's boot medium, built on the host: the `limine.conf`
//! the loader reads, the kernel's symbol table module, and the bootable GPT
//! disk image. (The file-system image builder joins them later.)
//!
//! Used by xtask; depends on nothing else in the workspace. The loader itself
//! is the crate in `image/loader`.

pub mod disk;
pub mod limine_conf;
pub mod symbols;

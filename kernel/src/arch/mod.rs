//! Architecture layer: the only place where the kernel touches hardware,
//! and (with `mem::frame` and `mem::heap`) the only place the crate root
//! allows `unsafe` (`lib.rs` lists them). Every block says why it holds in
//! a `// SAFETY:` line; so does every naked function and exported symbol.

pub mod x86_64;

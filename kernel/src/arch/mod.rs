//! Architecture layer: the only place (with the narrow parts of `mem`) where
//! the kernel touches hardware or writes `unsafe`.

pub mod x86_64;

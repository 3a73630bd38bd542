//! Mealy's capability model: rights, capability references, per-task
//! CSpaces, the derivation tree, revoke and graph export.
//!
//! `#![no_std]`, depends on nothing in the workspace; the kernel consults it
//! on every access.
#![no_std]

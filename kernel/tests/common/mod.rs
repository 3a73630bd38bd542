//! What the whole-system tests share: the host platform the boot list runs
//! on, and a small file-system image. Each test crate includes this module
//! and uses part of it.
#![allow(dead_code)]

use std::collections::BTreeMap;

use mealy_caps::DeviceRange;
use mealy_fs::format::{BuildOptions, Node, build};
use mealy_kernel::sched::HostPlatform;
use mealy_kernel::tasks::{COM1, PS2};

/// A host platform whose COM1 and PS/2 controller are idle: nothing
/// received, transmitter empty (an unscripted port reads 0xff, which a
/// driver would take for endless input).
pub fn host_platform() -> HostPlatform {
    let mut platform = HostPlatform::manual();
    if let DeviceRange::Ports { base, .. } = COM1 {
        platform.port_default.insert(base + 5, 0x60);
    }
    // The PS/2 controller: nothing waiting.
    if let DeviceRange::Ports { base, .. } = PS2 {
        platform.port_default.insert(base + 4, 0);
    }
    platform
}

/// A small image: `hello.txt` and `etc/motd`.
pub fn fs_image() -> Vec<u8> {
    let mut etc = BTreeMap::new();
    etc.insert("motd".to_string(), Node::File(b"welcome\n".to_vec()));
    let mut root = BTreeMap::new();
    root.insert(
        "hello.txt".to_string(),
        Node::File(b"Hello, Mealy!\n".to_vec()),
    );
    root.insert("etc".to_string(), Node::Directory(etc));
    build(&Node::Directory(root), BuildOptions::default()).unwrap()
}

//! Writing `limine.conf`: one boot entry in the syntax of Limine 8 and
//! later, which both Mealy's loader and a real Limine read.

use std::fmt::Write;

/// A file the loader loads next to the kernel, and the string it passes on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Module {
    /// Path on the boot partition, without the `boot():` prefix.
    pub path: String,
    pub cmdline: String,
}

/// One `protocol: limine` boot entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BootEntry {
    pub name: String,
    /// Path of the kernel on the boot partition, without `boot():`.
    pub kernel_path: String,
    pub cmdline: String,
    pub modules: Vec<Module>,
}

impl BootEntry {
    /// The whole `limine.conf` for this entry, booting it at once.
    pub fn render(&self) -> String {
        let mut text =
            String::from("# Written by `cargo xtask`; edits are overwritten.\ntimeout: 0\n\n");
        let _ = writeln!(text, "/{}", self.name);
        let _ = writeln!(text, "    protocol: limine");
        let _ = writeln!(text, "    path: boot():{}", self.kernel_path);
        if !self.cmdline.is_empty() {
            let _ = writeln!(text, "    cmdline: {}", self.cmdline);
        }
        for module in &self.modules {
            let _ = writeln!(text, "    module_path: boot():{}", module.path);
            if !module.cmdline.is_empty() {
                let _ = writeln!(text, "    module_cmdline: {}", module.cmdline);
            }
        }
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_entry_with_modules_in_order() {
        let entry = BootEntry {
            name: "Mealy".into(),
            kernel_path: "/boot/mealy-kernel".into(),
            cmdline: "test=boot".into(),
            modules: vec![
                Module {
                    path: "/boot/mealy.sym".into(),
                    cmdline: "symbols".into(),
                },
                Module {
                    path: "/boot/extra".into(),
                    cmdline: String::new(),
                },
            ],
        };
        let text = entry.render();
        let body: Vec<&str> = text
            .lines()
            .skip_while(|line| !line.starts_with('/'))
            .collect();
        assert_eq!(
            body,
            [
                "/Mealy",
                "    protocol: limine",
                "    path: boot():/boot/mealy-kernel",
                "    cmdline: test=boot",
                "    module_path: boot():/boot/mealy.sym",
                "    module_cmdline: symbols",
                "    module_path: boot():/boot/extra",
            ]
        );
        assert!(text.contains("timeout: 0\n"));
    }

    #[test]
    fn empty_cmdline_is_left_out() {
        let entry = BootEntry {
            name: "Mealy".into(),
            kernel_path: "/k".into(),
            cmdline: String::new(),
            modules: vec![],
        };
        assert!(!entry.render().contains("cmdline"));
    }
}

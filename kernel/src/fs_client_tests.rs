//! The file path end to end on the host: the fs task mounts an image from a
//! boot module, and the shell's task lists, reads and writes through its
//! `fs` endpoint and the Region capabilities the fs answers with.

use alloc::boxed::Box;
use alloc::collections::BTreeMap;
use alloc::string::ToString;
use alloc::vec::Vec;

use mealy_caps::Rights;
use mealy_fs::format::{BuildOptions, Node, build};
use mealy_protocol::StateMachine;

use super::*;
use crate::console_task::{self, ShellTask};
use crate::sched::{
    CapSource, CapSpec, HostPlatform, PendingInterrupts, SchedConfig, Scheduler, TaskSpec,
};

static PENDING: PendingInterrupts = PendingInterrupts::new();
/// The shell task's answers are one global queue: one test at a time.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn make_fs() -> Box<dyn StateMachine> {
    Box::new(mealy_fs::Fs::new())
}

fn make_shell() -> Box<dyn StateMachine> {
    Box::new(ShellTask)
}

static LIST: &[TaskSpec] = &[
    TaskSpec::new("fs", make_fs).caps(&[CapSpec::full(
        mealy_fs::IMAGE_GRANT,
        CapSource::BootModule { cmdline: "fs" },
    )]),
    TaskSpec::new(console_task::NAME, make_shell).caps(&[CapSpec::endpoint(
        "fs",
        "fs",
        Rights::WRITE,
        0,
    )]),
];

fn image() -> Vec<u8> {
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

fn boot(module: Option<&[u8]>) -> Scheduler<HostPlatform> {
    let mut platform = HostPlatform::manual();
    if let Some(bytes) = module {
        platform.add_boot_module("fs", bytes);
    }
    let mut sched = Scheduler::new(platform, &PENDING, SchedConfig::default()).unwrap();
    sched.spawn_all(LIST).unwrap();
    sched.run_until_idle(1_000);
    sched
}

#[test]
fn ls_cat_and_write_go_through_the_fs_and_its_regions() {
    let _serial = SERIAL.lock();
    let mut sched = boot(Some(&image()));
    assert!(
        sched.platform().logged("fs: mounted"),
        "{:?}",
        sched.platform().log_lines
    );

    let listing = list(&mut sched, "").unwrap();
    let names: Vec<_> = listing
        .entries
        .iter()
        .map(|row| (row.name.as_str(), row.directory, row.size))
        .collect();
    assert_eq!(names, [("etc", true, 1), ("hello.txt", false, 14)]);
    assert_eq!(list(&mut sched, "/etc").unwrap().entries[0].name, "motd");

    assert_eq!(read(&mut sched, "hello.txt").unwrap(), b"Hello, Mealy!\n");
    assert_eq!(write(&mut sched, "hello.txt", b"new text").unwrap(), 8);
    assert_eq!(read(&mut sched, "hello.txt").unwrap(), b"new text");
    // Growth within the reserved pages keeps working; past them is an error.
    let big = alloc::vec![b'x'; 6000];
    assert_eq!(write(&mut sched, "etc/motd", &big).unwrap(), 6000);
    assert_eq!(read(&mut sched, "etc/motd").unwrap(), big);
    let too_big = alloc::vec![b'y'; 3 * 4096];
    assert_eq!(
        write(&mut sched, "etc/motd", &too_big),
        Err("no space: the file can hold 8192 bytes".to_string())
    );

    assert_eq!(
        read(&mut sched, "nope"),
        Err("no such file or directory".to_string())
    );
    assert_eq!(read(&mut sched, "etc"), Err("is a directory".to_string()));
    assert_eq!(
        list(&mut sched, "hello.txt").map(|_| ()),
        Err("not a directory".to_string())
    );
    assert_eq!(
        read(&mut sched, "hello.txt/x"),
        Err("not a directory".to_string())
    );
    // The shell task gave back every file Region it was handed.
    let shell = sched.task_by_name(console_task::NAME).unwrap();
    let snapshot = sched.caps().snapshot();
    let space = snapshot
        .tasks
        .iter()
        .find(|t| t.task == shell)
        .unwrap()
        .cspace;
    let held = snapshot.caps_in(space).count();
    assert_eq!(held, 1, "only the fs endpoint");
}

#[test]
fn a_read_only_open_gives_a_region_without_write_and_revoke_reaches_it() {
    let _serial = SERIAL.lock();
    let mut sched = boot(Some(&image()));
    let (region, size, capacity) = open(&mut sched, "hello.txt", false).unwrap();
    assert_eq!((size, capacity), (14, 8192));
    let shell = sched.task_by_name(console_task::NAME).unwrap();
    let refused = sched
        .act_as(shell, |cx| cx.region_mut(region).map(|_| ()))
        .unwrap();
    assert!(
        matches!(refused, Err(mealy_protocol::IpcError::MissingRights { .. })),
        "{refused:?}"
    );
    let text = sched
        .act_as(shell, |cx| cx.region(region).map(|b| b[..14].to_vec()))
        .unwrap();
    assert_eq!(text.unwrap(), b"Hello, Mealy!\n");
    // Zero copy: the file's Region lies inside the image's.
    let fs = sched.task_by_name("fs").unwrap();
    let image = sched.grants(fs)[0].cap;
    // Revoking the fs's image capability takes the open file away too.
    assert!(sched.revoke(fs, image).unwrap() >= 1);
    let gone = sched
        .act_as(shell, |cx| cx.region(region).map(|_| ()))
        .unwrap();
    assert_eq!(gone, Err(mealy_protocol::IpcError::InvalidCap));
}

#[test]
fn a_corrupt_image_is_one_error_line_and_every_request_fails() {
    let _serial = SERIAL.lock();
    let mut bytes = image();
    bytes[0] = b'X';
    let mut sched = boot(Some(&bytes));
    let log = &sched.platform().log_lines;
    assert!(
        log.iter().any(|line| line
            == "fs: error: corrupt file-system image: not a Mealy fs image (bad magic); every request will fail"),
        "{log:?}"
    );
    let unmounted = Err("no file system mounted (see the boot log)".to_string());
    assert_eq!(list(&mut sched, "").map(|_| ()), unmounted);
    assert_eq!(read(&mut sched, "hello.txt").map(|_| ()), unmounted);
    assert_eq!(write(&mut sched, "hello.txt", b"x").map(|_| ()), unmounted);
    // The fs keeps running and answering.
    let fs = sched.task_by_name("fs").unwrap();
    assert_eq!(
        sched.task_info(fs).unwrap().state,
        crate::sched::TaskState::Idle
    );
}

#[test]
fn without_a_module_the_fs_says_so_and_answers_with_errors() {
    let _serial = SERIAL.lock();
    let mut sched = boot(None);
    assert!(sched.platform().logged("fs: error: no file-system image"));
    assert_eq!(
        read(&mut sched, "hello.txt"),
        Err("no file system mounted (see the boot log)".to_string())
    );
}

#[test]
fn a_malformed_request_gets_an_error_reply_and_sync_reseals_the_image() {
    let _serial = SERIAL.lock();
    let mut sched = boot(Some(&image()));
    let shell = sched.task_by_name(console_task::NAME).unwrap();
    let endpoint = sched.grants(shell)[0].cap;
    let token = sched
        .act_as(shell, |cx| cx.call(endpoint, &[0xff, 0xff], &[]))
        .unwrap()
        .unwrap();
    sched.run_until_idle(100);
    assert!(matches!(
        console_task::take_answer(token),
        Some(console_task::CallAnswer::Failed(
            mealy_protocol::CallFailure::Malformed
        ))
    ));
    write(&mut sched, "hello.txt", b"resealed").unwrap();
    // The written file lives in the fs's private copy: the image in memory
    // stays the valid image it booted as (write-back waits for a disk).
    let fs = sched.task_by_name("fs").unwrap();
    let image = sched.grants(fs)[0].cap;
    let valid = sched
        .act_as(fs, |cx| {
            let bytes = cx.region(image).unwrap();
            let view = mealy_fs::format::Image::parse(bytes)
                .map(|v| v.lookup("hello.txt").map(|i| i.size));
            view.map_err(|e| e.to_string())
        })
        .unwrap();
    assert_eq!(valid, Ok(Ok(14)));
    assert_eq!(read(&mut sched, "hello.txt").unwrap(), b"resealed");
}

#[test]
fn subregion_checks_pages_and_bounds_and_the_platform_counts_the_sharing() {
    let _serial = SERIAL.lock();
    let bytes = image();
    let mut sched = boot(Some(&bytes));
    let fs = sched.task_by_name("fs").unwrap();
    let image_cap = sched.grants(fs)[0].cap;
    let base = 0x1000_0000;
    // The module's region: the module list and the fs's image object.
    assert_eq!(sched.platform().region_objects(base), Some(1));
    let out_of_range = |offset, len| mealy_protocol::IpcError::OutOfRange { offset, len };
    let len = bytes.len() as u64;
    for (offset, size) in [(1, 4096), (0, 100), (len, 4096), (0, len + 4096)] {
        let refused = sched
            .act_as(fs, |cx| cx.subregion(image_cap, offset, size, Rights::READ))
            .unwrap();
        assert_eq!(
            refused,
            Err(out_of_range(offset, size)),
            "{offset:#x}+{size:#x}"
        );
    }
    let escalated = sched
        .act_as(fs, |cx| {
            let read_only = cx.mint(image_cap, Rights::READ | Rights::DERIVE, None)?;
            cx.subregion(read_only, 0, 4096, Rights::READ | Rights::WRITE)
        })
        .unwrap();
    assert!(
        matches!(
            escalated,
            Err(mealy_protocol::IpcError::RightsEscalation { .. })
        ),
        "{escalated:?}"
    );
    let page = sched
        .act_as(fs, |cx| cx.subregion(image_cap, 4096, 4096, Rights::READ))
        .unwrap()
        .unwrap();
    assert_eq!(sched.platform().region_objects(base), Some(2));
    let first = sched
        .act_as(fs, |cx| cx.region(page).map(|b| (b.len(), b[0])))
        .unwrap()
        .unwrap();
    assert_eq!(first, (4096, bytes[4096]));
    sched.act_as(fs, |cx| cx.drop_cap(page)).unwrap().unwrap();
    assert_eq!(sched.platform().region_objects(base), Some(1));
}

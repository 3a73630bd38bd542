//! Mounting, every error a request can get, the limits, and input that
//! is not a request.

use super::*;

#[test]
fn mounting_logs_what_the_image_holds() {
    let rig = rig();
    assert!(matches!(rig.fs.mount(), Mount::Mounted(_)));
    let log = &rig.cx.logs[0];
    assert!(log.starts_with("mounted "), "{log}");
    assert!(log.contains("4 inodes, 2 extents, read-write in"), "{log}");
}

#[test]
fn a_missing_or_corrupt_image_answers_every_request_not_mounted() {
    let mut missing = Rig {
        cx: FakeContext::new(),
        fs: Fs::new(),
        image: CapRef::from_raw(0),
    };
    missing.cx.start(&mut missing.fs, &[]).unwrap();
    assert!(missing.cx.logs[0].starts_with("error: no file-system image"));
    assert_eq!(missing.fs.mount(), Mount::NoImage);

    let mut bytes = sample_image();
    bytes[0] ^= 0xff;
    let mut corrupt = rig_with(&bytes, Rights::all(), Limits::DEFAULT);
    assert!(matches!(corrupt.fs.mount(), Mount::Corrupt(_)));
    assert!(
        corrupt.cx.logs[0].starts_with("error: corrupt file-system image: "),
        "{:?}",
        corrupt.cx.logs
    );

    for rig in [&mut missing, &mut corrupt] {
        let path = "hello.txt";
        let not_mounted = Err(FsError::NotMounted);
        assert_eq!(
            rig.open(Open { path, write: false }).map(|_| ()),
            not_mounted
        );
        assert_eq!(rig.list("").map(|_| ()), not_mounted);
        assert_eq!(rig.stat(path).map(|_| ()), not_mounted);
        assert_eq!(rig.read(path, 0, 1).map(|_| ()), not_mounted);
        assert_eq!(rig.result(&SetLen { path, len: 0 }), not_mounted);
        assert_eq!(rig.result(&Sync), not_mounted);
        assert_eq!(rig.result(&Create { path: "new" }), not_mounted);
        assert_eq!(rig.result(&Mkdir { path: "new" }), not_mounted);
        assert_eq!(rig.result(&Remove { path }), not_mounted);
        assert_eq!(
            rig.result(&Rename {
                from: path,
                to: "b"
            }),
            not_mounted
        );
        assert_eq!(
            rig.result(&Reserve {
                path,
                capacity: 1 << 20
            }),
            not_mounted
        );
    }
}

#[test]
fn bad_paths_taken_names_and_wrong_kinds_are_typed_errors() {
    let mut rig = rig();
    let long = "x".repeat(256);
    let deep = "d/".repeat(40);
    let creates: [(&str, FsError); 8] = [
        ("hello.txt", FsError::Exists),
        ("", FsError::BadPath),
        ("a/..", FsError::BadPath),
        ("etc/.", FsError::BadPath),
        (&long, FsError::BadPath),
        (&deep, FsError::BadPath),
        ("nope/x", FsError::NotFound),
        ("hello.txt/x", FsError::NotADirectory),
    ];
    for (path, expected) in creates {
        assert_eq!(rig.result(&Create { path }), Err(expected), "{path}");
        assert_eq!(rig.result(&Mkdir { path }), Err(expected), "{path}");
    }
    assert_eq!(rig.result(&Mkdir { path: "etc" }), Err(FsError::Exists));
    assert_eq!(rig.result(&Remove { path: "/" }), Err(FsError::BadPath));
    assert_eq!(rig.result(&Remove { path: "nope" }), Err(FsError::NotFound));
    let rename = |from, to| Rename { from, to };
    assert_eq!(
        rig.result(&rename("etc", "etc/inner")),
        Err(FsError::IntoItself)
    );
    assert_eq!(
        rig.result(&rename("hello.txt", "etc/motd")),
        Err(FsError::Exists)
    );
    assert_eq!(rig.result(&rename("", "x")), Err(FsError::BadPath));
    assert_eq!(rig.result(&rename("nope", "x")), Err(FsError::NotFound));
    assert_eq!(rig.read("etc", 0, 1), Err(FsError::IsADirectory));
    assert_eq!(
        rig.open(Open {
            path: "etc",
            write: false
        })
        .map(|_| ()),
        Err(FsError::IsADirectory)
    );
    assert_eq!(rig.list("hello.txt"), Err(FsError::NotADirectory));
    assert_eq!(rig.list("nope"), Err(FsError::NotFound));
    assert_eq!(
        rig.result(&SetLen {
            path: "etc",
            len: 0
        }),
        Err(FsError::IsADirectory)
    );
    assert_eq!(rig.stat(&long), Err(FsError::BadPath));
    // Nothing changed.
    assert_eq!(rig.names(""), ["etc", "hello.txt"]);
    assert_eq!(rig.names("etc"), ["motd"]);
    assert_eq!(rig.fs.backing.held(), (0, 0));
}

#[test]
fn a_read_only_image_refuses_every_change_and_still_opens() {
    let readable = Rights::READ | Rights::GRANT | Rights::DERIVE;
    let mut rig = rig_with(&sample_image(), readable, Limits::DEFAULT);
    assert!(rig.cx.logs[0].contains("read-only"), "{:?}", rig.cx.logs);
    let path = "hello.txt";
    let read_only = Err(FsError::ReadOnly);
    assert_eq!(rig.open(Open { path, write: true }).map(|_| ()), read_only);
    assert_eq!(rig.result(&SetLen { path, len: 1 }), read_only);
    assert_eq!(rig.result(&Sync), read_only);
    assert_eq!(rig.result(&Create { path: "new" }), read_only);
    assert_eq!(rig.result(&Mkdir { path: "new" }), read_only);
    assert_eq!(rig.result(&Remove { path }), read_only);
    assert_eq!(
        rig.result(&Rename {
            from: path,
            to: "b"
        }),
        read_only
    );
    assert_eq!(rig.result(&Reserve { path, capacity: 1 }), read_only);
    let (_, region) = rig.open(Open { path, write: false }).unwrap();
    assert_eq!(backing_of(&region), rig.image_backing());
    assert_eq!(rig.read_all(path), b"Hello, Mealy!\n");
    assert_eq!(rig.fs.backing.held(), (0, 1));
}

#[test]
fn the_limits_are_errors_not_growth() {
    let limits = Limits {
        entries: 6,
        private_bytes: 3 * CREATE_CAPACITY,
        held_caps: 4,
    };
    let mut rig = rig_with(&sample_image(), Rights::all(), limits);
    // The root and the image's three entries count: two more fit.
    rig.result(&Mkdir { path: "a" }).unwrap();
    rig.result(&Create { path: "b" }).unwrap();
    assert_eq!(
        rig.result(&Mkdir { path: "c" }),
        Err(FsError::TooManyEntries)
    );
    assert_eq!(
        rig.result(&Create { path: "c" }),
        Err(FsError::TooManyEntries)
    );
    assert_eq!(rig.fs.backing.held(), (CREATE_CAPACITY, 1));
    rig.result(&Remove { path: "a" }).unwrap();
    rig.result(&Create { path: "c" }).unwrap();
    rig.result(&Remove { path: "etc/motd" }).unwrap();
    rig.result(&Create { path: "d" }).unwrap();
    // Bytes: three copies of 64 KiB are all the fs may hold.
    assert_eq!(rig.fs.backing.held(), (3 * CREATE_CAPACITY, 3));
    assert_eq!(
        rig.open(Open {
            path: "hello.txt",
            write: true
        })
        .map(|_| ()),
        Err(FsError::Full)
    );
    assert!(matches!(rig.file("hello.txt").pages, Pages::Image { .. }));
    // Capabilities: the fourth is a handle for a read-only open; a fifth
    // is refused.
    rig.open(Open {
        path: "hello.txt",
        write: false,
    })
    .unwrap();
    rig.result(&Remove { path: "d" }).unwrap();
    rig.result(&Remove { path: "etc" }).unwrap();
    rig.result(&Mkdir { path: "e" }).unwrap();
    rig.result(&Create { path: "f" }).unwrap();
    assert_eq!(rig.fs.backing.held(), (3 * CREATE_CAPACITY, 4));
    rig.result(&Remove { path: "f" }).unwrap();
    rig.result(&Remove { path: "b" }).unwrap();
    assert_eq!(rig.fs.backing.held(), (CREATE_CAPACITY, 2));
    // The kernel running out of memory is `Full` as well, and leaves nothing.
    rig.cx
        .fail(Operation::AllocRegion, IpcError::OutOfResources);
    assert_eq!(rig.result(&Create { path: "g" }), Err(FsError::Full));
    assert_eq!(rig.stat("g"), Err(FsError::NotFound));
    assert_eq!(rig.fs.backing.held(), (CREATE_CAPACITY, 2));
}

#[test]
fn kernel_refusals_are_typed_errors_and_leak_nothing() {
    let mut rig = rig();
    rig.open(Open {
        path: "hello.txt",
        write: false,
    })
    .unwrap();
    let held = rig.cx.held();
    rig.cx.fail(Operation::Mint, IpcError::OutOfResources);
    assert_eq!(
        rig.open(Open {
            path: "hello.txt",
            write: false
        })
        .map(|_| ()),
        Err(FsError::Kernel)
    );
    rig.cx.heal();
    // An answer that cannot go out: the Region is not kept.
    rig.cx.fail(Operation::Reply, IpcError::DeadTask);
    let (msg, _) = rig.cx.call_request(&Open {
        path: "hello.txt",
        write: false,
    });
    assert_eq!(
        rig.cx.deliver(&mut rig.fs, &msg),
        Err(HandleError::Ipc(IpcError::DeadTask))
    );
    rig.cx.heal();
    // Only the unused Reply capability is left over from the calls.
    assert_eq!(rig.cx.held(), held + 1);
    rig.open(Open {
        path: "hello.txt",
        write: false,
    })
    .unwrap();
}

#[test]
fn a_fragmented_file_is_refused_rather_than_guessed() {
    let mut rig = rig();
    let id = rig.fs.tree.lookup("hello.txt").unwrap();
    rig.fs.tree.file_mut(id).unwrap().pages = Pages::Image {
        extent: None,
        handle: None,
    };
    assert_eq!(
        rig.open(Open {
            path: "hello.txt",
            write: false
        })
        .map(|_| ()),
        Err(FsError::Fragmented)
    );
    assert_eq!(
        rig.open(Open {
            path: "hello.txt",
            write: true
        })
        .map(|_| ()),
        Err(FsError::Fragmented)
    );
    assert_eq!(rig.read("hello.txt", 0, 4), Err(FsError::Fragmented));
}

#[test]
fn malformed_payloads_are_errors_and_the_fs_keeps_answering() {
    let mut rig = rig();
    let truncated = [0, 9, b'h'];
    let trailing = [2, 1, b'x', 0];
    let bad_utf8 = [2, 1, 0xff];
    for payload in [
        &[][..],
        &[12][..],
        &[0xff; 6][..],
        &truncated,
        &trailing,
        &bad_utf8,
    ] {
        let (msg, reply) = rig.cx.call_with_payload(payload);
        assert!(
            matches!(
                rig.cx.deliver(&mut rig.fs, &msg),
                Err(HandleError::Malformed(_))
            ),
            "{payload:?}"
        );
        assert!(rig.cx.reply_to(reply).is_none(), "the kernel answers it");
    }
    assert_eq!(rig.stat("hello.txt").map(|s| s.size), Ok(14));
}

#[test]
fn a_request_sent_without_call_is_carried_out_but_hands_out_nothing() {
    let mut rig = rig();
    let held = rig.cx.held();
    let open = rig.cx.request(&Open {
        path: "hello.txt",
        write: true,
    });
    rig.cx.deliver(&mut rig.fs, &open).unwrap();
    assert_eq!(rig.cx.held(), held, "no Region kept for nobody");
    assert!(!rig.stat("hello.txt").unwrap().dirty, "and no copy made");
    let answered = rig.cx.replies.len();
    let create = rig.cx.request(&Create { path: "quiet" });
    rig.cx.deliver(&mut rig.fs, &create).unwrap();
    assert_eq!(rig.cx.replies.len(), answered, "no one to answer");
    assert_eq!(rig.stat("quiet").map(|s| s.size), Ok(0));
    // Anything but a request is not the fs's business.
    let timeout = rig.cx.timeout();
    rig.cx.deliver(&mut rig.fs, &timeout).unwrap();
}

#[test]
fn limits_come_from_a_bytes_grant_and_a_bad_one_is_one_error_line() {
    let limits = Limits {
        entries: 5,
        private_bytes: 7 * CREATE_CAPACITY,
        held_caps: 9,
    };
    assert_eq!(Limits::decode(&limits.encode()), Some(limits));
    assert_eq!(Limits::decode(&limits.encode()[..LIMITS_LEN - 1]), None);
    assert_eq!(Limits::decode(&[0; LIMITS_LEN]), None, "no tag");
    for (bytes, expected) in [
        (limits.encode(), limits),
        ([7; LIMITS_LEN], Limits::DEFAULT),
    ] {
        let mut cx = FakeContext::new();
        let image = cx.region_with(&sample_image(), Rights::all());
        let config = cx.region_with(&bytes, Rights::READ);
        let mut fs = Fs::new();
        let grants = [
            Grant {
                name: IMAGE_GRANT,
                cap: image,
            },
            Grant {
                name: LIMITS_GRANT,
                cap: config,
            },
        ];
        cx.start(&mut fs, &grants).unwrap();
        assert_eq!(fs.max_entries, expected.entries);
        assert_eq!(fs.backing.limits(), expected);
        let complained = cx.logs.iter().any(|line| {
            line == "error: the \"limits\" grant holds no limits; keeping the defaults"
        });
        assert_eq!(complained, expected == Limits::DEFAULT, "{:?}", cx.logs);
        assert!(
            matches!(fs.mount(), Mount::Mounted(_)),
            "it mounts either way"
        );
    }
}

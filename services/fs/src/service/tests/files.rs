//! What each request does when it succeeds.

use super::*;

#[test]
fn a_read_only_open_is_zero_copy_of_the_image_pages() {
    let mut rig = rig();
    let (opened, region) = rig
        .open(Open {
            path: "hello.txt",
            write: false,
        })
        .unwrap();
    assert_eq!(
        opened,
        Opened {
            size: 14,
            capacity: 8192
        }
    );
    // The Region is the file's extent of the image itself.
    let FakeObject::Region { backing, len, .. } = region else {
        panic!("{region:?}");
    };
    assert_eq!(backing, rig.image_backing());
    assert_eq!(len, 8192);
    assert_eq!(
        &rig.cx.region_bytes(&region).unwrap()[..14],
        b"Hello, Mealy!\n"
    );
    // Minted from the fs's read-only handle: no WRITE can come of it.
    let Pages::Image {
        handle: Some(handle),
        ..
    } = rig.file("hello.txt").pages
    else {
        panic!("not an image file");
    };
    assert_eq!(
        rig.cx.rights(handle),
        Some(Rights::READ | Rights::GRANT | Rights::DERIVE)
    );
    // A second open reuses the handle; nothing was copied or marked.
    let held = rig.cx.held();
    rig.open(Open {
        path: "hello.txt",
        write: false,
    })
    .unwrap();
    assert_eq!(rig.cx.held(), held);
    assert_eq!(rig.fs.backing.held(), (0, 1));
    assert!(!rig.stat("hello.txt").unwrap().dirty);
}

#[test]
fn a_writable_open_copies_the_file_and_revokes_the_image_regions() {
    let mut rig = rig();
    rig.open(Open {
        path: "hello.txt",
        write: false,
    })
    .unwrap();
    let Pages::Image {
        handle: Some(handle),
        ..
    } = rig.file("hello.txt").pages
    else {
        panic!("not an image file");
    };
    // A Region handed out for the image pages, still in the table.
    let shown = rig.cx.mint(handle, Rights::READ, None).unwrap();

    let (opened, region) = rig
        .open(Open {
            path: "hello.txt",
            write: true,
        })
        .unwrap();
    assert_eq!(opened.size, 14);
    assert_ne!(backing_of(&region), rig.image_backing(), "a copy");
    assert_eq!(
        &rig.cx.region_bytes(&region).unwrap()[..14],
        b"Hello, Mealy!\n"
    );
    assert_eq!(rig.cx.object(shown), None, "the stale view is revoked");
    assert_eq!(rig.cx.object(handle), None, "the handle is dropped");
    let Pages::Private { region: own } = rig.file("hello.txt").pages else {
        panic!("not private");
    };
    assert_eq!(rig.cx.object(own), Some(&region));
    assert_eq!(rig.fs.backing.held(), (8192, 1));
    assert!(rig.stat("hello.txt").unwrap().dirty);

    // Writes through it are what later opens and reads see; the image
    // pages stay as booted.
    rig.write(&region, 0, b"HELLO");
    let (_, again) = rig
        .open(Open {
            path: "hello.txt",
            write: false,
        })
        .unwrap();
    assert_eq!(backing_of(&again), backing_of(&region));
    assert_eq!(rig.read_all("hello.txt"), b"HELLO, Mealy!\n");
    assert!(
        rig.cx
            .region(rig.image)
            .unwrap()
            .windows(5)
            .all(|w| w != b"HELLO")
    );
}

#[test]
fn create_list_stat_and_sync() {
    let mut rig = rig();
    rig.result(&Create { path: "notes" }).unwrap();
    rig.result(&Mkdir { path: "etc/more" }).unwrap();
    rig.result(&Create {
        path: "/etc/more/deep",
    })
    .unwrap();
    assert_eq!(rig.names(""), ["etc", "hello.txt", "notes"]);
    assert_eq!(rig.names("etc/"), ["more", "motd"]);
    assert_eq!(rig.names("etc/more"), ["deep"]);
    assert_eq!(
        rig.stat("notes"),
        Ok(Stated {
            name: "notes".into(),
            kind: Kind::File,
            size: 0,
            capacity: CREATE_CAPACITY,
            dirty: true
        })
    );
    assert_eq!(
        rig.stat("/etc//more/"),
        Ok(Stated {
            name: "more".into(),
            kind: Kind::Directory,
            size: 1,
            capacity: 0,
            dirty: false
        })
    );
    assert_eq!(
        rig.stat("").map(|s| (s.name, s.size)),
        Ok((String::new(), 3))
    );
    assert_eq!(rig.fs.backing.held(), (2 * CREATE_CAPACITY, 2));

    let (_, region) = rig
        .open(Open {
            path: "notes",
            write: true,
        })
        .unwrap();
    rig.write(&region, 0, b"remember the milk");
    rig.result(&SetLen {
        path: "notes",
        len: 17,
    })
    .unwrap();
    assert_eq!(rig.read_all("notes"), b"remember the milk");
    rig.result(&Sync).unwrap();
    assert!(!rig.stat("notes").unwrap().dirty);
    assert!(!rig.stat("etc/more/deep").unwrap().dirty);
    // Listing and Stat show the same entry.
    let reply = rig.call(&List { path: "" });
    let listing = rig.cx.answer::<List>(reply).unwrap().unwrap();
    let notes = proto::entries(listing.entries)
        .map(Result::unwrap)
        .find(|entry| entry.name == "notes")
        .unwrap();
    assert_eq!((notes.size, notes.dirty), (17, false));
}

#[test]
fn read_copies_at_most_a_chunk_and_nothing_past_the_end() {
    let mut rig = rig();
    assert_eq!(rig.read("hello.txt", 7, 5).unwrap(), b"Mealy");
    assert_eq!(rig.read("hello.txt", 7, 100).unwrap(), b"Mealy!\n");
    assert_eq!(rig.read("hello.txt", 14, 100).unwrap(), b"");
    assert_eq!(rig.read("hello.txt", u64::MAX, u32::MAX).unwrap(), b"");
    assert_eq!(rig.read("etc/motd", 0, 0).unwrap(), b"");
    // Reading an image file copies nothing into the fs's own memory.
    assert_eq!(rig.fs.backing.held(), (0, 0));

    rig.result(&Create { path: "big" }).unwrap();
    let (_, region) = rig
        .open(Open {
            path: "big",
            write: true,
        })
        .unwrap();
    let bytes: Vec<u8> = (0..10_000u32).map(|i| (i % 251) as u8).collect();
    rig.write(&region, 0, &bytes);
    rig.result(&SetLen {
        path: "big",
        len: 10_000,
    })
    .unwrap();
    let first = rig.read("big", 0, u32::MAX).unwrap();
    assert_eq!(first.len(), READ_CHUNK as usize);
    assert_eq!(rig.read_all("big"), bytes);
}

#[test]
fn set_len_stays_within_the_capacity_and_shrinking_zeroes_the_cut() {
    let mut rig = rig();
    rig.result(&Create { path: "log" }).unwrap();
    let (opened, region) = rig
        .open(Open {
            path: "log",
            write: true,
        })
        .unwrap();
    let capacity = opened.capacity;
    let len = capacity;
    rig.result(&SetLen { path: "log", len }).unwrap();
    assert_eq!(
        rig.result(&SetLen {
            path: "log",
            len: capacity + 1
        }),
        Err(FsError::NoSpace { capacity })
    );
    rig.write(&region, 0, b"abcdef");
    rig.result(&SetLen {
        path: "log",
        len: 2,
    })
    .unwrap();
    rig.result(&SetLen {
        path: "log",
        len: 6,
    })
    .unwrap();
    assert_eq!(rig.read_all("log"), b"ab\0\0\0\0");
    // Never moved: the same pages throughout.
    let (_, now) = rig
        .open(Open {
            path: "log",
            write: false,
        })
        .unwrap();
    assert_eq!(now, region);

    // An image file is copied before it changes size; the image is not cut.
    rig.result(&SetLen {
        path: "hello.txt",
        len: 5,
    })
    .unwrap();
    assert_eq!(rig.read_all("hello.txt"), b"Hello");
    assert!(matches!(rig.file("hello.txt").pages, Pages::Private { .. }));
    let image = rig.cx.region(rig.image).unwrap();
    assert!(image.windows(14).any(|w| w == b"Hello, Mealy!\n"));
}

#[test]
fn reserve_moves_a_file_only_when_it_must() {
    let mut rig = rig();
    rig.result(&Create { path: "log" }).unwrap();
    let Pages::Private { region: first } = rig.file("log").pages else {
        panic!("not private");
    };
    let handed_out = rig.cx.mint(first, Rights::READ, None).unwrap();
    rig.result(&Reserve {
        path: "log",
        capacity: 4096,
    })
    .unwrap();
    assert_eq!(rig.file("log").pages, Pages::Private { region: first });
    assert!(rig.cx.object(handed_out).is_some());

    let (_, region) = rig
        .open(Open {
            path: "log",
            write: true,
        })
        .unwrap();
    rig.write(&region, 0, b"kept");
    rig.result(&SetLen {
        path: "log",
        len: 4,
    })
    .unwrap();
    rig.result(&Reserve {
        path: "log",
        capacity: (1 << 20) + 1,
    })
    .unwrap();
    assert_eq!(
        rig.cx.object(handed_out),
        None,
        "revoked with the old pages"
    );
    assert_eq!(rig.cx.object(first), None, "freed");
    let file = rig.file("log");
    assert_eq!((file.size, file.capacity), (4, (1 << 20) + 4096));
    assert_eq!(rig.fs.backing.held(), ((1 << 20) + 4096, 1));
    assert_eq!(rig.read_all("log"), b"kept");
    assert_eq!(
        rig.result(&Reserve {
            path: "log",
            capacity: u64::MAX
        }),
        Err(FsError::NoSpace {
            capacity: MAX_CAPACITY
        })
    );
    assert_eq!(rig.file("log"), file, "a refusal changes nothing");
}

#[test]
fn remove_revokes_and_frees_and_rename_keeps_the_pages() {
    let mut rig = rig();
    rig.open(Open {
        path: "etc/motd",
        write: true,
    })
    .unwrap();
    let Pages::Private { region } = rig.file("etc/motd").pages else {
        panic!("not private");
    };
    let handed_out = rig.cx.mint(region, Rights::READ, None).unwrap();
    assert_eq!(rig.result(&Remove { path: "etc" }), Err(FsError::NotEmpty));

    rig.result(&Rename {
        from: "etc/motd",
        to: "greeting",
    })
    .unwrap();
    assert_eq!(rig.file("greeting").pages, Pages::Private { region });
    assert!(rig.cx.object(handed_out).is_some(), "still valid");
    assert_eq!(rig.stat("etc/motd"), Err(FsError::NotFound));
    assert_eq!(rig.read_all("greeting"), b"welcome\n");

    rig.result(&Remove { path: "greeting" }).unwrap();
    assert_eq!(rig.cx.object(handed_out), None);
    assert_eq!(rig.cx.object(region), None);
    assert_eq!(rig.fs.backing.held(), (0, 0));
    // An image file opened read-only loses its handle too.
    rig.open(Open {
        path: "hello.txt",
        write: false,
    })
    .unwrap();
    rig.result(&Remove { path: "hello.txt" }).unwrap();
    assert_eq!(rig.fs.backing.held(), (0, 0));
    rig.result(&Remove { path: "etc" }).unwrap();
    assert_eq!(rig.names(""), Vec::<String>::new());
    // The names can be used again.
    rig.result(&Mkdir { path: "etc" }).unwrap();
    rig.result(&Create { path: "hello.txt" }).unwrap();
    assert_eq!(rig.names(""), ["etc", "hello.txt"]);
}

#[test]
fn names_come_back_sorted_and_a_long_listing_says_how_many_are_missing() {
    let mut rig = rig();
    let mut expected: Vec<String> = vec!["etc".into(), "hello.txt".into()];
    for index in 0..200 {
        let name = format!("{index:03}-{}", "n".repeat(40));
        rig.result(&Mkdir { path: &name }).unwrap();
        expected.push(name);
    }
    expected.sort();
    let (names, total) = rig.list("").unwrap();
    assert_eq!(total, 202);
    assert!(names.len() < 202, "one answer cannot hold them all");
    assert_eq!(names[..], expected[..names.len()]);
}

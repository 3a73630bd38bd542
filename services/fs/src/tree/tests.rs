//! The tree on its own: built from an image, looked up, changed.

extern crate std;

use alloc::collections::BTreeMap;
use alloc::string::{String, ToString};
use alloc::vec;
use alloc::vec::Vec;

use super::*;
use crate::format::{BuildOptions, Node as Built, build};

/// `a/b/c.txt`, `a/empty/`, `top.txt` (14 bytes), and a 10 000-byte
/// `big.bin`.
fn image() -> Vec<u8> {
    let mut b = BTreeMap::new();
    b.insert("c.txt".to_string(), Built::File(b"c".to_vec()));
    let mut a = BTreeMap::new();
    a.insert("b".to_string(), Built::Directory(b));
    a.insert("empty".to_string(), Built::empty_dir());
    let mut root = BTreeMap::new();
    root.insert("a".to_string(), Built::Directory(a));
    root.insert(
        "top.txt".to_string(),
        Built::File(b"Hello, Mealy!\n".to_vec()),
    );
    root.insert("big.bin".to_string(), Built::File(vec![7; 10_000]));
    build(&Built::Directory(root), BuildOptions::default()).unwrap()
}

fn tree() -> Tree {
    let bytes = image();
    Tree::from_image(&Image::parse(&bytes).unwrap()).unwrap()
}

fn names(tree: &Tree, dir: NodeId) -> Vec<String> {
    match &tree.get(dir).unwrap().body {
        Body::Directory { children } => children.keys().cloned().collect(),
        Body::File(_) => panic!("a file"),
    }
}

fn file(tree: &Tree, path: &str) -> File {
    match &tree.get(tree.lookup(path).unwrap()).unwrap().body {
        Body::File(file) => *file,
        Body::Directory { .. } => panic!("a directory"),
    }
}

fn empty_dir() -> Body {
    Body::Directory {
        children: BTreeMap::new(),
    }
}

#[test]
fn the_tree_mirrors_the_image() {
    let bytes = image();
    let view = Image::parse(&bytes).unwrap();
    let tree = Tree::from_image(&view).unwrap();
    assert_eq!(tree.len(), view.layout().inode_count as usize);
    assert_eq!(names(&tree, ROOT), ["a", "big.bin", "top.txt"]);
    let a = tree.lookup("a").unwrap();
    assert_eq!(names(&tree, a), ["b", "empty"]);
    let top = file(&tree, "top.txt");
    assert_eq!((top.size, top.capacity, top.dirty), (14, 8192, false));
    // Each file is its image extent, with no handle derived yet.
    let inode = view.lookup("top.txt").unwrap();
    let extent = view.extent(inode.first);
    assert_eq!(
        top.pages,
        Pages::Image {
            extent,
            handle: None
        }
    );
    let big = file(&tree, "big.bin");
    assert_eq!((big.size, big.capacity), (10_000, 16384));
    // Parents and names agree with where the nodes are listed.
    let c = tree.lookup("a/b/c.txt").unwrap();
    let node = tree.get(c).unwrap();
    assert_eq!(node.name, "c.txt");
    assert_eq!(node.parent, tree.lookup("a/b").unwrap());
}

#[test]
fn lookup_ignores_empty_components_and_types_its_errors() {
    let tree = tree();
    assert_eq!(tree.lookup(""), Ok(ROOT));
    assert_eq!(tree.lookup("/"), Ok(ROOT));
    assert_eq!(tree.lookup("//a///b/"), tree.lookup("a/b"));
    assert_eq!(tree.lookup("a/nope"), Err(FsError::NotFound));
    assert_eq!(tree.lookup("top.txt/x"), Err(FsError::NotADirectory));
    assert_eq!(tree.lookup(&"x".repeat(256)), Err(FsError::BadPath));
    assert_eq!(tree.lookup(&"d/".repeat(33)), Err(FsError::BadPath));
    // `.` and `..` are names like any other: no such entry.
    assert_eq!(tree.lookup("a/.."), Err(FsError::NotFound));
    // An unmounted fs has no root at all.
    assert_eq!(Tree::new().lookup(""), Err(FsError::NotMounted));
}

#[test]
fn parent_of_checks_the_new_name_and_its_directory() {
    let tree = tree();
    let a = tree.lookup("a").unwrap();
    assert_eq!(tree.parent_of("a/new"), Ok((a, "new")));
    assert_eq!(tree.parent_of("/a/new/"), Ok((a, "new")));
    assert_eq!(tree.parent_of("new"), Ok((ROOT, "new")));
    // The name may be taken: that is the caller's check.
    assert_eq!(tree.parent_of("a/b"), Ok((a, "b")));
    for bad in ["", "/", "a/.", "a/..", "a/x\0y"] {
        assert_eq!(tree.parent_of(bad), Err(FsError::BadPath), "{bad:?}");
    }
    assert_eq!(tree.parent_of("nope/x"), Err(FsError::NotFound));
    assert_eq!(tree.parent_of("top.txt/x"), Err(FsError::NotADirectory));
}

#[test]
fn a_new_entry_cannot_go_deeper_than_the_format_allows() {
    let mut tree = tree();
    let mut path = String::new();
    let mut made = 0;
    loop {
        path.push_str("d/");
        match tree.parent_of(&path) {
            Ok((parent, name)) => {
                tree.insert(parent, name, empty_dir()).unwrap();
                made += 1;
            }
            Err(error) => {
                assert_eq!(error, FsError::BadPath);
                break;
            }
        }
        assert!(made <= MAX_DEPTH, "no depth limit");
    }
    assert_eq!(made, MAX_DEPTH);
    let deepest = tree.lookup(&"d/".repeat(MAX_DEPTH as usize)).unwrap();
    assert_eq!(tree.depth(deepest), MAX_DEPTH);
}

#[test]
fn insert_and_remove_keep_the_count_and_reuse_slots() {
    let mut tree = tree();
    let before = tree.len();
    let a = tree.lookup("a").unwrap();
    let made = tree.insert(a, "new", empty_dir()).unwrap();
    assert_eq!(tree.len(), before + 1);
    assert_eq!(tree.lookup("a/new"), Ok(made));
    assert!(tree.has_child(a, "new"));
    assert_eq!(names(&tree, a), ["b", "empty", "new"]);

    let removed = tree.remove(made).unwrap();
    assert_eq!(removed.name, "new");
    assert_eq!(tree.len(), before);
    assert!(!tree.has_child(a, "new"));
    assert_eq!(tree.get(made), None);
    assert_eq!(tree.remove(made), None, "already gone");
    // The freed slot is the next one used.
    let again = tree.insert(ROOT, "again", empty_dir()).unwrap();
    assert_eq!(again, made);
    // The root stays.
    assert_eq!(tree.remove(ROOT), None);
    assert_eq!(tree.len(), before + 1);
}

#[test]
fn rename_moves_a_subtree_and_keeps_its_id() {
    let mut tree = tree();
    let b = tree.lookup("a/b").unwrap();
    let c = tree.lookup("a/b/c.txt").unwrap();
    let empty = tree.lookup("a/empty").unwrap();
    tree.rename(b, empty, "moved").unwrap();
    assert_eq!(tree.lookup("a/empty/moved"), Ok(b));
    assert_eq!(tree.lookup("a/empty/moved/c.txt"), Ok(c));
    assert_eq!(tree.lookup("a/b"), Err(FsError::NotFound));
    let node = tree.get(b).unwrap();
    assert_eq!((node.name.as_str(), node.parent), ("moved", empty));
    assert_eq!(tree.depth(c), 4);
    // Renaming within one directory changes only the name.
    let top = tree.lookup("top.txt").unwrap();
    tree.rename(top, ROOT, "renamed.txt").unwrap();
    assert_eq!(names(&tree, ROOT), ["a", "big.bin", "renamed.txt"]);
    assert_eq!(file(&tree, "renamed.txt").size, 14);
}

#[test]
fn depth_within_and_height_measure_the_tree() {
    let tree = tree();
    let a = tree.lookup("a").unwrap();
    let b = tree.lookup("a/b").unwrap();
    let c = tree.lookup("a/b/c.txt").unwrap();
    assert_eq!([ROOT, a, b, c].map(|id| tree.depth(id)), [0, 1, 2, 3]);
    assert!(tree.within(c, a));
    assert!(tree.within(a, a));
    assert!(tree.within(a, ROOT));
    assert!(!tree.within(a, c));
    assert!(!tree.within(tree.lookup("top.txt").unwrap(), a));
    assert_eq!(tree.height(ROOT), 3);
    assert_eq!(tree.height(a), 2);
    assert_eq!(tree.height(c), 0);
    assert_eq!(tree.height(tree.lookup("a/empty").unwrap()), 0);
}

#[test]
fn files_mut_reaches_every_file_and_no_directory() {
    let mut tree = tree();
    let a = tree.lookup("a").unwrap();
    let file = File {
        size: 0,
        capacity: 4096,
        dirty: true,
        pages: Pages::Image {
            extent: None,
            handle: None,
        },
    };
    tree.insert(a, "made", Body::File(file)).unwrap();
    let mut count = 0;
    for file in tree.files_mut() {
        file.dirty = true;
        count += 1;
    }
    assert_eq!(count, 4);
    for path in ["top.txt", "big.bin", "a/b/c.txt", "a/made"] {
        let id = tree.lookup(path).unwrap();
        assert!(tree.file_mut(id).unwrap().dirty, "{path}");
    }
    assert_eq!(tree.file_mut(a), None);
}

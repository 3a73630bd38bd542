//! Random requests against a model: a map from path to bytes. Whatever
//! the order of creates, removes, renames, writes through a Region and
//! reads, the fs answers what the map says and lists what it holds.

use alloc::collections::BTreeMap;

use proptest::prelude::*;

use super::*;

/// One step of the model test.
#[derive(Clone, Debug)]
enum Op {
    Create(u8),
    Remove(u8),
    Rename(u8, u8),
    Write(u8, Vec<u8>),
    Read(u8, u16),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (0u8..6).prop_map(Op::Create),
        (0u8..6).prop_map(Op::Remove),
        (0u8..6, 0u8..6).prop_map(|(a, b)| Op::Rename(a, b)),
        (0u8..6, proptest::collection::vec(any::<u8>(), 0..200)).prop_map(|(a, b)| Op::Write(a, b)),
        (0u8..6, 0u16..300).prop_map(|(a, o)| Op::Read(a, o)),
    ]
}

/// Names 0..3 are in the root, 4..5 in `etc` (which the image has).
fn name(index: u8) -> String {
    if index < 4 {
        format!("f{index}")
    } else {
        format!("etc/f{index}")
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn random_requests_match_a_map(ops in proptest::collection::vec(op(), 1..32)) {
        let mut rig = rig();
        let mut model: BTreeMap<String, Vec<u8>> = BTreeMap::new();
        for op in ops {
            match op {
                Op::Create(a) => {
                    let got = rig.result(&Create { path: &name(a) });
                    let want = if model.contains_key(&name(a)) { Err(FsError::Exists) } else { Ok(()) };
                    prop_assert_eq!(got, want);
                    model.entry(name(a)).or_default();
                }
                Op::Remove(a) => {
                    let got = rig.result(&Remove { path: &name(a) });
                    let want = model.remove(&name(a)).map(|_| ()).ok_or(FsError::NotFound);
                    prop_assert_eq!(got, want);
                }
                Op::Rename(a, b) => {
                    let got = rig.result(&Rename { from: &name(a), to: &name(b) });
                    let want = if !model.contains_key(&name(a)) {
                        Err(FsError::NotFound)
                    } else if model.contains_key(&name(b)) {
                        Err(FsError::Exists)
                    } else {
                        let bytes = model.remove(&name(a)).unwrap_or_default();
                        model.insert(name(b), bytes);
                        Ok(())
                    };
                    prop_assert_eq!(got, want);
                }
                Op::Write(a, bytes) => {
                    let opened = rig.open(Open { path: &name(a), write: true });
                    match model.get_mut(&name(a)) {
                        None => prop_assert_eq!(opened.map(|_| ()), Err(FsError::NotFound)),
                        Some(content) => {
                            let (_, region) = opened.unwrap();
                            rig.write(&region, 0, &bytes);
                            let len = bytes.len() as u64;
                            rig.result(&SetLen { path: &name(a), len }).unwrap();
                            *content = bytes;
                        }
                    }
                }
                Op::Read(a, offset) => {
                    let got = rig.read(&name(a), u64::from(offset), 64);
                    let want = model
                        .get(&name(a))
                        .map(|c| c.iter().skip(usize::from(offset)).take(64).copied().collect())
                        .ok_or(FsError::NotFound);
                    prop_assert_eq!(got, want);
                }
            }
        }
        let mut listed: Vec<String> = rig
            .names("")
            .into_iter()
            .filter(|n| n.starts_with('f'))
            .collect();
        listed.extend(rig.names("etc").into_iter().filter(|n| n.starts_with('f')).map(|n| format!("etc/{n}")));
        listed.sort();
        let want: Vec<String> = model.keys().cloned().collect();
        prop_assert_eq!(listed, want);
        for (path, content) in &model {
            prop_assert_eq!(&rig.read_all(path), content);
        }
        // Every private copy is one the tree still holds.
        let files = model.len() as u64;
        prop_assert_eq!(rig.fs.backing.held(), (files * CREATE_CAPACITY, files as usize));
    }
}

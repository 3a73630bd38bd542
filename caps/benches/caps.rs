//! Host benchmark of the capability hot paths: lookup, mint, move, and
//! revoking a 1,000-descendant subtree spread over four CSpaces.
//!
//! Measurement times are short (about 1 s per benchmark) so the whole run
//! stays well under 30 s; the numbers are for spotting regressions against
//! the targets (lookup < 10 ns, mint < 100 ns, revoke(1000) < 50 µs), not
//! for publication. Run: `cargo bench -p mealy-caps --bench caps`.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use mealy_caps::{Badge, CSpaceId, CapRef, CapSystem, Limits, Object, Rights, TaskId};

const DESCENDANTS: usize = 1000;

fn system_with_spaces(count: u32) -> (CapSystem, Vec<CSpaceId>) {
    let mut system = CapSystem::new(Limits::default()).expect("default limits fit");
    let spaces = (0..count)
        .map(|task| system.create_cspace(TaskId(task), 4096).expect("room"))
        .collect();
    (system, spaces)
}

fn bench_lookup(c: &mut Criterion) {
    let (mut system, spaces) = system_with_spaces(8);
    let space = spaces[3];
    // A few neighbours so the slot is not trivially the first one.
    for _ in 0..16 {
        system.create_object(space, Object::Timer).expect("room");
    }
    let cap = system
        .create_object(space, Object::Endpoint { task: TaskId(1) })
        .expect("room");
    // As the kernel does it: the ref arrives as a raw u64 in a register, and
    // the result is used (object and badge), not spilled whole to memory.
    // (Passing the 32-byte `Result` through `black_box` measured the stack
    // round trip instead, about 10 ns of store-forwarding stalls.)
    let (space_raw, cap_raw) = (space.to_raw(), cap.to_raw());
    c.bench_function("lookup", |b| {
        b.iter(|| {
            let space = CSpaceId::from_raw(black_box(space_raw));
            let cap = CapRef::from_raw(black_box(cap_raw));
            match system.lookup(space, cap, Rights::WRITE) {
                Ok(found) => u64::from(found.object.index()) ^ found.badge.map_or(0, Badge::get),
                Err(_) => u64::MAX,
            }
        })
    });
}

fn bench_mint(c: &mut Criterion) {
    let (mut system, spaces) = system_with_spaces(2);
    let (from, to) = (spaces[0], spaces[1]);
    let root = system
        .create_object(from, Object::Endpoint { task: TaskId(1) })
        .expect("room");
    let badge = Badge::new(42);
    let mut minted: Vec<CapRef> = Vec::with_capacity(DESCENDANTS);
    c.bench_function("mint", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            let mut left = iters;
            while left > 0 {
                let batch = left.min(DESCENDANTS as u64);
                let start = Instant::now();
                for _ in 0..batch {
                    let cap = system.mint(from, root, to, black_box(Rights::WRITE), badge);
                    minted.push(cap.expect("room"));
                }
                total += start.elapsed();
                for cap in minted.drain(..) {
                    system.drop_cap(to, cap).expect("live");
                }
                left -= batch;
            }
            total
        })
    });
}

fn bench_move(c: &mut Criterion) {
    let (mut system, spaces) = system_with_spaces(2);
    let (a, b_space) = (spaces[0], spaces[1]);
    let mut cap = system
        .create_object(a, Object::Endpoint { task: TaskId(1) })
        .expect("room");
    let mut here = a;
    c.bench_function("move", |b| {
        b.iter(|| {
            let there = if here == a { b_space } else { a };
            cap = system.move_cap(here, cap, there).expect("grant and room");
            here = there;
        })
    });
}

/// Builds `DESCENDANTS` capabilities under `source`: a mix of a wide fan-out
/// and chains, spread round-robin over the CSpaces, as a server handing
/// badged endpoints to many clients who copy them on.
fn grow_subtree(system: &mut CapSystem, spaces: &[CSpaceId], source: CapRef) {
    let mut frontier = vec![(spaces[0], source)];
    let mut made = 0;
    while made < DESCENDANTS {
        let (space, parent) = frontier[made / 4];
        let dest = spaces[made % spaces.len()];
        let child = system.copy(space, parent, dest).expect("room");
        frontier.push((dest, child));
        made += 1;
    }
}

fn bench_revoke(c: &mut Criterion) {
    let (mut system, spaces) = system_with_spaces(4);
    let source = system
        .create_object(spaces[0], Object::Endpoint { task: TaskId(1) })
        .expect("room");
    c.bench_function("revoke_1000", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                grow_subtree(&mut system, &spaces, source);
                let start = Instant::now();
                let deleted = system.revoke(spaces[0], black_box(source)).expect("live");
                total += start.elapsed();
                assert_eq!(deleted, DESCENDANTS);
            }
            total
        })
    });
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(1))
        .sample_size(30)
}

criterion_group! {
    name = caps;
    config = config();
    targets = bench_lookup, bench_mint, bench_move, bench_revoke
}
criterion_main!(caps);

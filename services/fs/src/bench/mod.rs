//! The file-system benchmarks' clients: ordinary state machines that
//! reach the fs only through its interface (`mealy_protocol::fs`), by an
//! endpoint granted as [`FS_GRANT`] (needs WRITE: they make their own
//! files). The guest scenario `test=bench` runs them and prints what they
//! measured; host tests run them against the real fs with a counter for
//! a clock.
//!
//! | file | what it measures |
//! |---|---|
//! | `read.rs` | [`ReadBench`]: getting access to a file (`Open` and a look at its Region), against the file's size; reading its bytes through the Region, against copying them through `Read` messages |
//! | `write.rs` | [`WriteBench`]: mounting (the time to the first answer), writing a large file then `Sync`, creating many small files then `Sync` |
//!
//! Every figure is in the ticks of the [`Clock`] the task is given: the
//! guest gives the TSC less the time the CPU sat idle waiting for a
//! device, which under `-icount shift=0` is the guest instructions
//! executed. Nothing here asserts a duration; the host tests assert what
//! the clients did (the bytes they read, the files they left).

mod read;
mod write;

use mealy_protocol::{Call, CapRef, Context, HandleError, Outbox, Pending};

pub use read::{FILES as READ_FILES, OPEN_ROUNDS, ReadBench, ReadResult};
pub use write::{DIR as WRITE_DIR, Figure, Workload, WriteBench, WriteResult};

/// The grant naming the fs's endpoint.
pub const FS_GRANT: &str = "fs";

/// What a benchmark reads the time from: `ticks` counts work (the guest:
/// TSC ticks less those spent idle), `waits` how many times the machine
/// went idle waiting for a device (0 where nothing waits).
#[derive(Clone, Copy, Debug)]
pub struct Clock {
    pub ticks: fn() -> u64,
    pub waits: fn() -> u64,
}

impl Clock {
    /// A clock that never waits (the read benchmark's, a host test's).
    pub const fn ticks_only(ticks: fn() -> u64) -> Clock {
        fn no_waits() -> u64 {
            0
        }
        Clock {
            ticks,
            waits: no_waits,
        }
    }

    fn now(&self) -> Sample {
        Sample {
            ticks: (self.ticks)(),
            waits: (self.waits)(),
        }
    }
}

/// The clock read at one instant.
#[derive(Clone, Copy, Debug, Default)]
struct Sample {
    ticks: u64,
    waits: u64,
}

impl Sample {
    /// What passed from `self` to `later`: (ticks, waits).
    fn until(self, later: Sample) -> (u64, u64) {
        (
            later.ticks.wrapping_sub(self.ticks),
            later.waits.wrapping_sub(self.waits),
        )
    }
}

/// The byte at `index` of the read benchmark's files.
pub fn pattern(index: u64) -> u8 {
    (index ^ (index >> 8) ^ (index >> 16)) as u8
}

/// Folds `bytes` into `sum` (wrapping, so chunking does not change it).
pub fn fold(sum: u64, bytes: &[u8]) -> u64 {
    bytes
        .iter()
        .fold(sum, |sum, &byte| sum.wrapping_add(u64::from(byte)))
}

/// A client's side of the fs endpoint: typed calls through it.
struct FsClient {
    fs: Option<CapRef>,
    outbox: Outbox<256>,
}

impl FsClient {
    const fn new() -> Self {
        Self {
            fs: None,
            outbox: Outbox::new(),
        }
    }

    fn call<C: Call>(
        &mut self,
        cx: &mut dyn Context,
        request: &C,
    ) -> Result<Pending<C::Marker>, HandleError> {
        let fs = self.fs.ok_or(HandleError::Fatal("no endpoint to the fs"))?;
        Ok(mealy_protocol::call(
            cx,
            fs,
            self.outbox.space(),
            request,
            &[],
        )?)
    }
}

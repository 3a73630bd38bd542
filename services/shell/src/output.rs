//! The shell's output formats: pure functions from the answers in
//! `system.rs` to text. These formats are an interface (scripts read them
//! through `cargo xtask qemu --headless`), documented in the crate's
//! README.md; change them only together with it.
//!
//! Tables have a fixed header line in capitals and one row per item. Columns
//! are left-aligned at fixed widths and always separated by at least one
//! space, so a row splits on whitespace even when a value overflows its
//! width; only the last column may contain spaces (an object description,
//! say). Numbers are plain decimal unless they are addresses (hex, `0x`).
//! Lines end in `\n`. The capability graph is rendered by `mealy-caps`
//! itself (`Snapshot::write_tree`, `Snapshot::write_dot`).

use alloc::format;
use alloc::string::String;
use core::fmt::{self, Write};

use mealy_caps::{Rights, Snapshot};
use mealy_protocol::fs::{Space, Synced};

use crate::command::{COMMANDS, CommandSpec, GraphView, SlotRef, TaskRef};
use crate::system::{BenchReport, CapRow, Listing, MemReport, Started, Stats, TaskRow};

/// A table column: its header and its width (ignored for the last column).
type Column = (&'static str, usize);

pub const PS_COLUMNS: &[Column] = &[
    ("ID", 5),
    ("NAME", 16),
    ("STATE", 8),
    ("MBOX", 6),
    ("HIGH", 6),
    ("HANDLED", 12),
    ("TIME_NS", 14),
    // After the columns scripts read by position, so those still work:
    // RING came with programs (issue 15), RESTARTS and LAST_FAULT with
    // restarts (issue 16).
    ("RING", 6),
    ("RESTARTS", 10),
    ("LAST_FAULT", 0),
];

pub const CAPS_COLUMNS: &[Column] = &[
    ("TASK", 6),
    ("SLOT", 10),
    ("RIGHTS", 8),
    ("BADGE", 20),
    ("OBJECT", 0),
];

pub const MEM_COLUMNS: &[Column] = &[("RESOURCE", 10), ("TOTAL", 14), ("USED", 14), ("FREE", 0)];

pub const REGION_COLUMNS: &[Column] = &[("REGION", 8), ("BASE", 20), ("LEN", 0)];

pub const STATS_COLUMNS: &[Column] = &[("COUNTER", 18), ("VALUE", 0)];

pub const DF_COLUMNS: &[Column] = &[
    ("DISK", 8),
    ("SIZE_KIB", 10),
    ("USED_KIB", 10),
    ("FREE_KIB", 10),
    ("GENERATION", 0),
];

pub const BENCH_COLUMNS: &[Column] = &[
    ("ROUND_TRIPS", 13),
    ("TSC_TICKS", 16),
    ("TICKS_PER_TRIP", 0),
];

/// Width of the usage column in `help`.
const HELP_USAGE_WIDTH: usize = 24;

/// Writes one row: every cell but the last padded to its column's width,
/// with at least one space after it.
fn write_row(out: &mut dyn Write, columns: &[Column], cells: &[&dyn fmt::Display]) -> fmt::Result {
    let mut line = String::new();
    for (index, cell) in cells.iter().enumerate() {
        let text = format!("{cell}");
        line.push_str(&text);
        if index + 1 == cells.len() {
            break;
        }
        let width = columns.get(index).map_or(0, |column| column.1);
        let padding = width.saturating_sub(text.chars().count()).max(1);
        line.extend(core::iter::repeat_n(' ', padding));
    }
    writeln!(out, "{}", line.trim_end())
}

fn write_header(out: &mut dyn Write, columns: &[Column]) -> fmt::Result {
    let titles: alloc::vec::Vec<&dyn fmt::Display> = columns
        .iter()
        .map(|column| &column.0 as &dyn fmt::Display)
        .collect();
    write_row(out, columns, &titles)
}

/// `help`: every command's usage and description.
pub fn write_help(out: &mut dyn Write) -> fmt::Result {
    for spec in COMMANDS {
        write_help_line(out, spec)?;
    }
    Ok(())
}

/// `help <command>`: that command's usage and description.
pub fn write_help_line(out: &mut dyn Write, spec: &CommandSpec) -> fmt::Result {
    writeln!(
        out,
        "{:<width$}{}",
        spec.usage,
        spec.summary,
        width = HELP_USAGE_WIDTH
    )
}

/// `ps`: one row per task.
pub fn write_tasks(out: &mut dyn Write, rows: &[TaskRow]) -> fmt::Result {
    write_header(out, PS_COLUMNS)?;
    for row in rows {
        write_row(
            out,
            PS_COLUMNS,
            &[
                &row.id,
                &row.name,
                &row.state,
                &row.mailbox_depth,
                &row.mailbox_high_water,
                &row.handled,
                &row.time_ns,
                &row.ring,
                &row.restarts,
                &FaultCell(row.last_fault),
            ],
        )?;
    }
    Ok(())
}

/// The last-fault column: the cause and address (`#PF@0x1000`), or `-`.
struct FaultCell(Option<mealy_protocol::inspect::Fault>);

impl fmt::Display for FaultCell {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(fault) => write!(f, "{fault}"),
            None => f.write_str("-"),
        }
    }
}

/// The badge column: the badge in hex, or `-`.
struct BadgeCell(Option<mealy_protocol::Badge>);

impl fmt::Display for BadgeCell {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(badge) => write!(f, "{badge}"),
            None => f.write_str("-"),
        }
    }
}

/// A task id cell: the number, or `kernel` for the kernel's CSpace.
struct TaskCell(u32);

impl fmt::Display for TaskCell {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0 == mealy_caps::TaskId::KERNEL.0 {
            return f.write_str("kernel");
        }
        write!(f, "{}", self.0)
    }
}

/// `caps`: one row per capability.
pub fn write_caps(out: &mut dyn Write, rows: &[CapRow]) -> fmt::Result {
    write_header(out, CAPS_COLUMNS)?;
    for row in rows {
        write_row(
            out,
            CAPS_COLUMNS,
            &[
                &TaskCell(row.task),
                &row.slot,
                &row.rights,
                &BadgeCell(row.badge),
                &row.object,
            ],
        )?;
    }
    Ok(())
}

/// `graph`, `graph --dot` and `graph --dot --slots`.
pub fn write_graph(out: &mut dyn Write, snapshot: &Snapshot, view: GraphView) -> fmt::Result {
    match view {
        GraphView::Tree => snapshot.write_tree(out),
        GraphView::Dot(detail) => snapshot.write_dot(out, detail),
    }
}

/// `mem`: frames (in 4 KiB frames) and heap (in bytes), then one row per
/// Region object.
pub fn write_memory(out: &mut dyn Write, report: &MemReport) -> fmt::Result {
    write_header(out, MEM_COLUMNS)?;
    let frames_used = report.frames_total.saturating_sub(report.frames_free);
    write_row(
        out,
        MEM_COLUMNS,
        &[
            &"frames",
            &report.frames_total,
            &frames_used,
            &report.frames_free,
        ],
    )?;
    let heap_free = report
        .heap_total_bytes
        .saturating_sub(report.heap_used_bytes);
    write_row(
        out,
        MEM_COLUMNS,
        &[
            &"heap",
            &report.heap_total_bytes,
            &report.heap_used_bytes,
            &heap_free,
        ],
    )?;
    write_header(out, REGION_COLUMNS)?;
    for (index, region) in report.regions.iter().enumerate() {
        write_row(
            out,
            REGION_COLUMNS,
            &[
                &index,
                &format_args!("{:#018x}", region.base),
                &format_args!("{:#x}", region.len),
            ],
        )?;
    }
    Ok(())
}

/// `stats`: one `counter value` row per field, in a fixed order.
pub fn write_stats(out: &mut dyn Write, stats: &Stats) -> fmt::Result {
    write_header(out, STATS_COLUMNS)?;
    let counters: [(&str, &dyn fmt::Display); 11] = [
        ("tasks", &stats.tasks),
        ("tasks_alive", &stats.tasks_alive),
        ("messages_handled", &stats.messages_handled),
        ("handler_time_ns", &stats.handler_time_ns),
        ("budget_overruns", &stats.budget_overruns),
        ("malformed", &stats.malformed),
        ("handler_errors", &stats.handler_errors),
        ("cspaces", &stats.cspaces),
        ("objects", &stats.objects),
        ("capabilities", &stats.capabilities),
        ("handed_off", &stats.messages_handed_off),
    ];
    for (name, value) in counters {
        write_row(out, STATS_COLUMNS, &[&name, value])?;
    }
    Ok(())
}

/// `bench`: round trips, TSC ticks, and ticks per round trip (`-` if no
/// round trip ran).
pub fn write_bench(out: &mut dyn Write, report: &BenchReport) -> fmt::Result {
    write_header(out, BENCH_COLUMNS)?;
    let per_trip = report.tsc_ticks.checked_div(report.round_trips);
    let per_trip: &dyn fmt::Display = match &per_trip {
        Some(ticks) => ticks,
        None => &"-",
    };
    write_row(
        out,
        BENCH_COLUMNS,
        &[&report.round_trips, &report.tsc_ticks, per_trip],
    )
}

/// `uptime`: `up HH:MM:SS.mmm (N ns)`; hours grow past two digits.
pub fn write_uptime(out: &mut dyn Write, uptime_ns: u64) -> fmt::Result {
    let millis = uptime_ns / 1_000_000;
    let seconds = millis / 1000;
    writeln!(
        out,
        "up {:02}:{:02}:{:02}.{:03} ({uptime_ns} ns)",
        seconds / 3600,
        seconds / 60 % 60,
        seconds % 60,
        millis % 1000
    )
}

/// `ls`: a header, then `TYPE  SIZE  NAME` per entry (a directory's size is
/// its number of entries), then a note if the listing did not fit.
pub fn write_listing(out: &mut dyn Write, listing: &Listing) -> fmt::Result {
    writeln!(out, "{:<5} {:<11} NAME", "TYPE", "SIZE")?;
    for entry in &listing.entries {
        let kind = if entry.directory { "dir" } else { "file" };
        writeln!(out, "{kind:<5} {:<11} {}", entry.size, entry.name)?;
    }
    if listing.not_shown > 0 {
        writeln!(out, "({} more entries not shown)", listing.not_shown)?;
    }
    Ok(())
}

/// `cat`: the bytes as text (invalid UTF-8 shown as U+FFFD, control
/// characters other than newline and tab left out), ending in a newline.
pub fn write_file(out: &mut dyn Write, bytes: &[u8]) -> fmt::Result {
    let text = String::from_utf8_lossy(bytes);
    for ch in text.chars() {
        if ch == '\n' || ch == '\t' || !ch.is_control() {
            out.write_char(ch)?;
        }
    }
    if text.is_empty() || text.ends_with('\n') {
        Ok(())
    } else {
        out.write_char('\n')
    }
}

/// `write`: how many bytes the file holds now.
pub fn write_written(out: &mut dyn Write, path: &str, bytes: u64) -> fmt::Result {
    writeln!(out, "wrote {bytes} bytes to {path}")
}

/// `send`: the service's answer as it gave it (control characters other
/// than newline and tab dropped), ending in a newline.
pub fn write_send(out: &mut dyn Write, task: &TaskRef, answer: &str) -> fmt::Result {
    if answer.is_empty() {
        return writeln!(out, "(empty answer from {task})");
    }
    for ch in answer.chars() {
        if ch == '\n' || ch == '\t' || !ch.is_control() {
            out.write_char(ch)?;
        }
    }
    if answer.ends_with('\n') {
        Ok(())
    } else {
        out.write_char('\n')
    }
}

/// `append`: how many bytes were added, and how many the file holds now.
pub fn write_appended(out: &mut dyn Write, path: &str, added: u64, len: u64) -> fmt::Result {
    writeln!(out, "appended {added} bytes to {path} ({len} bytes now)")
}

/// What `stat` shows of a file or directory.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct FileStat<'a> {
    pub path: &'a str,
    pub directory: bool,
    /// File: bytes; directory: entries.
    pub size: u64,
    /// Bytes the file can grow to without its address moving.
    pub capacity: u64,
    /// Changed since the last sync.
    pub dirty: bool,
    /// On the data disk as it is now (the fs has a disk; unchanged since
    /// the last sync).
    pub persisted: bool,
    /// A file's Region, as the shell's read-only open got it: its address
    /// and the rights the capability carries.
    pub region: Option<(usize, Rights)>,
}

/// `stat`: one `key: value` line each, in this order (`dirty`, `address`
/// and `rights` for files only):
///
/// ```text
/// path:     hello.txt
/// type:     file
/// size:     14
/// capacity: 8192
/// dirty:    no
/// address:  0x0000100000200000
/// rights:   r---g-
/// ```
pub fn write_stat(out: &mut dyn Write, stat: &FileStat<'_>) -> fmt::Result {
    writeln!(out, "path:     {}", stat.path)?;
    let kind = if stat.directory { "dir" } else { "file" };
    writeln!(out, "type:     {kind}")?;
    if stat.directory {
        return writeln!(out, "entries:  {}", stat.size);
    }
    writeln!(out, "size:     {}", stat.size)?;
    writeln!(out, "capacity: {}", stat.capacity)?;
    let dirty = if stat.dirty { "yes" } else { "no" };
    writeln!(out, "dirty:    {dirty}")?;
    let persisted = if stat.persisted {
        "yes (on disk, unchanged since the last sync)"
    } else {
        "no (changes since the last sync, or no disk)"
    };
    writeln!(out, "on disk:  {persisted}")?;
    if let Some((address, rights)) = stat.region {
        writeln!(out, "address:  {address:#018x}")?;
        writeln!(out, "rights:   {rights}")?;
    }
    Ok(())
}

/// `sync`: what the fs wrote, and the disk generation that holds it; or
/// that there is no disk to write to.
///
/// ```text
/// synced: 2 files, 5 KiB written, generation 4
/// ```
pub fn write_synced(out: &mut dyn Write, synced: &Synced) -> fmt::Result {
    match synced.generation {
        Some(generation) => writeln!(
            out,
            "synced: {} files, {} KiB written, generation {generation}",
            synced.files,
            synced.bytes.div_ceil(1024)
        ),
        None => writeln!(
            out,
            "synced: nothing written, the file system is in RAM only (no disk); {} files marked clean",
            synced.files
        ),
    }
}

/// `df`: the data disk's size, used and free space in KiB, and its
/// generation; or that the fs is in RAM only.
///
/// ```text
/// DISK    SIZE_KIB  USED_KIB  FREE_KIB  GENERATION
/// data    16384     1460      14924     3
/// 20 files, 1412 KiB
/// ```
pub fn write_space(out: &mut dyn Write, space: &Space) -> fmt::Result {
    let Some(disk) = space.disk else {
        return writeln!(
            out,
            "no disk: the file system is in RAM only ({} files, {} KiB)",
            space.files,
            space.file_bytes.div_ceil(1024)
        );
    };
    let kib = |blocks: u64| blocks.saturating_mul(u64::from(disk.block_size)) / 1024;
    write_header(out, DF_COLUMNS)?;
    let mode = if disk.read_only { " (read-only)" } else { "" };
    let generation = format!("{}{mode}", disk.generation);
    write_row(
        out,
        DF_COLUMNS,
        &[
            &"data",
            &kib(disk.blocks),
            &kib(disk.used),
            &kib(disk.blocks.saturating_sub(disk.used)),
            &generation,
        ],
    )?;
    writeln!(
        out,
        "{} files, {} KiB",
        space.files,
        space.file_bytes.div_ceil(1024)
    )
}

/// `hexdump`: 16 bytes a line, as offset, hex in two groups of eight, and
/// the printable ASCII (`.` for the rest); then, if the file is longer
/// than what was shown, how many bytes were left out.
///
/// ```text
/// 00000000  48 65 6c 6c 6f 2c 20 4d  65 61 6c 79 21 0a        |Hello, Mealy!.|
/// ```
pub fn write_hexdump(out: &mut dyn Write, shown: &[u8], size: usize) -> fmt::Result {
    for (line, bytes) in shown.chunks(16).enumerate() {
        write!(out, "{:08x} ", line * 16)?;
        for index in 0..16 {
            if index == 8 {
                out.write_char(' ')?;
            }
            match bytes.get(index) {
                Some(byte) => write!(out, " {byte:02x}")?,
                None => out.write_str("   ")?,
            }
        }
        out.write_str("  |")?;
        for &byte in bytes {
            let printable = byte.is_ascii_graphic() || byte == b' ';
            out.write_char(if printable { char::from(byte) } else { '.' })?;
        }
        out.write_str("|\n")?;
    }
    writeln!(out, "{:08x}", shown.len())?;
    if size > shown.len() {
        writeln!(out, "({} more bytes not shown)", size - shown.len())?;
    }
    Ok(())
}

/// `revoke`: how many capabilities went.
pub fn write_revoked(
    out: &mut dyn Write,
    task: &TaskRef,
    slot: SlotRef,
    count: usize,
) -> fmt::Result {
    writeln!(
        out,
        "revoked {count} capabilities derived from {task} slot {slot}"
    )
}

/// `run`: the program started, and its task id if known. Every program
/// runs in ring 3 (`Context::spawn`).
pub fn write_started(out: &mut dyn Write, name: &str, started: Started) -> fmt::Result {
    match started.id {
        Some(id) => writeln!(out, "started {name} as task {id} (ring 3)"),
        None => writeln!(out, "started {name} (ring 3)"),
    }
}

/// `kill`.
pub fn write_killed(out: &mut dyn Write, task: &TaskRef) -> fmt::Result {
    writeln!(out, "killed {task}")
}

/// `restart`: which task started afresh.
pub fn write_restarted(out: &mut dyn Write, task: &TaskRef) -> fmt::Result {
    writeln!(out, "restarted {task}")
}

pub fn write_fault_sent(
    out: &mut dyn Write,
    task: &TaskRef,
    kind: mealy_protocol::supervision::FaultKind,
) -> fmt::Result {
    writeln!(out, "{task}: fault {} sent", kind.name())
}

/// An error as the shell prints it: `error: ` and the reason on one line
/// (line breaks and other control characters become spaces).
pub fn write_error(out: &mut dyn Write, reason: &dyn fmt::Display) -> fmt::Result {
    let reason = format!("{reason}");
    out.write_str("error: ")?;
    for ch in reason.trim().chars() {
        out.write_char(if ch.is_control() { ' ' } else { ch })?;
    }
    out.write_char('\n')
}

#[cfg(test)]
#[path = "output_tests.rs"]
mod tests;

//! Tests of the output formats' edge cases: overflowing columns, empty
//! tables, division by zero, hostile text. The formats themselves are
//! asserted line by line in the shell tests (`tests.rs`).

use super::*;
use crate::system::{RegionRow, TaskStatus};
use alloc::string::ToString;
use alloc::vec;
use alloc::vec::Vec;

fn render(write: impl FnOnce(&mut String) -> fmt::Result) -> String {
    let mut text = String::new();
    assert!(write(&mut text).is_ok());
    text
}

#[test]
fn an_overflowing_cell_still_leaves_a_space() {
    let row = TaskRow {
        id: 4_000_000_000,
        ring: 3,
        name: "a-very-long-task-name".to_string(),
        state: TaskStatus::Faulted,
        mailbox_depth: 1,
        mailbox_high_water: 2,
        handled: u64::MAX,
        time_ns: 5,
        restarts: 0,
        last_fault: None,
    };
    let text = render(|out| write_tasks(out, &[row]));
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines.get(1).copied(),
        Some(
            "4000000000 a-very-long-task-name faulted 1     2     18446744073709551615 5             3     0         -"
        )
    );
    let fields: Vec<&str> = lines
        .get(1)
        .map_or(vec![], |line| line.split_whitespace().collect());
    assert_eq!(fields.len(), PS_COLUMNS.len());
}

#[test]
fn headers_have_one_title_per_column_and_no_trailing_space() {
    let text = render(|out| {
        write_tasks(out, &[])?;
        write_caps(out, &[])?;
        write_memory(out, &MemReport::default())?;
        write_stats(out, &Stats::default())?;
        write_bench(out, &BenchReport::default())
    });
    for line in text.lines() {
        assert_eq!(line, line.trim_end());
    }
    let headers: Vec<usize> = [PS_COLUMNS, CAPS_COLUMNS, MEM_COLUMNS, REGION_COLUMNS]
        .iter()
        .map(|columns| columns.len())
        .collect();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines.first().map(|l| l.split_whitespace().count()),
        headers.first().copied()
    );
    assert_eq!(
        lines.get(1).map(|l| l.split_whitespace().count()),
        headers.get(1).copied()
    );
}

#[test]
fn empty_memory_report_still_has_both_headers() {
    let text = render(|out| write_memory(out, &MemReport::default()));
    assert_eq!(
        text,
        "RESOURCE  TOTAL         USED          FREE\n\
         frames    0             0             0\n\
         heap      0             0             0\n\
         REGION  BASE                LEN\n"
    );
}

#[test]
fn used_never_underflows() {
    let report = MemReport {
        frames_total: 1,
        frames_free: 5,
        heap_total_bytes: 1,
        heap_used_bytes: 9,
        regions: vec![RegionRow { base: 0, len: 0 }],
    };
    let text = render(|out| write_memory(out, &report));
    assert!(text.contains("frames    1             0             5\n"));
    assert!(text.contains("heap      1             9             0\n"));
    assert!(text.ends_with("0       0x0000000000000000  0x0\n"));
}

#[test]
fn bench_without_round_trips_shows_a_dash() {
    let text = render(|out| write_bench(out, &BenchReport::default()));
    assert_eq!(text.lines().nth(1), Some("0            0               -"));
}

#[test]
fn uptime_formats() {
    assert_eq!(
        render(|out| write_uptime(out, 0)),
        "up 00:00:00.000 (0 ns)\n"
    );
    assert_eq!(
        render(|out| write_uptime(out, 1_999_999_999)),
        "up 00:00:01.999 (1999999999 ns)\n"
    );
    assert_eq!(
        render(|out| write_uptime(out, 100 * 3600 * 1_000_000_000)),
        "up 100:00:00.000 (360000000000000 ns)\n"
    );
}

#[test]
fn send_answers_are_shown_without_control_characters() {
    let echo = TaskRef::Name("echo".to_string());
    assert_eq!(
        render(|out| write_send(out, &echo, "a\x1b[2Jb\r\nc\td")),
        "a[2Jb\nc\td\n"
    );
    assert_eq!(render(|out| write_send(out, &echo, "two\n")), "two\n");
    assert_eq!(
        render(|out| write_send(out, &echo, "")),
        "(empty answer from echo)\n"
    );
}

#[test]
fn errors_are_one_line() {
    assert_eq!(
        render(|out| write_error(out, &"kill: no such\ntask\x07 \n")),
        "error: kill: no such task \n"
    );
}

#[test]
fn help_describes_every_command_once() {
    let text = render(|out| write_help(out));
    assert_eq!(text.lines().count(), COMMANDS.len());
    for (line, spec) in text.lines().zip(COMMANDS) {
        assert!(line.starts_with(spec.usage), "{line}");
        assert!(line.ends_with(spec.summary), "{line}");
    }
}

#[test]
fn the_kernels_capabilities_are_listed_under_its_name() {
    let row = CapRow {
        task: mealy_caps::TaskId::KERNEL.0,
        slot: mealy_protocol::CapRef::from_raw(3),
        rights: mealy_protocol::Rights::READ,
        badge: None,
        object: mealy_caps::Object::Inspect,
    };
    let text = render(|out| write_caps(out, &[row]));
    assert!(
        text.lines().nth(1).unwrap().starts_with("kernel 3#0"),
        "{text}"
    );
}

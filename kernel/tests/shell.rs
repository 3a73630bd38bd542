//! The shell as a task, end to end on the host: typed lines reach
//! `mealy_shell::ShellTask` as `terminal::Input` messages, every command
//! acts through the task's own capabilities, and what it prints comes back
//! as `terminal::Output` messages to a recording terminal that stands in
//! for the console. Over the whole boot list (inspection, `send`,
//! `revoke`, `kill`, `shutdown`), and over an fs with an image built here
//! (the file commands and the Region capabilities behind them).

mod common;

use std::sync::Arc;

use mealy_caps::{CapRef, Rights, TaskId};
use mealy_protocol::terminal::{self, Input, Output};
use mealy_protocol::{Badge, Context, HandleError, Incoming, IpcError, Outgoing, StateMachine};
use mealy_shell::PROMPT;
use spin::Mutex;

use common::{fs_image, host_platform};
use mealy_kernel::sched::{
    HostPlatform, KERNEL_TASK, PendingInterrupts, SchedConfig, Scheduler, TaskSpec, grant,
};
use mealy_kernel::tasks::{self, shell_caps};
use mealy_protocol::supervision::SUPERVISOR_NAME;

const SCREEN: &str = "screen";

/// The recording terminal: keeps every `Output` the shell sends it.
struct Screen {
    shown: Arc<Mutex<String>>,
}

impl StateMachine for Screen {
    fn name(&self) -> &'static str {
        SCREEN
    }

    fn handle(&mut self, cx: &mut dyn Context, msg: Incoming<'_>) -> Result<(), HandleError> {
        terminal::serve(self, cx, &msg)
    }
}

impl Outgoing for Screen {
    fn outbox(&mut self) -> &mut [u8] {
        &mut []
    }
}

impl terminal::Display for Screen {
    fn show(
        &mut self,
        _: &mut dyn Context,
        message: Output<'_>,
        _: Option<Badge>,
    ) -> Result<(), HandleError> {
        self.shown.lock().push_str(message.text);
        Ok(())
    }
}

/// Holds every request and never answers.
struct Mute;

impl StateMachine for Mute {
    fn name(&self) -> &'static str {
        "mute"
    }

    fn handle(&mut self, _cx: &mut dyn Context, _msg: Incoming<'_>) -> Result<(), HandleError> {
        Ok(())
    }
}

fn make_unused() -> Box<dyn StateMachine> {
    unreachable!("built by the test")
}

fn make_fs() -> Box<dyn StateMachine> {
    Box::new(mealy_fs::Fs::new())
}

fn make_mute() -> Box<dyn StateMachine> {
    Box::new(Mute)
}

/// A shell task and a terminal to type at it.
struct Terminal {
    sched: Scheduler<HostPlatform>,
    shown: Arc<Mutex<String>>,
    screen: TaskId,
    shell: TaskId,
}

impl Terminal {
    /// Starts `tasks`, the screen, and a shell with the capabilities the
    /// boot list would give it over `tasks`, but the screen as its
    /// terminal.
    fn boot(tasks: &[TaskSpec], platform: HostPlatform) -> Self {
        let mut list = tasks.to_vec();
        let mut screen_caps = Vec::from([grant("shell")
            .endpoint_to(mealy_shell::NAME)
            .rights(Rights::WRITE)]);
        if tasks.iter().any(|task| task.name == "fs") {
            screen_caps.push(grant("fs").endpoint_to("fs").rights(Rights::WRITE));
        }
        list.push(TaskSpec::new(SCREEN, make_unused).caps(Vec::leak(screen_caps)));
        let mut caps = shell_caps(tasks);
        caps.push(
            grant(mealy_shell::TERMINAL)
                .endpoint_to(SCREEN)
                .rights(Rights::WRITE),
        );
        caps.push(grant(mealy_shell::TIMER).timer());
        list.push(TaskSpec::new(mealy_shell::NAME, make_unused).caps(Vec::leak(caps)));

        let pending = Box::leak(Box::new(PendingInterrupts::new()));
        let mut sched = Scheduler::new(platform, pending, SchedConfig::default()).unwrap();
        let shown = Arc::new(Mutex::new(String::new()));
        let screen_shown = shown.clone();
        sched
            .spawn_all_with(&list, |spec| match spec.name {
                SCREEN => Box::new(Screen {
                    shown: screen_shown.clone(),
                }),
                mealy_shell::NAME => Box::new(mealy_shell::ShellTask::new()),
                _ => (spec.factory)(),
            })
            .unwrap();
        sched.run_until_idle(100_000);
        let screen = sched.task_by_name(SCREEN).unwrap();
        let shell = sched.task_by_name(mealy_shell::NAME).unwrap();
        let terminal = Self {
            sched,
            shown,
            screen,
            shell,
        };
        let greeting = terminal.take_shown();
        assert!(greeting.ends_with(PROMPT), "{greeting:?}");
        terminal
    }

    /// The whole boot list (without its own shell), on an idle host.
    /// The boot list without its supervisor, so a `kill` stays a kill.
    fn boot_list() -> Self {
        let list: Vec<TaskSpec> = tasks::boot_list()
            .into_iter()
            .filter(|task| task.name != mealy_shell::NAME && task.name != SUPERVISOR_NAME)
            .collect();
        Self::boot(&list, host_platform())
    }

    /// The whole boot list, supervisor included.
    fn supervised() -> Self {
        let list: Vec<TaskSpec> = tasks::boot_list()
            .into_iter()
            .filter(|task| task.name != mealy_shell::NAME)
            .collect();
        Self::boot(&list, host_platform())
    }

    /// Just an fs with `module` as its image (none: no module).
    fn fs(module: Option<&[u8]>) -> Self {
        let mut platform = HostPlatform::manual();
        if let Some(bytes) = module {
            platform.add_boot_module("fs", bytes);
        }
        static FS: TaskSpec =
            TaskSpec::new("fs", make_fs).caps(&[grant(mealy_fs::IMAGE_GRANT).boot_module("fs")]);
        Self::boot(&[FS], platform)
    }

    fn take_shown(&self) -> String {
        core::mem::take(&mut *self.shown.lock())
    }

    /// Sends `bytes` to the shell as the console would, and runs every
    /// task until nothing is left to do; returns what the shell showed.
    fn type_bytes(&mut self, bytes: &[u8]) -> String {
        let to_shell = self.grant(self.screen, "shell");
        let mut buffer = [0u8; 256];
        self.sched
            .act_as(self.screen, |cx| {
                mealy_protocol::send(cx, to_shell, &mut buffer, &Input { bytes }, &[])
            })
            .unwrap()
            .unwrap();
        self.sched.run_until_idle(100_000);
        self.take_shown()
    }

    /// Types `line` and Enter; checks the echo and the prompt after it and
    /// returns what came between.
    #[track_caller]
    fn run(&mut self, line: &str) -> String {
        let shown = self.type_bytes(format!("{line}\r").as_bytes());
        let echo = format!("{line}\n");
        let Some(rest) = shown.strip_prefix(&echo) else {
            panic!("{shown:?} does not start with the echo {echo:?}");
        };
        let Some(answer) = rest.strip_suffix(PROMPT) else {
            panic!("{rest:?} does not end with the prompt");
        };
        answer.to_string()
    }

    fn grant(&self, task: TaskId, name: &str) -> CapRef {
        self.sched
            .grants(task)
            .iter()
            .find(|grant| grant.name == name)
            .unwrap_or_else(|| panic!("no grant {name}"))
            .cap
    }

    /// The kernel slot holding the original the shell's grant `name` was
    /// minted from.
    fn original_of(&self, name: &str) -> u32 {
        let cap = self.grant(self.shell, name);
        let snapshot = self.sched.caps().snapshot();
        let kernel = snapshot.cspace_of(KERNEL_TASK).unwrap();
        let original = snapshot
            .caps_in(kernel)
            .find(|original| {
                snapshot
                    .children_of(original.at)
                    .any(|child| child.cap == cap)
            })
            .unwrap();
        (original.at.cap.to_raw() & u64::from(u32::MAX)) as u32
    }

    /// How many capabilities the shell's task holds.
    fn shell_holds(&self) -> usize {
        let snapshot = self.sched.caps().snapshot();
        let space = snapshot.cspace_of(self.shell).unwrap();
        snapshot.caps_in(space).count()
    }
}

#[test]
fn the_shells_name_for_the_kernel_is_the_schedulers() {
    assert_eq!(mealy_shell::KERNEL, mealy_kernel::sched::KERNEL_NAME);
}

#[test]
fn ps_reads_the_task_table_through_the_inspect_capability() {
    let mut terminal = Terminal::boot_list();
    let out = terminal.run("ps");
    for name in ["echo", "pinger", "console", mealy_shell::NAME] {
        assert!(out.contains(name), "{out}");
    }
    // Every boot task runs in ring 0, has not been restarted, and has not
    // faulted: the last three columns.
    let mut lines = out.lines();
    assert!(
        lines
            .next()
            .is_some_and(|header| header.ends_with(" RING  RESTARTS  LAST_FAULT"))
    );
    for row in lines {
        let last: Vec<&str> = row.split_whitespace().rev().take(3).collect();
        assert_eq!(last, ["-", "0", "0"], "{row}");
    }
    // Take the Inspect capability away: ps fails with the cap error.
    let slot = terminal.original_of(mealy_shell::INSPECT);
    let out = terminal.run(&format!("revoke kernel {slot}"));
    assert!(out.contains("revoked 1"), "{out}");
    let out = terminal.run("ps");
    assert_eq!(out, "error: ps: invalid or stale capability\n");
    let out = terminal.run("graph");
    assert!(out.starts_with("error: graph:"), "{out}");
}

#[test]
fn kill_goes_through_a_task_capability_and_its_peers_get_errors() {
    let mut terminal = Terminal::boot_list();
    let out = terminal.run("kill echo");
    assert_eq!(out, "killed echo\n");
    assert_eq!(terminal.sched.task_by_name("echo"), None);
    let out = terminal.run("kill echo");
    assert_eq!(out, "error: kill: it is not running\n");
    // A peer's next call fails, and so does the shell's.
    let pinger = terminal.sched.task_by_name("pinger").unwrap();
    let endpoint = terminal.sched.grants(pinger)[0].cap;
    let sent = terminal
        .sched
        .act_as(pinger, |cx| cx.call(endpoint, b"x", &[]))
        .unwrap();
    assert_eq!(sent, Err(IpcError::DeadTask));
    let out = terminal.run("send echo hi");
    assert_eq!(out, "error: send: echo: receiver is not running\n");
    // Without its Task capability the shell cannot kill.
    let slot = terminal.original_of(&mealy_shell::task_grant("pinger"));
    terminal.run(&format!("revoke kernel {slot}"));
    let out = terminal.run("kill pinger");
    assert_eq!(out, "error: kill: invalid or stale capability\n");
    assert!(terminal.sched.task_by_name("pinger").is_some());
}

#[test]
fn kill_of_a_supervised_task_brings_it_back_and_kill_of_a_never_task_leaves_it_down() {
    let mut terminal = Terminal::supervised();
    let echo = terminal.sched.task_by_name("echo").unwrap();
    assert_eq!(terminal.run("kill echo"), "killed echo\n");
    // The supervisor's policy for echo (always) restarted it in place.
    assert_eq!(terminal.sched.task_by_name("echo"), Some(echo));
    assert_eq!(terminal.sched.task_info(echo).unwrap().restarts, 1);
    assert!(
        terminal
            .sched
            .platform()
            .logged("echo: restarted after stopped (1 in 10 s)")
    );
    // pinger's policy is never: it stays down, and the supervisor says so.
    assert_eq!(terminal.run("kill pinger"), "killed pinger\n");
    assert_eq!(terminal.sched.task_by_name("pinger"), None);
    assert!(
        terminal
            .sched
            .platform()
            .logged("pinger: ended (stopped); policy never: it stays down")
    );
}

#[test]
fn restart_brings_a_killed_task_back_behind_the_same_endpoint() {
    let mut terminal = Terminal::boot_list();
    assert_eq!(terminal.run("kill echo"), "killed echo\n");
    let pinger = terminal.sched.task_by_name("pinger").unwrap();
    let endpoint = terminal.sched.grants(pinger)[0].cap;
    let send = |terminal: &mut Terminal| {
        terminal
            .sched
            .act_as(pinger, |cx| cx.send(endpoint, b"x", &[]))
            .unwrap()
    };
    assert_eq!(send(&mut terminal), Err(IpcError::DeadTask));
    assert_eq!(terminal.run("restart echo"), "restarted echo\n");
    // The pinger's old capability reaches the new instance.
    assert_eq!(send(&mut terminal), Ok(()));
    let echo = terminal.sched.task_by_name("echo").unwrap();
    assert_eq!(terminal.sched.task_info(echo).unwrap().restarts, 1);
    let out = terminal.run("ps");
    let row = out
        .lines()
        .find(|line| line.split_whitespace().nth(1) == Some("echo"))
        .unwrap();
    let last: Vec<&str> = row.split_whitespace().rev().take(2).collect();
    assert_eq!(last, ["-", "1"], "{row}");
    let out = terminal.run("restart kernel");
    assert_eq!(out, "error: restart: the kernel cannot be restarted\n");
}

#[test]
fn send_delivers_a_text_command_and_shows_the_answer_when_it_comes() {
    let mut terminal = Terminal::boot_list();
    let out = terminal.run("send console stats");
    assert!(
        out.contains("undelivered 0, refused 0, displays 1"),
        "{out}"
    );
    let out = terminal.run("send console bogus");
    assert!(out.contains("console: unknown command \"bogus\""), "{out}");
    let out = terminal.run("send echo hi");
    assert_eq!(
        out,
        "error: send: echo: the callee rejected a malformed request\n"
    );
    // Lines typed before an answer comes run after it, in order.
    let shown = terminal.type_bytes(b"send console help\ruptime\r");
    let help = shown.find("console commands: ").unwrap();
    let uptime = shown.find("uptime\nup ").unwrap();
    assert!(help < uptime, "{shown}");
    assert_eq!(shown.matches(PROMPT).count(), 2, "{shown}");
}

#[test]
fn a_task_that_never_answers_times_out_with_one_error_line() {
    static MUTE: TaskSpec = TaskSpec::new("mute", make_mute);
    let mut terminal = Terminal::boot(&[MUTE], HostPlatform::manual());
    let shown = terminal.type_bytes(b"send mute hello\rps\r");
    assert_eq!(shown, "send mute hello\n", "waiting: no prompt yet");
    // The host platform's idle jumps the clock to the shell's deadline.
    terminal.sched.idle();
    terminal.sched.run_until_idle(1_000);
    let shown = terminal.take_shown();
    let expected = format!("error: send: mute did not answer within 5 s\n{PROMPT}ps\n");
    assert!(shown.starts_with(&expected), "{shown}");
    assert!(shown.contains("mute"), "the held `ps` ran: {shown}");
    assert!(shown.ends_with(PROMPT), "{shown}");
}

#[test]
fn shutdown_stops_the_kernel_through_its_task_capability() {
    let mut terminal = Terminal::boot_list();
    assert!(!terminal.sched.power_off_requested());
    let shown = terminal.type_bytes(b"shutdown\r");
    assert_eq!(shown, "shutdown\nshutting down\n");
    assert!(terminal.sched.power_off_requested());
}

#[test]
fn the_shell_cannot_kill_itself_or_the_kernel() {
    let mut terminal = Terminal::boot_list();
    let out = terminal.run(&format!("kill {}", mealy_shell::NAME));
    assert_eq!(out, "error: kill: the shell cannot kill itself\n");
    let out = terminal.run("kill kernel");
    assert_eq!(
        out,
        "error: kill: the kernel cannot be killed; use shutdown\n"
    );
    assert!(!terminal.sched.power_off_requested());
}

#[test]
fn output_the_terminal_cannot_take_goes_to_the_log() {
    let mut terminal = Terminal::boot_list();
    let slot = terminal.original_of(mealy_shell::TERMINAL);
    // The answer to this line already has nowhere to go.
    assert_eq!(
        terminal.type_bytes(format!("revoke kernel {slot}\r").as_bytes()),
        ""
    );
    assert_eq!(terminal.type_bytes(b"uptime\r"), "");
    let log = &terminal.sched.platform().log_lines;
    assert!(
        log.iter().any(
            |line| line.contains("terminal: invalid or stale capability") && line.contains("up ")
        ),
        "{log:?}"
    );
}

#[test]
fn run_opens_the_file_through_the_fs_and_keeps_no_region() {
    let mut terminal = Terminal::fs(Some(&fs_image()));
    let held = terminal.shell_holds();
    assert_eq!(
        terminal.run("run /bin/nope"),
        "error: run: no such file or directory\n"
    );
    assert_eq!(
        terminal.run("run hello.txt bogus"),
        "error: run: cannot grant bogus: there is no task `bogus`\n"
    );
    // Text is no program (or this kernel starts none yet): one error
    // line, and the file's Region is gone again.
    let out = terminal.run("run hello.txt");
    assert!(
        out.starts_with("error: run: ") && out.lines().count() == 1,
        "{out}"
    );
    assert_eq!(terminal.shell_holds(), held);
}

#[test]
fn ls_cat_write_and_append_go_through_the_fs_and_its_regions() {
    let mut terminal = Terminal::fs(Some(&fs_image()));
    let held = terminal.shell_holds();
    assert_eq!(
        terminal.run("ls"),
        "TYPE  SIZE        NAME\ndir   1           etc\nfile  14          hello.txt\n"
    );
    assert_eq!(
        terminal.run("ls /etc"),
        "TYPE  SIZE        NAME\nfile  8           motd\n"
    );
    assert_eq!(terminal.run("cat hello.txt"), "Hello, Mealy!\n");
    assert_eq!(
        terminal.run("write hello.txt new text"),
        "wrote 8 bytes to hello.txt\n"
    );
    assert_eq!(terminal.run("cat hello.txt"), "new text\n");
    assert_eq!(
        terminal.run("append hello.txt , more"),
        "appended 6 bytes to hello.txt (14 bytes now)\n"
    );
    assert_eq!(terminal.run("cat hello.txt"), "new text, more\n");
    assert_eq!(
        terminal.run("cat nope"),
        "error: cat: no such file or directory\n"
    );
    assert_eq!(terminal.run("cat etc"), "error: cat: is a directory\n");
    assert_eq!(terminal.run("ls hello.txt"), "error: ls: not a directory\n");
    assert_eq!(
        terminal.run("cat hello.txt/x"),
        "error: cat: not a directory\n"
    );
    // The shell gave back every file Region it was handed.
    assert_eq!(terminal.shell_holds(), held);
}

#[test]
fn stat_shows_the_region_and_a_read_only_open_has_no_write() {
    let mut terminal = Terminal::fs(Some(&fs_image()));
    let out = terminal.run("stat hello.txt");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines[..6],
        [
            "path:     hello.txt",
            "type:     file",
            "size:     14",
            "capacity: 8192",
            "dirty:    no",
            "on disk:  no (changes since the last sync, or no disk)"
        ]
    );
    // Zero copy: the address is a page of the image's own Region.
    let address = lines[6].strip_prefix("address:  0x").unwrap();
    let address = usize::from_str_radix(address, 16).unwrap();
    let fs = terminal.sched.task_by_name("fs").unwrap();
    let image_cap = terminal.sched.grants(fs)[0].cap;
    let image_at = terminal
        .sched
        .act_as(fs, |cx| {
            cx.region(image_cap).map(|bytes| bytes.as_ptr() as usize)
        })
        .unwrap()
        .unwrap();
    let offset = address.checked_sub(image_at).unwrap();
    assert!(
        offset < fs_image().len() && offset.is_multiple_of(4096),
        "{out}"
    );
    assert_eq!(lines[7], "rights:   r---g-");
    assert_eq!(
        terminal.run("stat etc"),
        "path:     etc\ntype:     dir\nentries:  1\n"
    );
    assert_eq!(
        terminal.run("hexdump etc/motd"),
        "00000000  77 65 6c 63 6f 6d 65 0a                           |welcome.|\n00000008\n"
    );
}

#[test]
fn write_creates_mkdir_mv_and_rm_change_the_tree_and_growth_past_the_room_moves() {
    let mut terminal = Terminal::fs(Some(&fs_image()));
    let held = terminal.shell_holds();
    assert_eq!(terminal.run("mkdir notes"), "made directory notes\n");
    assert_eq!(
        terminal.run("write notes/a.txt first"),
        "wrote 5 bytes to notes/a.txt\n"
    );
    assert_eq!(
        terminal.run("mv notes/a.txt notes/b.txt"),
        "moved notes/a.txt to notes/b.txt\n"
    );
    assert_eq!(terminal.run("cat notes/b.txt"), "first\n");
    assert_eq!(
        terminal.run("cat notes/a.txt"),
        "error: cat: no such file or directory\n"
    );
    assert_eq!(terminal.run("rm notes"), "error: rm: directory not empty\n");
    assert_eq!(terminal.run("rm notes/b.txt"), "removed notes/b.txt\n");
    assert_eq!(terminal.run("rm notes"), "removed notes\n");
    assert_eq!(
        terminal.run("ls"),
        "TYPE  SIZE        NAME\ndir   1           etc\nfile  14          hello.txt\n"
    );
    // hello.txt has 8192 bytes of room: appends past it get more (Reserve).
    let piece = "z".repeat(200);
    for _ in 0..45 {
        terminal.run(&format!("append hello.txt {piece}"));
    }
    let out = terminal.run("stat hello.txt");
    assert!(
        out.contains(&format!("size:     {}\n", 14 + 45 * 200)),
        "{out}"
    );
    let cat = terminal.run("cat hello.txt");
    assert_eq!(cat, format!("Hello, Mealy!\n{}\n", piece.repeat(45)));
    assert_eq!(terminal.shell_holds(), held);
}

#[test]
fn a_read_only_region_refuses_writes_and_revoking_the_image_reaches_it() {
    let mut terminal = Terminal::fs(Some(&fs_image()));
    let screen = terminal.screen;
    let to_fs = terminal.grant(screen, "fs");
    let mut buffer = [0u8; 64];
    let open = mealy_protocol::fs::Open {
        path: "hello.txt",
        write: false,
    };
    // The screen opens the file for itself and keeps the Region.
    terminal
        .sched
        .act_as(screen, |cx| {
            mealy_protocol::call(cx, to_fs, &mut buffer, &open, &[])
        })
        .unwrap()
        .unwrap();
    terminal.sched.run_until_idle(1_000);
    let region = {
        let snapshot = terminal.sched.caps().snapshot();
        let space = snapshot.cspace_of(screen).unwrap();
        let held: Vec<_> = snapshot
            .caps_in(space)
            .map(|cap| (cap.at.cap, cap.cap.rights))
            .collect();
        let (region, rights) = *held.last().unwrap();
        assert!(!rights.contains(Rights::WRITE), "{rights}");
        region
    };
    let refused = terminal
        .sched
        .act_as(screen, |cx| cx.region_mut(region).map(|_| ()))
        .unwrap();
    assert!(
        matches!(refused, Err(IpcError::MissingRights { .. })),
        "{refused:?}"
    );
    let text = terminal
        .sched
        .act_as(screen, |cx| cx.region(region).map(|b| b[..14].to_vec()))
        .unwrap();
    assert_eq!(text.unwrap(), b"Hello, Mealy!\n");
    // Revoking the fs's image capability takes the open file away too.
    let fs = terminal.sched.task_by_name("fs").unwrap();
    let image = terminal.sched.grants(fs)[0].cap;
    assert!(terminal.sched.revoke(fs, image).unwrap() >= 1);
    let gone = terminal
        .sched
        .act_as(screen, |cx| cx.region(region).map(|_| ()))
        .unwrap();
    assert_eq!(gone, Err(IpcError::InvalidCap));
}

#[test]
fn on_a_read_only_image_every_write_is_refused_and_reading_works() {
    let mut platform = HostPlatform::manual();
    platform.add_boot_module("fs", &fs_image());
    static FS: TaskSpec = TaskSpec::new("fs", make_fs).caps(tasks::FS_READ_ONLY_IMAGE);
    let mut terminal = Terminal::boot(&[FS], platform);
    assert!(terminal.sched.platform().logged("read-only"));
    assert_eq!(
        terminal.run("write hello.txt x"),
        "error: write: read-only file system
"
    );
    assert_eq!(
        terminal.run("append hello.txt x"),
        "error: append: read-only file system
"
    );
    assert_eq!(
        terminal.run("cat hello.txt"),
        "Hello, Mealy!
"
    );
    assert!(terminal.run("stat hello.txt").contains(
        "rights:   r---g-
"
    ));
}

#[test]
fn a_corrupt_image_is_one_error_line_and_every_command_fails() {
    let mut bytes = fs_image();
    bytes[0] = b'X';
    let mut terminal = Terminal::fs(Some(&bytes));
    let log = &terminal.sched.platform().log_lines;
    assert!(
        log.iter().any(|line| line
            == "fs: error: corrupt file-system image: not a Mealy fs image (bad magic); every request will fail"),
        "{log:?}"
    );
    let unmounted = "no file system mounted (see the boot log)";
    for (line, command) in [
        ("ls", "ls"),
        ("cat hello.txt", "cat"),
        ("write hello.txt x", "write"),
        ("stat hello.txt", "stat"),
    ] {
        assert_eq!(
            terminal.run(line),
            format!("error: {command}: {unmounted}\n")
        );
    }
    // The fs keeps running and answering.
    let fs = terminal.sched.task_by_name("fs").unwrap();
    assert_eq!(
        terminal.sched.task_info(fs).unwrap().state,
        mealy_kernel::sched::TaskState::Idle
    );
}

#[test]
fn without_a_module_the_fs_says_so_and_answers_with_errors() {
    let mut terminal = Terminal::fs(None);
    assert!(
        terminal
            .sched
            .platform()
            .logged("fs: error: no file-system image")
    );
    assert_eq!(
        terminal.run("cat hello.txt"),
        "error: cat: no file system mounted (see the boot log)\n"
    );
}

#[test]
fn a_malformed_request_gets_an_error_reply_and_writes_leave_the_image_as_booted() {
    let mut terminal = Terminal::fs(Some(&fs_image()));
    let screen = terminal.screen;
    let to_fs = terminal.grant(screen, "fs");
    terminal
        .sched
        .act_as(screen, |cx| cx.call(to_fs, &[0xff, 0xff], &[]))
        .unwrap()
        .unwrap();
    terminal.sched.run_until_idle(100);
    let fs = terminal.sched.task_by_name("fs").unwrap();
    assert_eq!(terminal.sched.task_info(fs).unwrap().counters.malformed, 1);
    assert_eq!(
        terminal.run("write hello.txt resealed"),
        "wrote 8 bytes to hello.txt\n"
    );
    // The written file lives in the fs's private copy: the image in memory
    // stays the valid image it booted as (write-back waits for a disk).
    let image = terminal.sched.grants(fs)[0].cap;
    let valid = terminal
        .sched
        .act_as(fs, |cx| {
            let bytes = cx.region(image).unwrap();
            let view = mealy_fs::format::Image::parse(bytes)
                .map(|v| v.lookup("hello.txt").map(|i| i.size));
            view.map_err(|e| e.to_string())
        })
        .unwrap();
    assert_eq!(valid, Ok(Ok(14)));
    assert_eq!(terminal.run("cat hello.txt"), "resealed\n");
}

#[test]
fn subregion_checks_pages_and_bounds_and_the_platform_counts_the_sharing() {
    let bytes = fs_image();
    let mut terminal = Terminal::fs(Some(&bytes));
    let sched = &mut terminal.sched;
    let fs = sched.task_by_name("fs").unwrap();
    let image_cap = sched.grants(fs)[0].cap;
    let base = 0x1000_0000;
    // The module's region: the fs's image object.
    assert_eq!(sched.platform().region_objects(base), Some(1));
    let out_of_range = IpcError::out_of_range;
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
        matches!(escalated, Err(IpcError::RightsEscalation { .. })),
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
    // Revoking gives a derived Region's share back too, not only dropping.
    for offset in [0, 4096] {
        sched
            .act_as(fs, |cx| cx.subregion(image_cap, offset, 4096, Rights::READ))
            .unwrap()
            .unwrap();
    }
    assert_eq!(sched.platform().region_objects(base), Some(3));
    let revoked = sched.act_as(fs, |cx| cx.revoke(image_cap)).unwrap();
    assert!(revoked.unwrap() >= 2);
    assert_eq!(sched.platform().region_objects(base), Some(1));
}

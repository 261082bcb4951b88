//! The binary under faults: a Studio client that stops reading while its run floods the
//! output, a stdout nobody reads at shutdown, and an open-file limit that many connections
//! would exhaust.

use std::fs::File;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::fd::OwnedFd;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Stdio};
use std::time::Duration;

use super::support::*;

/// The flood of the stalled-client test, and the peak RSS arkor may reach meanwhile.
const FLOOD_MIB: usize = 300;
const PEAK_RSS_LIMIT_MIB: f64 = 120.0;

const DROPPED_SUFFIX: &str = " bytes of output dropped: the client fell behind";

/// An entry whose job prints `mib` MiB of 1 KiB lines when it starts (callbacks run in the
/// runner only; the inspector just imports the module).
fn flood_entry(mib: usize) -> String {
    format!(
        r#"import {{ createArkor, createTrainer }} from "arkor";

const block = ("x".repeat(1023) + "\n").repeat(64);

export const trainer = createTrainer({{
  name: "flood",
  model: "unsloth/gemma-4-E4B-it",
  dataset: {{ type: "huggingface", name: "arkorlab/triage-demo" }},
  callbacks: {{
    onStarted: () => {{
      for (let i = 0; i < {blocks}; i++) process.stdout.write(block);
    }},
  }},
}});

export const arkor = createArkor({{ trainer }});
"#,
        blocks = mib * 16
    )
}

/// Peak resident set (VmHWM) of `pid`, in MiB.
fn peak_rss_mib(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
    let kib: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .expect("VmHWM");
    kib / 1024.0
}

/// The port of the `{"type":"server"}` line.
fn server_port(h: &mut Headless) -> u16 {
    let server = h.next_of_type("server");
    server["url"]
        .as_str()
        .and_then(|u| u.strip_prefix("http://127.0.0.1:"))
        .and_then(|rest| rest.trim_end_matches('/').parse().ok())
        .unwrap_or_else(|| panic!("no port in {server}"))
}

fn read_token(h: &Headless) -> String {
    std::fs::read_to_string(h.token_file())
        .expect("token file")
        .trim()
        .to_owned()
}

/// A chunked HTTP/1.1 body, de-chunked (the response must be complete).
fn dechunk(mut raw: &[u8]) -> Vec<u8> {
    let mut body = Vec::new();
    loop {
        let line_end = raw
            .windows(2)
            .position(|w| w == b"\r\n")
            .expect("chunk size line");
        let size = usize::from_str_radix(
            std::str::from_utf8(&raw[..line_end])
                .expect("ascii size")
                .trim(),
            16,
        )
        .expect("hex size");
        raw = &raw[line_end + 2..];
        if size == 0 {
            return body;
        }
        body.extend_from_slice(&raw[..size]);
        raw = &raw[size + 2..];
    }
}

#[test]
fn a_studio_client_that_stops_reading_during_a_flood_keeps_arkor_small() {
    let p = TestProject::empty();
    p.write(ENTRY, &flood_entry(FLOOD_MIB));
    let mut env = sim_env(1_000);
    // A few steps after the flood, then the job completes and the runner exits 0.
    env.push(("ARKOR_SIM_MAX_STEPS", "3".into()));
    let mut h = Headless::start(&p, &[], &env);
    let port = server_port(&mut h);
    h.next_of_type("ready");
    let token = read_token(&h);

    let mut client = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    write!(
        client,
        "POST /api/train HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nX-Arkor-Studio-Token: {token}\r\nContent-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{{}}"
    )
    .expect("send the request");
    // Not one byte is read while the run prints: it still runs to its end (the engine's
    // events keep coming), and arkor stays small.
    let exited = h.run_state(None, "exited");
    assert_eq!(exited["origin"], "http", "{exited}");
    assert_eq!(
        exited["state"]["status"],
        serde_json::json!({"code": 0}),
        "{exited}"
    );
    let peak = peak_rss_mib(h.child.id());
    assert!(
        peak <= PEAK_RSS_LIMIT_MIB,
        "peak RSS {peak:.1} MiB during a {FLOOD_MIB} MiB flood (limit {PEAK_RSS_LIMIT_MIB} MiB)"
    );
    println!("peak RSS of arkor during the {FLOOD_MIB} MiB flood: {peak:.1} MiB");

    client.set_read_timeout(Some(WAIT)).expect("timeout");
    let mut raw = Vec::new();
    client.read_to_end(&mut raw).expect("read the rest");
    let head_end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("response head")
        + 4;
    let head = String::from_utf8_lossy(&raw[..head_end]).into_owned();
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    let body = dechunk(&raw[head_end..]);
    assert!(body.ends_with(b"\n---\nexit=0\n"), "the trailer arrives");

    // What was missed is said in the stream, as whole lines, and every byte the run
    // printed is either delivered or counted.
    let text = String::from_utf8_lossy(&body[..body.len() - b"\n---\nexit=0\n".len()]);
    let mut dropped = 0u64;
    let mut delivered = 0usize;
    for line in text.split_inclusive('\n') {
        match line
            .strip_prefix("arkor: ")
            .and_then(|l| l.strip_suffix('\n'))
            .and_then(|l| l.strip_suffix(DROPPED_SUFFIX))
        {
            Some(n) => dropped += n.parse::<u64>().expect("a byte count"),
            None => delivered += line.len(),
        }
    }
    assert!(dropped > 0, "the client fell behind, and was told");
    let printed = dropped as usize + delivered;
    assert!(
        (FLOOD_MIB << 20..(FLOOD_MIB << 20) + (64 << 10)).contains(&printed),
        "{printed} bytes printed"
    );
}

/// `arkor tui --headless --json --logs --run` whose stdout is a pipe nobody reads.
struct UnreadStdout {
    child: Child,
    home: tempfile::TempDir,
    _project: TestProject,
    /// The read end, held open and never read.
    _unread: File,
}

impl UnreadStdout {
    fn start(env: &[(&str, String)], extra: &[&str]) -> UnreadStdout {
        let project = TestProject::empty();
        // Output enough to fill the pipe as soon as the run starts.
        let mut source = entry_source("2e-4", "v1");
        source.push_str(
            "for (let i = 0; i < 5000; i++) console.log(`filler ${i} ${\"-\".repeat(80)}`);\n",
        );
        project.write(ENTRY, &source);
        let home = tempfile::tempdir().expect("temp home");
        let root = project.root().to_str().expect("utf-8 path");
        let mut args = vec!["--cwd", root, "--logs", "--run"];
        args.extend_from_slice(extra);
        let mut cmd = headless_command(home.path(), &args, env);
        // Close-on-exec, so that arkors other tests start meanwhile do not inherit it.
        let (read, write): (OwnedFd, OwnedFd) =
            nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).expect("pipe");
        cmd.stdout(Stdio::from(write)).stderr(Stdio::null());
        let child = cmd.spawn().expect("arkor starts");
        drop(cmd);
        let unread = File::from(read);
        let blocked = UnreadStdout {
            child,
            home,
            _project: project,
            _unread: unread,
        };
        wait_until(
            "arkor blocked writing to its full stdout pipe, and its token file written",
            || blocked.stdout_write_blocked() && blocked.token_file().exists(),
        );
        blocked
    }

    fn token_file(&self) -> PathBuf {
        self.home.path().join(".arkor").join("studio-token")
    }

    /// A thread of arkor is asleep in `write(1, …)`: its stdout pipe is full and arkor is
    /// blocked on it. The bytes queued in the pipe cannot tell: the kernel counts a pipe's
    /// capacity in pages, and a write that does not fit in the last page's free tail starts
    /// a new page, so a full pipe may hold several KiB less than its nominal size.
    fn stdout_write_blocked(&self) -> bool {
        let blocked_in_write = format!("{} 0x1 ", libc::SYS_write);
        std::fs::read_dir(format!("/proc/{}/task", self.child.id()))
            .into_iter()
            .flatten()
            .flatten()
            .any(|task| {
                // The number and arguments of the system call a task sleeps in, or "running".
                std::fs::read_to_string(task.path().join("syscall"))
                    .is_ok_and(|call| call.starts_with(&blocked_in_write))
            })
    }

    /// Pids of arkor's direct children (runs and the inspector).
    fn children(&self) -> Vec<u32> {
        let pid = self.child.id();
        let mut pids = Vec::new();
        for task in std::fs::read_dir(format!("/proc/{pid}/task"))
            .into_iter()
            .flatten()
            .flatten()
        {
            let children =
                std::fs::read_to_string(task.path().join("children")).unwrap_or_default();
            pids.extend(
                children
                    .split_whitespace()
                    .filter_map(|p| p.parse::<u32>().ok()),
            );
        }
        pids
    }

    fn signal(&self, sig: i32) {
        // SAFETY: plain syscall on the child this test spawned (not yet reaped).
        unsafe {
            libc::kill(self.child.id() as i32, sig);
        }
    }

    fn try_exit(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().expect("try_wait")
    }
}

impl Drop for UnreadStdout {
    fn drop(&mut self) {
        let leftovers = self.children();
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        for pid in leftovers {
            // SAFETY: plain syscall on a process group this test's arkor started.
            unsafe {
                libc::kill(-(pid as i32), libc::SIGKILL);
            }
        }
    }
}

#[test]
fn sigterm_with_a_stdout_nobody_reads_still_exits_and_removes_the_token_file() {
    let mut arkor = UnreadStdout::start(&sim_env(2), &[]);
    let children = arkor.children();
    assert!(!children.is_empty(), "a run and the inspector are up");
    arkor.signal(libc::SIGTERM);
    wait_until("arkor exits", || arkor.try_exit().is_some());
    let status = arkor.try_exit().expect("exited");
    assert_eq!(status.code(), Some(143));
    assert!(!arkor.token_file().exists(), "token file removed");
    for pid in children {
        assert!(!pid_alive(pid), "child {pid} left behind");
    }
}

#[test]
fn repeated_signals_with_a_stdout_nobody_reads_force_the_exit() {
    // No checkpoint ever comes and the stop timeout is far beyond the test: only the forced
    // stop of a second signal ends the run in time.
    let mut arkor = UnreadStdout::start(&sim_env(1_000_000), &["--stop-timeout", "600"]);
    let children = arkor.children();
    arkor.signal(libc::SIGTERM);
    // Signals sent back to back may merge into one; keep sending until arkor is gone.
    wait_until("arkor exits after repeated SIGTERMs", || {
        if arkor.try_exit().is_some() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(200));
        arkor.signal(libc::SIGTERM);
        false
    });
    let status = arkor.try_exit().expect("exited");
    assert_eq!(status.code(), Some(143));
    assert!(!arkor.token_file().exists(), "token file removed");
    for pid in children {
        assert!(!pid_alive(pid), "child {pid} left behind");
    }
}

/// Soft and hard open-file limits of `pid`, from /proc.
fn open_file_limits(pid: u32) -> (u64, u64) {
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).expect("limits");
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .expect("open files line");
    let mut numbers = line
        .split_whitespace()
        .filter_map(|w| w.parse::<u64>().ok());
    (numbers.next().expect("soft"), numbers.next().expect("hard"))
}

#[test]
fn connections_beyond_the_cap_never_starve_a_rebuild_of_descriptors() {
    const SOFT: u64 = 300;
    const HARD: u64 = 512;
    const CLIENTS: usize = 400;
    let p = TestProject::with_entry();
    let home = tempfile::tempdir().expect("temp home");
    let root = p.root().to_str().expect("utf-8 path");
    let mut cmd = headless_command(home.path(), &["--cwd", root], &[]);
    // SAFETY: only setrlimit between fork and exec, which is async-signal-safe.
    unsafe {
        cmd.pre_exec(|| {
            let limit = libc::rlimit {
                rlim_cur: SOFT,
                rlim_max: HARD,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut h = Headless::from_command(cmd, home);
    let port = server_port(&mut h);
    h.next_of_type("ready");
    assert_eq!(
        open_file_limits(h.child.id()),
        (HARD, HARD),
        "the soft limit is raised to the hard one"
    );

    // More clients than the descriptors left: the server takes only its share.
    let clients: Vec<TcpStream> = (0..CLIENTS)
        .map(|_| TcpStream::connect(("127.0.0.1", port)).expect("connect"))
        .collect();
    p.write_by_rename(ENTRY, &entry_source("3e-4", "v2"));
    let dev = h.next_json("the dev event of the save", is_dev_event);
    assert_eq!(dev["type"], "rebuild", "{dev}");

    // Once they leave, the server answers again.
    drop(clients);
    let token = read_token(&h);
    let mut client = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    write!(
        client,
        "GET /api/manifest HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Arkor-Studio-Token: {token}\r\nConnection: close\r\n\r\n"
    )
    .expect("send");
    client.set_read_timeout(Some(WAIT)).expect("timeout");
    let mut answer = String::new();
    client.read_to_string(&mut answer).expect("answer");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}

//! The real `arkor` binary in a real terminal: `arkor tui --cwd <demo copy> --run --port 0` in
//! a private tmux server, with the simulated SDK's runner as the training process. The test
//! edits the project's files like a user would, reads the screen with `capture-pane`, presses
//! keys, and checks after quitting that the terminal is restored and no process is left.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command as Process;
use std::time::{Duration, Instant};

use crate::shared::pid_alive;

/// Generous: the machine is shared, and a hang is the only thing these catch.
const TIMEOUT: Duration = Duration::from_secs(60);
const WIDTH: u16 = 120;
const HEIGHT: u16 = 35;
/// Simulated training: one step every 100 ms, a checkpoint every 20 steps, so an early stop
/// waits at most 2 s: long enough to be seen on screen, short enough for a quick test.
const STEP_MS: &str = "100";
const CHECKPOINT_EVERY: &str = "20";

/// `arkor tui` on a fresh copy of the demo project, inside its own tmux server.
struct Session {
    /// `tmux -S <socket>`: a server of our own, never the user's; its socket lives in `out`,
    /// so it goes with it.
    socket: PathBuf,
    project: tempfile::TempDir,
    home: tempfile::TempDir,
    /// Exit code and `stty -a` of the pane once arkor has returned.
    out: tempfile::TempDir,
    /// Every run pid seen on screen.
    pids: BTreeSet<u32>,
    /// The arkor process (the pane shell's child).
    arkor_pid: Option<u32>,
    started: Instant,
}

impl Session {
    /// A demo project (with the simulated SDK installed); `edit` may change its files before
    /// arkor starts.
    fn new(edit: impl FnOnce(&Path)) -> Self {
        let project = tempfile::tempdir().expect("project tempdir");
        arkor_tui::assets::write_demo_project(project.path()).expect("write the demo project");
        edit(project.path());
        let out = tempfile::tempdir().expect("output tempdir");
        Self {
            socket: out.path().join("tmux.sock"),
            project,
            home: tempfile::tempdir().expect("home tempdir"),
            out,
            pids: BTreeSet::new(),
            arkor_pid: None,
            started: Instant::now(),
        }
    }

    fn start(&mut self) {
        // The shell records what only exists after arkor returns (its exit code, the tty
        // modes), then stays so the pane (and tmux's view of its modes) survives.
        self.start_with(format!(
            "\"$0\" \"$@\"; echo $? > {out}/exit; stty -a > {out}/stty; exec sleep 600",
            out = self.out.path().display()
        ));
    }

    /// For a hang-up: the shell ignores it (arkor installs its own handler, so it still gets
    /// it) and outlives the terminal just long enough to record arkor's exit code.
    fn start_surviving_hangup(&mut self) {
        self.start_with(format!(
            "trap '' HUP; \"$0\" \"$@\"; echo $? > {out}/exit",
            out = self.out.path().display()
        ));
    }

    fn start_with(&mut self, script: String) {
        let status = self
            .tmux()
            .args(["new-session", "-d", "-x", &WIDTH.to_string()])
            .args(["-y", &HEIGHT.to_string()])
            .args(["-e", &format!("HOME={}", self.home.path().display())])
            .args(["-e", &format!("ARKOR_SIM_STEP_MS={STEP_MS}")])
            .args([
                "-e",
                &format!("ARKOR_SIM_CHECKPOINT_EVERY={CHECKPOINT_EVERY}"),
            ])
            .args(["-e", "ARKOR_SIM_START_MS=100"])
            .args([
                "--",
                "sh",
                "-c",
                &script,
                env!("CARGO_BIN_EXE_arkor"),
                "tui",
            ])
            .arg("--cwd")
            .arg(self.project.path())
            .args(["--run", "--port", "0"])
            .env("TERM", "xterm-256color")
            .status()
            .expect("tmux is installed (needed by the end-to-end tests)");
        assert!(status.success(), "tmux new-session failed");
        self.started = Instant::now();
    }

    fn tmux(&self) -> Process {
        let mut cmd = Process::new("tmux");
        cmd.arg("-S").arg(&self.socket).args(["-f", "/dev/null"]);
        cmd
    }

    fn tmux_output(&self, args: &[&str]) -> String {
        let out = self.tmux().args(args).output().expect("run tmux");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The visible screen; remembers the run pids it shows.
    fn screen(&mut self) -> String {
        let screen = self.tmux_output(&["capture-pane", "-p"]);
        for line in runs_table(&screen) {
            if let Some(pid) = row_pid(line) {
                self.pids.insert(pid);
            }
        }
        if self.arkor_pid.is_none() {
            self.arkor_pid = self.find_arkor_pid();
        }
        screen
    }

    fn flag(&self, name: &str) -> String {
        self.tmux_output(&["display-message", "-p", &format!("#{{{name}}}")])
            .trim()
            .to_string()
    }

    fn keys(&self, keys: &str) {
        let status = self
            .tmux()
            .args(["send-keys", keys])
            .status()
            .expect("send-keys");
        assert!(status.success(), "send-keys {keys}");
    }

    /// Polls the screen until `ok` holds for it; returns that screen.
    fn wait_for(&mut self, what: &str, mut ok: impl FnMut(&str) -> bool) -> String {
        let deadline = Instant::now() + TIMEOUT;
        loop {
            let screen = self.screen();
            if ok(&screen) {
                return screen;
            }
            assert!(
                Instant::now() < deadline,
                "timed out after {TIMEOUT:?} waiting for {what}; screen:\n{screen}"
            );
            std::thread::sleep(Duration::from_millis(25));
        }
    }

    fn wait_until(&mut self, what: &str, mut ok: impl FnMut(&mut Self) -> bool) {
        let deadline = Instant::now() + TIMEOUT;
        while !ok(self) {
            assert!(
                Instant::now() < deadline,
                "timed out after {TIMEOUT:?} waiting for {what}; screen:\n{}",
                self.screen()
            );
            std::thread::sleep(Duration::from_millis(25));
        }
    }

    fn path(&self, relative: &str) -> PathBuf {
        self.project.path().join(relative)
    }

    /// Rewrites a project file by replacing `from` (which must be there) with `to`.
    fn edit(&self, relative: &str, from: &str, to: &str) {
        let path = self.path(relative);
        let text = std::fs::read_to_string(&path).expect("read project file");
        assert!(text.contains(from), "{relative} contains {from:?}");
        std::fs::write(&path, text.replacen(from, to, 1)).expect("write project file");
    }

    fn exit_code(&self) -> Option<String> {
        std::fs::read_to_string(self.out.path().join("exit"))
            .ok()
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
    }

    /// The child of the pane's shell: arkor itself.
    fn find_arkor_pid(&self) -> Option<u32> {
        let shell: u32 = self.flag("pane_pid").parse().ok()?;
        let children =
            std::fs::read_to_string(format!("/proc/{shell}/task/{shell}/children")).ok()?;
        let pid: u32 = children.split_whitespace().next()?.parse().ok()?;
        let exe = std::fs::read_link(format!("/proc/{pid}/exe")).ok()?;
        (exe.file_name()? == "arkor").then_some(pid)
    }

    /// After arkor has returned: the terminal is back to normal and nothing it started lives.
    fn assert_clean_exit(&mut self) {
        self.wait_until("arkor to exit", |s| s.exit_code().is_some());
        assert_eq!(self.exit_code().as_deref(), Some("0"), "arkor's exit code");
        assert_eq!(self.flag("alternate_on"), "0", "alternate screen left");
        assert_eq!(self.flag("mouse_any_flag"), "0", "mouse capture off");
        let stty = std::fs::read_to_string(self.out.path().join("stty")).unwrap_or_default();
        let flags: Vec<&str> = stty.split_whitespace().collect();
        for flag in ["icanon", "echo", "isig"] {
            assert!(flags.contains(&flag), "{flag} restored; stty: {stty}");
        }
        let arkor = self.arkor_pid.expect("arkor's pid was seen while it ran");
        assert!(!self.pids.is_empty(), "no run pid was ever on screen");
        // arkor waits for its children before it exits, so none may be alive now.
        let mut pids: Vec<u32> = self.pids.iter().copied().collect();
        pids.push(arkor);
        let alive: Vec<u32> = pids.into_iter().filter(|&pid| pid_alive(pid)).collect();
        assert!(alive.is_empty(), "processes left after exit: {alive:?}");
        let roots = [self.project.path(), self.home.path()];
        // The tmux server keeps the command line it was started with; it is ours, not arkor's.
        let tmux_server: u32 = self.flag("pid").parse().expect("tmux server pid");
        let strays = processes_touching(&roots, &[std::process::id(), tmux_server]);
        assert!(
            strays.is_empty(),
            "processes left in the project: {strays:#?}"
        );
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        // After a failed assertion arkor may still run: stop it (it stops its runs), then
        // make sure of it; finally the tmux server goes, with the pane's shell.
        if let Some(pid) = self.arkor_pid.filter(|&pid| pid_alive(pid)) {
            let pid = nix::unistd::Pid::from_raw(pid as i32);
            let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
            let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
            let deadline = Instant::now() + Duration::from_secs(5);
            while pid_alive(pid.as_raw() as u32) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL);
        }
        for pid in self.pids.iter().copied().filter(|&pid| pid_alive(pid)) {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid as i32),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
        let _ = self.tmux().arg("kill-server").status();
    }
}

/// Live processes (other than `except`) whose command line names one of `roots` or whose
/// working directory is inside one: a runner (`node …/bin.mjs start`), the inspector, arkor.
fn processes_touching(roots: &[&Path], except: &[u32]) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut found = Vec::new();
    for entry in entries.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        if except.contains(&pid) || !pid_alive(pid) {
            continue;
        }
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline"))
            .map(|b| String::from_utf8_lossy(&b).replace('\0', " "))
            .unwrap_or_default();
        let cwd = std::fs::read_link(format!("/proc/{pid}/cwd")).unwrap_or_default();
        let touches = roots
            .iter()
            .any(|root| cwd.starts_with(root) || cmdline.contains(&*root.to_string_lossy()));
        if touches {
            found.push(format!("{pid} (cwd {}): {cmdline}", cwd.display()));
        }
    }
    found
}

/// The lines of the runs table, below its column header, up to the selected run's training
/// panel (its progress line) or the logs panel.
fn runs_table(screen: &str) -> Vec<&str> {
    screen
        .lines()
        .skip_while(|l| !l.trim_start().starts_with("PID"))
        .skip(1)
        .take_while(|l| !l.starts_with(" logs") && !l.starts_with(" step "))
        .collect()
}

/// The loss column of `pid`'s row (the table's `LOSS` column), when it shows a number.
fn table_loss(screen: &str, pid: u32) -> Option<f64> {
    let header = screen.lines().find(|l| l.trim_start().starts_with("PID"))?;
    let column = header.find("LOSS")?;
    let (row, _) = run_lines(screen, pid)?;
    let cell: String = row
        .chars()
        .skip(header[..column].chars().count())
        .take(8)
        .collect();
    cell.trim().parse().ok()
}

/// The loss chart's panel: its title row and the braille of its curves.
fn chart_of(screen: &str, pid: u32) -> Option<String> {
    let lines: Vec<&str> = screen.lines().collect();
    let title = lines
        .iter()
        .position(|l| l.starts_with(&format!(" loss · run {pid} ")))?;
    let panel: Vec<&str> = lines[title..]
        .iter()
        .take_while(|l| !l.starts_with(" logs"))
        .copied()
        .collect();
    let braille = panel
        .iter()
        .flat_map(|l| l.chars())
        .filter(|c| ('\u{2801}'..='\u{28ff}').contains(c))
        .count();
    (braille >= 10).then(|| panel.join("\n"))
}

/// `▸ 12345   demo-triage …` → 12345 (the explanation lines under a run have no pid).
fn row_pid(line: &str) -> Option<u32> {
    let rest = line.strip_prefix('▸').or_else(|| line.strip_prefix(' '))?;
    rest.split_whitespace().next()?.parse().ok()
}

/// The run row of `pid` and its explanation line (`└ …`), if any.
fn run_lines(screen: &str, pid: u32) -> Option<(String, Option<String>)> {
    let table = runs_table(screen);
    let at = table.iter().position(|l| row_pid(l) == Some(pid))?;
    let why = table
        .get(at + 1)
        .filter(|l| l.trim_start().starts_with('└'))
        .map(|l| l.trim().to_string());
    Some((table[at].to_string(), why))
}

fn run_state(screen: &str, pid: u32) -> Option<String> {
    let (row, _) = run_lines(screen, pid)?;
    [
        "running",
        "hot-swapped",
        "early-stop",
        "restarting",
        "exited",
        "starting",
    ]
    .into_iter()
    .find(|state| row.contains(state))
    .map(str::to_string)
}

/// Pids of the rows currently `running`.
fn running_pids(screen: &str) -> Vec<u32> {
    runs_table(screen)
        .into_iter()
        .filter_map(|l| row_pid(l).filter(|_| l.contains("● running")))
        .collect()
}

/// The timeline panel's entries, oldest first, each with its wrapped lines joined. The panel
/// is the right-hand column of the body, whose top border reads `┌ timeline`.
fn timeline(screen: &str) -> Vec<String> {
    let lines: Vec<&str> = screen.lines().collect();
    let Some((title_row, column)) = lines.iter().enumerate().find_map(|(i, l)| {
        let at = l.find("┌ timeline")?;
        Some((i, l[..at].chars().count()))
    }) else {
        return Vec::new();
    };
    let mut entries: Vec<String> = Vec::new();
    for line in &lines[title_row + 1..] {
        let panel: String = line.chars().skip(column + 1).collect();
        let text = panel.trim();
        if text.is_empty() {
            continue;
        }
        let starts_entry =
            panel.len() >= 8 && panel.as_bytes()[2] == b':' && panel.as_bytes()[5] == b':';
        match entries.last_mut() {
            Some(last) if !starts_entry => {
                last.push(' ');
                last.push_str(text);
            }
            _ => entries.push(text.to_string()),
        }
    }
    entries
}

/// `screen`'s timeline has entries containing each of `wanted`, in this order.
fn timeline_has_in_order(screen: &str, wanted: &[&str]) -> bool {
    let entries = timeline(screen);
    let mut from = 0;
    for want in wanted {
        match entries[from..].iter().position(|e| e.contains(want)) {
            Some(i) => from += i + 1,
            None => return false,
        }
    }
    true
}

/// The log pane: the left column of the body, below its `logs ·` title.
fn log_pane(screen: &str) -> Vec<String> {
    screen
        .lines()
        .skip_while(|l| !l.starts_with(" logs"))
        .skip(1)
        .map(|l| l.split('│').next().unwrap_or("").trim_end().to_string())
        .collect()
}

/// Highest `checkpoint saved at step N` in the log pane.
fn last_checkpoint(screen: &str) -> Option<u32> {
    log_pane(screen)
        .iter()
        .filter_map(|l| {
            l.split("checkpoint saved at step ")
                .nth(1)?
                .trim()
                .parse()
                .ok()
        })
        .max()
}

impl Session {
    /// Waits for the next checkpoint of the shown run, so the following early stop has a
    /// whole checkpoint interval to be seen on screen.
    fn wait_for_fresh_checkpoint(&mut self) {
        let seen = last_checkpoint(&self.screen()).unwrap_or(0);
        self.wait_for("a new checkpoint in the log pane", |s| {
            last_checkpoint(s).is_some_and(|n| n > seen)
        });
    }

    /// Starts the dashboard and waits until its first run has a cloud job; returns its pid.
    fn start_with_a_cloud_job(&mut self) -> u32 {
        self.start();
        let screen = self.wait_for("a running run", |s| !running_pids(s).is_empty());
        let pid = running_pids(&screen)[0];
        self.wait_for("the run's cloud job", |s| {
            timeline(s)
                .iter()
                .any(|l| l.contains(&format!("{pid} cloud job")))
        });
        pid
    }
}

#[test]
fn demo_hot_swaps_restarts_on_config_change_and_quits_cleanly() {
    let mut session = Session::new(|_| {});
    session.start();

    // The first run comes up.
    let screen = session.wait_for("a running run", |s| !running_pids(s).is_empty());
    let first = running_pids(&screen)[0];
    assert_eq!(
        session.flag("alternate_on"),
        "1",
        "dashboard on the alternate screen"
    );
    session.wait_for("the first [v1] log lines", |s| {
        log_pane(s).iter().any(|l| l.starts_with("[v1] step="))
    });
    let up = session.started.elapsed();

    // The cloud's training progress: a loss in the table, a progress line and a loss chart.
    let screen = session.wait_for("a loss value and a loss chart", |s| {
        table_loss(s, first).is_some() && chart_of(s, first).is_some()
    });
    let loss = table_loss(&screen, first).unwrap_or_default();
    assert!(loss.is_finite() && loss > 0.0, "{loss}:\n{screen}");
    assert!(
        screen.contains(" step ") && screen.contains("/200 "),
        "the progress line counts steps of the config's maxSteps:\n{screen}"
    );
    assert!(
        !log_pane(&screen).iter().any(|l| l.contains("Started job")),
        "the runner's job-id marker is not in the log:\n{screen}"
    );

    // A callback edit: the same process hot-swaps and its new callbacks print.
    session.edit(
        "src/arkor/callbacks.ts",
        "const LABEL = \"v1\"",
        "const LABEL = \"v2\"",
    );
    let screen = session.wait_for("the hot swap", |s| {
        run_state(s, first).as_deref() == Some("hot-swapped")
    });
    assert!(
        timeline_has_in_order(&screen, &[&format!("↻ {first} hot-swapped callbacks")]),
        "timeline notes the swap:\n{screen}"
    );
    let screen = session.wait_for("[v2] lines from the same run", |s| {
        log_pane(s).iter().any(|l| l.starts_with("[v2] step="))
    });
    assert!(
        screen.contains(&format!(" logs · {first} ")),
        "the log pane still shows run {first}:\n{screen}"
    );
    assert!(
        log_pane(&screen)
            .iter()
            .any(|l| l == "Callbacks hot-reloaded; training run continues."),
        "the runner's swap line:\n{screen}"
    );
    let pids: Vec<u32> = runs_table(&screen)
        .into_iter()
        .filter_map(row_pid)
        .collect();
    assert_eq!(pids, [first], "the same process, no new run:\n{screen}");

    // A config edit: the run early-stops at its next checkpoint and a new one replaces it.
    session.wait_for_fresh_checkpoint();
    session.edit(
        "src/arkor/trainer.ts",
        "learningRate: 2e-4",
        "learningRate: 1e-4",
    );
    let reason = "learningRate 0.0002 → 0.0001";
    let screen = session.wait_for("the early stop", |s| {
        run_state(s, first).as_deref() == Some("early-stop")
    });
    let (_, why) = run_lines(&screen, first).expect("the early-stopping row");
    let why = why.unwrap_or_default();
    assert!(
        why.contains("waiting for its next checkpoint") && why.contains(reason),
        "why the run stops: {why}"
    );
    let screen = session.wait_for("the replacement running", |s| {
        running_pids(s).iter().any(|&pid| pid != first)
    });
    let second = running_pids(&screen)
        .into_iter()
        .find(|&pid| pid != first)
        .expect("the new pid");
    let (_, why) = run_lines(&screen, second).expect("the new run's row");
    assert_eq!(
        why.as_deref(),
        Some(format!("└ restarted from {first}: {reason}").as_str())
    );
    let screen = session.wait_for("the old run's exit", |s| {
        run_state(s, first).as_deref() == Some("exited")
    });
    assert!(
        timeline_has_in_order(
            &screen,
            &[
                &format!("◐ {first} early-stopping: {reason}"),
                &format!("⟳ {first} restarting: {reason}"),
                &format!("▶ {second} started (restart of {first})"),
            ]
        ),
        "the timeline tells the restart in order:\n{:#?}",
        timeline(&screen)
    );
    assert!(
        screen.contains(&format!(" logs · {second} ")),
        "the log pane follows the replacement:\n{screen}"
    );
    // Its chart draws the predecessor's curve beside its own, with the change as legend.
    let screen = session.wait_for("the replacement's chart beside its predecessor's", |s| {
        chart_of(s, second).is_some()
    });
    assert!(
        screen.contains(&format!("before: {reason} (run {first})")),
        "the legend names the change:\n{screen}"
    );

    // `?` then `q`: the help closes and nothing quits.
    session.keys("?");
    session.wait_for("the help overlay", |s| s.contains("q, Esc or ? closes"));
    session.keys("q");
    let screen = session.wait_for("the help closed", |s| !s.contains("q, Esc or ? closes"));
    assert!(
        !screen.contains("quitting") && running_pids(&screen).contains(&second),
        "q in the help only closes it:\n{screen}"
    );
    // `X` then Esc: the kill is asked, Esc cancels it, the run lives on.
    session.keys("X");
    let screen = session.wait_for("the kill question", |s| {
        s.contains(&format!("force-stop run {second}?"))
    });
    assert!(
        screen.contains("SIGKILL now"),
        "the cost is named:\n{screen}"
    );
    session.keys("Escape");
    let screen = session.wait_for("the question cancelled", |s| {
        s.contains(&format!("cancelled: force-stop run {second}?"))
    });
    assert!(
        !screen.contains("SIGKILL now"),
        "the box is gone:\n{screen}"
    );
    assert_eq!(
        run_state(&screen, second).as_deref(),
        Some("running"),
        "the run lives:\n{screen}"
    );

    // Quit: the live run early-stops (for the quit, not for the old config change), then
    // arkor leaves and restores the terminal.
    session.wait_for_fresh_checkpoint();
    session.keys("q");
    let screen = session.wait_for("the quit countdown", |s| {
        s.contains("◐ quitting: 1 run early-stopping at next checkpoint")
    });
    assert!(
        screen.contains("q again: force-stop"),
        "the banner says how to force it:\n{screen}"
    );
    let screen = session.wait_for("the run early-stopping for the quit", |s| {
        run_lines(s, second).is_some_and(|(row, why)| {
            row.contains("◐ early-stop") && why.is_some_and(|w| w.contains("· quitting"))
        })
    });
    let (_, why) = run_lines(&screen, second).expect("the stopping run");
    assert!(
        !why.unwrap_or_default().contains("config changed"),
        "a run stopping for the quit blames no config change:\n{screen}"
    );
    let quit_at = Instant::now();
    session.assert_clean_exit();
    eprintln!(
        "e2e demo: dashboard up with a run in {up:?}, quit took {:?}, whole test {:?}; pids {:?}",
        quit_at.elapsed(),
        session.started.elapsed(),
        session.pids
    );
}

#[test]
fn a_syntax_error_shows_where_and_fixing_it_starts_the_run() {
    let mut session = Session::new(|root| {
        let trainer = root.join("src/arkor/trainer.ts");
        let text = std::fs::read_to_string(&trainer).expect("read trainer.ts");
        std::fs::write(
            &trainer,
            text.replacen("maxSteps: 200,", "maxSteps: 200,,", 1),
        )
        .expect("break trainer.ts");
    });
    session.start();
    let screen = session.wait_for("the error pane", |s| s.contains(" build error "));
    assert!(
        screen.contains("build error at src/arkor/trainer.ts:12:17"),
        "file:line:col in the error pane's title:\n{screen}"
    );
    assert!(
        screen
            .lines()
            .any(|l| l.trim_start().starts_with("12 │") && l.contains("maxSteps: 200,,")),
        "the code frame shows the offending line:\n{screen}"
    );
    assert!(screen.contains("✗ build failed"), "header:\n{screen}");
    assert!(
        screen.contains("(no good build yet: runs start once it builds)"),
        "the pane promises no fallback build that does not exist:\n{screen}"
    );
    assert!(running_pids(&screen).is_empty(), "no run without a build");

    session.edit("src/arkor/trainer.ts", "maxSteps: 200,,", "maxSteps: 200,");
    let screen = session.wait_for("a run on the fixed build", |s| !running_pids(s).is_empty());
    assert!(
        !screen.contains(" build error "),
        "error pane gone:\n{screen}"
    );
    assert!(screen.contains("✓ build ok"), "header:\n{screen}");

    session.keys("q");
    session.assert_clean_exit();
}

#[test]
fn closing_the_terminal_stops_the_run_and_cleans_up() {
    let mut session = Session::new(|_| {});
    session.start_surviving_hangup();
    let screen = session.wait_for("a running run", |s| !running_pids(s).is_empty());
    let run = running_pids(&screen)[0];
    let arkor = session.arkor_pid.expect("arkor's pid");
    // The terminal goes away under arkor (a closed window, a dropped ssh session).
    let status = session
        .tmux()
        .arg("kill-server")
        .status()
        .expect("tmux kill-server");
    assert!(status.success(), "kill-server");
    let deadline = Instant::now() + TIMEOUT;
    while session.exit_code().is_none() {
        assert!(
            Instant::now() < deadline,
            "arkor did not exit after the hang-up"
        );
        std::thread::sleep(Duration::from_millis(25));
    }
    // 128 + SIGHUP: a clean exit through the signal path, not a panic (101) on the dead tty.
    assert_eq!(
        session.exit_code().as_deref(),
        Some("129"),
        "arkor's exit code"
    );
    assert!(
        !pid_alive(arkor) && !pid_alive(run),
        "arkor {arkor} and run {run} are gone"
    );
    let strays = processes_touching(&[session.project.path(), session.home.path()], &[]);
    assert!(
        strays.is_empty(),
        "processes left in the project: {strays:#?}"
    );
    let log = std::fs::read_to_string(session.path(".arkor/tui.log")).unwrap_or_default();
    assert!(
        log.contains("dashboard ended reason=Signal(1)"),
        "the dashboard saw the hang-up:\n{log}"
    );
}

/// The cloud views in the real binary: `2` lists the run's job, Enter opens it (its
/// checkpoints arrive through its replayed stream), `p` opens the Playground on the newest
/// checkpoint's adapter with the prompt focused, and a typed prompt gets a streamed reply from
/// the simulated cloud. `1` goes back to the run, `q` quits cleanly.
#[test]
fn jobs_then_a_job_then_the_playground_on_its_adapter() {
    let mut session = Session::new(|_| {});
    let pid = session.start_with_a_cloud_job();

    session.keys("2");
    session.wait_for("the job list with the run's job", |s| {
        s.contains("[2 jobs]") && s.contains(&format!("run {pid}"))
    });

    session.keys("Enter");
    session.wait_for("a checkpoint in the job's detail", |s| {
        s.contains("· checkpoints ") && s.contains("events ·")
    });

    session.keys("p");
    session.wait_for("the Playground on a checkpoint adapter", |s| {
        s.contains("[3 playground]") && s.contains("checkpoint") && s.contains("Enter sends")
    });
    // Typed into the focused prompt: the digits do not switch views.
    for key in ["h", "i", "Space", "2"] {
        session.keys(key);
    }
    session.wait_for("the typed prompt", |s| s.contains("│hi 2"));
    session.keys("Enter");
    let screen = session.wait_for("the streamed reply", |s| {
        s.contains("you › hi 2") && s.contains("You said: \"hi 2\"") && !s.contains('▌')
    });
    assert!(screen.contains("model ›"), "{screen}");

    // A pasted text arrives whole (bracketed paste): its line break does not send it.
    let status = session
        .tmux()
        .args(["set-buffer", "pasted one\npasted two"])
        .status()
        .expect("set-buffer");
    assert!(status.success());
    let status = session
        .tmux()
        .args(["paste-buffer", "-p"])
        .status()
        .expect("paste-buffer");
    assert!(status.success());
    let screen = session.wait_for("the pasted prompt", |s| {
        s.contains("│pasted one pasted two")
    });
    assert!(!screen.contains("you › pasted"), "not sent:\n{screen}");

    session.keys("Escape");
    session.keys("1");
    session.wait_for("the Runs view again", |s| s.contains("[1 runs]"));
    session.wait_for_fresh_checkpoint();
    session.keys("q");
    session.assert_clean_exit();
}

/// The Endpoints view in the real binary against the simulated cloud: `e` on the run's job
/// (its newest checkpoint known from its detail) opens the create form on that adapter with a
/// slug from the job's name; Enter creates it. Enter opens it; `a` + a label creates a key
/// whose secret is shown once; `x` revokes it and `d` deletes the endpoint, each after a yes.
#[test]
fn an_endpoint_from_a_jobs_adapter_with_a_key_revoked_and_deleted() {
    let mut session = Session::new(|_| {});
    let pid = session.start_with_a_cloud_job();
    session.keys("4");
    session.wait_for("the empty Endpoints view", |s| {
        s.contains("[4 endpoints]") && s.contains("No endpoints in this project yet")
    });

    session.keys("2");
    session.wait_for("the job list", |s| s.contains(&format!("run {pid}")));
    session.keys("Enter");
    session.wait_for("a checkpoint in the job's detail", |s| {
        s.contains("· checkpoints ")
    });
    session.keys("e");
    session.wait_for("the create form on the checkpoint", |s| {
        s.contains("new endpoint") && s.contains("· checkpoint ")
    });
    session.keys("Enter");
    let screen = session.wait_for("the endpoint created", |s| {
        s.contains("created") && s.contains(".arkor.app/v1/chat") && !s.contains("new endpoint")
    });
    assert!(screen.contains("enabled"), "{screen}");

    session.keys("Enter");
    session.wait_for("the endpoint's detail", |s| {
        s.contains("· Esc back") && s.contains("No keys yet")
    });
    session.keys("a");
    for key in ["c", "i"] {
        session.keys(key);
    }
    session.keys("Enter");
    let screen = session.wait_for("the new key's secret", |s| s.contains("never shown again"));
    assert!(screen.contains("key ci created"), "{screen}");
    session.keys("Escape");
    session.wait_for("the key listed, its secret gone", |s| {
        s.contains("active") && !s.contains("never shown again")
    });

    session.keys("x");
    session.wait_for("the revoke question", |s| s.contains("revoke key ci"));
    session.keys("y");
    session.wait_for("the key revoked", |s| {
        s.contains("revoked") && s.contains("key ci of endpoint")
    });

    session.keys("d");
    session.wait_for("the delete question", |s| s.contains("delete endpoint"));
    session.keys("y");
    session.wait_for("the endpoint deleted", |s| {
        s.contains("deleted") && s.contains("No endpoints in this project yet")
    });

    session.keys("1");
    session.wait_for("the Runs view again", |s| s.contains("[1 runs]"));
    session.wait_for_fresh_checkpoint();
    session.keys("q");
    session.assert_clean_exit();
}

//! The build loop over real files and inotify: saves of every editor style, missing entry,
//! late files, bursts, errors, shutdown. Plus the save → Built latency measurement.

use std::time::{Duration, Instant};

use arkor_tui::core::events::BuiltArtifact;
use arkor_tui::core::hash;
use arkor_tui::core::watch::{BuildLoop, BuildLoopEvent, BuildLoopHandle};
use tokio::sync::mpsc::Receiver;

use crate::common::{TempProject, inspector_for};

const WAIT: Duration = Duration::from_secs(20);
/// How long "nothing else happens" is watched for; only used to prove an absence.
const QUIET: Duration = Duration::from_millis(600);

fn entry(name: &str) -> String {
    format!(
        "import {{ createTrainer }} from \"./brand\";\nimport {{ onLog }} from \"./callbacks\";\n\
         export const trainer = createTrainer({{ name: \"{name}\", model: \"m\", learningRate: 0.0002, callbacks: {{ onLog }} }});\n"
    )
}

struct Harness {
    project: TempProject,
    handle: BuildLoopHandle,
    events: Receiver<BuildLoopEvent>,
}

impl Harness {
    fn start(project: TempProject) -> Self {
        let inspector = inspector_for(&project.project, WAIT, 200);
        let (handle, events) = BuildLoop::spawn(project.project.clone(), inspector);
        Self {
            project,
            handle,
            events,
        }
    }

    /// The next Built or Failed (Started events skipped).
    async fn next_result(&mut self) -> BuildLoopEvent {
        loop {
            let event = tokio::time::timeout(WAIT, self.events.recv())
                .await
                .expect("a build result in time")
                .expect("loop alive");
            if event != BuildLoopEvent::Started {
                return event;
            }
        }
    }

    /// The published artifact's text.
    fn artifact(&self) -> String {
        self.project.read(".arkor/build/index.mjs")
    }

    async fn next_built(&mut self) -> BuiltArtifact {
        match self.next_result().await {
            BuildLoopEvent::Built(artifact) => artifact,
            other => panic!("expected Built, got {other:?}"),
        }
    }

    async fn next_failed(&mut self) -> (String, Option<arkor_tui::core::build::SourceLocation>) {
        match self.next_result().await {
            BuildLoopEvent::Failed { message, location } => (message, location),
            other => panic!("expected Failed, got {other:?}"),
        }
    }

    /// Results until one satisfies `done`; returns all of them.
    async fn results_until(
        &mut self,
        done: impl Fn(&BuildLoopEvent) -> bool,
    ) -> Vec<BuildLoopEvent> {
        let mut seen = Vec::new();
        loop {
            let event = self.next_result().await;
            let stop = done(&event);
            seen.push(event);
            if stop {
                return seen;
            }
        }
    }

    /// Every event that arrives within QUIET.
    async fn quiet_events(&mut self) -> Vec<BuildLoopEvent> {
        let mut seen = Vec::new();
        let deadline = tokio::time::Instant::now() + QUIET;
        while let Ok(Some(event)) = tokio::time::timeout_at(deadline, self.events.recv()).await {
            seen.push(event);
        }
        seen
    }
}

fn is_built_named(event: &BuildLoopEvent, name: &str) -> bool {
    matches!(event, BuildLoopEvent::Built(a) if a.trainer_name.as_deref() == Some(name))
}

#[tokio::test]
async fn first_build_reports_a_complete_artifact() {
    let mut h = Harness::start(TempProject::from_fixture("basic"));
    assert_eq!(h.events.recv().await, Some(BuildLoopEvent::Started));
    let built = h.next_built().await;
    let out_file = h.project.path(".arkor/build/index.mjs");
    let bytes = std::fs::read(&out_file).unwrap();
    assert_eq!(built.out_file, out_file.to_string_lossy());
    assert_eq!(
        Some(built.hash.clone()),
        hash::artifact_fingerprint(&out_file)
    );
    assert_eq!(built.content_hash, Some(hash::content_hash(&bytes)));
    assert_eq!(
        built.config_hash,
        Some(hash::config_hash_from_wire(r#"{"model":"m","learningRate":0.0002}"#).unwrap())
    );
    assert_eq!(built.trainer_name.as_deref(), Some("basic"));
    assert_eq!(
        built.config,
        Some(serde_json::json!({"model": "m", "learningRate": 0.0002}))
    );
    assert!(built.build_duration >= built.inspect_duration);
    assert!(built.inspect_duration > Duration::ZERO);
    h.handle.shutdown().await;
}

#[tokio::test]
async fn in_place_write_rebuilds_with_the_new_content() {
    let mut h = Harness::start(TempProject::from_fixture("basic"));
    let first = h.next_built().await;
    h.project.write("src/arkor/index.ts", &entry("edited"));
    let second = h.next_built().await;
    assert_eq!(second.trainer_name.as_deref(), Some("edited"));
    assert_ne!(second.content_hash, first.content_hash);
    // A callbacks-only edit keeps the configHash (hot-swap material).
    h.project.write(
        "src/arkor/callbacks.ts",
        "export function onLog(ctx: unknown): void { console.log('v2', ctx); }\n",
    );
    let third = h.next_built().await;
    assert_eq!(third.config_hash, second.config_hash);
    assert_ne!(third.content_hash, second.content_hash);
    h.handle.shutdown().await;
}

#[tokio::test]
async fn rename_style_save_triggers_exactly_one_rebuild() {
    let mut h = Harness::start(TempProject::from_fixture("basic"));
    h.next_built().await;
    assert!(h.quiet_events().await.is_empty());
    // vim / JetBrains: write a temp file beside the target, rename it over.
    h.project
        .write("src/arkor/.index.ts.swp", &entry("renamed"));
    std::fs::rename(
        h.project.path("src/arkor/.index.ts.swp"),
        h.project.path("src/arkor/index.ts"),
    )
    .unwrap();
    let built = h.next_built().await;
    assert_eq!(built.trainer_name.as_deref(), Some("renamed"));
    let extra = h.quiet_events().await;
    assert!(extra.is_empty(), "one save, one build: {extra:?}");
    // And the renamed-over file is still watched.
    h.project
        .write("src/arkor/index.ts", &entry("after-rename"));
    assert_eq!(
        h.next_built().await.trainer_name.as_deref(),
        Some("after-rename")
    );
    h.handle.shutdown().await;
}

#[tokio::test]
async fn delete_and_recreate_of_an_imported_file_recovers() {
    let mut h = Harness::start(TempProject::from_fixture("basic"));
    h.next_built().await;
    std::fs::remove_file(h.project.path("src/arkor/callbacks.ts")).unwrap();
    h.project.write(
        "src/arkor/callbacks.ts",
        "export function onLog(): void { console.log('recreated'); }\n",
    );
    let results = h
        .results_until(|e| matches!(e, BuildLoopEvent::Built(_)))
        .await;
    assert!(
        results.len() <= 2,
        "at most the deletion's error, then the rebuild: {results:?}"
    );
    assert!(h.artifact().contains("recreated"));
    h.handle.shutdown().await;
}

#[tokio::test]
async fn deleted_entry_fails_and_recovers_when_it_comes_back() {
    let mut h = Harness::start(TempProject::from_fixture("basic"));
    h.next_built().await;
    let artifact = std::fs::read(h.project.path(".arkor/build/index.mjs")).unwrap();
    std::fs::remove_file(h.project.path("src/arkor/index.ts")).unwrap();
    let (message, location) = h.next_failed().await;
    assert!(message.starts_with("Build entry not found: "), "{message}");
    assert_eq!(location, None);
    assert_eq!(
        std::fs::read(h.project.path(".arkor/build/index.mjs")).unwrap(),
        artifact
    );
    h.project.write("src/arkor/index.ts", &entry("back"));
    assert_eq!(h.next_built().await.trainer_name.as_deref(), Some("back"));
    h.handle.shutdown().await;
}

#[tokio::test]
async fn missing_entry_at_start_reports_once_then_builds_when_created() {
    let mut h = Harness::start(TempProject::empty());
    let (message, _) = h.next_failed().await;
    assert_eq!(
        message,
        format!(
            "Build entry not found: {}. Create src/arkor/index.ts in the project to define your trainer.",
            h.project.path("src/arkor/index.ts").display()
        )
    );
    // Folders appear one by one, then the files.
    std::fs::create_dir(h.project.path("src")).unwrap();
    std::fs::create_dir(h.project.path("src/arkor")).unwrap();
    let quiet = h.quiet_events().await;
    assert!(
        quiet.is_empty(),
        "no build (and no Started) without an entry: {quiet:?}"
    );
    h.project
        .write("src/arkor/brand.ts", crate::common::BRAND_TS);
    h.project.write(
        "src/arkor/callbacks.ts",
        "export function onLog(): void {}\n",
    );
    h.project.write("src/arkor/index.ts", &entry("created"));
    let results = h
        .results_until(|e| matches!(e, BuildLoopEvent::Built(_)))
        .await;
    assert!(
        results.iter().all(|e| !matches!(e, BuildLoopEvent::Failed { message, .. } if message.starts_with("Build entry not found"))),
        "the missing entry is reported once: {results:?}"
    );
    assert!(is_built_named(results.last().unwrap(), "created"));
    h.handle.shutdown().await;
}

#[tokio::test]
async fn a_relative_import_of_a_file_created_later_builds_once_it_exists() {
    let mut h = Harness::start(TempProject::from_fixture("basic"));
    h.next_built().await;
    h.project.write(
        "src/arkor/callbacks.ts",
        "import { extra } from './later';\nexport function onLog(ctx: unknown): void { console.log(extra, ctx); }\n",
    );
    let (message, location) = h.next_failed().await;
    assert!(message.contains("UNRESOLVED_IMPORT"), "{message}");
    assert_eq!(
        location.map(|l| (l.display_file, l.line)),
        Some(("src/arkor/callbacks.ts".to_owned(), 1))
    );
    h.project.write(
        "src/arkor/later.ts",
        "export const extra = 'later-marker';\n",
    );
    h.next_built().await;
    assert!(h.artifact().contains("later-marker"));
    // The new file is now part of the graph and watched.
    h.project.write(
        "src/arkor/later.ts",
        "export const extra = 'later-marker-2';\n",
    );
    h.next_built().await;
    assert!(h.artifact().contains("later-marker-2"));
    h.handle.shutdown().await;
}

#[tokio::test]
async fn a_new_import_in_a_new_folder_is_followed() {
    let mut h = Harness::start(TempProject::from_fixture("basic"));
    h.next_built().await;
    h.project
        .write("src/lib/util.ts", "export const util = 'util-v1';\n");
    h.project.write(
        "src/arkor/callbacks.ts",
        "import { util } from '../lib/util';\nexport function onLog(): void { console.log(util); }\n",
    );
    h.next_built().await;
    assert!(h.artifact().contains("util-v1"));
    h.project
        .write("src/lib/util.ts", "export const util = 'util-v2';\n");
    h.next_built().await;
    assert!(h.artifact().contains("util-v2"));
    h.handle.shutdown().await;
}

#[tokio::test]
async fn build_error_is_reported_with_location_and_fixed_by_the_next_save() {
    let mut h = Harness::start(TempProject::from_fixture("basic"));
    h.next_built().await;
    let artifact = std::fs::read(h.project.path(".arkor/build/index.mjs")).unwrap();
    h.project.write(
        "src/arkor/callbacks.ts",
        "export function onLog(ctx: unknown): void {\n  console.log(\"log\", ctx;\n}\n",
    );
    let (message, location) = h.next_failed().await;
    let location = location.expect("located");
    assert_eq!(
        (
            location.display_file.as_str(),
            location.line,
            location.column
        ),
        ("src/arkor/callbacks.ts", 2, 25)
    );
    assert!(
        message.starts_with("src/arkor/callbacks.ts:2:25: "),
        "{message}"
    );
    assert_eq!(
        std::fs::read(h.project.path(".arkor/build/index.mjs")).unwrap(),
        artifact
    );
    h.project.write(
        "src/arkor/callbacks.ts",
        "export function onLog(): void {}\n",
    );
    h.next_built().await;
    h.handle.shutdown().await;
}

#[tokio::test]
async fn import_time_throw_is_a_failure_with_the_reference_wording() {
    let mut h = Harness::start(TempProject::from_fixture("basic"));
    h.next_built().await;
    h.project.write(
        "src/arkor/callbacks.ts",
        "if (process.pid > 0) throw new Error('kaboom');\nexport function onLog(): void {}\n",
    );
    let (message, location) = h.next_failed().await;
    assert_eq!(message, "Failed to import built bundle: kaboom");
    assert_eq!(location, None);
    h.project.write(
        "src/arkor/callbacks.ts",
        "export function onLog(): void {}\n",
    );
    h.next_built().await;
    h.handle.shutdown().await;
}

#[tokio::test]
async fn unrelated_files_and_build_output_trigger_nothing() {
    let mut h = Harness::start(TempProject::from_fixture("basic"));
    h.next_built().await;
    h.project.write("src/arkor/notes.md", "not code");
    h.project
        .write("src/arkor/unused.ts", "export const unused = 1;\n");
    h.project.write(".arkor/build/other.mjs", "");
    h.project.write("node_modules/x/index.js", "");
    let extra = h.quiet_events().await;
    assert!(extra.is_empty(), "{extra:?}");
    h.handle.shutdown().await;
}

#[tokio::test]
async fn a_burst_of_100_saves_builds_a_few_times_and_the_last_save_wins() {
    let mut h = Harness::start(TempProject::from_fixture("basic"));
    h.next_built().await;
    for i in 0..100 {
        h.project
            .write("src/arkor/index.ts", &entry(&format!("save-{i}")));
    }
    let results = h.results_until(|e| is_built_named(e, "save-99")).await;
    let builds = results
        .iter()
        .filter(|e| matches!(e, BuildLoopEvent::Built(_)))
        .count();
    assert!(
        results
            .iter()
            .all(|e| matches!(e, BuildLoopEvent::Built(_))),
        "no half-written save surfaces as an error: {results:?}"
    );
    assert!(builds <= 10, "{builds} builds reported for one burst");
    let extra = h.quiet_events().await;
    assert!(
        extra
            .iter()
            .all(|e| !matches!(e, BuildLoopEvent::Built(_) | BuildLoopEvent::Failed { .. })),
        "nothing after the last save's build: {extra:?}"
    );
    eprintln!("100-save burst → {builds} reported builds");
    h.handle.shutdown().await;
}

#[tokio::test]
async fn rebuild_command_builds_the_same_bytes_again() {
    let mut h = Harness::start(TempProject::from_fixture("basic"));
    let first = h.next_built().await;
    h.handle.rebuild();
    assert_eq!(h.events.recv().await, Some(BuildLoopEvent::Started));
    let again = h.next_built().await;
    assert_eq!(again.content_hash, first.content_hash);
    assert_eq!(again.config_hash, first.config_hash);
    h.handle.shutdown().await;
}

#[tokio::test]
async fn shutdown_ends_the_loop_and_closes_the_event_stream() {
    let mut h = Harness::start(TempProject::from_fixture("basic"));
    h.next_built().await;
    h.handle.shutdown().await;
    let rest = tokio::time::timeout(WAIT, async {
        let mut rest = Vec::new();
        while let Some(event) = h.events.recv().await {
            rest.push(event);
        }
        rest
    })
    .await
    .expect("the stream ends");
    assert!(rest.is_empty(), "{rest:?}");
    // Edits after shutdown build nothing.
    h.project.write("src/arkor/index.ts", &entry("late"));
    assert!(!h.artifact().contains("late"));
}

/// Save → Built latency over 30 edits (debug build; the numbers go in the report).
#[tokio::test]
async fn measure_save_to_built_latency() {
    let started = Instant::now();
    let mut h = Harness::start(TempProject::from_fixture("basic"));
    let first = h.next_built().await;
    eprintln!(
        "inspector start + first build → Built (debug): {:.1} ms (build + inspect {:.1} ms, of which inspect {:.1} ms)",
        started.elapsed().as_secs_f64() * 1e3,
        first.build_duration.as_secs_f64() * 1e3,
        first.inspect_duration.as_secs_f64() * 1e3
    );
    let mut samples = Vec::new();
    let mut inspect_times = Vec::new();
    for i in 0..30 {
        let saved = Instant::now();
        h.project
            .write("src/arkor/index.ts", &entry(&format!("lat-{i}")));
        let built = h.next_built().await;
        samples.push(saved.elapsed());
        inspect_times.push(built.inspect_duration);
        assert_eq!(built.trainer_name, Some(format!("lat-{i}")));
    }
    samples.sort();
    inspect_times.sort();
    let median = samples[samples.len() / 2];
    let p95 = samples[(samples.len() * 95).div_ceil(100) - 1];
    eprintln!(
        "save → Built over {} edits (debug): median {:.2} ms, p95 {:.2} ms, max {:.2} ms",
        samples.len(),
        median.as_secs_f64() * 1e3,
        p95.as_secs_f64() * 1e3,
        samples.last().unwrap().as_secs_f64() * 1e3
    );
    eprintln!(
        "  of which the Node inspection: median {:.2} ms",
        inspect_times[inspect_times.len() / 2].as_secs_f64() * 1e3
    );
    h.handle.shutdown().await;
}

#[tokio::test]
async fn a_save_that_fixes_a_hanging_import_is_not_held_up_by_the_timeout() {
    let project = TempProject::from_fixture("basic");
    // An inspector timeout far beyond the test's wait: only abandoning can make this pass.
    let inspector = inspector_for(&project.project, Duration::from_secs(120), 200);
    project.write(
        "src/arkor/callbacks.ts",
        "import { writeFileSync } from 'node:fs';\nwriteFileSync('hung.pid', String(process.pid));\n\
         await new Promise(() => {});\nexport function onLog(): void {}\n",
    );
    let (handle, events) = BuildLoop::spawn(project.project.clone(), inspector);
    let mut h = Harness {
        project,
        handle,
        events,
    };
    // The pid file is complete once it parses (it is created before it is written).
    let pid_file = h.project.path("hung.pid");
    let read_pid = || {
        std::fs::read_to_string(&pid_file)
            .ok()?
            .trim()
            .parse::<u32>()
            .ok()
    };
    let hung_pid = crate::common::wait_until("the import to hang", read_pid).await;
    let fixed_at = Instant::now();
    h.project.write(
        "src/arkor/callbacks.ts",
        "export function onLog(): void {}\n",
    );
    let built = h.next_built().await;
    assert_eq!(built.trainer_name.as_deref(), Some("basic"));
    assert!(
        fixed_at.elapsed() < Duration::from_secs(10),
        "{:?}",
        fixed_at.elapsed()
    );
    assert!(
        !crate::common::pid_alive(hung_pid),
        "the stuck helper was killed"
    );
    h.handle.shutdown().await;
}

#[tokio::test]
async fn an_older_slower_inspection_never_reports_over_a_newer_build() {
    let mut h = Harness::start(TempProject::from_fixture("basic"));
    h.next_built().await;
    // This version takes 700 ms to import; the next save lands while it is being inspected.
    h.project.write(
        "src/arkor/callbacks.ts",
        "import { writeFileSync } from 'node:fs';\nwriteFileSync('slow.started', '');\n\
         await new Promise((r) => setTimeout(r, 700));\nexport function onLog(): void {}\n",
    );
    crate::common::wait_until("the slow import to start", || {
        h.project.path("slow.started").exists().then_some(())
    })
    .await;
    h.project.write("src/arkor/index.ts", &entry("newer"));
    let results = h.results_until(|e| is_built_named(e, "newer")).await;
    assert_eq!(
        results.len(),
        1,
        "only the newest build is reported: {results:?}"
    );
    h.handle.shutdown().await;
}

#[tokio::test]
async fn an_import_into_a_folder_created_later_builds_once_it_exists() {
    let mut h = Harness::start(TempProject::from_fixture("basic"));
    h.next_built().await;
    h.project.write(
        "src/arkor/callbacks.ts",
        "import { deep } from '../gen/out/deep';\nexport function onLog(): void { console.log(deep); }\n",
    );
    let (message, _) = h.next_failed().await;
    assert!(message.contains("UNRESOLVED_IMPORT"), "{message}");
    // Folders and file appear in one go, faster than a build can re-watch.
    h.project.write(
        "src/gen/out/deep.ts",
        "export const deep = 'deep-marker';\n",
    );
    h.results_until(|e| matches!(e, BuildLoopEvent::Built(_)))
        .await;
    assert!(h.artifact().contains("deep-marker"));
    h.handle.shutdown().await;
}

#[tokio::test]
async fn a_deleted_and_recreated_folder_is_followed_again() {
    let mut h = Harness::start(TempProject::from_fixture("basic"));
    h.next_built().await;
    h.project
        .write("src/lib/util.ts", "export const util = 'util-v1';\n");
    h.project.write(
        "src/arkor/callbacks.ts",
        "import { util } from '../lib/util';\nexport function onLog(): void { console.log(util); }\n",
    );
    h.next_built().await;
    std::fs::remove_dir_all(h.project.path("src/lib")).unwrap();
    h.next_failed().await;
    h.project
        .write("src/lib/util.ts", "export const util = 'util-v2';\n");
    h.results_until(|e| matches!(e, BuildLoopEvent::Built(_)))
        .await;
    assert!(h.artifact().contains("util-v2"));
    h.project
        .write("src/lib/util.ts", "export const util = 'util-v3';\n");
    h.next_built().await;
    assert!(h.artifact().contains("util-v3"));
    h.handle.shutdown().await;
}

#[tokio::test]
async fn shutdown_works_while_the_loop_waits_on_a_receiver_that_stopped_reading() {
    let mut h = Harness::start(TempProject::from_fixture("basic"));
    h.next_built().await;
    // Save again and again without reading events: each build is published on disk, until
    // the event channel is full and the loop blocks handing over the next event.
    let artifact = h.project.path(".arkor/build/index.mjs");
    let mut blocked = false;
    for i in 0..400 {
        let marker = format!("unread-{i}");
        h.project.write("src/arkor/index.ts", &entry(&marker));
        let deadline = Instant::now() + Duration::from_secs(2);
        while !std::fs::read_to_string(&artifact)
            .unwrap_or_default()
            .contains(&marker)
        {
            if Instant::now() > deadline {
                blocked = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        if blocked {
            break;
        }
    }
    assert!(
        blocked,
        "the loop should block once nobody reads its events"
    );
    tokio::time::timeout(WAIT, h.handle.shutdown())
        .await
        .expect("shutdown returns although the loop was blocked");
}

#[tokio::test]
async fn a_file_caught_half_written_reports_no_error_once_its_write_lands() {
    // An editor's truncate-then-write save read between the two calls: the build of the empty
    // file fails, and the write's own event comes only after that build ended. The failure
    // is superseded by the write and must never reach the front ends.
    let mut h = Harness::start(TempProject::from_fixture("basic"));
    h.next_built().await;
    h.project.write("src/arkor/callbacks.ts", "");
    let started = tokio::time::timeout(WAIT, h.events.recv())
        .await
        .expect("a build for the truncation")
        .expect("loop alive");
    assert_eq!(started, BuildLoopEvent::Started);
    // Long enough for the failing build to end here, shorter than the hold on its error. (On a
    // machine so slow that it is still running, the write marks it dirty: no error either.)
    tokio::time::sleep(Duration::from_millis(25)).await;
    h.project.write(
        "src/arkor/callbacks.ts",
        "export function onLog(): void { console.log(\"whole\"); }\n",
    );
    let results = h
        .results_until(|e| matches!(e, BuildLoopEvent::Built(_)))
        .await;
    assert!(
        results
            .iter()
            .all(|e| !matches!(e, BuildLoopEvent::Failed { .. })),
        "{results:?}"
    );
    assert!(h.artifact().contains("whole"));
    h.handle.shutdown().await;
}

#[tokio::test]
async fn a_change_the_running_build_already_read_causes_no_second_build() {
    // A save that arrives as several events (truncate, write; here a write and then touches)
    // marks the build started by the first one dirty. When the file still holds the bytes the
    // build read, that build is current: it is reported, and nothing is built again.
    let mut h = Harness::start(TempProject::from_fixture("basic"));
    h.next_built().await;
    h.project.write("src/arkor/index.ts", &entry("touched"));
    let started = tokio::time::timeout(WAIT, h.events.recv())
        .await
        .expect("a build for the save")
        .expect("loop alive");
    assert_eq!(started, BuildLoopEvent::Started);
    let file = std::fs::File::options()
        .write(true)
        .open(h.project.path("src/arkor/index.ts"))
        .unwrap();
    for _ in 0..3 {
        file.set_modified(std::time::SystemTime::now()).unwrap();
    }
    let mut events = Vec::new();
    while !events.iter().any(|e| is_built_named(e, "touched")) {
        let event = tokio::time::timeout(WAIT, h.events.recv())
            .await
            .expect("the build's result")
            .expect("loop alive");
        events.push(event);
    }
    events.extend(h.quiet_events().await);
    assert_eq!(events.len(), 1, "one save, one build: {events:?}");
    // The next save's build is timed from its own event, not from the touches.
    let saved = Instant::now();
    h.project.write("src/arkor/index.ts", &entry("timed"));
    let built = h.next_built().await;
    assert!(
        built.build_duration <= saved.elapsed(),
        "{:?} reported, {:?} since the save",
        built.build_duration,
        saved.elapsed()
    );
    // A real change during a build still gets its own build.
    h.project.write("src/arkor/index.ts", &entry("first"));
    let started = tokio::time::timeout(WAIT, h.events.recv())
        .await
        .expect("a build for the save")
        .expect("loop alive");
    assert_eq!(started, BuildLoopEvent::Started);
    h.project.write("src/arkor/index.ts", &entry("second"));
    let results = h.results_until(|e| is_built_named(e, "second")).await;
    assert!(
        results
            .iter()
            .all(|e| !matches!(e, BuildLoopEvent::Failed { .. })),
        "{results:?}"
    );
    h.handle.shutdown().await;
}

//! A project on the simulated SDK trains on its own simulated cloud: arkor tui starts it,
//! signs in to it, points the Studio's cloud routes and the runs at it, keeps its records in
//! the project, writes nothing under HOME but the studio token, and stops it on exit.

use serde_json::Value;

use super::support::*;

/// The simulated cloud's announcement: its URL.
fn sim_cloud_url(h: &mut Headless) -> String {
    let line = h.next_of_type("simCloud");
    let url = line["url"].as_str().expect("url").to_owned();
    assert!(url.starts_with("http://127.0.0.1:"), "{line}");
    url
}

/// The pid of the `sim-cloud` helper working in `root` (it starts after the first build).
fn sim_cloud_pid(root: &std::path::Path) -> u32 {
    let root = root.canonicalize().expect("project root");
    let mut found = None;
    wait_until("the simulated cloud helper", || {
        found = helpers_in(&root);
        found.is_some()
    });
    found.expect("found")
}

fn helpers_in(root: &std::path::Path) -> Option<u32> {
    std::fs::read_dir("/proc")
        .ok()?
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .find(|&pid| {
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            String::from_utf8_lossy(&cmdline).contains("sim-cloud")
                && std::fs::read_link(format!("/proc/{pid}/cwd")).is_ok_and(|cwd| cwd == root)
                && pid_alive(pid)
        })
}

/// `GET /api/jobs` through arkor tui's Studio server.
fn studio_jobs(h: &Headless, server: &str) -> Vec<Value> {
    let token = std::fs::read_to_string(h.token_file()).expect("studio token");
    let (status, body) = http_get_until(
        server,
        "/api/jobs",
        &[("X-Arkor-Studio-Token", token.trim())],
        |_| false,
    );
    assert!(status.contains(" 200 "), "{status}: {body}");
    let jobs: Value = serde_json::from_str(&body).expect("JSON jobs");
    jobs["jobs"].as_array().expect("jobs array").clone()
}

fn refuses_connections(url: &str) -> bool {
    std::net::TcpStream::connect(("127.0.0.1", loopback_port(url))).is_err()
}

#[test]
fn the_demo_trains_on_its_simulated_cloud_and_leaves_nothing_behind() {
    let tmp = tempfile::tempdir().expect("temp TMPDIR");
    let mut env = sim_env(5);
    env.push(("TMPDIR", tmp.path().to_str().expect("utf-8").to_owned()));
    let mut h = Headless::spawn(&["--demo"], &env);
    let server = h.next_of_type("server")["url"]
        .as_str()
        .expect("url")
        .to_owned();
    let cloud_url = sim_cloud_url(&mut h);
    let run = h.next_json("the run's job id", |v| {
        v["type"] == "run" && v["jobId"].is_string()
    });
    let demo_root = tmp.path().join(format!("arkor-demo-{}", h.child.id()));
    let cloud_pid = sim_cloud_pid(&demo_root);
    let job_id = run["jobId"].as_str().expect("job id").to_owned();

    // The Studio's job list comes from the simulated cloud: the live job first, then the
    // two earlier runs the demo is seeded with.
    let jobs = studio_jobs(&h, &server);
    let summary: Vec<(&str, &str)> = jobs
        .iter()
        .map(|j| {
            (
                j["id"].as_str().unwrap_or_default(),
                j["status"].as_str().unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(summary.len(), 3, "{summary:?}");
    assert_eq!(summary[0].0, job_id);
    assert!(matches!(summary[0].1, "queued" | "running"), "{summary:?}");
    assert_eq!(
        summary[1..].iter().map(|s| s.1).collect::<Vec<_>>(),
        ["failed", "completed"]
    );
    assert!(jobs.iter().all(|j| j["name"] == "demo-triage"));

    // Its event stream, through the Studio's proxy, in the cloud's wire format.
    let token = std::fs::read_to_string(h.token_file()).expect("studio token");
    let (status, events) = http_get_until(
        &server,
        &format!("/api/jobs/{job_id}/events?studioToken={}", token.trim()),
        &[],
        |body| body.contains("event: training.log"),
    );
    assert!(status.contains(" 200 "), "{status}");
    assert!(events.starts_with("id: "), "{events}");
    assert!(
        events.contains(r#""type":"training.started","#)
            && events.contains(&format!(r#""jobId":"{job_id}""#)),
        "{events}"
    );

    // Credentials and project scope of the simulation stay in the demo project.
    assert_eq!(files_under(h.home.path()), [".arkor/studio-token"]);
    assert!(
        demo_root
            .join(".arkor/sim-cloud/home/.arkor/credentials.json")
            .is_file()
    );
    let state: Value = serde_json::from_str(
        &std::fs::read_to_string(demo_root.join(".arkor/state.json")).expect("state.json"),
    )
    .expect("state JSON");
    assert!(
        state["orgSlug"]
            .as_str()
            .is_some_and(|o| o.starts_with("anon-"))
    );

    h.signal(libc::SIGINT);
    let status = h.wait_exit();
    assert_eq!(status.code(), Some(130), "stderr: {}", h.stderr());
    assert!(!pid_alive(cloud_pid), "the simulated cloud stopped");
    assert!(refuses_connections(&cloud_url));
    assert!(
        files_under(h.home.path()).is_empty(),
        "nothing left under HOME"
    );
    assert!(!demo_root.exists());
}

#[test]
fn a_simulated_project_keeps_its_cloud_jobs_across_sessions() {
    let p = TestProject::with_entry();
    let first_job = {
        let mut h = Headless::start(&p, &["--run"], &sim_env(5));
        sim_cloud_url(&mut h);
        let run = h.next_json("the first job", |v| {
            v["type"] == "run" && v["jobId"].is_string()
        });
        let cloud_pid = sim_cloud_pid(p.root());
        h.signal(libc::SIGINT);
        assert_eq!(h.wait_exit().code(), Some(130), "stderr: {}", h.stderr());
        assert!(!pid_alive(cloud_pid));
        run["jobId"].as_str().expect("job id").to_owned()
    };

    let mut h = Headless::start(&p, &["--run"], &sim_env(5));
    let server = h.next_of_type("server")["url"]
        .as_str()
        .expect("url")
        .to_owned();
    sim_cloud_url(&mut h);
    let run = h.next_json("the second job", |v| {
        v["type"] == "run" && v["jobId"].is_string()
    });
    let second_job = run["jobId"].as_str().expect("job id").to_owned();
    let jobs = studio_jobs(&h, &server);
    let ids: Vec<&str> = jobs.iter().filter_map(|j| j["id"].as_str()).collect();
    assert_eq!(ids, [second_job.as_str(), first_job.as_str()]);
    // The first session's run early-stopped at a checkpoint and cancelled its job.
    assert_eq!(jobs[1]["status"], "cancelled", "{:?}", jobs[1]);
    h.signal(libc::SIGINT);
    assert_eq!(h.wait_exit().code(), Some(130), "stderr: {}", h.stderr());
    assert!(files_under(h.home.path()).is_empty());
}

#[test]
fn a_simulated_cloud_that_cannot_start_is_reported_with_its_reason() {
    let p = TestProject::with_entry();
    p.write(".arkor/sim-cloud/cloud.json", "not json");
    let mut h = Headless::start(&p, &[], &[]);
    let notice = h.next_of_type("notice");
    assert_eq!(notice["level"], "error", "{notice}");
    let message = notice["message"].as_str().unwrap_or_default();
    assert!(
        message.starts_with("the simulated Arkor cloud stopped unexpectedly")
            && message.contains(".arkor/sim-cloud/cloud.json")
            && message.contains("delete the file to start afresh"),
        "{notice}"
    );
    h.signal(libc::SIGINT);
    assert_eq!(h.wait_exit().code(), Some(130), "stderr: {}", h.stderr());
}

#[test]
fn a_simulated_cloud_that_dies_mid_session_is_reported_once() {
    let p = TestProject::with_entry();
    let mut h = Headless::start(&p, &[], &[]);
    sim_cloud_url(&mut h);
    h.next_of_type("ready");
    let cloud_pid = sim_cloud_pid(p.root());
    // SAFETY: plain syscall on the helper this test's arkor started.
    unsafe {
        libc::kill(cloud_pid as i32, libc::SIGKILL);
    }
    let notice = h.next_of_type("notice");
    assert_eq!(notice["level"], "error", "{notice}");
    assert!(
        notice["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("the simulated Arkor cloud stopped unexpectedly")),
        "{notice}"
    );
    h.signal(libc::SIGINT);
    assert_eq!(h.wait_exit().code(), Some(130), "stderr: {}", h.stderr());
    let notices = h
        .seen_json()
        .into_iter()
        .filter(|v| v["type"] == "notice")
        .count();
    assert_eq!(notices, 1);
}

#[test]
fn a_sigkilled_arkor_takes_its_simulated_cloud_down_with_the_records_saved() {
    let p = TestProject::with_entry();
    let mut h = Headless::start(&p, &["--run"], &sim_env(5));
    sim_cloud_url(&mut h);
    let run = h.next_json("the job", |v| v["type"] == "run" && v["jobId"].is_string());
    let job_id = run["jobId"].as_str().expect("job id").to_owned();
    let cloud_pid = sim_cloud_pid(p.root());
    h.signal(libc::SIGKILL);
    h.wait_exit();
    // The parent-death signal is SIGTERM: the helper ends the job it can no longer run
    // and saves its records before it goes.
    wait_until("the simulated cloud to exit", || !pid_alive(cloud_pid));
    let records: Value = serde_json::from_str(
        &std::fs::read_to_string(p.path(".arkor/sim-cloud/cloud.json")).expect("records"),
    )
    .expect("records JSON");
    let job = records["jobs"]
        .as_array()
        .and_then(|jobs| jobs.iter().find(|j| j["id"] == job_id.as_str()))
        .unwrap_or_else(|| panic!("job {job_id} in {records}"));
    assert_eq!(job["status"], "failed", "{job}");
    assert!(
        p.path(&format!(".arkor/sim-cloud/jobs/{job_id}.ndjson"))
            .is_file()
    );
}

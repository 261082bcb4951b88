//! The state every measurement group shares: the session's options ([`Plan`]), the programs
//! under test ([`Tools`]), the peers found ([`Peers`]), the small fixture project, and the
//! floors that later groups print next to their figures.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;

use crate::fixture::BenchProject;
use crate::micro::{self, Floors};
use crate::procs::{Peer, ServerSpec};
use crate::report::Report;
use crate::tui::TuiSetup;

/// Sizes of one session, and which groups it measures.
pub struct Plan {
    pub quick: bool,
    pub runs: usize,
    pub warmup: usize,
    /// Growth project sizes: generated modules on top of the 3-module project (0: none).
    pub growth_modules: Vec<usize>,
    pub subscribers: usize,
    pub fanout_rounds: usize,
    pub idle_window: Duration,
    pub ingest_lines: u64,
    pub flood_lines: u64,
    pub memory_runs: usize,
    pub memory_lines: Vec<u64>,
    pub render_frames: usize,
    pub start_runs: usize,
    /// `--only`: the selected group names (empty: every group).
    pub only: Vec<String>,
}

impl Plan {
    pub fn new(quick: bool, runs: Option<usize>, only: Vec<String>) -> Self {
        if quick {
            Plan {
                quick: true,
                runs: runs.unwrap_or(3),
                warmup: 1,
                growth_modules: vec![0, 10],
                subscribers: 20,
                fanout_rounds: 1,
                idle_window: Duration::from_secs(1),
                ingest_lines: 20_000,
                flood_lines: 50_000,
                memory_runs: 2,
                memory_lines: vec![5_000],
                render_frames: 5,
                start_runs: 1,
                only,
            }
        } else {
            Plan {
                quick: false,
                runs: runs.unwrap_or(60),
                warmup: 5,
                growth_modules: vec![0, 10, 100, 1000],
                subscribers: 200,
                fanout_rounds: 5,
                idle_window: Duration::from_secs(10),
                ingest_lines: 2_000_000,
                flood_lines: 20_000_000,
                memory_runs: 5,
                memory_lines: vec![20_000, 200_000, 2_000_000],
                render_frames: 200,
                start_runs: 10,
                only,
            }
        }
    }

    /// `--growth-modules`: measure these sizes instead (empty: keep the default).
    pub fn growth_modules(mut self, sizes: Vec<usize>) -> Self {
        if !sizes.is_empty() {
            self.growth_modules = sizes;
        }
        self
    }

    /// Whether `--only` selects this group.
    pub fn wants(&self, group: &str) -> bool {
        self.only.is_empty() || self.only.iter().any(|g| g == group)
    }
}

/// The programs the groups drive, and the session's scratch folder.
pub struct Tools {
    /// The `arkor` binary under test.
    pub arkor: PathBuf,
    /// This binary: its `emit` subcommand prints the log floods.
    pub emitter: PathBuf,
    pub node: PathBuf,
    /// The scratch folder (removed when the session ends).
    pub root: PathBuf,
}

/// The peer programs found for this session (none with `--quick`).
pub struct Peers {
    /// The reference SDK package directory (holds `dist/bin.mjs`).
    pub reference: Option<PathBuf>,
    pub mprocs: Option<PathBuf>,
}

pub struct Bench {
    pub plan: Plan,
    pub tools: Tools,
    pub peers: Peers,
    /// The small project (3 modules, like the demo) most groups save into.
    pub small: BenchProject,
    /// The floors group's figures, when it measured them.
    pub floors: Option<Floors>,
    /// Last field: the scratch folder outlives everything that lives in it.
    _scratch: Scratch,
}

impl Bench {
    /// Find the programs and peers, note the peers that are missing, create the scratch
    /// folder and the small project.
    pub fn prepare(
        plan: Plan,
        arkor: Option<PathBuf>,
        reference: Option<&Path>,
        mprocs: Option<&Path>,
        report: &mut Report,
    ) -> anyhow::Result<Self> {
        let arkor = match arkor {
            Some(p) => p,
            None => default_arkor()?,
        };
        let emitter = std::env::current_exe()?;
        let node = micro::node_path()?;
        let peers = if plan.quick {
            Peers {
                reference: None,
                mprocs: None,
            }
        } else {
            Peers {
                reference: reference
                    .filter(|d| d.join("dist/bin.mjs").is_file())
                    .map(Path::to_path_buf),
                mprocs: find_mprocs(mprocs),
            }
        };
        let scratch =
            Scratch(std::env::temp_dir().join(format!("arkor-bench-{}", std::process::id())));
        std::fs::create_dir_all(&scratch.0)?;
        if !plan.quick {
            if reference.is_some() && peers.reference.is_none() {
                report.notes.push(
                    "the reference SDK directory has no dist/bin.mjs: reference column skipped"
                        .into(),
                );
            }
            if reference.is_none() {
                report.notes.push("no reference SDK given (--reference / ARKOR_BENCH_REFERENCE): reference column skipped".into());
            }
            if peers.mprocs.is_none() {
                report
                    .notes
                    .push("mprocs not found: its log-throughput column is skipped".into());
            }
        }
        let root = scratch.0.clone();
        let small = BenchProject::create(&root.join("small"), 0)?;
        small.install_bench_sdk()?;
        Ok(Bench {
            plan,
            tools: Tools {
                arkor,
                emitter,
                node,
                root,
            },
            peers,
            small,
            floors: None,
            _scratch: scratch,
        })
    }

    /// A dev server of `peer` on `project`, with its own HOME under the scratch folder.
    pub fn server(&self, peer: Peer, project: &Path, home: &str) -> ServerSpec {
        ServerSpec {
            peer,
            program: match peer {
                Peer::Arkor => self.tools.arkor.clone(),
                Peer::Reference => self
                    .peers
                    .reference
                    .clone()
                    .unwrap_or_default()
                    .join("dist/bin.mjs"),
            },
            project: project.to_path_buf(),
            home: self.tools.root.join(home),
            env: Vec::new(),
        }
    }

    /// What a dashboard session on the small project needs.
    pub fn dashboard(&self) -> TuiSetup {
        TuiSetup {
            arkor: self.tools.arkor.clone(),
            emitter: self.tools.emitter.clone(),
            project: self.small.root.clone(),
            scratch: self.tools.root.clone(),
        }
    }

    /// The fastest bare Rolldown build of the small project, if the floors were measured.
    pub fn bare_build_floor(&self) -> Option<f64> {
        self.floors.as_ref().and_then(micro::best_bare)
    }
}

/// A scratch folder removed on drop.
struct Scratch(PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn default_arkor() -> anyhow::Result<PathBuf> {
    let me = std::env::current_exe()?;
    let dir = me.parent().context("no parent folder of this binary")?;
    let candidate = dir.join("arkor");
    if candidate.is_file() {
        return Ok(candidate);
    }
    anyhow::bail!("no arkor binary next to {}; pass --arkor", me.display())
}

fn find_mprocs(explicit: Option<&Path>) -> Option<PathBuf> {
    if let Some(p) = explicit {
        return p.is_file().then(|| p.to_path_buf());
    }
    let mut candidates: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|p| {
            std::env::split_paths(&p)
                .map(|d| d.join("mprocs"))
                .collect()
        })
        .unwrap_or_default();
    if let Some(home) = std::env::var_os("HOME") {
        candidates.push(Path::new(&home).join(".cargo/bin/mprocs"));
    }
    candidates.into_iter().find(|p| p.is_file())
}

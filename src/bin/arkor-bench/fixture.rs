//! Bench projects: the demo trainer plus N generated modules, the simulated SDK with a
//! timestamping runner, a throw-away HOME, and (optionally) a link to the reference SDK.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::Context;

/// Stands in for `arkor start`: prints the job marker at once, stamps every SIGUSR2 with
/// the wall clock (performance.timeOrigin + now(): sub-millisecond CLOCK_REALTIME), exits 0
/// on SIGTERM, and in flood mode runs the harness's line emitter on its own stdout.
const BENCH_RUNNER: &str = r#"// arkor-bench runner: the signal contract of `arkor start`, without a trainer.
import { spawn } from "node:child_process";

const nonce = process.env.ARKOR_JOB_ID_MARKER_NONCE;
delete process.env.ARKOR_JOB_ID_MARKER_NONCE;
const wallMs = () => (performance.timeOrigin + performance.now()).toFixed(3);
let usr2 = 0;
let emitter = null;
process.on("SIGUSR2", () => {
  const at = wallMs();
  usr2 += 1;
  process.stdout.write(`bench-usr2 ${usr2} ${at}\n`);
});
process.on("SIGTERM", () => {
  process.stdout.write(`bench-term ${wallMs()}\n`);
  if (emitter) emitter.kill("SIGKILL");
  process.exit(0);
});
process.stdout.write(`${nonce ? `[arkor:${nonce}] ` : ""}Started job bench-${process.pid}\n`);
setInterval(() => {}, 1 << 30);
if (process.env.ARKOR_BENCH_MODE === "flood") {
  const report = `${process.env.ARKOR_BENCH_REPORTS}/${process.pid}.txt`;
  emitter = spawn(process.env.ARKOR_BENCH_EMITTER, ["emit", "--lines", process.env.ARKOR_BENCH_LINES ?? "100000", "--report", report], {
    stdio: ["ignore", "inherit", "inherit"],
  });
}
"#;

const TRAINER: &str = r#"import { createTrainer } from "arkor";
import { callbacks } from "./callbacks";

export const trainer = createTrainer({
  name: "bench-trainer",
  model: "unsloth/gemma-4-E4B-it",
  dataset: { type: "huggingface", name: "arkorlab/triage-demo" },
  maxSteps: 200,
  learningRate: 2e-4,
  saveSteps: 10,
  lora: { r: 16, alpha: 16 },
  callbacks,
});
"#;

const INDEX: &str = r#"import { createArkor } from "arkor";
import { trainer } from "./trainer";

export const arkor = createArkor({ trainer });
"#;

/// A project: `src/arkor/{index,trainer,callbacks}.ts` plus `extra_modules` generated modules
/// that callbacks.ts imports (so every one is in the bundle).
pub struct BenchProject {
    pub root: PathBuf,
    pub extra_modules: usize,
    revision: u64,
}

impl BenchProject {
    pub fn create(root: &Path, extra_modules: usize) -> anyhow::Result<Self> {
        let src = root.join("src").join("arkor");
        fs::create_dir_all(&src)?;
        fs::write(src.join("index.ts"), INDEX)?;
        fs::write(src.join("trainer.ts"), TRAINER)?;
        if extra_modules > 0 {
            let mods = src.join("mods");
            fs::create_dir_all(&mods)?;
            let mut all = String::new();
            for i in 0..extra_modules {
                fs::write(mods.join(format!("m{i}.ts")), generated_module(i))?;
                all.push_str(&format!("import {{ weight{i} }} from \"./m{i}\";\n"));
            }
            all.push_str("export const total: number = 0");
            for i in 0..extra_modules {
                all.push_str(&format!(" + weight{i}(1)"));
            }
            all.push_str(";\n");
            fs::write(mods.join("all.ts"), all)?;
        }
        fs::write(
            root.join("package.json"),
            r#"{ "name": "bench-project", "private": true, "type": "module" }"#,
        )?;
        let mut project = Self {
            root: root.to_path_buf(),
            extra_modules,
            revision: 0,
        };
        project.save()?;
        Ok(project)
    }

    pub fn callbacks_file(&self) -> PathBuf {
        self.root.join("src/arkor/callbacks.ts")
    }

    /// Rewrite callbacks.ts with a new label: a callbacks-only change (same configHash, new
    /// contentHash), written the way an editor without rename-saves writes.
    pub fn save(&mut self) -> anyhow::Result<()> {
        self.revision += 1;
        fs::write(self.callbacks_file(), self.callbacks_source()).context("writing callbacks.ts")
    }

    /// The callbacks source of the next save (written by the caller when it stamps the write).
    pub fn next_callbacks(&mut self) -> (PathBuf, String) {
        self.revision += 1;
        (self.callbacks_file(), self.callbacks_source())
    }

    fn callbacks_source(&self) -> String {
        let (import, total) = if self.extra_modules > 0 {
            ("import { total } from \"./mods/all\";\n", "total")
        } else {
            ("", "0")
        };
        format!(
            "import type {{ TrainerCallbacks }} from \"arkor\";\n{import}\nconst LABEL = \"rev-{rev}\";\n\nexport const callbacks: Partial<TrainerCallbacks> = {{\n  onStarted: ({{ job }}) => {{\n    console.log(`[${{LABEL}}] job ${{job.id}} started (${{{total}}})`);\n  }},\n  onLog: ({{ step, loss }}) => {{\n    console.log(`[${{LABEL}}] step=${{step}} loss=${{loss}}`);\n  }},\n  onCheckpoint: ({{ step }}) => {{\n    console.log(`[${{LABEL}}] checkpoint ${{step}}`);\n  }},\n}};\n",
            rev = self.revision
        )
    }

    /// Install the simulated SDK with the bench runner as its `bin.arkor`.
    pub fn install_bench_sdk(&self) -> anyhow::Result<()> {
        arkor_tui::assets::install_sdk(&self.root).context("installing the simulated SDK")?;
        let sdk = self.root.join("node_modules/arkor");
        fs::write(sdk.join("bench-runner.mjs"), BENCH_RUNNER)?;
        let manifest_path = sdk.join("package.json");
        let mut manifest: serde_json::Value =
            serde_json::from_str(&fs::read_to_string(&manifest_path)?)?;
        manifest["bin"] = serde_json::json!({ "arkor": "bench-runner.mjs" });
        fs::write(&manifest_path, serde_json::to_string_pretty(&manifest)?)?;
        Ok(())
    }

    /// Link `node_modules/arkor` to the reference SDK package and write the project state the
    /// reference reads at start (so it never tries to create a cloud project).
    pub fn link_reference_sdk(&self, package_dir: &Path) -> anyhow::Result<()> {
        let node_modules = self.root.join("node_modules");
        fs::create_dir_all(&node_modules)?;
        std::os::unix::fs::symlink(package_dir, node_modules.join("arkor"))
            .context("linking node_modules/arkor to the reference SDK")?;
        fs::create_dir_all(self.root.join(".arkor"))?;
        fs::write(
            self.root.join(".arkor/state.json"),
            r#"{"orgSlug":"o","projectSlug":"p","projectId":"x"}"#,
        )?;
        Ok(())
    }
}

/// A module with a little real code (a class, a loop, a template string), like user code.
fn generated_module(i: usize) -> String {
    format!(
        r#"export interface Shape{i} {{ id: number; label: string; values: number[] }}

export class Accumulator{i} {{
  private readonly items: Shape{i}[] = [];
  add(item: Shape{i}): this {{
    this.items.push(item);
    return this;
  }}
  sum(): number {{
    let total = 0;
    for (const item of this.items) {{
      for (const v of item.values) total += v * {i};
    }}
    return total;
  }}
  describe(): string {{
    return `acc-{i}: ${{this.items.length}} items, sum=${{this.sum()}}`;
  }}
}}

export function weight{i}(x: number): number {{
  const acc = new Accumulator{i}().add({{ id: {i}, label: "m{i}", values: [x, x * 2, x * 3] }});
  return acc.sum() % 7;
}}
"#
    )
}

/// A bench project at `root` whose `.arkor/state.json` gives it a project scope (org `o`, as
/// [`write_home`]'s identity; project `bench`), so the dashboard's cloud side (its runs'
/// jobs, the Jobs view) talks to the stand-in cloud (the small project has no scope, and its
/// simulated cloud does not know the bench runner's jobs: its runs follow nothing).
pub fn scoped_project(root: &Path) -> anyhow::Result<PathBuf> {
    let project = BenchProject::create(root, 0)?;
    project.install_bench_sdk()?;
    // Not the simulated SDK's version: arkor then starts no simulated cloud and the runs'
    // cloud is the one the credentials and `ARKOR_CLOUD_API_URL` name (the stand-in).
    let manifest_path = project.root.join("node_modules/arkor/package.json");
    let mut manifest: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(&manifest_path)?)?;
    manifest["version"] = serde_json::json!("0.0.0-bench");
    fs::write(&manifest_path, serde_json::to_string_pretty(&manifest)?)?;
    let state = project.root.join(".arkor/state.json");
    fs::create_dir_all(state.parent().context("state folder")?)?;
    fs::write(
        &state,
        r#"{"orgSlug":"o","projectSlug":"bench","projectId":"p-bench"}"#,
    )?;
    Ok(project.root)
}

/// A HOME with anonymous credentials pointing at a closed local port, so nothing ever
/// signs in or reaches the internet.
pub fn write_home(home: &Path, cloud_url: &str) -> anyhow::Result<()> {
    let dir = home.join(".arkor");
    fs::create_dir_all(&dir)?;
    fs::write(
        dir.join("credentials.json"),
        serde_json::json!({
            "mode": "anon",
            "token": "t",
            "anonymousId": "a",
            "arkorCloudApiUrl": cloud_url,
            "orgSlug": "o"
        })
        .to_string(),
    )?;
    Ok(())
}

/// A loopback port nothing listens on (bound and released at once).
pub fn free_port() -> anyhow::Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?.port())
}

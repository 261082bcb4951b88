//! End-to-end tests of the real `arkor` binary: headless JSON output (issue 3), signals and
//! shutdown, parent death, the simulated cloud of simulated-SDK projects, `arkor build`, and the
//! npm packages (npm/). Each test uses a temp project and a temp HOME.

#[path = "shared/mod.rs"]
mod shared;

#[path = "cli/build.rs"]
mod build;
#[path = "cli/faults.rs"]
mod faults;
#[path = "cli/headless.rs"]
mod headless;
#[path = "cli/npm.rs"]
mod npm;
#[path = "cli/shutdown.rs"]
mod shutdown;
#[path = "cli/sim_cloud.rs"]
mod sim_cloud;
#[path = "cli/stack_traces.rs"]
mod stack_traces;
#[path = "cli/startup.rs"]
mod startup;
#[path = "cli/support.rs"]
mod support;
#[path = "cli/training.rs"]
mod training;

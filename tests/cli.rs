//! End-to-end tests of the real `arkor` binary: headless JSON output (issue 3), signals and
//! shutdown, parent death, and `arkor build`. Each test uses a temp project and a temp HOME.

#[path = "shared/mod.rs"]
mod shared;

#[path = "cli/build.rs"]
mod build;
#[path = "cli/headless.rs"]
mod headless;
#[path = "cli/shutdown.rs"]
mod shutdown;
#[path = "cli/support.rs"]
mod support;

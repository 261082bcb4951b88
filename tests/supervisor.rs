//! Supervisor and dispatch with real Node children, real signals and real pipes.
//! Children live in tests/fixtures/children/.

#[path = "shared/mod.rs"]
mod shared;

#[path = "supervisor/support.rs"]
mod support;

#[path = "supervisor/lifecycle.rs"]
mod lifecycle;

#[path = "supervisor/output.rs"]
mod output;

#[path = "supervisor/dispatch.rs"]
mod dispatch;

#[path = "supervisor/log_files.rs"]
mod log_files;

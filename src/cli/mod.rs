//! Command-line front: argument parsing and the small commands (`build`, headless, demo).

pub mod args;
pub mod build;
pub mod dev;
pub mod forward;
pub mod headless;
pub mod launcher;
pub mod logging;
pub mod open_files;
pub mod preflight;
pub mod signals;
pub mod sim_cloud;
pub mod stdout_lines;

//! Command-line front: argument parsing and the small commands (`build`, headless, demo).

pub mod args;
pub mod build;
pub mod dev;
pub mod forward;
pub mod headless;
pub mod logging;
pub mod signals;

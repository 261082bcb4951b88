//! Command-line front: argument parsing and the small commands (`build`, headless, demo).

pub mod build;

//! Integration tests of the build pipeline: Rolldown builds, hashes, the Node inspector, the
//! watcher-driven build loop and `arkor build`. Real files, real Node, real inotify.

#[path = "shared/mod.rs"]
mod shared;

#[path = "build/common.rs"]
mod common;

#[path = "build/builder.rs"]
mod builder;

#[path = "build/inspector.rs"]
mod inspector;

#[path = "build/project.rs"]
mod project;

#[path = "build/watcher.rs"]
mod watcher;

#[path = "build/cli.rs"]
mod cli;

#[path = "build/sdk_project.rs"]
mod sdk_project;

#[path = "build/incremental.rs"]
mod incremental;

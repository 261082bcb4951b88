//! arkor tui: a native terminal dev console for arkor projects.
//!
//! `core` is the engine (build, watch, inspect, supervise, dispatch); `server` and `tui`
//! are front ends over it that only send commands and read events.

pub mod assets;
pub mod cli;
pub mod core;
pub mod server;
pub mod tui;

//! End-to-end tests of the dev loop through the real engine (`core::engine::start`): a temp
//! copy of the demo project with the simulated SDK, real Node runners, real signals.

#[path = "shared/mod.rs"]
mod shared;

#[path = "engine/burst.rs"]
mod burst;
#[path = "engine/dev_loop.rs"]
mod dev_loop;
#[path = "engine/restart.rs"]
mod restart;
#[path = "engine/stop.rs"]
mod stop;
#[path = "engine/support.rs"]
mod support;

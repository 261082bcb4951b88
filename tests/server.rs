//! The Studio-compatible dev server over real HTTP on 127.0.0.1.

#[path = "shared/mod.rs"]
mod shared;

#[path = "server/common.rs"]
mod common;
#[path = "server/connections.rs"]
mod connections;
#[path = "server/engine_e2e.rs"]
mod engine_e2e;
#[path = "server/guards.rs"]
mod guards;
#[path = "server/sse.rs"]
mod sse;
#[path = "server/studio.rs"]
mod studio;
#[path = "server/studio_flow.rs"]
mod studio_flow;
#[path = "server/token.rs"]
mod token;
#[path = "server/train.rs"]
mod train;

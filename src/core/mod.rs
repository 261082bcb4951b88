//! The engine: pure logic and OS work. Knows nothing of terminals or HTTP servers.

pub mod build;
pub mod cloud;
pub mod engine;
pub mod events;
pub mod hash;
pub mod inspect;
pub mod logs;
pub mod process;
pub mod project;
pub mod registry;
pub mod run_files;
pub mod run_output;
pub mod stackmap;
pub mod supervisor;
pub mod timestamp;
pub mod training;
pub mod watch;

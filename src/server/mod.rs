//! The Studio-compatible dev server (axum). (to be written)
pub mod cloud;

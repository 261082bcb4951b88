//! The Studio-compatible dev server (axum). (to be written)

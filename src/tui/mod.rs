//! The ratatui dashboard. (to be written)

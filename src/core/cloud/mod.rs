//! Cloud side of arkor: credentials, project state, the HTTP client (SPEC §12). (to be written)

//! One module per Corefile plugin: its setup (Corefile tokens -> typed config) and its handler.

pub mod fallthrough;
pub mod kubernetes;

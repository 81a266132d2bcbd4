//! The built plugin library loaded by a real CLAP host (clack-host), in one test binary (see
//! `tests/engine/main.rs` for why binaries are few).

#[path = "../common/clap_host.rs"]
mod clap_host;
#[path = "../common/mod.rs"]
mod common;
#[path = "../common/state.rs"]
mod state;

mod clap_plugin;
mod fuzz;
mod host;
mod wclap;

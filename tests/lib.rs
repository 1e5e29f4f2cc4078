//! Shared helpers for the end-to-end suite: the real `cassachange` binary, scratch
//! projects, and the Python `cassachange==1.0.0` peer.
//!
//! Nothing here fakes a part: tests run the binary built by `cargo build`, and the
//! Python tool from the venv that `tests/cassandra/node.sh venv` maintains. Modules by
//! job: `artifacts` (what is tested), `process` (running it), `project` (where),
//! `leaks` (secret probes), `db` (the Cassandra instances), and the stand-ins
//! (`astra`, `aws`, `azure`, `vault`, `stub`).

pub mod artifacts;
pub mod astra;
pub mod aws;
pub mod azure;
pub mod certs;
pub mod db;
pub mod leaks;
pub mod process;
pub mod project;
pub mod scenarios;
pub mod stub;
pub mod vault;

pub use artifacts::*;
pub use leaks::{base64, files_containing, open_files, SecretsProject};
pub use process::*;
pub use project::*;

//! The SCIM load generator: lean keep-alive HTTP/1.1 clients, the workloads the speed
//! targets name (read by id, `userName eq` filter, create), latency statistics, and the
//! bare axum baseline the reads are compared against.
//!
//! The generator shares two cores with the server under test, so it stays cheap per
//! request: one connection per task on bare hyper (no pool, no TLS), request bodies
//! serialised into reused buffers, latencies kept as `u32` microseconds in one `Vec` per
//! task and merged once at the end.
//!
//! **Architecture invariant:** only loopback-style `http://host:port` URLs are spoken
//! to; there is no TLS and no proxy support.

mod baseline;
mod client;
mod run;
mod seed;
mod stats;
mod user;

pub use baseline::baseline_router;
pub use client::{ClientError, Connection, Endpoint, Reply, SCIM_JSON};
pub use run::{run_load, LoadError, LoadPlan, LoadReport, Scenario, UnknownScenario};
pub use seed::{seed_users, verify_user_names, SeedError, SeedOutcome, VerifyOutcome};
pub use stats::LatencySummary;
pub use user::{created_user_name, seeded_user_name, write_user_body};

//! End-to-end tests: the real `cassachange` binary (and, for database topics, a real
//! Cassandra node and the Python `cassachange==1.0.0`). One test binary of topic modules.

/// Runs each scenario `fn name(db: &'static Instance)` of the module as two tests:
/// `on_5_0::name` on the Cassandra 5.0 node and `on_4_1::name` on the 4.1 node.
macro_rules! on_both {
    ($($name:ident),* $(,)?) => {
        mod on_5_0 {
            $( #[test] fn $name() { super::$name(cassachange_tests::db::plain()) } )*
        }
        mod on_4_1 {
            $( #[test] fn $name() { super::$name(cassachange_tests::db::c41()) } )*
        }
    };
}

mod astra;
mod baseline;
mod cassandra4;
mod catalogue;
mod checksum_compat;
mod cli_config;
// Early in the order: its one long test (the two-datacenter scenarios, ~200 s) then
// runs beside the others instead of alone at the end.
mod cluster_topology;
mod compat;
mod concurrency;
mod connect;
mod corpus;
mod deploy;
mod drift;
mod engine;
mod freeze;
mod json;
mod notify;
mod packaging;
mod plan;
mod plugin;
mod rollback;
mod secrets_aws;
mod secrets_azure;
mod secrets_leak;
mod secrets_vault;
mod smoke;
mod stops;
mod tls;
mod validate;
mod windows;
mod workflow;

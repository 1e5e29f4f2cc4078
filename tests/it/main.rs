//! End-to-end tests: the real `cassachange` binary (and, for database topics, a real
//! Cassandra node and the Python `cassachange==1.0.0`). One test binary of topic modules.

mod astra;
mod baseline;
mod checksum_compat;
mod cli_config;
mod compat;
mod concurrency;
mod connect;
mod corpus;
mod deploy;
mod engine;
mod notify;
mod plugin;
mod rollback;
mod secrets_aws;
mod secrets_azure;
mod secrets_leak;
mod secrets_vault;
mod smoke;
mod validate;

//! pulse-ingest: lands Kafka events in day-partitioned PostgreSQL tables exactly once.
//!
//! Exactly once comes from Postgres, not Kafka: the consumed (topic, partition, offset) is
//! written in the same transaction as the rows, the consumer seeks to the stored offsets on
//! assignment, and every flush re-reads the stored offset under a row lock and skips messages
//! already landed (so a stale batch from a revoked partition can never land twice).
pub mod config;
pub mod consumer;
pub mod contract;
pub mod db;
pub mod dlq;
pub mod kafka;
pub mod lag;
pub mod maintenance;
pub mod metrics;
pub mod migrate;
pub mod mirror;
pub mod sink;
pub mod writer;

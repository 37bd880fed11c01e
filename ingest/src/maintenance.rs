//! Partition upkeep without pg_cron: the ingester calls `raw.run_maintenance()` (partitions ahead,
//! rollups, retention) on a timer, unless pg_cron already schedules it in this database.
use crate::db;
use std::time::Duration;
use tokio_postgres::Config as PgConfig;
use tracing::{info, warn};

pub fn spawn(pg: PgConfig, every: Duration) {
    tokio::spawn(async move {
        loop {
            match run_once(&pg).await {
                Ok(Some(actions)) => info!(actions, "raw.run_maintenance() done"),
                Ok(None) => info!("partition maintenance is scheduled by pg_cron; the ingester leaves it alone"),
                Err(e) if e.code().is_some_and(|c| c.code() == "42883") => {
                    warn!(
                        error_code = "maintenance_missing",
                        "raw.run_maintenance() does not exist; run pulse-ingest migrate"
                    );
                    return;
                }
                Err(e) => {
                    warn!(error_code = "maintenance_failed", error = %e, "raw.run_maintenance() failed; retrying later")
                }
            }
            tokio::time::sleep(every).await;
        }
    });
}

/// Runs maintenance once; None when pg_cron schedules it.
async fn run_once(pg: &PgConfig) -> Result<Option<i64>, tokio_postgres::Error> {
    let client = match db::connect(pg).await {
        Ok(c) => c,
        Err(e) => {
            warn!(error_code = "maintenance_failed", error = %e, "cannot connect for maintenance");
            return Ok(Some(0));
        }
    };
    if client.query_one("select raw.maintenance_scheduled_by_pg_cron()", &[]).await?.get::<_, bool>(0) {
        return Ok(None);
    }
    Ok(Some(client.query_one("select count(*) from raw.run_maintenance()", &[]).await?.get(0)))
}

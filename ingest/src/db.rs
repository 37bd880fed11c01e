//! PostgreSQL connection settings: a URL, or the libpq environment (PGHOST, PGPORT, ...).
use anyhow::{Context, Result};
use tokio_postgres::{Client, Config, NoTls};

/// Builds a connection config from `url` when given, otherwise from the libpq variables
/// PGHOST, PGPORT, PGUSER, PGPASSWORD and PGDATABASE (tokio-postgres does not read them).
pub fn config(url: Option<&str>) -> Result<Config> {
    if let Some(url) = url {
        return url.parse::<Config>().context("invalid database URL").map(with_timeouts);
    }
    let mut cfg = Config::new();
    let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    cfg.host(&env("PGHOST").unwrap_or_else(|| "127.0.0.1".into()));
    if let Some(port) = env("PGPORT") {
        cfg.port(port.parse().context("PGPORT is not a port number")?);
    }
    let user = env("PGUSER").unwrap_or_else(|| "postgres".into());
    cfg.dbname(&env("PGDATABASE").unwrap_or_else(|| user.clone()));
    cfg.user(&user);
    if let Some(pw) = env("PGPASSWORD") {
        cfg.password(pw);
    }
    cfg.application_name("pulse-ingest");
    Ok(with_timeouts(cfg))
}

/// A connection attempt or a dead peer (a half-open TCP connection after a network failure) is
/// noticed within seconds instead of hanging a writer; URL parameters still win when given.
fn with_timeouts(mut cfg: Config) -> Config {
    if cfg.get_connect_timeout().is_none() {
        cfg.connect_timeout(std::time::Duration::from_secs(10));
    }
    cfg.keepalives(true).keepalives_idle(std::time::Duration::from_secs(30));
    cfg
}

/// Connects and drives the connection on a background task.
pub async fn connect(cfg: &Config) -> Result<Client> {
    let (client, connection) = cfg.connect(NoTls).await.context("cannot connect to PostgreSQL")?;
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::warn!(error_code = "pg_connection_lost", error = %e, "postgres connection ended");
        }
    });
    Ok(client)
}

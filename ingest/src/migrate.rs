//! Applies `migrations/NNNN_name.sql` in order, once each, recorded in `raw.schema_migrations`.
//!
//! Every migration is itself idempotent (IF NOT EXISTS), so applying to a database that already
//! has some of the objects works; the record makes re-runs cheap and detects edited files.
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use tokio_postgres::Client;

#[derive(Debug, Clone, PartialEq)]
pub struct Migration {
    pub version: String,
    pub path: PathBuf,
    pub sql: String,
    pub checksum: String,
}

/// Lists `*.sql` files named `NNNN_description.sql`, sorted by version.
pub fn discover(dir: &Path) -> Result<Vec<Migration>> {
    let mut out = Vec::new();
    let entries =
        std::fs::read_dir(dir).with_context(|| format!("cannot read migrations directory {}", dir.display()))?;
    for entry in entries {
        let path = entry?.path();
        if path.extension().and_then(|e| e.to_str()) != Some("sql") {
            continue;
        }
        let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or_default().to_string();
        let version = stem.split('_').next().unwrap_or_default().to_string();
        if version.len() != 4 || !version.bytes().all(|b| b.is_ascii_digit()) {
            bail!("migration file {} must be named NNNN_description.sql", path.display());
        }
        let sql = std::fs::read_to_string(&path)?;
        let checksum = format!("{:016x}", fnv1a64(sql.as_bytes()));
        out.push(Migration { version: stem, path, sql, checksum });
    }
    out.sort_by(|a, b| a.version.cmp(&b.version));
    for pair in out.windows(2) {
        if pair[0].version[..4] == pair[1].version[..4] {
            bail!("two migrations share number {}", &pair[0].version[..4]);
        }
    }
    Ok(out)
}

// A content fingerprint to notice edited migrations, not a security hash; FNV keeps us free of
// another dependency for 10 lines.
fn fnv1a64(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ u64::from(*b)).wrapping_mul(0x100_0000_01b3))
}

/// Applies pending migrations, each in its own transaction, under an advisory lock.
/// Returns the versions applied now.
pub async fn apply(client: &mut Client, migrations: &[Migration]) -> Result<Vec<String>> {
    client
        .batch_execute(
            "set client_min_messages = warning;
             select pg_advisory_lock(hashtext('pulse.migrations'));
             create schema if not exists raw;
             create table if not exists raw.schema_migrations (
               version text primary key, checksum text not null, applied_at timestamptz not null default now());",
        )
        .await
        .context("cannot prepare raw.schema_migrations")?;
    let result = apply_locked(client, migrations).await;
    client.batch_execute("select pg_advisory_unlock(hashtext('pulse.migrations'))").await?;
    result
}

async fn apply_locked(client: &mut Client, migrations: &[Migration]) -> Result<Vec<String>> {
    let mut applied = Vec::new();
    for m in migrations {
        let row =
            client.query_opt("select checksum from raw.schema_migrations where version = $1", &[&m.version]).await?;
        if let Some(row) = row {
            let recorded: String = row.get(0);
            if recorded != m.checksum {
                bail!(
                    "migration {} was edited after it was applied (checksum {} recorded, {} on disk); add a new migration instead",
                    m.version, recorded, m.checksum
                );
            }
            continue;
        }
        let tx = client.transaction().await?;
        tx.batch_execute(&m.sql).await.with_context(|| format!("migration {} failed", m.path.display()))?;
        tx.execute("insert into raw.schema_migrations (version, checksum) values ($1, $2)", &[&m.version, &m.checksum])
            .await?;
        tx.commit().await?;
        applied.push(m.version.clone());
    }
    Ok(applied)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn discovers_in_order_and_rejects_bad_names() {
        let dir = std::env::temp_dir().join(format!("pulse-migrate-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("0002_b.sql"), "select 2;").unwrap();
        std::fs::write(dir.join("0001_a.sql"), "select 1;").unwrap();
        std::fs::write(dir.join("README.md"), "ignored").unwrap();
        let found = discover(&dir).unwrap();
        assert_eq!(found.iter().map(|m| m.version.as_str()).collect::<Vec<_>>(), ["0001_a", "0002_b"]);
        assert_ne!(found[0].checksum, found[1].checksum);
        std::fs::write(dir.join("x_bad.sql"), "").unwrap();
        assert!(discover(&dir).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn fnv1a64_reference() {
        assert_eq!(fnv1a64(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a64(b"a"), 0xaf63_dc4c_8601_ec8c);
    }
}

-- Incremental dbt models find newly landed rows by _ingested_at (dbt/macros/incremental.sql).
-- Rows land in ingest order, so within each day partition _ingested_at follows the physical order
-- and a BRIN index answers "landed since" by reading a few block ranges, for a few kB per
-- partition and next to nothing per insert.
create index if not exists orders_ingested_brin on raw.orders using brin (_ingested_at);
create index if not exists payments_ingested_brin on raw.payments using brin (_ingested_at);
create index if not exists clickstream_ingested_brin on raw.clickstream using brin (_ingested_at);
create index if not exists inventory_ingested_brin on raw.inventory using brin (_ingested_at);
create index if not exists exposures_ingested_brin on raw.exposures using brin (_ingested_at);

-- Offsets consumed by pulse-ingest, written in the same transaction as the rows they produced.
-- next_offset is the Kafka offset of the next message to land for that partition.
create table if not exists raw.ingest_offsets (
  consumer_group text        not null,
  topic          text        not null,
  partition      integer     not null,
  next_offset    bigint      not null check (next_offset >= 0),
  updated_at     timestamptz not null default now(),
  primary key (consumer_group, topic, partition)
);
comment on table raw.ingest_offsets is 'next kafka offset to land per (consumer group, topic, partition), committed with the rows';

-- Messages pulse-ingest could not land, with the raw bytes and the reason, so nothing is lost.
create table if not exists raw.dead_letters (
  id             bigint generated always as identity primary key,
  topic          text        not null,
  partition      integer     not null,
  "offset"       bigint      not null,
  key            bytea,
  payload        bytea,
  error_code     text        not null,
  error_message  text        not null,
  failed_at      timestamptz not null default now()
);
comment on table raw.dead_letters is 'messages pulse-ingest rejected, with raw bytes, a stable error code and the reason';
create index if not exists dead_letters_source_idx on raw.dead_letters (topic, partition, "offset");

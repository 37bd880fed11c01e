-- The other event families, each in its own day-partitioned raw table with the same ingest
-- metadata as raw.orders, and the CDC mirror tables with their change history.

-- raw.clickstream: storefront events (topic "clickstream"), partitioned by occurred_at.
create table if not exists raw.clickstream (
  event_id       text        not null,
  event_type     text        not null check (event_type in ('page_view', 'product_view', 'search', 'add_to_cart', 'checkout_start')),
  session_id     text        not null,
  customer_id    text,
  occurred_at    timestamptz not null,
  page           text,
  product_id     text,
  query          text,
  quantity       integer     check (quantity > 0),
  device         text,
  ip_country     text,
  event_version  integer     not null,
  _topic         text        not null,
  _partition     integer     not null,
  _offset        bigint      not null,
  _ingested_at   timestamptz not null default now()
) partition by range (occurred_at);
comment on table raw.clickstream is 'storefront events (page_view, product_view, search, add_to_cart, checkout_start) landed by pulse-ingest, partitioned by UTC day of occurred_at';
create index if not exists clickstream_session_idx on raw.clickstream (session_id, occurred_at);
create index if not exists clickstream_customer_idx on raw.clickstream (customer_id, occurred_at);

-- raw.payments: authorisations, declines and chargebacks (topic "payments").
create table if not exists raw.payments (
  payment_id         text        not null,
  event_type         text        not null check (event_type in ('payment_authorized', 'payment_declined', 'chargeback')),
  order_id           text        not null,
  occurred_at        timestamptz not null,
  amount             numeric(12, 2) not null check (amount >= 0),
  currency           text        not null check (currency ~ '^[A-Z]{3}$'),
  card_fingerprint   text,
  decline_reason     text,
  chargeback_reason  text,
  event_version      integer     not null,
  _topic             text        not null,
  _partition         integer     not null,
  _offset            bigint      not null,
  _ingested_at       timestamptz not null default now()
) partition by range (occurred_at);
comment on table raw.payments is 'payment events landed by pulse-ingest; chargebacks arrive 1-60 days after the order and are the fraud label';
create index if not exists payments_order_idx on raw.payments (order_id);
create index if not exists payments_card_idx on raw.payments (card_fingerprint, occurred_at);

-- raw.inventory: stock changes (topic "inventory").
create table if not exists raw.inventory (
  event_id       text        not null,
  product_id     text        not null,
  occurred_at    timestamptz not null,
  delta          integer     not null check (delta <> 0),
  reason         text        not null check (reason in ('restock', 'sale', 'return', 'adjustment')),
  stock_after    integer     not null check (stock_after >= 0),
  event_version  integer     not null,
  _topic         text        not null,
  _partition     integer     not null,
  _offset        bigint      not null,
  _ingested_at   timestamptz not null default now()
) partition by range (occurred_at);
comment on table raw.inventory is 'stock changes landed by pulse-ingest; stock_after is the units on hand after the change';
create index if not exists inventory_product_idx on raw.inventory (product_id, occurred_at);

-- raw.exposures: experiment exposures (topic "exposures").
create table if not exists raw.exposures (
  event_id        text        not null,
  experiment_key  text        not null,
  variant         text        not null,
  unit_id         text        not null,
  occurred_at     timestamptz not null,
  source          text,
  event_version   integer     not null,
  _topic          text        not null,
  _partition      integer     not null,
  _offset         bigint      not null,
  _ingested_at    timestamptz not null default now()
) partition by range (occurred_at);
comment on table raw.exposures is 'experiment exposures landed by pulse-ingest (every exposure; the first per unit is what analyses use)';
create index if not exists exposures_experiment_unit_idx on raw.exposures (experiment_key, unit_id, occurred_at);

select raw.ensure_day_partitions(t, current_date - 7, current_date + 7)
  from unnest(array['raw.clickstream', 'raw.payments', 'raw.inventory', 'raw.exposures']::regclass[]) t;

-- CDC mirrors: the current state of each source row. A deleted row stays as a tombstone
-- (_deleted = true) so that a replayed older change, compared by LSN, cannot bring it back.
create table if not exists raw.customers (
  customer_id  text primary key,
  email        text,
  country      text,
  segment      text,
  created_at   timestamptz,
  _op          text        not null check (_op in ('c', 'r', 'u', 'd', 't')),
  _lsn         bigint      not null,
  _tx_id       bigint,
  _source_ts   timestamptz not null,
  _deleted     boolean     not null default false,
  _updated_at  timestamptz not null default now()
);
comment on table raw.customers is 'mirror of the source customers table from debezium CDC, applied in LSN order; deleted rows have _deleted = true';

create table if not exists raw.products (
  product_id   text primary key,
  name         text,
  category     text,
  price        numeric(12, 2) check (price >= 0),
  currency     text,
  active       boolean,
  _op          text        not null check (_op in ('c', 'r', 'u', 'd', 't')),
  _lsn         bigint      not null,
  _tx_id       bigint,
  _source_ts   timestamptz not null,
  _deleted     boolean     not null default false,
  _updated_at  timestamptz not null default now()
);
comment on table raw.products is 'mirror of the source products table from debezium CDC, applied in LSN order; deleted rows have _deleted = true';

-- Every change ever applied, once: replaying the same envelopes inserts nothing new.
create table if not exists raw.cdc_changes (
  entity        text        not null,
  key           text,
  op            text        not null check (op in ('c', 'r', 'u', 'd', 't')),
  lsn           bigint      not null,
  tx_id         bigint,
  source_ts     timestamptz not null,
  before        jsonb,
  after         jsonb,
  _topic        text        not null,
  _partition    integer     not null,
  _offset       bigint      not null,
  _ingested_at  timestamptz not null default now(),
  unique nulls not distinct (entity, key, lsn, source_ts)
) partition by range (source_ts);
comment on table raw.cdc_changes is 'history of CDC changes (debezium envelopes) for customers and products, one row per change, partitioned by UTC day of source_ts';
create index if not exists cdc_changes_truncate_idx on raw.cdc_changes (entity, lsn) where op = 't';
select raw.ensure_day_partitions('raw.cdc_changes', current_date - 7, current_date + 7);

-- Dead letters remember whether `pulse-ingest dlq replay` has landed them.
alter table raw.dead_letters add column if not exists replayed_at timestamptz;
alter table raw.dead_letters add column if not exists replay_error text;
comment on column raw.dead_letters.replayed_at is 'when pulse-ingest dlq replay landed this message; null while it is still dead';
comment on column raw.dead_letters.replay_error is 'why the last replay could not land it (the current contract still refuses it)';

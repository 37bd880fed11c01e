-- raw.orders: order events (topic "orders"), one row per event, partitioned by order time.
create table if not exists raw.orders (
  order_id          text        not null,
  customer_id       text        not null,
  created_at        timestamptz not null,
  amount            numeric(12, 2) not null check (amount >= 0),
  currency          text        not null check (currency ~ '^[A-Z]{3}$'),
  items             integer     not null check (items > 0),
  payment_method    text        not null,
  card_fingerprint  text,
  ip_country        text,
  shipping_country  text,
  billing_country   text,
  device            text,
  email_domain      text,
  event_version     integer     not null,
  -- ingest metadata: where the event came from and when it landed
  _topic            text        not null,
  _partition        integer     not null,
  _offset           bigint      not null,
  _ingested_at      timestamptz not null default now()
) partition by range (created_at);
comment on table raw.orders is 'order events landed by pulse-ingest, exactly once, partitioned by UTC day of created_at';

create index if not exists orders_customer_created_idx on raw.orders (customer_id, created_at);
create index if not exists orders_order_id_idx on raw.orders (order_id);

-- Partitions ahead for the usual data range; pulse-ingest creates any other day on demand.
select raw.ensure_day_partitions('raw.orders', current_date - 7, current_date + 7);

//! The event stream: episodes of the simulated shop (see `shop.rs`) schedule events, and a
//! min-heap on (event time, sequence) merges them into one time-ordered stream of messages.
//!
//! State that depends on the order events happen in (stock levels, the source database's LSN and
//! transaction ids) is resolved when an event leaves the heap, so it is consistent in emission
//! order even when episodes overlap in time.
use crate::invalid;
use crate::world::{timestamp, World, DAY};
use chrono::Utc;
use pulse_ingest::contract::{ClickEvent, Entity, ExposureEvent, Family, InventoryEvent, OrderEvent, PaymentEvent};
use rand::prelude::*;
use rand_chacha::ChaCha8Rng;
use serde::Serialize;
use serde_json::{json, Value};
use std::cmp::{Ordering, Reverse};
use std::collections::{BinaryHeap, VecDeque};

pub const SECOND: i64 = 1_000;
pub const MINUTE: i64 = 60 * SECOND;
pub const HOUR: i64 = 60 * MINUTE;
/// Sessions start at least this long before --end, so their orders and payments fit before it.
const END_MARGIN: i64 = 30 * MINUTE;

// Per order slot: the chance of a card-testing burst (5–20 orders) or a fraud-ring order instead of
// an ordinary purchase (together ~2 % of orders), and of a catalogue or customer change.
const P_CARD_TESTING: f64 = 0.0008;
const P_RING_ORDER: f64 = 0.011;
const P_CUSTOMER_CHANGE: f64 = 0.02;
const P_PRODUCT_CHANGE: f64 = 0.01;
/// Stock at or below this triggers a restock a few hours later.
const LOW_STOCK: i32 = 10;

pub struct Config {
    pub seed: u64,
    /// Orders to generate; everything else is derived from the world they happen in.
    pub orders: u64,
    pub start_ms: i64,
    pub end_ms: i64,
    /// Families to emit, in `Family::ALL` order; the world is the same whatever is selected.
    pub families: Vec<Family>,
    pub invalid: u64,
    /// Stamp events with the wall clock when they leave the generator; no chargebacks.
    pub live: bool,
    /// From this time on, a known drift (see `Shop::shifted`): orders cost 1.5 times as much and
    /// more visitors come on mobile. Every other distribution stays as it was.
    pub shift_from_ms: Option<i64>,
}

pub struct Message {
    pub family: Family,
    pub key: Vec<u8>,
    /// None for a tombstone (valid on CDC topics) or a deliberately missing payload.
    pub payload: Option<Vec<u8>>,
    /// The dead-letter code the ingester must assign; None for valid messages.
    pub expected_code: Option<&'static str>,
}

impl Message {
    pub fn is_tombstone(&self) -> bool {
        self.payload.is_none() && self.expected_code.is_none()
    }
}

/// An event waiting in the heap; its time field is set when it is emitted.
pub(crate) enum Pending {
    Click(ClickEvent),
    Exposure(ExposureEvent),
    Order(OrderEvent),
    Payment(PaymentEvent),
    Stock { product: usize, delta: i32, reason: &'static str },
    Change { entity: Entity, op: char, key: String, before: Option<Value>, after: Option<Value> },
    Invalid { family: Family, code: &'static str, id: String },
}

struct Scheduled {
    at: i64,
    seq: u64,
    item: Pending,
}

impl PartialEq for Scheduled {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}
impl Eq for Scheduled {}
impl PartialOrd for Scheduled {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Scheduled {
    fn cmp(&self, other: &Self) -> Ordering {
        (self.at, self.seq).cmp(&(other.at, other.seq))
    }
}

pub(crate) enum Episode {
    Purchase,
    RingOrder,
    CardTesting(u64),
    Browse,
    CustomerChange,
    ProductChange,
    Invalid(Family, &'static str),
}

pub struct Generator {
    pub(crate) cfg: Config,
    pub(crate) rng: ChaCha8Rng,
    pub(crate) world: World,
    queue: BinaryHeap<Reverse<Scheduled>>,
    seq: u64,
    ready: VecDeque<Message>,
    plan: VecDeque<(i64, Episode)>,
    next_slot: u64,
    /// Order slots already taken by a card-testing burst.
    burst_credit: u64,
    invalid_planned: u64,
    ids: u64,
    pub(crate) orders_placed: u64,
    orders_emitted: u64,
    lsn: i64,
    tx_id: i64,
}

impl Generator {
    pub fn new(cfg: Config) -> Generator {
        let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed);
        // ~count/5 customers in all (at least 50), of which ~15 % sign up during the run.
        let customers = (cfg.orders / 5 * 85 / 100).max(50) as usize;
        let products = (cfg.orders / 20).clamp(200, 2000) as usize;
        let world = World::new(&mut rng, cfg.seed, customers, products, cfg.start_ms);
        let (lsn, tx_id) = (rng.gen_range(20_000_000..30_000_000), rng.gen_range(700..900));
        let mut g = Generator {
            cfg,
            rng,
            world,
            queue: BinaryHeap::new(),
            seq: 0,
            ready: VecDeque::new(),
            plan: VecDeque::new(),
            next_slot: 0,
            burst_credit: 0,
            invalid_planned: 0,
            ids: 0,
            orders_placed: 0,
            orders_emitted: 0,
            lsn,
            tx_id,
        };
        g.snapshot();
        g
    }

    /// Orders emitted so far (for progress reporting).
    pub fn orders_emitted(&self) -> u64 {
        self.orders_emitted
    }

    /// True while the next message belongs to the initial snapshot (CDC reads and opening
    /// stock), which live mode sends unpaced, as Debezium would.
    pub fn at_snapshot(&self) -> bool {
        self.ready.is_empty() && self.queue.peek().is_some_and(|Reverse(s)| s.at == self.cfg.start_ms)
    }

    /// The next message in event-time order; None when every order and its aftermath is out.
    pub fn next_message(&mut self) -> Option<Message> {
        loop {
            if let Some(m) = self.ready.pop_front() {
                return Some(m);
            }
            let horizon = self.next_episode_at();
            // An event may leave the heap once no episode still to run can schedule anything earlier.
            match self.queue.peek() {
                Some(Reverse(s)) if s.at <= horizon => {
                    let Some(Reverse(s)) = self.queue.pop() else { unreachable!("peeked") };
                    self.emit(s.at, s.item);
                }
                None if horizon == i64::MAX => return None,
                _ => self.run_next_episode(),
            }
        }
    }

    pub(crate) fn schedule(&mut self, at: i64, item: Pending) {
        self.seq += 1;
        self.queue.push(Reverse(Scheduled { at, seq: self.seq, item }));
    }

    /// A fresh id: prefix, seed (so runs with different seeds do not collide) and a counter.
    pub(crate) fn new_id(&mut self, prefix: &str) -> String {
        self.ids += 1;
        format!("{prefix}-{}-{:010}", self.cfg.seed, self.ids)
    }

    /// Attribute times (a new customer's created_at) follow the clock the events are stamped with.
    pub(crate) fn attribute_time(&self, at: i64) -> i64 {
        if self.cfg.live {
            Utc::now().timestamp_millis()
        } else {
            at
        }
    }

    fn selected(&self, family: Family) -> bool {
        self.cfg.families.contains(&family)
    }

    /// The initial Debezium snapshot of both source tables, then each product's opening stock.
    fn snapshot(&mut self) {
        let at = self.cfg.start_ms;
        for i in 0..self.world.customers.len() {
            let c = &self.world.customers[i];
            let (key, after) = (c.id.clone(), Some(c.image()));
            self.schedule(at, Pending::Change { entity: Entity::Customers, op: 'r', key, before: None, after });
        }
        for i in 0..self.world.products.len() {
            let p = &self.world.products[i];
            let (key, after) = (p.id.clone(), Some(p.image()));
            self.schedule(at, Pending::Change { entity: Entity::Products, op: 'r', key, before: None, after });
        }
        for product in 0..self.world.products.len() {
            let delta = self.rng.gen_range(20..=200);
            self.schedule(at, Pending::Stock { product, delta, reason: "adjustment" });
        }
    }

    fn next_episode_at(&mut self) -> i64 {
        while self.plan.is_empty() && self.next_slot < self.cfg.orders {
            self.plan_slot(self.next_slot);
            self.next_slot += 1;
        }
        self.plan.front().map_or(i64::MAX, |(at, _)| *at)
    }

    /// Slot i holds order i (unless a burst took it), ~3 browse-only sessions, occasional
    /// customer and catalogue changes, and its share of --invalid, at random times within
    /// the slot's window.
    fn plan_slot(&mut self, slot: u64) {
        let first = self.cfg.start_ms + SECOND;
        let span = i128::from((self.cfg.end_ms - END_MARGIN - first).max(self.cfg.orders as i64));
        let edge = |s: u64| first + (i128::from(s) * span / i128::from(self.cfg.orders)) as i64;
        let (lo, width) = (edge(slot), (edge(slot + 1) - edge(slot)).max(1));
        let mut plan = Vec::new();
        if self.burst_credit > 0 {
            self.burst_credit -= 1;
        } else {
            let draw: f64 = self.rng.gen();
            let episode = if draw < P_CARD_TESTING {
                let orders = self.rng.gen_range(5..=20).min(self.cfg.orders - slot);
                self.burst_credit = orders - 1;
                Episode::CardTesting(orders)
            } else if draw < P_CARD_TESTING + P_RING_ORDER {
                Episode::RingOrder
            } else {
                Episode::Purchase
            };
            plan.push((lo + self.rng.gen_range(0..width), episode));
        }
        for _ in 0..self.rng.gen_range(0..=6) {
            plan.push((lo + self.rng.gen_range(0..width), Episode::Browse));
        }
        if self.rng.gen_bool(P_CUSTOMER_CHANGE) {
            plan.push((lo + self.rng.gen_range(0..width), Episode::CustomerChange));
        }
        if self.rng.gen_bool(P_PRODUCT_CHANGE) {
            plan.push((lo + self.rng.gen_range(0..width), Episode::ProductChange));
        }
        let share = |s: u64| (u128::from(s) * u128::from(self.cfg.invalid) / u128::from(self.cfg.orders)) as u64;
        for _ in share(slot)..share(slot + 1) {
            let (family, code) = self.next_invalid_kind();
            plan.push((lo + self.rng.gen_range(0..width), Episode::Invalid(family, code)));
        }
        plan.sort_by_key(|(at, _)| *at);
        self.plan.extend(plan);
    }

    /// Cycles through the codes, and through the families so every pair comes up.
    fn next_invalid_kind(&mut self) -> (Family, &'static str) {
        let j = self.invalid_planned as usize;
        self.invalid_planned += 1;
        let (families, codes) = (&self.cfg.families, invalid::CODES.len());
        let code = invalid::CODES[j % codes];
        let family = families[(j + j / codes) % families.len()];
        if code != "missing_payload" || !is_cdc(family) {
            return (family, code);
        }
        // A null value on a CDC topic is a valid tombstone, so missing_payload goes elsewhere.
        let plain: Vec<Family> = families.iter().copied().filter(|f| !is_cdc(*f)).collect();
        match plain.get((j / codes) % plain.len().max(1)) {
            Some(&other) => (other, code),
            None => (family, "contract_violation"),
        }
    }

    fn run_next_episode(&mut self) {
        let Some((at, episode)) = self.plan.pop_front() else { return };
        match episode {
            Episode::Purchase => self.purchase(at),
            Episode::RingOrder => self.ring_order(at),
            Episode::CardTesting(orders) => self.card_testing(at, orders),
            Episode::Browse => self.browse(at),
            Episode::CustomerChange => self.customer_change(at),
            Episode::ProductChange => self.product_change(at),
            Episode::Invalid(family, code) => {
                let id = self.new_id("bad");
                self.schedule(at, Pending::Invalid { family, code, id });
            }
        }
    }

    fn emit(&mut self, at: i64, item: Pending) {
        let stamp = if self.cfg.live { Utc::now().timestamp_millis() } else { at };
        match item {
            Pending::Click(mut e) => {
                e.occurred_at = timestamp(stamp);
                self.push_event(Family::Clickstream, e.session_id.clone(), &e);
            }
            Pending::Exposure(mut e) => {
                e.occurred_at = timestamp(stamp);
                self.push_event(Family::Exposures, e.unit_id.clone(), &e);
            }
            Pending::Order(mut e) => {
                self.orders_emitted += 1;
                e.created_at = timestamp(stamp);
                self.push_event(Family::Orders, e.customer_id.clone(), &e);
            }
            Pending::Payment(mut e) => {
                e.occurred_at = timestamp(stamp);
                self.push_event(Family::Payments, e.order_id.clone(), &e);
            }
            Pending::Stock { product, delta, reason } => self.emit_stock(stamp, product, delta, reason),
            Pending::Change { entity, op, key, before, after } => {
                let (lsn, tx_id) = self.next_source_position();
                let family = cdc_family(entity);
                if self.selected(family) {
                    let payload = envelope(entity, op, before, after, stamp, lsn, tx_id).to_string().into_bytes();
                    let key = cdc_key(entity, &key);
                    if op == 'd' {
                        // Debezium follows a delete with a tombstone so compaction can drop the key.
                        let tombstone = Message { family, key: key.clone(), payload: None, expected_code: None };
                        self.ready.push_back(Message { family, key, payload: Some(payload), expected_code: None });
                        self.ready.push_back(tombstone);
                    } else {
                        self.ready.push_back(Message { family, key, payload: Some(payload), expected_code: None });
                    }
                }
            }
            Pending::Invalid { family, code, id } => {
                // Advanced for every family, so the valid events do not depend on --families.
                let source = self.next_source_position();
                let (key, payload) = invalid::build(family, code, &id, stamp, source);
                self.ready.push_back(Message { family, key, payload, expected_code: Some(code) });
            }
        }
    }

    /// Applies a stock change; a sale larger than the stock on hand is preceded by an emergency
    /// restock, and low stock schedules a regular one.
    fn emit_stock(&mut self, stamp: i64, product: usize, delta: i32, reason: &'static str) {
        if delta < 0 && self.world.products[product].stock + delta < 0 {
            let refill = -delta + self.rng.gen_range(50..=150);
            self.push_stock(stamp, product, refill, "restock");
        }
        self.push_stock(stamp, product, delta, reason);
        let p = &mut self.world.products[product];
        if reason == "restock" {
            p.restock_pending = false;
        }
        if p.stock <= LOW_STOCK && !p.restock_pending && p.alive {
            let at = stamp + self.rng.gen_range(HOUR..6 * HOUR);
            if self.cfg.live || at <= self.cfg.end_ms {
                p.restock_pending = true;
                let delta = self.rng.gen_range(50..=300);
                self.schedule(at, Pending::Stock { product, delta, reason: "restock" });
            }
        }
    }

    fn push_stock(&mut self, stamp: i64, product: usize, delta: i32, reason: &'static str) {
        let event_id = self.new_id("i");
        let p = &mut self.world.products[product];
        p.stock += delta;
        let event = InventoryEvent {
            event_type: "stock_changed".into(),
            event_version: 1,
            event_id,
            product_id: p.id.clone(),
            occurred_at: timestamp(stamp),
            delta,
            reason: reason.into(),
            stock_after: p.stock,
        };
        self.push_event(Family::Inventory, event.product_id.clone(), &event);
    }

    /// The source database's log position and transaction id: strictly increasing, shared by
    /// both CDC topics as in one Postgres database.
    fn next_source_position(&mut self) -> (i64, i64) {
        self.lsn += self.rng.gen_range(56..=1_024);
        self.tx_id += self.rng.gen_range(1..=3);
        (self.lsn, self.tx_id)
    }

    fn push_event<T: Serialize>(&mut self, family: Family, key: String, event: &T) {
        if self.selected(family) {
            let payload = serde_json::to_vec(event).expect("contract structs serialize");
            self.ready.push_back(Message {
                family,
                key: key.into_bytes(),
                payload: Some(payload),
                expected_code: None,
            });
        }
    }

    /// Only outside live mode, and only if it falls before --end.
    pub(crate) fn chargeback_allowed(&self, at: i64) -> bool {
        !self.cfg.live && at <= self.cfg.end_ms
    }
}

pub fn is_cdc(family: Family) -> bool {
    matches!(family, Family::CdcCustomers | Family::CdcProducts)
}

fn cdc_family(entity: Entity) -> Family {
    match entity {
        Entity::Customers => Family::CdcCustomers,
        Entity::Products => Family::CdcProducts,
    }
}

/// Debezium's JSON key: the primary key as an object.
pub fn cdc_key(entity: Entity, id: &str) -> Vec<u8> {
    json!({ entity.mirror().1: id }).to_string().into_bytes()
}

/// A Debezium change event as the JSON converter writes it with schemas disabled.
pub fn envelope(
    entity: Entity,
    op: char,
    before: Option<Value>,
    after: Option<Value>,
    ts_ms: i64,
    lsn: i64,
    tx_id: i64,
) -> Value {
    json!({
        "before": before, "after": after, "op": op.to_string(),
        // The connector sees the change a little after the database commits it.
        "ts_ms": ts_ms + 20 + lsn % 280,
        "source": {"version": "2.7.0.Final", "connector": "postgresql", "name": "shop", "db": "shop",
                   "schema": "public", "table": entity.name(), "txId": tx_id, "lsn": lsn, "ts_ms": ts_ms,
                   "snapshot": if op == 'r' { "true" } else { "false" }}
    })
}

/// Chargebacks come 1 to 60 days after the order, most within the first three weeks.
pub(crate) fn chargeback_delay(rng: &mut ChaCha8Rng) -> i64 {
    let skew: f64 = rng.gen::<f64>().powi(2);
    DAY + (skew * (59 * DAY) as f64) as i64
}

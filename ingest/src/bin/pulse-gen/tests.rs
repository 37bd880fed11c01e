//! The generator's messages checked with the ingester's own decoder.
use crate::generator::{is_cdc, Config, Generator, Message};
use crate::invalid::CODES;
use chrono::{DateTime, Duration, Utc};
use pulse_ingest::contract::{decode, Event, Family, Limits, Rejection};
use std::collections::{BTreeSet, HashMap, HashSet};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::OnceLock;

const END: &str = "2026-03-01T00:00:00Z";
const ORDERS: u64 = 4000;

fn end() -> DateTime<Utc> {
    END.parse().expect("a valid time")
}

fn config(orders: u64, invalid: u64) -> Config {
    Config {
        seed: 7,
        orders,
        start_ms: (end() - Duration::days(30)).timestamp_millis(),
        end_ms: end().timestamp_millis(),
        families: Family::ALL.to_vec(),
        invalid,
        live: false,
        shift_from_ms: None,
    }
}

/// The e2e tests run the ingester with this limit, which makes the oversize messages dead letters.
fn limits() -> Limits {
    Limits { max_payload_bytes: 4096, ..Limits::default() }
}

fn all_messages(cfg: Config) -> Vec<Message> {
    let mut gen = Generator::new(cfg);
    std::iter::from_fn(|| gen.next_message()).collect()
}

/// One backfill run, decoded as the ingester would decode it at --end.
fn sample() -> &'static [(Message, Result<Event, Rejection>)] {
    static SAMPLE: OnceLock<Vec<(Message, Result<Event, Rejection>)>> = OnceLock::new();
    SAMPLE.get_or_init(|| {
        all_messages(config(ORDERS, 140))
            .into_iter()
            .map(|m| {
                let decoded = decode(m.family, m.payload.as_deref(), &limits(), end());
                (m, decoded)
            })
            .collect()
    })
}

fn valid_events() -> impl Iterator<Item = (&'static Message, &'static Event)> {
    sample().iter().filter_map(|(m, r)| r.as_ref().ok().filter(|_| m.expected_code.is_none()).map(|e| (m, e)))
}

fn event_time(event: &Event) -> Option<DateTime<Utc>> {
    match event {
        Event::Order(r) => Some(r.event.created_at),
        Event::Click(e) => Some(e.occurred_at),
        Event::Payment(r) => Some(r.event.occurred_at),
        Event::Inventory(e) => Some(e.occurred_at),
        Event::Exposure(e) => Some(e.occurred_at),
        Event::Change(c) => Some(c.source_ts),
        Event::Tombstone => None,
    }
}

#[test]
fn every_valid_message_passes_its_contract() {
    let mut per_family: HashMap<Family, usize> = HashMap::new();
    for (m, decoded) in sample().iter().filter(|(m, _)| m.expected_code.is_none()) {
        let event = decoded.as_ref().unwrap_or_else(|r| panic!("{:?} rejected with {r:?}: {:?}", m.family, m.payload));
        assert_eq!(m.is_tombstone(), *event == Event::Tombstone);
        *per_family.entry(m.family).or_default() += 1;
    }
    for family in Family::ALL {
        assert!(per_family.get(&family).copied().unwrap_or(0) > 100, "{family:?}: {per_family:?}");
    }
    let orders = valid_events().filter(|(m, _)| m.family == Family::Orders).count();
    assert_eq!(orders as u64, ORDERS);
}

#[test]
fn every_invalid_message_fails_with_its_code() {
    let mut seen = BTreeSet::new();
    for (m, decoded) in sample().iter() {
        let Some(code) = m.expected_code else { continue };
        let rejection = decoded.as_ref().err().unwrap_or_else(|| panic!("{:?} {code} was accepted", m.family));
        assert_eq!(rejection.code, code, "{:?}: {}", m.family, rejection.message);
        assert!(!(is_cdc(m.family) && code == "missing_payload"));
        seen.insert((m.family, code));
    }
    assert_eq!(seen.iter().map(|(_, c)| *c).collect::<BTreeSet<_>>(), CODES.into_iter().collect());
    assert_eq!(seen.iter().map(|(f, _)| *f).collect::<BTreeSet<_>>(), Family::ALL.into_iter().collect());
    assert_eq!(sample().iter().filter(|(m, _)| m.expected_code.is_some()).count(), 140);
    let oversize = sample().iter().find(|(m, _)| m.expected_code == Some("oversize_payload")).map(|(m, _)| m);
    let payload = oversize.and_then(|m| m.payload.as_deref()).expect("an oversize message");
    assert!(decode(oversize.unwrap().family, Some(payload), &Limits::default(), end()).is_ok(), "valid otherwise");
}

#[test]
fn the_same_arguments_give_the_same_messages() {
    let digest = |cfg: Config| {
        let mut gen = Generator::new(cfg);
        let mut h = DefaultHasher::new();
        for _ in 0..5000 {
            let m = gen.next_message().expect("enough messages");
            (m.family, &m.key, &m.payload, m.expected_code).hash(&mut h);
        }
        h.finish()
    };
    assert_eq!(digest(config(2000, 20)), digest(config(2000, 20)));
    assert_ne!(digest(config(2000, 20)), digest(Config { seed: 8, ..config(2000, 20) }));
}

#[test]
fn the_world_does_not_depend_on_the_selected_families() {
    let orders = |cfg: Config| -> Vec<Vec<u8>> {
        all_messages(cfg).into_iter().filter(|m| m.family == Family::Orders).filter_map(|m| m.payload).collect()
    };
    let only_orders = orders(Config { families: vec![Family::Orders], ..config(500, 0) });
    assert_eq!(only_orders.len(), 500);
    assert_eq!(only_orders, orders(config(500, 0)));
}

#[test]
fn events_come_in_event_time_order() {
    let times: Vec<DateTime<Utc>> = valid_events().filter_map(|(_, e)| event_time(e)).collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]));
    assert!(*times.last().expect("events") <= end());
}

#[test]
fn chargebacks_follow_authorised_orders_within_60_days() {
    let mut created = HashMap::new();
    let mut authorized = HashSet::new();
    let (mut fraudulent, mut total) = (0, 0);
    for (_, event) in valid_events() {
        match event {
            Event::Order(r) => {
                created.insert(r.event.order_id.clone(), r.event.created_at);
            }
            Event::Payment(r) if r.event.event_type == "payment_authorized" => {
                assert!(created.contains_key(&r.event.order_id), "payment before its order");
                authorized.insert(r.event.order_id.clone());
            }
            Event::Payment(r) if r.event.event_type == "chargeback" => {
                assert!(authorized.contains(&r.event.order_id), "chargeback of an unauthorised order");
                let delay = r.event.occurred_at - created[&r.event.order_id];
                assert!(delay >= Duration::days(1) && delay <= Duration::days(60), "{delay}");
                total += 1;
                fraudulent += usize::from(r.event.chargeback_reason.as_deref() == Some("fraudulent"));
            }
            _ => {}
        }
    }
    assert!(fraudulent >= 8, "{fraudulent} fraudulent of {total}");
}

#[test]
fn stock_follows_the_running_sum_of_deltas_and_never_goes_negative() {
    let mut stock: HashMap<&str, i64> = HashMap::new();
    let mut reasons = BTreeSet::new();
    for (_, event) in valid_events() {
        if let Event::Inventory(e) = event {
            let level = stock.entry(e.product_id.as_str()).or_default();
            *level += i64::from(e.delta);
            assert_eq!(*level, i64::from(e.stock_after), "{}", e.product_id);
            assert!(e.stock_after >= 0);
            reasons.insert(e.reason.as_str());
        }
    }
    assert_eq!(reasons, ["adjustment", "restock", "sale"].into_iter().collect());
}

#[test]
fn cdc_positions_increase_and_deletes_leave_tombstones() {
    let (mut last_lsn, mut last_tx) = (0, 0);
    let mut ops = BTreeSet::new();
    let messages = sample();
    for (i, (m, decoded)) in messages.iter().enumerate() {
        let Ok(Event::Change(c)) = decoded else { continue };
        assert!(c.lsn > last_lsn && c.tx_id.is_some_and(|t| t > last_tx), "positions must increase");
        (last_lsn, last_tx) = (c.lsn, c.tx_id.unwrap_or(0));
        ops.insert(c.op);
        if c.op == 'd' {
            let (next, _) = &messages[i + 1];
            assert!(next.is_tombstone() && next.key == m.key && next.family == m.family);
        }
    }
    assert_eq!(ops, ['c', 'd', 'r', 'u'].into_iter().collect());
}

#[test]
fn about_two_percent_of_orders_are_fraud() {
    let mut fraud = 0;
    for (_, event) in valid_events() {
        if let Event::Order(r) = event {
            let card = r.event.card_fingerprint.as_deref().unwrap_or("");
            fraud += usize::from(card.starts_with("fp-ring") || card.starts_with("fp-test"));
        }
    }
    let share = fraud as f64 / ORDERS as f64;
    assert!((0.01..0.04).contains(&share), "{share}");
}

#[test]
fn a_unit_always_sees_the_same_variant() {
    let mut variants = HashMap::new();
    for (_, event) in valid_events() {
        if let Event::Exposure(e) = event {
            let v = variants.entry((e.experiment_key.clone(), e.unit_id.clone())).or_insert_with(|| e.variant.clone());
            assert_eq!(*v, e.variant);
        }
    }
}

#[test]
fn assignment_is_growthbooks() {
    use crate::world::Experiment;
    // GrowthBook cases.json hash v2 buckets: ("feature", "123") 0.5231, ("foo", "ab") 0.2575,
    // ("seed", "b") 0.2696; equal ranges of 2, 3 and 4 variants.
    let e = |key: &'static str, variants: &'static [&'static str]| Experiment { key, variants };
    assert_eq!(e("feature", &["a", "b"]).variant("123"), "b");
    assert_eq!(e("feature", &["a", "b", "c"]).variant("123"), "b");
    assert_eq!(e("foo", &["a", "b", "c", "d"]).variant("ab"), "b");
    assert_eq!(e("seed", &["a", "b", "c", "d"]).variant("b"), "b");
    assert_eq!(e("seed", &["a", "b", "c", "d", "e"]).variant("b"), "b");
    assert_eq!(e("seed", &["a", "b", "c", "d", "e", "f"]).variant("b"), "b");
    assert_eq!(e("seed", &["a", "b", "c", "d", "e", "f", "g"]).variant("b"), "b");
    assert_eq!(e("seed", &["a", "b", "c", "d", "e", "f", "g", "h"]).variant("b"), "c");
}

#[test]
fn live_mode_stamps_the_wall_clock_and_has_no_chargebacks() {
    let before = Utc::now() - Duration::seconds(1);
    let messages = all_messages(Config { live: true, ..config(300, 0) });
    let now = Utc::now();
    let mut orders = 0;
    for m in &messages {
        let event = decode(m.family, m.payload.as_deref(), &limits(), now).expect("valid");
        if let Some(t) = event_time(&event) {
            assert!(t >= before && t <= now);
        }
        match event {
            Event::Order(_) => orders += 1,
            Event::Payment(r) => assert_ne!(r.event.event_type, "chargeback"),
            _ => {}
        }
    }
    assert_eq!(orders, 300);
}

/// `--shift-days`: after the cut, orders cost 1.5 times as much (card testers keep their own small
/// amounts) and more come from mobile; every other field of every order is the same as without it.
#[test]
fn the_shift_changes_only_amounts_and_devices_after_the_cut() {
    let cut = (end() - Duration::days(10)).timestamp_millis();
    let orders = |cfg: Config| -> Vec<serde_json::Value> {
        all_messages(cfg)
            .into_iter()
            .filter(|m| m.family == Family::Orders && m.expected_code.is_none())
            .filter_map(|m| serde_json::from_slice(m.payload.as_deref()?).ok())
            .collect()
    };
    let plain = orders(config(2000, 0));
    let shifted = orders(Config { shift_from_ms: Some(cut), ..config(2000, 0) });
    assert_eq!(plain.len(), shifted.len());
    let (mut after, mut scaled, mut mobile_before, mut mobile_after) = (0, 0, 0.0, 0.0);
    for (p, s) in plain.iter().zip(&shifted) {
        let at: DateTime<Utc> = p["created_at"].as_str().and_then(|t| t.parse().ok()).expect("created_at");
        let strip = |v: &serde_json::Value| {
            let mut v = v.clone();
            v.as_object_mut().map(|o| (o.remove("amount"), o.remove("device")));
            v
        };
        assert_eq!(strip(p), strip(s), "only amount and device may differ");
        let amount = |v: &serde_json::Value| {
            let a = &v["amount"];
            a.as_f64().or_else(|| a.as_str().and_then(|a| a.parse().ok())).expect("amount")
        };
        if at.timestamp_millis() < cut {
            assert_eq!(p, s, "nothing changes before the cut");
            mobile_before += f64::from(u8::from(p["device"] == "mobile"));
        } else {
            after += 1;
            mobile_after += f64::from(u8::from(s["device"] == "mobile"));
            // Cents are rounded after scaling: at most 1.25 cents from 1.5 times the plain amount.
            if (amount(s) - 1.5 * amount(p)).abs() <= 0.0125 + 1e-9 {
                scaled += 1;
            } else {
                assert_eq!(amount(s), amount(p), "an amount either scales or is a card tester's own");
            }
        }
    }
    let before = (plain.len() - after) as f64;
    assert!(after > 300 && scaled as f64 > 0.9 * after as f64, "{scaled} of {after} orders scaled");
    let (share_before, share_after) = (mobile_before / before, mobile_after / after as f64);
    assert!(share_before < 0.62 && share_after > 0.68, "mobile share {share_before} -> {share_after}");
}

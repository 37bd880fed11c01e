//! Episodes of the simulated shop. Each schedules its events at their times: browsing sessions,
//! purchases with their payments, stock changes and chargebacks, fraud, and changes to the
//! customers and products tables.
use crate::generator::{chargeback_delay, Generator, Pending, MINUTE, SECOND};
use crate::world::{currency_of, money, timestamp, Experiment, CHECKOUT, COUNTRIES, RANKING, SEGMENTS};
use pulse_ingest::contract::{ClickEvent, Entity, ExposureEvent, OrderEvent, PaymentEvent};
use rand::distributions::WeightedIndex;
use rand::prelude::*;
use serde_json::json;

const DEVICES: [(&str, u32); 3] = [("mobile", 55), ("desktop", 38), ("tablet", 7)];
/// The device mix after `--shift-days` starts (a mobile campaign).
const DEVICES_SHIFTED: [(&str, u32); 3] = [("mobile", 75), ("desktop", 20), ("tablet", 5)];
// Equal totals: WeightedIndex then makes the same draw, so a shift changes nothing else.
const _: () = assert!(
    DEVICES[0].1 + DEVICES[1].1 + DEVICES[2].1 == DEVICES_SHIFTED[0].1 + DEVICES_SHIFTED[1].1 + DEVICES_SHIFTED[2].1
);
/// Prices after `--shift-days` starts, relative to before.
const PRICE_SHIFT: f64 = 1.5;
const METHODS: [(&str, u32); 4] = [("card", 60), ("paypal", 20), ("klarna", 12), ("apple_pay", 8)];
const DECLINE_REASONS: [&str; 4] = ["insufficient_funds", "do_not_honor", "expired_card", "incorrect_cvc"];
/// New sign-ups among ordinary purchases.
const P_NEW_CUSTOMER: f64 = 0.03;

#[derive(Clone, Copy, PartialEq)]
enum Fraud {
    None,
    Ring,
    CardTesting,
}

/// One storefront session.
struct Visit {
    session_id: String,
    customer_id: Option<String>,
    /// The experiment unit: the customer, or an anonymous visitor id.
    unit_id: String,
    device: &'static str,
    ip_country: &'static str,
}

/// What an order needs besides its cart.
struct Checkout {
    customer: usize,
    method: &'static str,
    card: Option<String>,
    shipping_country: &'static str,
    /// Card testers pick their own small amounts (gift cards, donations) in local cents.
    amount_cents: Option<i64>,
    fraud: Fraud,
}

fn pick<T: Copy>(rng: &mut impl Rng, weighted: &[(T, u32)]) -> T {
    let index = WeightedIndex::new(weighted.iter().map(|w| w.1)).expect("static weights");
    weighted[index.sample(rng)].0
}

fn other_country(rng: &mut impl Rng, than: &str) -> &'static str {
    loop {
        let c = COUNTRIES[rng.gen_range(0..COUNTRIES.len())];
        if c != than {
            return c;
        }
    }
}

impl Generator {
    /// Whether the known drift of `--shift-days` applies at this time.
    fn shifted(&self, at: i64) -> bool {
        self.cfg.shift_from_ms.is_some_and(|from| at >= from)
    }

    /// Same number of draws either way, so the rest of the world is the same with or without a shift.
    fn devices(&self, at: i64) -> &'static [(&'static str, u32)] {
        if self.shifted(at) {
            &DEVICES_SHIFTED
        } else {
            &DEVICES
        }
    }

    /// An ordinary purchase: a session that ends in an order.
    pub(crate) fn purchase(&mut self, at: i64) {
        let existing = if self.rng.gen_bool(P_NEW_CUSTOMER) {
            None
        } else {
            // ranking-v2's treatment converts ~10 % better, and checkout-button's "sticky" variant
            // ~15 % better, so their customers are picked more often.
            self.world.pick_customer(&mut self.rng, |c| {
                let ranking = if RANKING.variant(&c.id) == "treatment" { 1.0 } else { 0.9 };
                ranking * if CHECKOUT.variant(&c.id) == "sticky" { 1.15 } else { 1.0 }
            })
        };
        let customer = match existing {
            Some(c) => c,
            None => self.sign_up(at, false, None),
        };
        let country = self.world.customers[customer].country;
        let devices = self.devices(at);
        let device = pick(&mut self.rng, devices);
        let ip_country = if self.rng.gen_bool(0.03) { other_country(&mut self.rng, country) } else { country };
        let visit = self.start_visit(at, Some(customer), device, ip_country);
        let lines = pick(&mut self.rng, &[(1, 60), (2, 30), (3, 10)]);
        let (cart, t) = self.fill_cart(&visit, at, lines, false);
        self.expose(&visit, t, &CHECKOUT);
        let t = self.start_checkout(&visit, t);
        let method = pick(&mut self.rng, &METHODS);
        let card = matches!(method, "card" | "apple_pay").then(|| self.world.customers[customer].card());
        let shipping_country = if self.rng.gen_bool(0.02) { other_country(&mut self.rng, country) } else { country };
        let checkout = Checkout { customer, method, card, shipping_country, amount_cents: None, fraud: Fraud::None };
        let order_at = t + self.rng.gen_range(30 * SECOND..3 * MINUTE);
        self.place_order(order_at, &visit, &cart, checkout);
    }

    /// A session that does not convert; some fill a cart, fewer reach the checkout.
    pub(crate) fn browse(&mut self, at: i64) {
        let customer = if self.rng.gen_bool(0.35) { None } else { self.world.pick_customer(&mut self.rng, |_| 1.0) };
        let home = match customer {
            Some(c) => self.world.customers[c].country,
            None => COUNTRIES[self.rng.gen_range(0..COUNTRIES.len())],
        };
        let devices = self.devices(at);
        let device = pick(&mut self.rng, devices);
        let visit = self.start_visit(at, customer, device, home);
        let mut t = at;
        if self.rng.gen_bool(0.15) {
            t = self.search(&visit, t);
        }
        let mut last = None;
        for _ in 0..pick(&mut self.rng, &[(0, 35), (1, 35), (2, 20), (3, 10)]) {
            t += self.rng.gen_range(5 * SECOND..MINUTE);
            last = Some(self.world.pick_product(&mut self.rng));
            self.click(&visit, t, "product_view", last, None, None);
        }
        if let (Some(product), true) = (last, self.rng.gen_bool(0.12)) {
            t += self.rng.gen_range(5 * SECOND..40 * SECOND);
            self.click(&visit, t, "add_to_cart", Some(product), None, Some(1));
            // The cart shows the checkout button: the exposure comes before the variant can change
            // anything (exposing at checkout would log fewer units for a better button: an SRM).
            self.expose(&visit, t, &CHECKOUT);
            // checkout-button's "sticky" variant leaves fewer carts abandoned.
            let reach_checkout = if CHECKOUT.variant(&visit.unit_id) == "sticky" { 0.65 } else { 0.5 };
            if self.rng.gen_bool(reach_checkout) {
                self.start_checkout(&visit, t);
            }
        }
    }

    /// A fraud ring order: a ring account (often brand new), one of the ring's stolen cards, an IP
    /// country other than the billing country, pricier carts shipped to a drop address.
    pub(crate) fn ring_order(&mut self, at: i64) {
        let r = self.rng.gen_range(0..self.world.rings.len());
        let ring = &self.world.rings[r];
        let (ip_country, device, card) = (ring.ip_country, ring.device, ring.cards[self.rng.gen_range(0..2)].clone());
        let drop_country = ring.drop_country;
        let reuse = !ring.members.is_empty() && (ring.members.len() >= ring.size || self.rng.gen_bool(0.5));
        let member = reuse.then(|| ring.members[self.rng.gen_range(0..ring.members.len())]);
        let customer = match member.filter(|&m| self.world.customers[m].alive) {
            Some(m) => m,
            None => {
                let home = other_country(&mut self.rng, ip_country);
                let m = self.sign_up(at, true, Some(home));
                self.world.rings[r].members.push(m);
                m
            }
        };
        let visit = self.start_visit(at, Some(customer), device, ip_country);
        let lines = self.rng.gen_range(1..=2);
        let (cart, t) = self.fill_cart(&visit, at, lines, true);
        self.expose(&visit, t, &CHECKOUT);
        let t = self.start_checkout(&visit, t);
        let checkout = Checkout {
            customer,
            method: "card",
            card: Some(card),
            shipping_country: drop_country,
            amount_cents: None,
            fraud: Fraud::Ring,
        };
        let order_at = t + self.rng.gen_range(20 * SECOND..MINUTE);
        self.place_order(order_at, &visit, &cart, checkout);
    }

    /// Card testing: a fresh account tries one stolen card with small orders minutes apart,
    /// most of them declined.
    pub(crate) fn card_testing(&mut self, at: i64, orders: u64) {
        let ip_country = COUNTRIES[self.rng.gen_range(0..COUNTRIES.len())];
        let home = other_country(&mut self.rng, ip_country);
        let customer = self.sign_up(at, true, Some(home));
        let card = self.new_id("fp-test");
        let mut t = at + SECOND;
        for _ in 0..orders {
            let visit = self.start_visit(t, Some(customer), "desktop", ip_country);
            let product = self.world.pick_product(&mut self.rng);
            self.click(&visit, t + SECOND, "product_view", Some(product), None, None);
            self.click(&visit, t + 3 * SECOND, "add_to_cart", Some(product), None, Some(1));
            self.expose(&visit, t + 3 * SECOND, &CHECKOUT);
            let checkout_at = self.start_checkout(&visit, t + 3 * SECOND);
            let checkout = Checkout {
                customer,
                method: "card",
                card: Some(card.clone()),
                shipping_country: home,
                amount_cents: Some(self.rng.gen_range(100..500)),
                fraud: Fraud::CardTesting,
            };
            let order_at = checkout_at + self.rng.gen_range(5 * SECOND..20 * SECOND);
            self.place_order(order_at, &visit, &[(product, 1)], checkout);
            t += self.rng.gen_range(15 * SECOND..MINUTE);
        }
    }

    /// A customer changes segment or email, or (rarely) is deleted.
    pub(crate) fn customer_change(&mut self, at: i64) {
        let Some(i) = self.world.pick_customer(&mut self.rng, |_| 1.0) else { return };
        let before = self.world.customers[i].image();
        let key = self.world.customers[i].id.clone();
        let draw: f64 = self.rng.gen();
        if draw < 0.05 {
            self.world.customers[i].alive = false;
            // Under the default replica identity a delete's before image holds only the key.
            let before = Some(json!({ "customer_id": key }));
            self.schedule(at, Pending::Change { entity: Entity::Customers, op: 'd', key, before, after: None });
            return;
        }
        if draw < 0.65 {
            let c = &self.world.customers[i];
            let others: Vec<&'static str> = SEGMENTS.iter().copied().filter(|s| *s != c.segment).collect();
            self.world.customers[i].segment = others[self.rng.gen_range(0..others.len())];
        } else {
            self.world.customers[i].email = self.world.new_email(&mut self.rng, i);
        }
        let after = Some(self.world.customers[i].image());
        self.schedule(at, Pending::Change { entity: Entity::Customers, op: 'u', key, before: Some(before), after });
    }

    /// A price change, a product going off or back on sale, or (rarely) a deleted product.
    pub(crate) fn product_change(&mut self, at: i64) {
        let i = self.rng.gen_range(0..self.world.products.len());
        if !self.world.products[i].alive {
            return;
        }
        let before = self.world.products[i].image();
        let key = self.world.products[i].id.clone();
        let draw: f64 = self.rng.gen();
        if draw < 0.03 {
            self.world.products[i].alive = false;
            let before = Some(json!({ "product_id": key }));
            self.schedule(at, Pending::Change { entity: Entity::Products, op: 'd', key, before, after: None });
            return;
        }
        let p = &mut self.world.products[i];
        if draw < 0.28 {
            p.active = !p.active;
        } else {
            let factor = self.rng.gen_range(0.8..1.2);
            p.price_cents = ((p.price_cents as f64 * factor).round() as i64).max(99);
        }
        let after = Some(p.image());
        self.schedule(at, Pending::Change { entity: Entity::Products, op: 'u', key, before: Some(before), after });
    }

    /// A new account, announced by a CDC insert.
    fn sign_up(&mut self, at: i64, fraud: bool, country: Option<&'static str>) -> usize {
        let created = self.attribute_time(at);
        let i = self.world.add_customer(&mut self.rng, created, fraud, country, "new");
        let c = &self.world.customers[i];
        let (key, after) = (c.id.clone(), Some(c.image()));
        self.schedule(at, Pending::Change { entity: Entity::Customers, op: 'c', key, before: None, after });
        i
    }

    /// Opens a session: the ranking-v2 exposure and the landing page view.
    fn start_visit(
        &mut self,
        at: i64,
        customer: Option<usize>,
        device: &'static str,
        ip_country: &'static str,
    ) -> Visit {
        let session_id = self.new_id("s");
        let customer_id = customer.map(|c| self.world.customers[c].id.clone());
        let unit_id = customer_id.clone().unwrap_or_else(|| format!("v-{}", &session_id[2..]));
        let visit = Visit { session_id, customer_id, unit_id, device, ip_country };
        self.expose(&visit, at, &RANKING);
        self.click(&visit, at, "page_view", None, None, None);
        visit
    }

    /// Optional search, then a view or two per cart line and the add to cart. Returns the cart
    /// (product, quantity) and the time of the last click.
    fn fill_cart(&mut self, visit: &Visit, at: i64, lines: usize, pricey: bool) -> (Vec<(usize, i32)>, i64) {
        let mut t = at;
        if self.rng.gen_bool(0.3) {
            t = self.search(visit, t);
        }
        let mut cart: Vec<(usize, i32)> = Vec::new();
        for _ in 0..lines {
            let mut product = self.world.pick_product(&mut self.rng);
            for _ in 0..self.rng.gen_range(0..=1) {
                t += self.rng.gen_range(5 * SECOND..MINUTE);
                self.click(visit, t, "product_view", Some(product), None, None);
                let other = self.world.pick_product(&mut self.rng);
                if pricey && self.world.products[other].price_cents > self.world.products[product].price_cents {
                    product = other;
                }
            }
            t += self.rng.gen_range(5 * SECOND..MINUTE);
            self.click(visit, t, "product_view", Some(product), None, None);
            let quantity =
                if pricey { self.rng.gen_range(1..=3) } else { pick(&mut self.rng, &[(1, 75), (2, 20), (3, 5)]) };
            t += self.rng.gen_range(5 * SECOND..40 * SECOND);
            self.click(visit, t, "add_to_cart", Some(product), None, Some(quantity));
            match cart.iter_mut().find(|(p, _)| *p == product) {
                Some(line) => line.1 += quantity,
                None => cart.push((product, quantity)),
            }
        }
        (cart, t)
    }

    fn search(&mut self, visit: &Visit, at: i64) -> i64 {
        let t = at + self.rng.gen_range(3 * SECOND..20 * SECOND);
        let term = self.world.products[self.world.pick_product(&mut self.rng)].search_term();
        self.click(visit, t, "search", None, Some(term), None);
        t
    }

    /// checkout_start; returns its time. (The checkout-button exposure happens at the cart.)
    fn start_checkout(&mut self, visit: &Visit, at: i64) -> i64 {
        let t = at + self.rng.gen_range(10 * SECOND..MINUTE);
        self.click(visit, t, "checkout_start", None, None, None);
        t
    }

    fn click(
        &mut self,
        visit: &Visit,
        at: i64,
        event_type: &str,
        product: Option<usize>,
        query: Option<String>,
        quantity: Option<i32>,
    ) {
        let product_id = product.map(|p| self.world.products[p].id.clone());
        let page = match (event_type, &product_id) {
            (_, Some(id)) => format!("/p/{id}"),
            ("search", _) => "/search".to_owned(),
            ("checkout_start", _) => "/checkout".to_owned(),
            _ => "/".to_owned(),
        };
        let event = ClickEvent {
            event_type: event_type.into(),
            event_version: 1,
            event_id: self.new_id("e"),
            session_id: visit.session_id.clone(),
            customer_id: visit.customer_id.clone(),
            occurred_at: timestamp(at),
            page: Some(page),
            product_id,
            query,
            quantity,
            device: Some(visit.device.into()),
            ip_country: Some(visit.ip_country.into()),
        };
        self.schedule(at, Pending::Click(event));
    }

    fn expose(&mut self, visit: &Visit, at: i64, experiment: &Experiment) {
        let event = ExposureEvent {
            event_type: "experiment_exposure".into(),
            event_version: 1,
            event_id: self.new_id("x"),
            experiment_key: experiment.key.into(),
            variant: experiment.variant(&visit.unit_id).into(),
            unit_id: visit.unit_id.clone(),
            occurred_at: timestamp(at),
            source: Some(if visit.device == "mobile" { "app" } else { "web" }.into()),
        };
        self.schedule(at, Pending::Exposure(event));
    }

    /// The order, then its payment attempts; an authorised order sells its stock and may later
    /// be charged back.
    fn place_order(&mut self, at: i64, visit: &Visit, cart: &[(usize, i32)], checkout: Checkout) {
        let customer = &self.world.customers[checkout.customer];
        let (currency, rate) = currency_of(customer.country);
        let cents = checkout.amount_cents.unwrap_or_else(|| {
            let eur: i64 = cart.iter().map(|&(p, q)| self.world.products[p].price_cents * i64::from(q)).sum();
            let shift = if self.shifted(at) { PRICE_SHIFT } else { 1.0 };
            (eur as f64 * rate * shift).round() as i64
        });
        self.orders_placed += 1;
        let order = OrderEvent {
            event_type: "order_created".into(),
            event_version: 1,
            order_id: format!("o-{}-{:09}", self.cfg.seed, self.orders_placed - 1),
            customer_id: customer.id.clone(),
            created_at: timestamp(at),
            amount: money(cents),
            currency: currency.into(),
            items: cart.iter().map(|l| l.1).sum(),
            payment_method: checkout.method.into(),
            card_fingerprint: checkout.card.clone(),
            ip_country: Some(visit.ip_country.into()),
            shipping_country: Some(checkout.shipping_country.into()),
            billing_country: Some(customer.country.into()),
            device: Some(visit.device.into()),
            email_domain: Some(customer.email_domain().into()),
        };
        let payment = |g: &mut Generator, event_type: &str| PaymentEvent {
            event_type: event_type.into(),
            event_version: 1,
            payment_id: g.new_id("pay"),
            order_id: order.order_id.clone(),
            occurred_at: order.created_at,
            amount: order.amount.clone(),
            currency: order.currency.clone(),
            card_fingerprint: order.card_fingerprint.clone(),
            decline_reason: None,
            chargeback_reason: None,
        };
        let (p_decline, p_retry) = match checkout.fraud {
            Fraud::None if checkout.card.is_some() => (0.04, 0.6),
            Fraud::None => (0.02, 0.6),
            Fraud::Ring => (0.1, 0.5),
            Fraud::CardTesting => (0.85, 0.0),
        };
        let mut t = at + self.rng.gen_range(500..4 * SECOND);
        let mut authorized = true;
        if self.rng.gen_bool(p_decline) {
            let mut declined = payment(self, "payment_declined");
            let reason = match checkout.fraud {
                Fraud::CardTesting => ["incorrect_cvc", "do_not_honor"][self.rng.gen_range(0..2)],
                _ => DECLINE_REASONS[self.rng.gen_range(0..DECLINE_REASONS.len())],
            };
            declined.decline_reason = Some(reason.into());
            self.schedule(t, Pending::Payment(declined));
            authorized = self.rng.gen_bool(p_retry);
            t += self.rng.gen_range(30 * SECOND..3 * MINUTE);
        }
        self.schedule(at, Pending::Order(order.clone()));
        if !authorized {
            return;
        }
        let authorization = payment(self, "payment_authorized");
        self.schedule(t, Pending::Payment(authorization));
        for &(product, quantity) in cart {
            self.schedule(t + SECOND, Pending::Stock { product, delta: -quantity, reason: "sale" });
        }
        // ~70 % of authorised fraud is charged back; a few honest orders are too (friendly fraud).
        let p_chargeback = if checkout.fraud == Fraud::None { 0.003 } else { 0.7 };
        if self.rng.gen_bool(p_chargeback) {
            let when = at + chargeback_delay(&mut self.rng);
            if self.chargeback_allowed(when) {
                let mut chargeback = payment(self, "chargeback");
                let friendly_reason = ["fraudulent", "product_not_received"][self.rng.gen_range(0..2)];
                let reason = if checkout.fraud == Fraud::None { friendly_reason } else { "fraudulent" };
                chargeback.chargeback_reason = Some(reason.into());
                self.schedule(when, Pending::Payment(chargeback));
            }
        }
    }
}

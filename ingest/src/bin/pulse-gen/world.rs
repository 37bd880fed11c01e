//! The simulated shop's state: customers, products and their stock, fraud rings, experiments.
use chrono::{DateTime, SecondsFormat, Utc};
use rand::distributions::WeightedIndex;
use rand::prelude::*;
use rand_chacha::ChaCha8Rng;
use rand_distr::LogNormal;
use serde_json::{json, Value};

pub const DAY: i64 = 86_400_000;

pub const COUNTRIES: [&str; 8] = ["DE", "FR", "NL", "GB", "US", "ES", "IT", "PL"];
const DOMAINS: [&str; 5] = ["gmail.com", "outlook.com", "yahoo.com", "web.de", "proton.me"];
const THROWAWAY_DOMAINS: [&str; 4] = ["mailinator.com", "guerrillamail.com", "yopmail.com", "trashmail.com"];
pub const SEGMENTS: [&str; 4] = ["new", "regular", "vip", "at_risk"];
const ADJECTIVES: [&str; 8] = ["Classic", "Compact", "Deluxe", "Eco", "Smart", "Vintage", "Pro", "Mini"];
/// Category, typical price in EUR, product nouns.
const CATEGORIES: [(&str, f64, [&str; 4]); 8] = [
    ("electronics", 80.0, ["Headphones", "Charger", "Speaker", "Tablet"]),
    ("home", 35.0, ["Lamp", "Kettle", "Blanket", "Vase"]),
    ("fashion", 45.0, ["Jacket", "Sneakers", "Scarf", "Backpack"]),
    ("beauty", 20.0, ["Serum", "Perfume", "Lipstick", "Shampoo"]),
    ("sports", 30.0, ["Yoga Mat", "Dumbbell", "Bike Light", "Water Bottle"]),
    ("toys", 25.0, ["Puzzle", "Robot", "Board Game", "Plush Bear"]),
    ("books", 15.0, ["Cookbook", "Novel", "Atlas", "Comic"]),
    ("garden", 20.0, ["Hose", "Planter", "Shears", "Seeds"]),
];

pub fn rfc3339(ms: i64) -> String {
    timestamp(ms).to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Generator times stay within a few years of --end, which main() keeps in chrono's range.
pub fn timestamp(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).expect("generator times are within chrono's range")
}

/// A money amount with at most two decimals, as the contracts require.
pub fn money(cents: i64) -> serde_json::Number {
    serde_json::Number::from_f64(cents as f64 / 100.0).expect("a finite amount")
}

/// The order currency a customer pays in (the only ones the dbt staging models accept).
pub fn currency_of(country: &str) -> (&'static str, f64) {
    match country {
        "GB" => ("GBP", 0.86),
        "US" => ("USD", 1.08),
        _ => ("EUR", 1.0),
    }
}

pub struct Customer {
    pub id: String,
    pub email: String,
    pub country: &'static str,
    pub segment: &'static str,
    pub created_at_ms: i64,
    pub alive: bool,
    /// Fraudsters' accounts: never picked for ordinary sessions.
    pub fraud: bool,
}

impl Customer {
    /// The Debezium row image (all columns of `customers`).
    pub fn image(&self) -> Value {
        json!({"customer_id": self.id, "email": self.email, "country": self.country, "segment": self.segment,
               "created_at": rfc3339(self.created_at_ms)})
    }

    pub fn email_domain(&self) -> &str {
        self.email.rsplit_once('@').map_or("", |(_, domain)| domain)
    }

    /// Ordinary customers pay with their own card.
    pub fn card(&self) -> String {
        format!("fp-{}", self.id)
    }
}

pub struct Product {
    pub id: String,
    pub name: String,
    pub category: &'static str,
    pub price_cents: i64,
    pub active: bool,
    pub alive: bool,
    /// Units on hand as of the last emitted stock change.
    pub stock: i32,
    pub restock_pending: bool,
}

impl Product {
    pub fn image(&self) -> Value {
        json!({"product_id": self.id, "name": self.name, "category": self.category,
               "price": money(self.price_cents), "currency": "EUR", "active": self.active})
    }

    /// What a shopper would type to find it.
    pub fn search_term(&self) -> String {
        self.name.split_once(' ').map_or(self.name.as_str(), |(_, noun)| noun).to_lowercase()
    }
}

/// A fraud ring: a handful of accounts sharing two stolen cards and one device type, ordering
/// from one IP country to a drop address in another.
pub struct Ring {
    pub cards: [String; 2],
    pub device: &'static str,
    pub ip_country: &'static str,
    pub drop_country: &'static str,
    pub size: usize,
    pub members: Vec<usize>,
}

pub struct Experiment {
    pub key: &'static str,
    pub variants: &'static [&'static str],
}

pub const RANKING: Experiment = Experiment { key: "ranking-v2", variants: &["control", "treatment"] };
pub const CHECKOUT: Experiment = Experiment { key: "checkout-button", variants: &["control", "green", "sticky"] };

impl Experiment {
    /// GrowthBook's assignment (hash v2, seed = key, equal weights, full coverage): the variant
    /// `ab_assign(key, unit)` gives in the database for the experiment registered with defaults,
    /// so the demo can analyse the logged exposures against the registry. The SDK's steps are
    /// repeated here because the generator cannot link the extension (a pgrx cdylib).
    pub fn variant(&self, unit: &str) -> &'static str {
        let fnv = |h: u32, s: &str| s.chars().fold(h, |h, c| (h ^ c as u32).wrapping_mul(0x0100_0193));
        let inner = fnv(fnv(0x811c_9dc5, self.key), unit);
        let bucket = f64::from(fnv(0x811c_9dc5, &inner.to_string()) % 10_000) / 10_000.0;
        let weight = 1.0 / self.variants.len() as f64;
        let mut start = 0.0;
        for v in self.variants {
            if bucket >= start && bucket < start + weight {
                return v;
            }
            start += weight;
        }
        self.variants[self.variants.len() - 1]
    }
}

pub struct World {
    pub customers: Vec<Customer>,
    pub products: Vec<Product>,
    popularity: WeightedIndex<f64>,
    pub rings: Vec<Ring>,
}

impl World {
    pub fn new(rng: &mut ChaCha8Rng, seed: u64, customers: usize, products: usize, start_ms: i64) -> World {
        let mut world = World {
            customers: Vec::with_capacity(customers * 5 / 4),
            products: Vec::with_capacity(products),
            popularity: WeightedIndex::new([1.0]).expect("static weights"),
            rings: Vec::new(),
        };
        for _ in 0..customers {
            let created = start_ms - rng.gen_range(DAY..3 * 365 * DAY);
            let segment = SEGMENTS[rng.gen_range(1..SEGMENTS.len())];
            world.add_customer(rng, created, false, None, segment);
        }
        let spread = LogNormal::new(0.0, 0.5).expect("static parameters");
        for i in 0..products {
            let (category, typical, nouns) = CATEGORIES[rng.gen_range(0..CATEGORIES.len())];
            let euros = (typical * spread.sample(rng)).floor().max(1.0);
            world.products.push(Product {
                id: format!("p-{:05}", i + 1),
                name: format!("{} {}", ADJECTIVES[rng.gen_range(0..ADJECTIVES.len())], nouns[rng.gen_range(0..4)]),
                category,
                price_cents: euros as i64 * 100 - 1,
                active: rng.gen_bool(0.95),
                alive: true,
                stock: 0,
                restock_pending: false,
            });
        }
        // A long tail: a few products sell far more than the rest.
        let weights: Vec<f64> = (0..products).map(|_| LogNormal::new(0.0, 1.2).expect("static").sample(rng)).collect();
        world.popularity = WeightedIndex::new(weights).expect("positive weights");
        for r in 0..4 {
            let ip_country = COUNTRIES[rng.gen_range(0..COUNTRIES.len())];
            world.rings.push(Ring {
                cards: [format!("fp-ring{seed}-{r}a"), format!("fp-ring{seed}-{r}b")],
                device: ["desktop", "mobile"][r % 2],
                ip_country,
                drop_country: COUNTRIES[rng.gen_range(0..COUNTRIES.len())],
                size: rng.gen_range(5..=15),
                members: Vec::new(),
            });
        }
        world
    }

    /// Adds a customer; fraudsters sign up with throwaway email domains.
    pub fn add_customer(
        &mut self,
        rng: &mut ChaCha8Rng,
        created_at_ms: i64,
        fraud: bool,
        country: Option<&'static str>,
        segment: &'static str,
    ) -> usize {
        let n = self.customers.len() + 1;
        let email = if fraud {
            let domain = THROWAWAY_DOMAINS[rng.gen_range(0..THROWAWAY_DOMAINS.len())];
            format!("x{:08x}@{domain}", rng.gen::<u32>())
        } else {
            format!("user{n}@{}", DOMAINS[rng.gen_range(0..DOMAINS.len())])
        };
        self.customers.push(Customer {
            id: format!("c-{n:07}"),
            email,
            country: country.unwrap_or_else(|| COUNTRIES[rng.gen_range(0..COUNTRIES.len())]),
            segment,
            created_at_ms,
            alive: true,
            fraud,
        });
        n - 1
    }

    /// A random live, honest customer, accepted with probability `accept` (rejection sampling
    /// lets experiments shift who converts). None if no candidate was found.
    pub fn pick_customer(&self, rng: &mut ChaCha8Rng, accept: impl Fn(&Customer) -> f64) -> Option<usize> {
        for _ in 0..64 {
            let i = rng.gen_range(0..self.customers.len());
            let c = &self.customers[i];
            if c.alive && !c.fraud && rng.gen_bool(accept(c).clamp(0.0, 1.0)) {
                return Some(i);
            }
        }
        None
    }

    /// A product on sale, popular ones more often.
    pub fn pick_product(&self, rng: &mut ChaCha8Rng) -> usize {
        let mut i = self.popularity.sample(rng);
        for _ in 0..32 {
            if self.products[i].active && self.products[i].alive {
                break;
            }
            i = self.popularity.sample(rng);
        }
        i
    }

    /// Another email domain than the customer's current one.
    pub fn new_email(&self, rng: &mut ChaCha8Rng, customer: usize) -> String {
        let c = &self.customers[customer];
        let local = c.email.split_once('@').map_or("user", |(local, _)| local);
        let domains: Vec<&str> = DOMAINS.iter().copied().filter(|d| *d != c.email_domain()).collect();
        format!("{local}@{}", domains[rng.gen_range(0..domains.len())])
    }
}

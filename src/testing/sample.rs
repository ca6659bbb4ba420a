//! A deterministic sample audience: what the main job, `smsbatch serve` and users' own tests load
//! when they need realistic customers without a customer system.

use serde_json::Map;

use crate::random::SplitMix64;
use crate::store::Customer;
use crate::time::{Date, Timestamp};

/// One country's names, cities and mobile numbers.
struct Country {
    code: &'static str,
    language: &'static str,
    cities: &'static [&'static str],
    first: &'static [&'static str],
    last: &'static [&'static str],
    /// The national mobile prefix after the calling code, and how many digits follow it.
    mobile: (&'static str, u32),
}

// Accented names on purpose: a realistic list mixes GSM-7 and UCS-2 messages (`ë`, `ç`, `ş`,
// `ı` are not in GSM-7; `é`, `ñ`, `ü` are), which is what the segment counts are about.
const COUNTRIES: [Country; 5] = [
    Country {
        code: "GB",
        language: "en",
        cities: &["London", "Manchester", "Leeds", "Bristol", "Glasgow"],
        first: &[
            "Oliver", "Amelia", "Harry", "Isla", "Jack", "Ava", "Chloé", "Siobhán",
        ],
        last: &["Smith", "Jones", "O'Brien", "Taylor", "Brown", "Wilson"],
        mobile: ("+44740", 7),
    },
    Country {
        code: "FR",
        language: "fr",
        cities: &["Paris", "Lyon", "Marseille", "Toulouse", "Nantes"],
        first: &["Léa", "Hugo", "Zoë", "Louis", "Inès", "Jules", "Renée"],
        last: &["Martin", "Bernard", "Dubois", "Lefèvre", "Garçon"],
        mobile: ("+3361", 7),
    },
    Country {
        code: "ES",
        language: "es",
        cities: &["Madrid", "Barcelona", "Sevilla", "Valencia", "A Coruña"],
        first: &["Lucía", "Hugo", "Martína", "Iñaki", "Sofía", "Álvaro"],
        last: &["García", "Fernández", "López", "Muñoz", "Peña"],
        mobile: ("+3461", 7),
    },
    Country {
        code: "TR",
        language: "tr",
        cities: &["İstanbul", "Ankara", "İzmir", "Bursa"],
        first: &["Şükrü", "Ayşe", "Gökhan", "Çağla", "Ömer"],
        last: &["Yılmaz", "Kaya", "Demir", "Şahin", "Çelik"],
        mobile: ("+90532", 7),
    },
    Country {
        code: "DE",
        language: "de",
        cities: &["Berlin", "München", "Köln", "Hamburg"],
        first: &["Jürgen", "Anna", "Lukas", "Mia", "Björn"],
        last: &["Müller", "Schmidt", "Weiß", "Schäfer"],
        mobile: ("+49151", 8),
    },
];

/// How often each country appears: the sample is a British shop with customers abroad.
const COUNTRY_WEIGHTS: [usize; 8] = [0, 0, 0, 1, 1, 2, 3, 4];

struct Dice(SplitMix64);

impl Dice {
    fn below(&mut self, n: usize) -> usize {
        self.0.below(n as u64) as usize
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }

    /// True with probability `percent` / 1000.
    fn per_mille(&mut self, per_mille: u64) -> bool {
        self.0.below(1000) < per_mille
    }

    fn digits(&mut self, count: u32) -> String {
        (0..count)
            .map(|_| char::from(b'0' + self.0.below(10) as u8))
            .collect()
    }
}

/// `count` customers with ids `1..=count`, the same for the same `seed` on every platform, as of
/// `now` (creation and order dates lie before it).
///
/// The mix is what real lists look like and what the filters and the preview must handle: five
/// countries with accented names (some messages need UCS-2), about 4% without a first name, a few
/// phones missing, empty or in national format (excluded at preview), a few duplicated numbers,
/// unknown (`null`) consent for 10%, 4% opted out, and a `loyalty` custom field in `attributes`.
///
/// ```
/// use smsbatch::Timestamp;
/// use smsbatch::testing::sample_customers;
///
/// let now: Timestamp = "2026-11-29T12:00:00Z".parse()?;
/// let customers = sample_customers(1_000, 7, now);
/// assert_eq!(customers.len(), 1_000);
/// assert_eq!(customers[0].id, 1);
/// assert_eq!(customers, sample_customers(1_000, 7, now));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn sample_customers(count: usize, seed: u64, now: Timestamp) -> Vec<Customer> {
    const DAY_MS: i64 = 86_400_000;
    let mut dice = Dice(SplitMix64::new(seed));
    let now_ms = now.as_unix_millis();
    let mut customers: Vec<Customer> = Vec::with_capacity(count);
    for index in 0..count {
        let id = index as i64 + 1;
        let country = &COUNTRIES[COUNTRY_WEIGHTS[dice.below(COUNTRY_WEIGHTS.len())]];
        let first = (!dice.per_mille(40)).then(|| dice.pick(country.first).to_owned());
        let last = dice.pick(country.last).to_owned();
        let phone = if dice.per_mille(30) {
            None
        } else if dice.per_mille(20) {
            Some(String::new())
        } else if dice.per_mille(20) {
            // National format: not E.164, so the preview excludes it as an invalid phone.
            Some(format!("0770 {} {}", dice.digits(3), dice.digits(4)))
        } else if index > 10 && dice.per_mille(10) {
            // Real lists hold the same number twice; the preview sends to it once.
            customers[dice.below(index)].phone.clone()
        } else {
            Some(format!(
                "{}{}",
                country.mobile.0,
                dice.digits(country.mobile.1)
            ))
        };
        let ascii = |s: &str| -> String {
            s.chars()
                .filter_map(|c| {
                    let c = c.to_lowercase().next()?;
                    c.is_ascii_lowercase().then_some(c)
                })
                .collect()
        };
        let email = (!dice.per_mille(100)).then(|| {
            format!(
                "{}.{}{id}@example.com",
                ascii(first.as_deref().unwrap_or("customer")),
                ascii(&last)
            )
        });
        let city = if dice.per_mille(50) {
            None
        } else if dice.per_mille(30) {
            Some(String::new())
        } else {
            Some(dice.pick(country.cities).to_owned())
        };
        let gender = (!dice.per_mille(200)).then(|| dice.pick(&["female", "male", "other"]));
        let created = now_ms - dice.below(900) as i64 * DAY_MS - dice.below(DAY_MS as usize) as i64;
        let last_order = (!dice.per_mille(250))
            .then(|| now_ms - dice.below(400) as i64 * DAY_MS - dice.below(DAY_MS as usize) as i64);
        let birthday = (!dice.per_mille(150)).then(|| {
            Date::new(
                1950 + dice.below(57) as i16,
                1 + dice.below(12) as u8,
                1 + dice.below(28) as u8,
            )
        });
        let total_spent = (!dice.per_mille(100)).then(|| dice.below(200_001) as f64 / 100.0);
        let orders_count = (!dice.per_mille(50)).then(|| dice.below(41) as i64);
        let opted_in = (!dice.per_mille(100)).then(|| dice.per_mille(850));
        let opted_out = Some(dice.per_mille(40));
        let mut attributes = Map::new();
        attributes.insert(
            "loyalty".into(),
            dice.pick(&["bronze", "silver", "gold"]).into(),
        );
        customers.push(Customer {
            id,
            team_id: None,
            first_name: first,
            last_name: Some(last),
            phone,
            email,
            city,
            country: Some(country.code.to_owned()),
            language: Some(country.language.to_owned()),
            gender: gender.map(str::to_owned),
            date_create: Timestamp::from_unix_millis(created),
            last_order_at: last_order.and_then(Timestamp::from_unix_millis),
            birthday: birthday.flatten(),
            total_spent,
            orders_count,
            opted_in,
            opted_out,
            attributes,
        });
    }
    customers
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> Timestamp {
        "2026-11-29T12:00:00Z".parse().unwrap()
    }

    #[test]
    fn same_seed_same_customers_other_seed_others() {
        let a = sample_customers(500, 1, now());
        assert_eq!(a, sample_customers(500, 1, now()));
        assert_ne!(a, sample_customers(500, 2, now()));
        assert!(a.iter().enumerate().all(|(i, c)| c.id == i as i64 + 1));
    }

    #[test]
    fn the_mix_has_what_the_preview_must_handle() {
        let all = sample_customers(10_000, 42, now());
        let count = |f: &dyn Fn(&Customer) -> bool| all.iter().filter(|c| f(c)).count();
        let e164 = count(&|c| {
            c.phone
                .as_deref()
                .is_some_and(|p| p.starts_with('+') && p[1..].bytes().all(|b| b.is_ascii_digit()))
        });
        assert!((8_500..9_700).contains(&e164), "{e164}");
        assert!(count(&|c| c.phone.is_none()) > 100);
        assert!(count(&|c| c.phone.as_deref() == Some("")) > 50);
        assert!(count(&|c| c.phone.as_deref().is_some_and(|p| p.starts_with("0770"))) > 50);
        assert!(count(&|c| c.first_name.is_none()) > 200);
        assert!(count(&|c| c.opted_in.is_none()) > 500);
        assert!(count(&|c| c.opted_out == Some(true)) > 200);
        assert!(count(&|c| c.first_name.as_deref() == Some("Zoë")) > 10);
        let mut phones: Vec<&str> = all.iter().filter_map(|c| c.phone.as_deref()).collect();
        let before = phones.len();
        phones.sort_unstable();
        phones.dedup();
        assert!(before - phones.len() > 20, "duplicated numbers");
        assert!(
            all.iter()
                .all(|c| c.date_create.is_some_and(|t| t <= now()))
        );
        assert!(
            all.iter()
                .all(|c| c.email.as_deref().is_none_or(|e| e.is_ascii()))
        );
    }
}

// Generates the demo's bundled sample data (data/customers.json, 1,000 customers) from a fixed
// seed, so the file can be regenerated exactly: `node demo/generate-data.mjs`.
import { writeFileSync } from "node:fs";

let state = 20240601;
function random() {
  // mulberry32
  state = (state + 0x6d2b79f5) >>> 0;
  let t = state;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}
const pick = (items) => items[Math.floor(random() * items.length)];
const int = (lo, hi) => lo + Math.floor(random() * (hi - lo + 1));
const chance = (p) => random() < p;

const people = {
  GB: { code: "44", mobile: () => `+44740${int(0, 9)}${int(100000, 999999)}`, cities: ["London", "Manchester", "Leeds", "Bristol", "Glasgow"], first: ["Oliver", "Amelia", "Harry", "Isla", "Jack", "Ava", "Chloé", "Siobhán"], last: ["Smith", "Jones", "O'Brien", "Taylor", "Brown", "Wilson"], language: "en" },
  FR: { code: "33", mobile: () => `+3361${int(1000000, 9999999)}`, cities: ["Paris", "Lyon", "Marseille", "Toulouse", "Nantes"], first: ["Léa", "Hugo", "Zoë", "Louis", "Inès", "Jules", "Renée"], last: ["Martin", "Bernard", "Dubois", "Lefèvre", "Garçon"], language: "fr" },
  ES: { code: "34", mobile: () => `+3461${int(1000000, 9999999)}`, cities: ["Madrid", "Barcelona", "Sevilla", "Valencia", "A Coruña"], first: ["Lucía", "Hugo", "Martína", "Iñaki", "Sofía", "Álvaro"], last: ["García", "Fernández", "López", "Muñoz", "Peña"], language: "es" },
  TR: { code: "90", mobile: () => `+90532${int(1000000, 9999999)}`, cities: ["İstanbul", "Ankara", "İzmir", "Bursa"], first: ["Şükrü", "Ayşe", "Gökhan", "Çağla", "Ömer"], last: ["Yılmaz", "Kaya", "Demir", "Şahin", "Çelik"], language: "tr" },
  DE: { code: "49", mobile: () => `+49151${int(10000000, 99999999)}`, cities: ["Berlin", "München", "Köln", "Hamburg"], first: ["Jürgen", "Anna", "Lukas", "Mia", "Björn"], last: ["Müller", "Schmidt", "Weiß", "Schäfer"], language: "de" },
};
const countries = ["GB", "GB", "GB", "FR", "FR", "ES", "TR", "DE"];
const iso = (ms) => new Date(ms).toISOString().replace(".000Z", "Z");
const now = Date.UTC(2026, 10, 29, 12, 0, 0);
const day = 86_400_000;

const customers = [];
for (let id = 1; id <= 1000; id++) {
  const country = pick(countries);
  const p = people[country];
  const first = chance(0.04) ? null : pick(p.first);
  const last = pick(p.last);
  const customer = {
    id,
    first_name: first,
    last_name: last,
    phone: chance(0.03) ? null : chance(0.02) ? "" : chance(0.02) ? "0770 090 0123" : p.mobile(),
    email: chance(0.1) ? null : `${(first ?? "customer").toLowerCase().normalize("NFD").replace(/[^a-z]/g, "")}.${last.toLowerCase().normalize("NFD").replace(/[^a-z]/g, "")}${id}@example.com`,
    city: chance(0.05) ? null : chance(0.03) ? "" : pick(p.cities),
    country,
    language: p.language,
    gender: chance(0.2) ? null : pick(["female", "male", "other"]),
    date_create: iso(now - int(0, 900) * day - int(0, day)),
    last_order_at: chance(0.25) ? null : iso(now - int(0, 400) * day - int(0, day)),
    birthday: chance(0.15) ? null : `${int(1950, 2006)}-${String(int(1, 12)).padStart(2, "0")}-${String(int(1, 28)).padStart(2, "0")}`,
    total_spent: chance(0.1) ? null : Math.round(random() * 200000) / 100,
    orders_count: chance(0.05) ? null : int(0, 40),
    opted_in: chance(0.1) ? null : chance(0.85),
    opted_out: chance(0.04),
  };
  // A few duplicate numbers, as real lists have.
  if (id > 10 && chance(0.01)) customer.phone = customers[int(0, customers.length - 1)].phone;
  customers.push(customer);
}
writeFileSync(new URL("./data/customers.json", import.meta.url), JSON.stringify(customers, null, 0).replace(/\},\{/g, "},\n{") + "\n");
console.log(`wrote ${customers.length} customers`);

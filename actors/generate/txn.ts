import type { TxnChannel, TxnPayload } from "../../subjects/schemas/index.ts";
import { AnomalyDice, type AnomalyLabel, type KindSpec } from "./anomalies.ts";
import { COUNTRIES, distanceKm, type Country, type LatLon } from "./geo.ts";
import { TimestampWriter, offsetForLongitude, streamsFor, type Draft, type ModelSetup, type SourceModel } from "./model.ts";
import { phoneFor } from "./pii.ts";
import { round, uniqueToken, type Rng } from "./random.ts";

type CategoryName = "grocery" | "restaurant" | "fuel" | "pharmacy" | "electronics" | "fashion" | "travel" | "digital" | "atm";

interface Category {
  /** Median spend in US dollars for an average customer. */
  median: number;
  /** Spread of log(amount). */
  sigma: number;
  channel: TxnChannel | "either";
  /** How common such merchants are. */
  share: number;
}

const CATEGORIES: Record<CategoryName, Category> = {
  grocery: { median: 45, sigma: 0.6, channel: "card_present", share: 3 },
  restaurant: { median: 30, sigma: 0.5, channel: "card_present", share: 3 },
  fuel: { median: 55, sigma: 0.35, channel: "card_present", share: 1.5 },
  pharmacy: { median: 20, sigma: 0.6, channel: "card_present", share: 1 },
  electronics: { median: 250, sigma: 0.8, channel: "either", share: 0.7 },
  fashion: { median: 70, sigma: 0.6, channel: "either", share: 1 },
  travel: { median: 450, sigma: 0.7, channel: "online", share: 0.4 },
  digital: { median: 12, sigma: 0.7, channel: "online", share: 0.6 },
  atm: { median: 100, sigma: 0.6, channel: "atm", share: 1 },
};
const CATEGORY_NAMES = Object.keys(CATEGORIES) as CategoryName[];
const CATEGORY_SHARES = CATEGORY_NAMES.map((c) => CATEGORIES[c].share);

interface Merchant {
  id: string;
  category: CategoryName;
  country: Country;
  at: LatLon;
}

interface Customer {
  id: string;
  home: Country;
  at: LatLon;
  /** Multiplies every category's median: how big a spender this customer is. */
  scale: number;
  /** Multiplies every category's spread: how erratic. */
  spread: number;
  activity: number;
  usual: Merchant[];
  usualWeights: number[];
  cardNumber: string;
  email: string;
  phone: string;
  ts: TimestampWriter;
}

interface Episode {
  anomaly_id: string;
  steps: number;
  step: number;
}

interface Burst extends Episode {
  customer: Customer;
}

type TxnKind = "amount_outlier" | "geo_jump" | "velocity_burst" | "takeover";

const TXN_KINDS: readonly KindSpec<TxnKind>[] = [
  { kind: "amount_outlier", weight: 0.4, minSteps: 1, maxSteps: 1 },
  { kind: "geo_jump", weight: 0.35, minSteps: 1, maxSteps: 1 },
  { kind: "velocity_burst", weight: 0.25, minSteps: 5, maxSteps: 10 },
];
/** With `paymentAnomalies: "joint"`: the same kinds, and takeovers as often as amount outliers. */
const JOINT_TXN_KINDS: readonly KindSpec<TxnKind>[] = [...TXN_KINDS, { kind: "takeover", weight: 0.4, minSteps: 3, maxSteps: 4 }];

/**
 * A takeover's place: this far from the customer's home address, a distance a domestic trip in a
 * large country covers, below what the location signal alone calls a jump (2,400 km).
 */
const TAKEOVER_KM: readonly [number, number] = [700, 1800];
/** A takeover's amounts, in the customer's own spreads above their typical spend at the merchant: high, but seen. */
const TAKEOVER_Z: readonly [number, number] = [2, 3];
/** A takeover's gaps, as a share of the customer's usual gap: short, but seen (one gap in seven is shorter than 0.15). */
const TAKEOVER_GAP: readonly [number, number] = [0.1, 0.25];

interface Takeover extends Episode {
  customer: Customer;
  merchant: Merchant;
  distanceKm: number;
  /** Payment events of the stream until the next takeover payment. */
  dueIn: number;
}

/** A "far-away" payment is at least this far from anywhere in the customer's home country. */
const FAR_KM = 3000;

/** The least distance between two countries' extents, so a domestic trip never passes for a jump. */
const apart = (a: Country, b: Country): number =>
  a === b ? 0 : distanceKm([a.lat, a.lon], [b.lat, b.lon]) - a.radiusKm - b.radiusKm;

const near = (rng: Rng, origin: LatLon, radiusKm: number): LatLon =>
  rng.faker.location.nearbyGPSCoordinate({ origin: [origin[0], origin[1]], radius: radiusKm, isMetric: true });

function createMerchants(rng: Rng, total: number): Merchant[] {
  const taken = new Set<string>();
  const weightSum = COUNTRIES.reduce((sum, c) => sum + c.weight, 0);
  return COUNTRIES.flatMap((country) => {
    const count = Math.max(CATEGORY_NAMES.length, Math.round((total * country.weight) / weightSum));
    return Array.from({ length: count }, (_, i): Merchant => ({
      id: uniqueToken(taken, () => `m-${country.code}-${rng.faker.string.alphanumeric({ length: 6, casing: "lower" })}`),
      // The first merchants of a country cover every category, the rest follow how common each is.
      category: i < CATEGORY_NAMES.length ? CATEGORY_NAMES[i] : rng.weighted(CATEGORY_NAMES, CATEGORY_SHARES),
      country,
      at: near(rng, [country.lat, country.lon], country.radiusKm),
    }));
  });
}

function createCustomer(rng: Rng, taken: Set<string>, merchants: Merchant[], mode: ModelSetup["timestamps"]): Customer {
  const home = rng.weighted(COUNTRIES, COUNTRIES.map((c) => c.weight));
  const at = near(rng, [home.lat, home.lon], home.radiusKm);
  const local = merchants
    .filter((m) => m.country === home)
    .sort((a, b) => distanceKm(at, a.at) - distanceKm(at, b.at))
    .slice(0, 25);
  const usual = rng.faker.helpers.arrayElements(local, { min: 4, max: 9 });
  const firstName = rng.faker.person.firstName();
  const lastName = rng.faker.person.lastName();
  const id = uniqueToken(taken, () => `cus-${rng.faker.string.alphanumeric({ length: 10, casing: "lower" })}`);
  return {
    id,
    home,
    at,
    scale: rng.logNormal(1, 0.45),
    spread: rng.uniform(0.7, 1.2),
    activity: rng.logNormal(1, 0.8),
    usual,
    usualWeights: usual.map(() => rng.logNormal(1, 0.7)),
    cardNumber: rng.faker.finance.creditCardNumber().replace(/\D/g, ""),
    email: rng.faker.internet.exampleEmail({ firstName, lastName }),
    phone: phoneFor(id, home.code),
    ts: new TimestampWriter(mode, rng, offsetForLongitude(at[1])),
  };
}

/** The customer's typical spend at a category, in US dollars. */
const typicalUsd = (customer: Customer, category: CategoryName): number => CATEGORIES[category].median * customer.scale;

/** The customer's usual spend overall, in US dollars: the median over their usual merchants, weighted by visits. */
function habitUsd(customer: Customer): number {
  const spends = customer.usual.map((m, i) => ({ usd: typicalUsd(customer, m.category), weight: customer.usualWeights[i] }));
  spends.sort((a, b) => a.usd - b.usd);
  let half = spends.reduce((sum, s) => sum + s.weight, 0) / 2;
  for (const s of spends) {
    half -= s.weight;
    if (half <= 0) return s.usd;
  }
  return spends[spends.length - 1].usd;
}

function channelAt(rng: Rng, merchant: Merchant): TxnChannel {
  const channel = CATEGORIES[merchant.category].channel;
  return channel === "either" ? (rng.chance(0.5) ? "online" : "card_present") : channel;
}

function payment(rng: Rng, customer: Customer, merchant: Merchant, channel: TxnChannel, usd: number, ms: number): Omit<TxnPayload, "event_id"> {
  const { country } = merchant;
  // Cash machines dispense round notes.
  const local = channel === "atm" ? Math.max(1, Math.round(usd / 20)) * 20 * country.perUsd : usd * country.perUsd;
  const inPerson = channel !== "online";
  return {
    txn_id: `tx-${rng.faker.string.alphanumeric({ length: 16, casing: "lower" })}`,
    customer_id: customer.id,
    merchant_id: merchant.id,
    amount: round(local, country.digits),
    currency: country.currency,
    country: country.code,
    ...(inPerson ? { lat: round(merchant.at[0], 5), lon: round(merchant.at[1], 5) } : {}),
    channel,
    card_number: customer.cardNumber,
    ...(inPerson ? {} : { email: customer.email, phone: customer.phone }),
    ts: customer.ts.write(ms),
  };
}

/**
 * Card payments by customers with habits: a home country and address, a handful of usual nearby
 * merchants they return to, a spending level and spread of their own on top of each merchant
 * category's typical amount, occasional online purchases abroad. Anomalies: amounts far above the
 * customer's habit, a card-present payment far from home, and bursts of small online charges.
 */
export function createTxnModel(setup: ModelSetup): SourceModel<"txn"> {
  const { world, events, anomalies } = streamsFor(setup.seed, "txn");
  const merchants = createMerchants(world, Math.max(60, Math.round(setup.count / 2)));
  const customerIds = new Set<string>();
  const customers = Array.from({ length: setup.count }, () => createCustomer(world, customerIds, merchants, setup.timestamps));
  const activity = customers.map((c) => c.activity);
  const atHome = new Map(COUNTRIES.map((c) => [c, merchants.filter((m) => m.country === c)]));
  const onlineAnywhere = merchants.filter((m) => CATEGORIES[m.category].channel !== "card_present" && CATEGORIES[m.category].channel !== "atm");
  const dice = new AnomalyDice(anomalies, setup.anomalyRate, setup.paymentAnomalies === "joint" ? JOINT_TXN_KINDS : TXN_KINDS, "txn");
  let burst: Burst | undefined;
  let takeover: Takeover | undefined;
  const totalActivity = activity.reduce((a, b) => a + b, 0);
  /** Payment events until one `share` of the customer's usual gap has passed (their share of payments is activity / total). */
  const eventsFor = (customer: Customer, share: number) => Math.max(1, Math.round((share * totalActivity) / customer.activity));

  function baseline(customer: Customer, ms: number): { draft: Draft<"txn">; merchant: Merchant } {
    const r = events.float();
    let merchant: Merchant;
    let channel: TxnChannel;
    if (r < 0.85) {
      merchant = events.weighted(customer.usual, customer.usualWeights);
      channel = channelAt(events, merchant);
    } else if (r < 0.97) {
      merchant = events.pick(atHome.get(customer.home) ?? []);
      channel = channelAt(events, merchant);
    } else {
      merchant = events.pick(onlineAnywhere);
      channel = "online";
    }
    const category = CATEGORIES[merchant.category];
    const usd = typicalUsd(customer, merchant.category) * Math.exp(events.normal(0, category.sigma * customer.spread));
    return { draft: { key: customer.id, payload: payment(events, customer, merchant, channel, usd, ms) }, merchant };
  }

  function burstCharge(current: Burst, ms: number): Draft<"txn"> {
    const { customer, anomaly_id, step, steps } = current;
    const merchant = anomalies.pick(onlineAnywhere);
    const label: AnomalyLabel = { kind: "velocity_burst", anomaly_id, step, steps };
    current.step += 1;
    if (current.step >= current.steps) burst = undefined;
    return { key: customer.id, payload: payment(anomalies, customer, merchant, "online", anomalies.uniform(0.5, 5), ms), label };
  }

  function amountOutlier(draft: Draft<"txn">, customer: Customer, merchant: Merchant, episode: Episode): Draft<"txn"> {
    const factor = anomalies.uniform(8, 30);
    const typical = Math.max(habitUsd(customer), typicalUsd(customer, merchant.category)) * merchant.country.perUsd;
    const { digits } = merchant.country;
    const label: AnomalyLabel = { kind: "amount_outlier", ...episode, typical_amount: round(typical, digits), factor: round(factor, 2) };
    return { ...draft, payload: { ...draft.payload, amount: round(typical * factor, digits) }, label };
  }

  function geoJump(draft: Draft<"txn">, customer: Customer, episode: Episode, ms: number): Draft<"txn"> {
    const far = merchants.filter((m) => CATEGORIES[m.category].channel === "card_present" && apart(customer.home, m.country) >= FAR_KM);
    const merchant = anomalies.pick(far);
    const usd = typicalUsd(customer, merchant.category) * Math.exp(anomalies.normal(0, CATEGORIES[merchant.category].sigma));
    const payload = { ...payment(anomalies, customer, merchant, "card_present", usd, ms), txn_id: draft.payload.txn_id };
    const label: AnomalyLabel = {
      kind: "geo_jump", ...episode,
      home_country: customer.home.code, country: merchant.country.code, distance_km: Math.round(distanceKm(customer.at, merchant.at)),
    };
    return { key: customer.id, payload, label };
  }

  function startTakeover(customer: Customer, episode: Episode): Takeover | undefined {
    const places = merchants
      .filter((m) => CATEGORIES[m.category].channel === "card_present")
      .map((m) => ({ m, km: distanceKm(customer.at, m.at) }))
      .filter(({ km }) => km >= TAKEOVER_KM[0] && km <= TAKEOVER_KM[1]);
    // A customer in a small country with no merchant that far: no takeover.
    if (places.length === 0) return undefined;
    const { m, km } = anomalies.pick(places);
    return { ...episode, customer, merchant: m, distanceKm: Math.round(km), dueIn: 0 };
  }

  function takeoverCharge(current: Takeover, ms: number): Draft<"txn"> {
    const { customer, merchant, anomaly_id, step, steps } = current;
    const z = anomalies.uniform(TAKEOVER_Z[0], TAKEOVER_Z[1]);
    const usd = typicalUsd(customer, merchant.category) * Math.exp(z * CATEGORIES[merchant.category].sigma * customer.spread);
    const gapShare = anomalies.uniform(TAKEOVER_GAP[0], TAKEOVER_GAP[1]);
    const label: AnomalyLabel = { kind: "takeover", anomaly_id, step, steps, distance_km: current.distanceKm, amount_z: round(z, 2), gap_share: round(gapShare, 3) };
    current.step += 1;
    current.dueIn = eventsFor(customer, gapShare);
    if (current.step >= current.steps) takeover = undefined;
    return { key: customer.id, payload: payment(anomalies, customer, merchant, "card_present", usd, ms), label };
  }

  return {
    keys: customers.map((c) => c.id),
    references: merchants.map((m) => ({ key: m.id, fields: { category: m.category, country: m.country.code } })),
    next(nowMs) {
      let customer = events.weighted(customers, activity);
      // The card's owner pays nothing while a takeover of it runs (under a usual gap): their own
      // payments would end the episode's scoring window before its last payment. Redrawn until
      // another customer: one redraw can land on the same card again. Without takeovers (the
      // default stream) nothing is redrawn, so that stream is unchanged.
      while (takeover && customer === takeover.customer && customers.length > 1) customer = events.weighted(customers, activity);
      // Drawn even when an anomaly replaces it, so the baseline stream stays the same.
      const { draft, merchant } = baseline(customer, nowMs);
      if (burst) return burstCharge(burst, nowMs);
      if (takeover && --takeover.dueIn <= 0) return takeoverCharge(takeover, nowMs);
      const started = dice.roll();
      if (!started) return draft;
      const episode: Episode = { anomaly_id: started.anomaly_id, steps: started.steps, step: 0 };
      switch (started.kind) {
        case "amount_outlier":
          return amountOutlier(draft, customer, merchant, episode);
        case "geo_jump":
          return geoJump(draft, customer, episode, nowMs);
        case "velocity_burst":
          burst = { ...episode, customer };
          return burstCharge(burst, nowMs);
        case "takeover":
          if (takeover) return draft;
          takeover = startTakeover(customer, episode);
          return takeover ? takeoverCharge(takeover, nowMs) : draft;
      }
    },
  };
}

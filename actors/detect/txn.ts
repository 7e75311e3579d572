import { DetectSnapshotError, NOTHING, type Finding, type Scorer } from "./finding.ts";
import { Lru } from "../../models/lru.ts";
import { judgeThenObserve, newCalibrator, type CalibratorConfig } from "../../models/anomaly/calibrate.ts";
import { erlangCdf, haversineKm, learn, learnClipped, newRobust, scoreOf, spread, type Robust } from "./stats.ts";

/** Gaps summed by the velocity signal: five payments close together. */
const VELOCITY_GAPS = 4;
/** E[ln gap] of exponential gaps is ln(mean) − γ; this turns the learnt log mean back into a mean. */
const EULER_GAMMA = 0.5772;
/** Payments before a customer's gap statistics are trusted. */
const GAP_WARMUP = 15;
/** A gap below this share of the customer's usual one (p ≈ 5% for exponential gaps) marks a hurried payment. */
const HURRIED_GAP = 0.05;
/** Card-present locations kept per customer. */
const PLACES = 16;
/** Card-present payments seen before a location change is judged. */
const PLACE_WARMUP = 3;
/** Surprise per km of distance from every recent card-present place (2000 km ≈ 6.7 nats). */
const KM_PER_NAT = 300;
/** Amounts seen before a reference (pair, merchant, customer) is used. */
const MIN_PAIR = 8;
const MIN_OFFSET = 4;
const MIN_MERCHANT = 8;
const MIN_CUSTOMER = 8;
/** ln-amount spread never taken as below this (a few identical amounts would make any change infinite). */
const LOG_SPREAD_FLOOR = 0.2;
/** Prior ln-amount deviation and its weight in payments: few payments say little about spread. */
const PRIOR_SPREAD = 0.6;
const PRIOR_WEIGHT = 4;
/** Amounts are learnt clipped to this many spreads of the reference's mean. */
const LEARN_CLIP = 2;
/** Merchants remembered per customer for the pair reference. */
const PAIRS_PER_CUSTOMER = 12;
/** Currencies remembered per customer. */
const CURRENCIES_PER_CUSTOMER = 4;

/**
 * Learns one ln(amount). An outlier does not teach what is usual, but it is clipped rather than
 * skipped: a reference that skipped every payment it called high would stay wrong for good once it started wrong.
 */
function teach(r: Robust, v: number): void {
  learnClipped(r, v, LEARN_CLIP, LOG_SPREAD_FLOOR);
}

/** Spread of the next ln(amount): the learnt one shrunk toward the prior, widened for the mean's own error. */
function predictiveSpread(r: Robust): number {
  const learnt = spread(r, LOG_SPREAD_FLOOR);
  const pooled = Math.sqrt((r.n * learnt ** 2 + PRIOR_WEIGHT * PRIOR_SPREAD ** 2) / (r.n + PRIOR_WEIGHT));
  return pooled * Math.sqrt(1 + 1 / r.n);
}

interface Customer {
  /** ln(amount) per currency. */
  amounts: Record<string, Robust>;
  /** ln(amount) minus the merchant's mean ln(amount): how big a spender the customer is. */
  offset: Robust;
  /** ln(amount) per merchant this customer pays. */
  pairs: Record<string, Robust>;
  /** Merchant ids, least recently used first, bounding `pairs`. */
  pairOrder: string[];
  /** Event times (ms) of the last payments, ascending (an out-of-order payment is inserted in place). */
  times: number[];
  /** ln(gap ms + 1) between payments. */
  gaps: Robust;
  places: Array<[number, number, number]>;
  bursting: boolean;
}

/**
 * Each signal's surprise on the payment being scored (NaN: not judged, e.g. no reference yet, an
 * online payment has no place), for the joint signal. Reset per payment.
 */
interface Surprises {
  amount: number;
  velocity: number;
  location: number;
  /** What each feature was, for the explanation: the amount, the span of the last five payments (ms), the distance (km). */
  amountObserved: number;
  amountTypical: number;
  velocityObserved: number;
  velocityUsual: number;
  locationObserved: number;
}

const JOINT_FEATURES = ["amount", "velocity", "location"] as const;
/** A feature is named in a joint finding's explanation when its own surprise is at least this (p ≈ 0.37). */
const DEVIATING_NATS = 1;

/**
 * -ln of the chance that k independent Exp(1) surprises sum to at least `sum` (the Gamma(k, 1)
 * upper tail, Fisher's method in nats): how surprising several moderate deviations are together.
 */
export function combinedSurprise(sum: number, k: number): number {
  let term = 1;
  let series = 1;
  for (let j = 1; j < k; j++) {
    term *= sum / j;
    series += term;
  }
  return sum - Math.log(series);
}

const freshCustomer = (): Customer => ({ amounts: {}, offset: newRobust(), pairs: {}, pairOrder: [], times: [], gaps: newRobust(), places: [], bursting: false });

/**
 * Transactions, per customer and merchant, three explainable signals:
 * - `amount-vs-habit`: ln(amount) above what this customer pays this merchant (else what this
 *   merchant is paid, else what the customer pays in that currency), in robust deviations; where
 *   the merchant's level shifted by the customer's usual offset is known too, the mean of the two;
 * - `velocity`: five payments whose four gaps sum to far less than the customer's usual gap
 *   (an Erlang tail under the customer's own rate);
 * - `location-jump`: a card-present payment far from every recent card-present place of the customer.
 * Each is a surprise in nats on the univariate detector's score scale.
 */
export function createTxnScorer(opts: { maxKeys: number; threshold: number; jointTests?: number }): Scorer {
  const customers = new Lru<Customer>(opts.maxKeys);
  const merchants = new Lru<Robust>(opts.maxKeys);
  const jointTests = opts.jointTests ?? 0;
  // Off (the default), payments keep no per-feature bookkeeping: the cold pass costs what it did.
  const jointOn = jointTests > 0;
  /**
   * For the joint signal, each feature's surprise is first turned into its tail probability among
   * all customers' recent payments (one calibrator per feature, shared), so a distance or a pace
   * that is common in this population counts as common. Not in the snapshot: the signal is off by
   * default (it did not raise payments F1: models/anomaly/RESULTS.md, round eight), and after a
   * restore it judges nothing until 200 payments have taught the calibrators again.
   */
  const calibration: CalibratorConfig = { bins: 400, width: 0.025, decay: 1 - 1 / 10_000, minCount: 200, tailMass: 0.02, maxTailIndex: 10 };
  const calibrators = { amount: newCalibrator(calibration), velocity: newCalibrator(calibration), location: newCalibrator(calibration) };
  const seen: Surprises = { amount: NaN, velocity: NaN, location: NaN, amountObserved: 0, amountTypical: 0, velocityObserved: 0, velocityUsual: 0, locationObserved: 0 };

  /** `learn: false` judges only: nothing learnt, no key made more recent. */
  function amount(key: string, c: Customer, payload: Record<string, unknown>, teachable: boolean, learn: boolean): Finding | undefined {
    const value = payload.amount;
    const currency = typeof payload.currency === "string" ? payload.currency : "";
    const merchantId = typeof payload.merchant_id === "string" ? payload.merchant_id : "";
    if (typeof value !== "number" || !(value > 0)) return undefined;
    const x = Math.log(value);
    const pair = c.pairs[merchantId];
    const merchant = learn ? merchants.get(merchantId) : merchants.peek(merchantId);
    const own = c.amounts[currency];
    // The local reference (this customer here, else this merchant) and the customer's own
    // spending in the currency must both call the amount high: either alone, estimated from a
    // handful of payments, calls too many ordinary big purchases outliers.
    // A merchant's level times this customer's usual offset from the merchants they pay: amounts
    // are a price level times how big a spender the customer is.
    const adjusted = merchant && merchant.n >= MIN_MERCHANT && c.offset.n >= MIN_OFFSET
      ? { n: Math.min(merchant.n, c.offset.n), mean: merchant.mean + c.offset.mean, dev: c.offset.dev }
      : undefined;
    const local = pair && pair.n >= MIN_PAIR ? { name: "customer-at-merchant", r: pair }
      : adjusted ? { name: "merchant-for-customer", r: adjusted }
      : merchant && merchant.n >= MIN_MERCHANT ? { name: "merchant", r: merchant }
      : undefined;
    const reference = local ?? (own && own.n >= MIN_CUSTOMER ? { name: "customer", r: own } : undefined);
    let finding: Finding | undefined;
    if (reference) {
      const sd = predictiveSpread(reference.r);
      const ref = { name: reference.name, r: reference.r, sd, z: (x - reference.r.mean) / sd };
      // Where both local references exist, the amount is judged by the mean of their deviations:
      // the pair's spread comes from a few payments at one merchant, the adjusted one's from the
      // customer's offset over all of them, and either alone errs (decided on generator seeds 2-4,
      // confirmed on 11-13: models/anomaly/RESULTS.md, round six).
      const views = reference.name === "customer-at-merchant" && adjusted
        ? { "customer-at-merchant": ref.z, "merchant-for-customer": (x - adjusted.mean) / predictiveSpread(adjusted) }
        : undefined;
      if (views) ref.z = (views["customer-at-merchant"] + views["merchant-for-customer"]) / 2;
      const surprise = ref.z > 0 ? (ref.z * ref.z) / 2 : 0;
      if (jointOn) {
        seen.amount = surprise;
        seen.amountObserved = value;
        seen.amountTypical = Math.exp(ref.r.mean);
      }
      const score = scoreOf(surprise);
      if (score >= opts.threshold) {
        finding = {
          key,
          metric: "amount",
          score,
          signal: "amount-vs-habit",
          expected: { low: Math.exp(ref.r.mean - 3 * ref.sd), high: Math.exp(ref.r.mean + 3 * ref.sd) },
          observed: value,
          explanation: { reference: ref.name, typical: Math.exp(ref.r.mean), ratio: Math.exp(x - ref.r.mean), z: ref.z, ...(views ? { z_by_reference: views } : {}), currency, merchant_id: merchantId, surprise },
        };
      }
    }
    // Nor does a payment right after another (`teachable` is false then): card testers' small
    // charges would drag down the level of every online merchant they hit.
    if (teachable && learn) {
      let spent = c.amounts[currency];
      const newCurrency = spent === undefined;
      if (spent === undefined) spent = c.amounts[currency] = newRobust();
      teach(spent, x);
      if (merchant && merchant.n >= MIN_MERCHANT) teach(c.offset, x - merchant.mean);
      if (merchantId) {
        teach((c.pairs[merchantId] ??= newRobust()), x);
        const at = c.pairOrder.indexOf(merchantId);
        if (at >= 0) c.pairOrder.splice(at, 1);
        c.pairOrder.push(merchantId);
        while (c.pairOrder.length > PAIRS_PER_CUSTOMER) delete c.pairs[c.pairOrder.shift()!];
        teach(merchants.upsert(merchantId, newRobust), x);
      }
      // Only a new currency can take a customer past the limit (it has held since the first version).
      const currencies = newCurrency ? Object.keys(c.amounts) : [];
      if (currencies.length > CURRENCIES_PER_CUSTOMER) {
        const rarest = currencies.reduce((a, b) => (c.amounts[a].n <= c.amounts[b].n ? a : b));
        delete c.amounts[rarest];
      }
    }
    return finding;
  }

  /**
   * A payment older than the customer's newest: it takes its place among the kept times, so the
   * next payment's span covers the right five, but it raises nothing and teaches no gap (the gap
   * it splits was learnt whole). Keeping the times sorted is what keeps every span ≥ 0.
   */
  function insertOutOfOrder(c: Customer, t: number): void {
    if (c.times.length > VELOCITY_GAPS && t < c.times[0]) return;
    const at = c.times.findIndex((x) => x > t);
    c.times = [...c.times.slice(0, at), t, ...c.times.slice(at)].slice(-(VELOCITY_GAPS + 1));
  }

  function velocity(key: string, c: Customer, t: number): Finding | undefined {
    const previous = c.times[c.times.length - 1];
    c.times.push(t);
    if (c.times.length > VELOCITY_GAPS + 1) c.times.shift();
    if (previous === undefined) return undefined;
    const gap = t - previous;
    let finding: Finding | undefined;
    let surprise = 0;
    if (c.times.length === VELOCITY_GAPS + 1 && c.gaps.n >= GAP_WARMUP) {
      const usualGap = Math.exp(c.gaps.mean + EULER_GAMMA);
      const span = c.times[VELOCITY_GAPS] - c.times[0];
      surprise = -Math.log(Math.max(erlangCdf(VELOCITY_GAPS, span / usualGap), 1e-300));
      if (jointOn) {
        seen.velocity = surprise;
        seen.velocityObserved = span;
        seen.velocityUsual = VELOCITY_GAPS * usualGap;
      }
      const score = scoreOf(surprise);
      if (!c.bursting && score >= opts.threshold) {
        finding = {
          key,
          metric: "velocity",
          score,
          signal: "velocity",
          expected: { low: (VELOCITY_GAPS * usualGap) / 10, high: Infinity },
          observed: span,
          explanation: { payments: VELOCITY_GAPS + 1, span_ms: span, usual_gap_ms: usualGap, surprise },
        };
      }
    }
    // One alert per burst: quiet until the gaps look usual again.
    c.bursting = scoreOf(surprise) >= opts.threshold || (c.bursting && surprise > 3);
    if (surprise < 3) learn(c.gaps, Math.log1p(gap), 1 / 30);
    return finding;
  }

  function location(key: string, c: Customer, t: number, payload: Record<string, unknown>, remember: boolean): Finding | undefined {
    const { lat, lon, channel } = payload;
    if (typeof lat !== "number" || typeof lon !== "number" || (channel !== undefined && channel !== "card_present" && channel !== "atm")) return undefined;
    const here: [number, number] = [lat, lon];
    let finding: Finding | undefined;
    if (c.places.length >= PLACE_WARMUP) {
      let nearest = c.places[0];
      let km = Infinity;
      const cosLat = Math.cos(lat * (Math.PI / 180));
      for (const p of c.places) {
        const d = haversineKm(here, p, cosLat);
        if (d < km) {
          km = d;
          nearest = p;
        }
      }
      const last = c.places[c.places.length - 1];
      const hours = Math.max((t - last[2]) / 3_600_000, 1 / 3600);
      const score = scoreOf(km / KM_PER_NAT);
      if (jointOn) {
        seen.location = km / KM_PER_NAT;
        seen.locationObserved = km;
      }
      if (score >= opts.threshold) finding = {
        key,
        metric: "location",
        score,
        signal: "location-jump",
        expected: { low: 0, high: 2000 },
        observed: km,
        explanation: {
          distance_km: Math.round(km),
          nearest_recent: [nearest[0], nearest[1]],
          implied_speed_kmh: Math.round(haversineKm(here, last, cosLat) / hours),
          country: payload.country,
        },
      };
    }
    if (remember) {
      c.places.push([lat, lon, t]);
      if (c.places.length > PLACES) c.places.shift();
    }
    return finding;
  }

  /**
   * Several features moderately off at once (Fisher's combination of their calibrated surprises
   * over the features judged, corrected for `jointTests` payments): a high-but-seen amount, soon after the
   * last payment, from a place not far enough to be a jump alone. Names every feature at least
   * {@link DEVIATING_NATS} off, strongest first; filed under the strongest feature's metric so it
   * merges with that feature's own finding.
   */
  function joint(key: string): Finding | undefined {
    let k = 0;
    let sum = 0;
    let off = 0;
    for (const f of JOINT_FEATURES) {
      let s = seen[f];
      if (s !== s) continue;
      s = seen[f] = -Math.log(judgeThenObserve(calibration, calibrators[f], s));
      k++;
      sum += s;
      if (s >= DEVIATING_NATS) off++;
    }
    if (off < 2) return undefined;
    const surprise = combinedSurprise(sum, k) - Math.log(jointTests);
    const score = scoreOf(surprise);
    if (score < opts.threshold) return undefined;
    const features = JOINT_FEATURES.filter((f) => seen[f] >= DEVIATING_NATS).sort((a, b) => seen[b] - seen[a]);
    const detail = (f: (typeof JOINT_FEATURES)[number]) =>
      f === "amount" ? { feature: f, surprise: seen.amount, observed: seen.amountObserved, typical: seen.amountTypical }
      : f === "velocity" ? { feature: f, surprise: seen.velocity, observed_span_ms: seen.velocityObserved, usual_span_ms: seen.velocityUsual }
      : { feature: f, surprise: seen.location, distance_km: Math.round(seen.locationObserved) };
    const top = features[0];
    const observed = top === "amount" ? seen.amountObserved : top === "velocity" ? seen.velocityObserved : seen.locationObserved;
    const expected = top === "amount" ? { low: 0, high: seen.amountTypical * Math.exp(3 * 0.6) } : top === "velocity" ? { low: seen.velocityUsual / 10, high: Infinity } : { low: 0, high: 2000 };
    return {
      key,
      metric: top,
      score,
      signal: "joint",
      expected,
      observed,
      explanation: { features: features.map(detail), judged: k, surprise, tests: jointTests },
    };
  }

  return {
    observe(key, eventTime, payload, _ref, learn) {
      if (jointOn) {
        seen.amount = NaN;
        seen.velocity = NaN;
        seen.location = NaN;
      }
      const c = learn ? customers.upsert(key, freshCustomer) : (customers.peek(key) ?? freshCustomer());
      const newest = c.times[c.times.length - 1];
      const inOrder = newest === undefined || eventTime >= newest;
      // Hurried: close after the payment before it in event time.
      const previous = inOrder ? newest : c.times.filter((x) => x <= eventTime).pop();
      const hurried = previous !== undefined && c.gaps.n >= GAP_WARMUP && eventTime - previous < Math.exp(c.gaps.mean + EULER_GAMMA) * HURRIED_GAP;
      let amountFinding: Finding | undefined;
      let velocityFinding: Finding | undefined;
      let locationFinding: Finding | undefined;
      if (!learn) {
        amountFinding = amount(key, c, payload, false, false);
        locationFinding = location(key, c, eventTime, payload, false);
      } else if (!inOrder) {
        insertOutOfOrder(c, eventTime);
        amountFinding = amount(key, c, payload, !hurried, true);
        // Places stay in event-time order (the newest gives the implied speed): an older one is judged, not kept.
        locationFinding = location(key, c, eventTime, payload, false);
      } else {
        amountFinding = amount(key, c, payload, !hurried, true);
        velocityFinding = velocity(key, c, eventTime);
        locationFinding = location(key, c, eventTime, payload, true);
      }
      const jointFinding = jointOn && learn && inOrder ? joint(key) : undefined;
      // Most payments raise nothing: no array for them.
      if (!amountFinding && !velocityFinding && !locationFinding && !jointFinding) return NOTHING;
      const out: Finding[] = [];
      if (jointFinding) out.push(jointFinding);
      if (amountFinding) out.push(amountFinding);
      if (velocityFinding) out.push(velocityFinding);
      if (locationFinding) out.push(locationFinding);
      return out;
    },
    keys: () => ({ held: customers.size, evicted: customers.evicted }),
    snapshot: () => ({ customers: [...customers.entries()], merchants: [...merchants.entries()] }),
    restore(snapshot) {
      const s = snapshot as { customers?: Array<[string, Customer]>; merchants?: Array<[string, Robust]> };
      if (!s || !Array.isArray(s.customers) || !Array.isArray(s.merchants)) throw new DetectSnapshotError("txn: expected { customers, merchants } arrays");
      customers.clear();
      merchants.clear();
      for (const [k, v] of s.customers) customers.set(k, structuredClone(v));
      for (const [k, v] of s.merchants) merchants.set(k, { ...v });
    },
  };
}

import { AnomalyDice, type AnomalyLabel, type IotMetric, type KindSpec } from "./anomalies.ts";
import { DAY_MS, TimestampWriter, offsetForLongitude, streamsFor, type ModelSetup, type SourceModel } from "./model.ts";
import { clamp, round, uniqueToken, type Rng } from "./random.ts";

interface Site {
  token: string;
  lon: number;
  /** Mean outdoor temperature, °C. */
  climate: number;
  /** Mean sea-level-corrected pressure at the site's elevation, hPa. */
  pressure: number;
  /** Weather systems pass with a period of days; all sensors of a site see the same one. */
  synopticPeriodMs: number;
  synopticPhase: number;
}

type SensorKind = "outdoor" | "indoor" | "probe";

const METRICS_OF: Record<SensorKind, readonly IotMetric[]> = {
  outdoor: ["temperature", "humidity", "pressure", "battery"],
  indoor: ["temperature", "humidity", "battery"],
  probe: ["temperature"],
};

type Reading = Partial<Record<IotMetric, number>>;

interface Episode {
  kind: "spike" | "level_shift" | "stuck";
  anomaly_id: string;
  steps: number;
  step: number;
  metric: IotMetric;
  delta: number;
  frozen?: Reading;
}

interface Sensor {
  id: string;
  site: Site;
  kind: SensorKind;
  temperature: number;
  amplitude: number;
  /** Calibration wanders over weeks: a slow sine of this size, period and phase. */
  drift: number;
  driftPeriodMs: number;
  driftPhase: number;
  noise: number;
  humidity: number;
  /** A fresh cell's voltage; it falls linearly and is swapped when it reaches {@link BATTERY_SWAP}. */
  batteryFull: number;
  batteryDecayPerDay: number;
  /** Where in its cell's life the sensor is at epoch 0, in days. */
  batteryAgeDays: number;
  ts: TimestampWriter;
  episode?: Episode;
}

const IOT_KINDS: readonly KindSpec<Episode["kind"]>[] = [
  { kind: "spike", weight: 0.4, minSteps: 1, maxSteps: 1 },
  { kind: "level_shift", weight: 0.3, minSteps: 12, maxSteps: 40 },
  { kind: "stuck", weight: 0.3, minSteps: 12, maxSteps: 40 },
];

const DIGITS: Record<IotMetric, number> = { temperature: 2, humidity: 1, pressure: 1, battery: 3 };

const BATTERY_SWAP = 2.6;

/**
 * The daily cycle at a longitude: +1 at 15:00 local solar time, −1 at 03:00, so afternoons are
 * warm and nights cold wherever a site is.
 */
export function dailyCycle(ms: number, lon: number): number {
  const localHours = ms / 3_600_000 + lon / 15;
  return Math.sin((2 * Math.PI * (localHours - 9)) / 24);
}

function createSite(rng: Rng, taken: Set<string>): Site {
  const lat = rng.uniform(-55, 65);
  return {
    token: uniqueToken(taken, () => rng.faker.location.city()),
    lon: rng.uniform(-180, 180),
    climate: 27 - 0.45 * Math.abs(lat) + rng.normal(0, 2),
    pressure: 1013.25 * Math.exp(-rng.uniform(0, 1500) / 8434),
    synopticPeriodMs: rng.uniform(2.5, 5) * DAY_MS,
    synopticPhase: rng.uniform(0, 2 * Math.PI),
  };
}

function createSensor(rng: Rng, site: Site, index: number, mode: ModelSetup["timestamps"]): Sensor {
  const kind = rng.weighted<SensorKind>(["outdoor", "indoor", "probe"], [0.35, 0.45, 0.2]);
  const temperature =
    kind === "outdoor" ? site.climate + rng.normal(0, 0.8)
    : kind === "indoor" ? rng.normal(21.5, 1)
    : rng.pick([-18, 4]) + rng.normal(0, 0.5);
  const batteryFull = rng.uniform(3.3, 3.6);
  const batteryDecayPerDay = rng.uniform(0.003, 0.01);
  return {
    id: `${site.token}-${kind}-${index}`,
    site,
    kind,
    temperature,
    amplitude: kind === "outdoor" ? rng.uniform(3, 7) : rng.uniform(0.6, 1.5),
    drift: kind === "outdoor" ? rng.uniform(0.5, 2) : rng.uniform(0.1, 0.4),
    driftPeriodMs: rng.uniform(15, 60) * DAY_MS,
    driftPhase: rng.uniform(0, 2 * Math.PI),
    noise: kind === "outdoor" ? rng.uniform(0.15, 0.4) : rng.uniform(0.05, 0.15),
    humidity: kind === "outdoor" ? rng.uniform(50, 85) : rng.uniform(35, 60),
    batteryFull,
    batteryDecayPerDay,
    batteryAgeDays: rng.uniform(0, (batteryFull - BATTERY_SWAP) / batteryDecayPerDay),
    ts: new TimestampWriter(mode, rng, offsetForLongitude(site.lon)),
  };
}

/** Behaviour is a function of absolute time, so a run started at any instant looks the same. */
function baseline(sensor: Sensor, ms: number, rng: Rng): Reading {
  const cycle = dailyCycle(ms, sensor.site.lon);
  const reading: Reading = {};
  for (const metric of METRICS_OF[sensor.kind]) {
    switch (metric) {
      case "temperature":
        reading.temperature = sensor.temperature + sensor.drift * Math.sin((2 * Math.PI * ms) / sensor.driftPeriodMs + sensor.driftPhase)
          + sensor.amplitude * cycle + rng.normal(0, sensor.noise);
        break;
      case "humidity":
        // Relative humidity falls as the air warms over the day.
        reading.humidity = clamp(sensor.humidity - 2.5 * sensor.amplitude * cycle + rng.normal(0, 1.2), 0, 100);
        break;
      case "pressure": {
        const { site } = sensor;
        const wave = Math.sin((2 * Math.PI * ms) / site.synopticPeriodMs + site.synopticPhase);
        reading.pressure = site.pressure + 6 * wave + rng.normal(0, 0.15);
        break;
      }
      case "battery":
        const life = (sensor.batteryFull - BATTERY_SWAP) / sensor.batteryDecayPerDay;
        const age = (((ms / DAY_MS + sensor.batteryAgeDays) % life) + life) % life;
        reading.battery = sensor.batteryFull - sensor.batteryDecayPerDay * age + rng.normal(0, 0.004);
        break;
    }
  }
  return reading;
}

function startEpisode(sensor: Sensor, dice: AnomalyDice<Episode["kind"]>, reading: Reading): Episode | undefined {
  const started = dice.roll();
  if (!started) return undefined;
  const rng = dice.rng;
  const { kind } = started;
  const candidates = METRICS_OF[sensor.kind].filter((m) => m !== "battery" && (kind !== "level_shift" || m !== "pressure"));
  const metric = kind === "stuck" ? "temperature" : rng.pick(candidates);
  const magnitude: Record<IotMetric, [number, number]> = kind === "spike"
    ? { temperature: [8, 20], humidity: [25, 45], pressure: [25, 60], battery: [0, 0] }
    : { temperature: [3, 8], humidity: [10, 20], pressure: [0, 0], battery: [0, 0] };
  const [min, max] = magnitude[metric];
  return {
    ...started,
    step: 0,
    metric,
    delta: kind === "stuck" ? 0 : rng.sign() * rng.uniform(min, max),
    frozen: kind === "stuck" ? { ...reading } : undefined,
  };
}

/** Applies the sensor's running episode to `reading` and says what it did. */
function applyEpisode(episode: Episode, reading: Reading): AnomalyLabel {
  const { anomaly_id, step, steps, metric } = episode;
  if (episode.kind === "stuck") {
    Object.assign(reading, episode.frozen);
    return { kind: "stuck", anomaly_id, step, steps, metric, value: round(reading[metric] ?? 0, DIGITS[metric]) };
  }
  const before = reading[metric] ?? 0;
  const after = metric === "humidity" ? clamp(before + episode.delta, 0, 100) : before + episode.delta;
  reading[metric] = after;
  return { kind: episode.kind, anomaly_id, step, steps, metric, delta: round(after - before, DIGITS[metric]) };
}

/**
 * Sensors at sites around the world, reporting in turn like firmware on a fixed period. Each has
 * its own level, a slow drift over weeks, a 24 h cycle at its site's local solar time and noise;
 * humidity moves against temperature, pressure follows the site's passing weather, batteries
 * drain until swapped. Anomalies: spikes, level shifts and stuck sensors.
 */
export function createIotModel(setup: ModelSetup): SourceModel<"iot"> {
  const { world, events, anomalies } = streamsFor(setup.seed, "iot");
  const siteTokens = new Set<string>();
  const sites = Array.from({ length: Math.ceil(setup.count / 6) }, () => createSite(world, siteTokens));
  const sensors = Array.from({ length: setup.count }, (_, i) => createSensor(world, sites[i % sites.length], Math.floor(i / sites.length) + 1, setup.timestamps));
  const order = world.faker.helpers.shuffle(sensors);
  const dice = new AnomalyDice(anomalies, setup.anomalyRate, IOT_KINDS, "iot");
  let cursor = 0;

  return {
    keys: sensors.map((s) => s.id),
    references: sensors.map((s) => ({ key: s.id, fields: { model: `TH-${s.kind}`, site: s.site.token } })),
    next(nowMs) {
      const sensor = order[cursor];
      cursor = (cursor + 1) % order.length;
      const reading = baseline(sensor, nowMs, events);
      sensor.episode ??= startEpisode(sensor, dice, reading);
      let label: AnomalyLabel | undefined;
      if (sensor.episode) {
        label = applyEpisode(sensor.episode, reading);
        sensor.episode.step += 1;
        if (sensor.episode.step >= sensor.episode.steps) sensor.episode = undefined;
      }
      for (const metric of METRICS_OF[sensor.kind]) reading[metric] = round(reading[metric] ?? 0, DIGITS[metric]);
      return {
        key: sensor.id,
        payload: { sensor_id: sensor.id, site: sensor.site.token, ts: sensor.ts.write(nowMs), ...reading },
        label,
      };
    },
  };
}

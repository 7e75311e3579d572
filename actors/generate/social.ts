import { AnomalyDice, type AnomalyLabel, type KindSpec } from "./anomalies.ts";
import { TimestampWriter, streamsFor, type Draft, type ModelSetup, type SourceModel } from "./model.ts";
import { deviceIpFor } from "./pii.ts";
import { uniqueToken, type Rng } from "./random.ts";

const MINUTE_MS = 60_000;

interface User {
  id: string;
  lang: string;
  /** Relative posting frequency; heavy-tailed, a few users post most. */
  activity: number;
  /** Typical likes a post of theirs gets. */
  reach: number;
  ts: TimestampWriter;
}

interface Topic {
  name: string;
  popularity: number;
  followers: User[];
  burst?: { start: number; end: number; peak: number };
  /** Unset until the first post: the schedule starts whenever the caller's clock does. */
  nextBurstAt?: number;
}

interface Flood {
  anomaly_id: string;
  steps: number;
  step: number;
  user: User;
  topic: Topic;
  text: string;
}

const SOCIAL_KINDS: readonly KindSpec<"volume_burst">[] = [{ kind: "volume_burst", weight: 1, minSteps: 10, maxSteps: 25 }];

const LANGS = ["en", "es", "pt", "de", "fr", "ja", "it", "nl"];
const LANG_WEIGHTS = [0.55, 0.12, 0.08, 0.07, 0.07, 0.04, 0.04, 0.03];
const UTC_OFFSETS = [-480, -300, -180, 0, 60, 120, 330, 480, 540];

function topicName(rng: Rng): string {
  const f = rng.faker;
  const makers = [() => f.commerce.department(), () => f.music.genre(), () => f.animal.type(), () => f.vehicle.manufacturer(), () => f.word.noun()];
  return rng.pick(makers)();
}

/**
 * How much a topic is talked about now: its base popularity, times a burst that swells and fades
 * over minutes (half a sine from start to end, `peak` times the base at its height).
 */
function topicWeight(topic: Topic, ms: number): number {
  const burst = topic.burst;
  if (!burst || ms < burst.start || ms >= burst.end) return topic.popularity;
  const shape = Math.sin((Math.PI * (ms - burst.start)) / (burst.end - burst.start));
  return topic.popularity * (1 + (burst.peak - 1) * shape);
}

/** Moves a topic's burst schedule up to `ms`: bursts of 3–20 min, about 45 min apart. */
function advanceBursts(topic: Topic, ms: number, rng: Rng): void {
  let next = topic.nextBurstAt ?? ms + rng.exponential(45 * MINUTE_MS);
  while (ms >= next) {
    const end = next + rng.uniform(3, 20) * MINUTE_MS;
    topic.burst = { start: next, end, peak: rng.uniform(4, 15) };
    next = end + rng.exponential(45 * MINUTE_MS);
  }
  topic.nextBurstAt = next;
}

function postText(rng: Rng, topic: Topic, mention: User | undefined): string {
  const f = rng.faker;
  const body = rng.pick([() => f.hacker.phrase(), () => f.company.catchPhrase(), () => f.lorem.sentence(), () => f.word.words({ count: { min: 4, max: 14 } })])();
  return `${mention ? `@${mention.id} ` : ""}${body} #${topic.name}`;
}

/**
 * Users posting on the topics they follow. Topic popularity is skewed (a few topics dominate) and
 * bursty: each topic flares up for minutes at a time. Users differ in how often they post, in
 * language and in how many likes they draw. Anomaly: one user floods a quiet topic with
 * near-identical posts.
 */
export function createSocialModel(setup: ModelSetup): SourceModel<"social"> {
  const { world, events, anomalies } = streamsFor(setup.seed, "social");
  const userIds = new Set<string>();
  const users: User[] = Array.from({ length: setup.count }, () => ({
    id: uniqueToken(userIds, () => world.faker.internet.username()),
    lang: world.weighted(LANGS, LANG_WEIGHTS),
    activity: world.logNormal(1, 1),
    reach: world.logNormal(5, 1.3),
    ts: new TimestampWriter(setup.timestamps, world, world.pick(UTC_OFFSETS)),
  }));
  const topicNames = new Set<string>();
  const topics: Topic[] = Array.from({ length: Math.min(40, Math.max(8, Math.round(setup.count / 6))) }, (_, rank) => ({
    name: uniqueToken(topicNames, () => topicName(world)),
    popularity: 1 / (rank + 1) ** 0.8,
    followers: [],
  }));
  const popularity = topics.map((t) => t.popularity);
  for (const user of users) {
    const count = world.int(2, 4);
    for (let i = 0; i < count; i++) {
      const topic = world.weighted(topics, popularity);
      if (!topic.followers.includes(user)) topic.followers.push(user);
    }
  }
  for (const topic of topics) if (topic.followers.length === 0) topic.followers.push(world.pick(users));

  const dice = new AnomalyDice(anomalies, setup.anomalyRate, SOCIAL_KINDS, "social");
  let flood: Flood | undefined;

  function post(rng: Rng, user: User, topic: Topic, text: string, likes: number, reposts: number, ms: number, label?: AnomalyLabel): Draft<"social"> {
    return {
      key: user.id,
      payload: {
        post_id: `post-${rng.faker.string.alphanumeric({ length: 12, casing: "lower" })}`,
        user_id: user.id,
        topic: topic.name,
        text,
        lang: user.lang,
        likes,
        reposts,
        device_ip: deviceIpFor(user.id),
        ts: user.ts.write(ms),
      },
      label,
    };
  }

  function floodPost(current: Flood, ms: number): Draft<"social"> {
    const label: AnomalyLabel = { kind: "volume_burst", anomaly_id: current.anomaly_id, step: current.step, steps: current.steps, topic: current.topic.name };
    const text = `${current.text} ${anomalies.int(1, 999)}`;
    current.step += 1;
    if (current.step >= current.steps) flood = undefined;
    return post(anomalies, current.user, current.topic, text, anomalies.int(0, 2), 0, ms, label);
  }

  return {
    keys: users.map((u) => u.id),
    // A tier by typical reach: what a platform would keep about an author.
    references: users.map((u) => ({ key: u.id, fields: { tier: u.reach > 500 ? "gold" : u.reach > 50 ? "silver" : "bronze" } })),
    next(nowMs) {
      for (const topic of topics) advanceBursts(topic, nowMs, events);
      const weights = topics.map((t) => topicWeight(t, nowMs));
      const topic = events.weighted(topics, weights);
      const user = events.weighted(topic.followers, topic.followers.map((u) => u.activity));
      const mention = events.chance(0.15) ? events.pick(users) : undefined;
      const text = postText(events, topic, mention);
      const heat = Math.sqrt(weights[topics.indexOf(topic)] / topic.popularity);
      const likes = Math.floor(user.reach * events.logNormal(1, 0.9) * heat);
      const reposts = Math.floor(likes * events.uniform(0, 0.15));
      // The baseline post is drawn even when a flood replaces it, so the baseline stream stays the same.
      const normal = post(events, user, topic, text, likes, reposts, nowMs);
      if (flood) return floodPost(flood, nowMs);
      const started = dice.roll();
      if (!started) return normal;
      const candidates = [anomalies.pick(topics), anomalies.pick(topics), anomalies.pick(topics)];
      const quiet = candidates.reduce((a, b) => (topicWeight(b, nowMs) < topicWeight(a, nowMs) ? b : a));
      flood = { ...started, step: 0, user: anomalies.pick(users), topic: quiet, text: postText(anomalies, quiet, undefined) };
      return floodPost(flood, nowMs);
    },
  };
}

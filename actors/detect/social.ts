import { createUnivariateDetector, type UnivariateDetector, type UnivariateOptions, type UnivariateSnapshot } from "../../models/anomaly/index.ts";
import { DetectSnapshotError, type Finding, type Scorer } from "./finding.ts";
import { Lru } from "../../models/lru.ts";
import { scoreOf } from "./stats.ts";

const MINUTE_MS = 60_000;
/** One author is assumed to write at most this share of a topic's usual posts. */
const AUTHOR_SHARE = 0.5;
const RATE_ALPHA = 1 / 30;
/** Silent minutes filled with zeros at most; a topic back after a long silence starts its count there. */
const MAX_GAP_MINUTES = 60;

interface Topic {
  detector: UnivariateDetector;
  minute: number;
  count: number;
  /** The last post of the open minute: the event an alert on that minute points to. */
  last: { event_id: string; event_time: number; trace_id: string };
  /** Posts per author in the open minute. */
  authors: Record<string, number>;
  /** Posts per minute, exponentially weighted. */
  rate: number;
  /** The open minute already raised a single-author alert. */
  flagged: boolean;
}

interface TopicSnapshot extends Omit<Topic, "detector"> {
  detector: UnivariateSnapshot;
}

/**
 * Social: post volume per topic, counted per event-time minute; when a topic's minute closes
 * (its next post is in a later minute) the count, and a zero for each silent minute between, goes
 * to that topic's univariate detector. An alert points to the last post of the minute it flags.
 * A second signal, `single-author-burst`, fires as it happens: one author's posts on the topic in
 * this minute against a Poisson tail at half the topic's usual rate. Topics flare up naturally
 * (many authors); one account flooding a topic does not look like that.
 * Keyed by topic, not by user: with several detect instances a topic's posts may be split.
 */
/** P(X ≥ k) for X ~ Poisson(λ). */
function poissonTail(k: number, lambda: number): number {
  let term = Math.exp(-lambda);
  let below = 0;
  for (let i = 0; i < k; i++) {
    below += term;
    term *= lambda / (i + 1);
  }
  return Math.max(1 - below, term, 1e-300);
}

export function createSocialScorer(opts: { maxKeys: number; threshold: number; univariate?: UnivariateOptions }): Scorer {
  // An evicted topic's detector frees its WebAssembly memory at once (the collector does not see it).
  const topics = new Lru<Topic>(opts.maxKeys, (_key, t) => t.detector.release());

  function close(name: string, topic: Topic, upTo: number): Finding[] {
    const findings: Finding[] = [];
    const emit = (minute: number, count: number, ref: Topic["last"] | undefined) => {
      const score = topic.detector.updateScore(minute * MINUTE_MS, count);
      if (score > 0 && ref) {
        const explanation = topic.detector.lastExplanation();
        findings.push({
          key: name,
          metric: "posts_per_minute",
          score,
          signal: explanation.signal,
          expected: explanation.expected,
          observed: count,
          explanation: { context: explanation.context, minute_start: minute * MINUTE_MS, pValue: explanation.pValue, surprise: explanation.surprise },
          event: ref,
        });
      }
    };
    emit(topic.minute, topic.count, topic.last);
    topic.rate += (topic.count - topic.rate) * RATE_ALPHA;
    for (let m = Math.max(topic.minute + 1, upTo - MAX_GAP_MINUTES); m < upTo; m++) {
      emit(m, 0, undefined);
      topic.rate -= topic.rate * RATE_ALPHA;
    }
    return findings;
  }

  function author(name: string, topic: Topic, user: string, ref: Topic["last"]): Finding | undefined {
    const k = (topic.authors[user] = (topic.authors[user] ?? 0) + 1);
    if (topic.flagged || k < 3) return undefined;
    const lambda = Math.max(topic.rate, 1) * AUTHOR_SHARE;
    const surprise = -Math.log(poissonTail(k, lambda));
    const score = scoreOf(surprise);
    if (score < opts.threshold) return undefined;
    topic.flagged = true;
    return {
      key: name,
      // Not posts_per_minute: the minute's volume alert may later point at this same post.
      metric: "posts_by_author",
      score,
      signal: "single-author-burst",
      expected: { low: 0, high: lambda },
      observed: k,
      explanation: { author: user, posts_by_author: k, posts_in_minute: topic.count, usual_per_minute: topic.rate, minute_start: topic.minute * MINUTE_MS, surprise },
      event: ref,
    };
  }

  return {
    observe(user, eventTime, payload, ref, learn) {
      const name = typeof payload.topic === "string" ? payload.topic : undefined;
      // A post past the allowed lateness belongs to a minute long closed: nothing left to count it in.
      if (!name || !learn) return [];
      const minute = Math.floor(eventTime / MINUTE_MS);
      const last = { event_id: ref.event_id, event_time: eventTime, trace_id: ref.trace_id };
      const topic = topics.get(name);
      if (!topic) {
        topics.set(name, { detector: createUnivariateDetector(opts.univariate), minute, count: 1, last, authors: { [user]: 1 }, rate: 0, flagged: false });
        return [];
      }
      if (minute <= topic.minute) {
        // A late post counts in the open minute: volume, not placement, is what is scored.
        topic.count++;
        if (minute === topic.minute) topic.last = last;
        const burst = author(name, topic, user, last);
        return burst ? [burst] : [];
      }
      const findings = close(name, topic, minute);
      topic.minute = minute;
      topic.count = 1;
      topic.last = last;
      topic.authors = { [user]: 1 };
      topic.flagged = false;
      return findings;
    },
    keys: () => ({ held: topics.size, evicted: topics.evicted }),
    snapshot: () => [...topics.entries()].map(([k, t]): [string, TopicSnapshot] => [k, { ...t, detector: t.detector.snapshot() }]),
    restore(snapshot) {
      if (!Array.isArray(snapshot)) throw new DetectSnapshotError("social: expected an array of [topic, state] pairs");
      for (const [, t] of topics.entries()) t.detector.release();
      topics.clear();
      for (const [k, t] of snapshot as Array<[string, TopicSnapshot]>) {
        const detector = createUnivariateDetector(opts.univariate);
        detector.restore(t.detector);
        topics.set(k, { ...t, detector });
      }
    },
  };
}

import { jetstreamManager, type JetStreamManager, type PubAck } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import { JetStreamApiCodes } from "@nats-io/jetstream";
import { withDeadline } from "../../../nats/deadline.ts";
import { PublishRefusedError } from "../../../nats/publish.ts";
import type { StoredBatches } from "./batched-outputs.ts";

/**
 * What a checkpoint records of a task's fence: per output subject, the sequence through which
 * everything on it is known (its batches' inputs are not published again, or the checkpoint
 * covers them), and `floor`, through which a subject missing from the map had no message.
 */
export interface FencePosition {
  readonly subjects: Readonly<Record<string, number>>;
  readonly floor: number;
  /**
   * Set while a task that started batching on a checkpoint of an unbatched run replays: through
   * this input sequence its outputs go out one to a message under their own ids, as that run's
   * did, so JetStream's duplicate window drops what it had stored after the checkpoint.
   */
  readonly singlesThrough?: number;
}

/** JetStream refused a publish because another message landed on the subject since the last one the task knows. */
export function isWrongLastSequence(err: unknown): boolean {
  return err instanceof PublishRefusedError && err.code === JetStreamApiCodes.StreamWrongLastSequence;
}

/**
 * The fence of a task's batched outputs. Each subject the task writes has one writing task, so a
 * publish carries `Nats-Expected-Last-Subject-Sequence`: the last sequence on its subject that
 * the task knows. A message another writer stored meanwhile — a stalled former holder of the
 * lease whose batch landed after this holder's restore read — makes JetStream refuse the
 * publish; the task then reads that subject from the known sequence (headers only), learns the
 * inputs those batches answer (`stored`), and publishes what is left. A stale holder gets the
 * same refusal and stops on its lease check instead. So a batch lands only when its writer knows
 * everything before it on its subject, and no input is published twice.
 *
 * Invariant, per subject: every message at or below `learned` is either covered by the
 * checkpoint or read into `stored`; `last`, when set, is the subject's exact last sequence.
 */
export class SubjectFence {
  private readonly learned = new Map<string, number>();
  private readonly last = new Map<string, number>();
  private readonly nc: NatsConnection;
  private readonly jsm: JetStreamManager;
  private readonly stream: string;
  private readonly stored: StoredBatches;
  private readonly floor: number;

  private constructor(nc: NatsConnection, jsm: JetStreamManager, stream: string, stored: StoredBatches, floor: number) {
    this.nc = nc;
    this.jsm = jsm;
    this.stream = stream;
    this.stored = stored;
    this.floor = floor;
  }

  /**
   * The fence after a restore: lists the subjects on `filter` and learns each from where `from`
   * says it is known (0: from the stream's start), so `stored` holds every batch stored after the
   * checkpoint on any of the task's subjects — an input whose event moved to another subject (a
   * new partition count) is found as well.
   */
  static async restore(nc: NatsConnection, stream: string, filter: string, from: { subjects?: Readonly<Record<string, number>>; otherwise: number }, stored: StoredBatches, signal: AbortSignal): Promise<SubjectFence> {
    const jsm = await withDeadline(() => jetstreamManager(nc), { what: `JetStream manager for ${stream}`, signal });
    // Before the listing: a subject it does not name had no message up to here.
    const floor = (await withDeadline(() => jsm.streams.info(stream), { what: `stream ${stream} info`, signal })).state.last_seq;
    const listed = await withDeadline(() => jsm.streams.info(stream, { subjects_filter: filter }), { what: `stream ${stream} subjects ${filter}`, signal });
    const fence = new SubjectFence(nc, jsm, stream, stored, floor);
    for (const subject of Object.keys(listed.state.subjects ?? {})) {
      fence.learned.set(subject, Math.min(from.subjects?.[subject] ?? from.otherwise, floor));
      await fence.learn(subject, signal);
    }
    return fence;
  }

  /** The sequence a publish to `subject` must expect as the subject's last, learning the subject first if needed. */
  async expected(subject: string, signal: AbortSignal): Promise<number> {
    const known = this.last.get(subject);
    if (known !== undefined) return known;
    return this.learn(subject, signal);
  }

  /** A publish to `subject` was stored (or was a duplicate of a stored message, which tells nothing about what follows it). */
  accepted(subject: string, ack: PubAck): void {
    if (ack.duplicate) {
      this.last.delete(subject);
      return;
    }
    this.last.set(subject, ack.seq);
    this.learned.set(subject, ack.seq);
  }

  /** A publish to `subject` was refused as not following the last message: learn what came since. */
  refused(subject: string): void {
    this.last.delete(subject);
  }

  /**
   * What a checkpoint records. `unread` (StoredBatches.firstAfter the checkpoint's sequence) holds
   * batches a restore must find again: each subject's position stays before the first of them.
   * Without it, a holder that learned a stale batch reaching past its next checkpoint (a
   * hand-over right after) restored past that batch and stored its later inputs again.
   */
  position(unread: ReadonlyMap<string, number> = new Map()): FencePosition {
    return { subjects: positionsBefore(this.learned, unread), floor: this.floor };
  }

  /** Reads what `subject` holds past what is known, into `stored`; returns its last sequence. */
  private async learn(subject: string, signal: AbortSignal): Promise<number> {
    const found = await withDeadline(() => this.jsm.streams.getMessage(this.stream, { last_by_subj: subject }), { what: `last message of ${this.stream} ${subject}`, signal });
    const lastSeq = found?.seq ?? 0;
    const from = this.learned.get(subject) ?? this.floor;
    const through = lastSeq > from ? await this.stored.readSubject(this.nc, this.stream, subject, from, lastSeq, signal) : lastSeq;
    this.learned.set(subject, Math.max(from, through));
    this.last.set(subject, through);
    return through;
  }
}

/** Each subject's known sequence, kept before the first message in `unread` on it. */
export function positionsBefore(learned: ReadonlyMap<string, number>, unread: ReadonlyMap<string, number>): Record<string, number> {
  return Object.fromEntries([...learned].map(([subject, seq]) => [subject, Math.min(seq, (unread.get(subject) ?? Infinity) - 1)]));
}

const TIMEOUT = Symbol("timeout");

/**
 * Groups an async stream of messages into batches of at most `maxMessages` (counted by `weight`:
 * a message carrying many events counts as many), handing over a partial batch `maxWaitMs` after
 * its first message. A pending read is carried over between batches, so no message is lost at a
 * batch boundary; a message heavier than the limit is a batch of its own.
 */
export async function* batches<T>(source: AsyncIterable<T>, maxMessages: number, maxWaitMs: number, weight: (item: T) => number = () => 1): AsyncGenerator<T[]> {
  const iterator = source[Symbol.asyncIterator]();
  let pending: Promise<IteratorResult<T>> | undefined;
  for (;;) {
    pending ??= iterator.next();
    const first = await pending;
    pending = undefined;
    if (first.done) return;
    const batch: T[] = [first.value];
    let size = weight(first.value);
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<typeof TIMEOUT>((resolve) => (timer = setTimeout(() => resolve(TIMEOUT), maxWaitMs)));
    let ended = false;
    while (size < maxMessages) {
      pending ??= iterator.next();
      const next = await Promise.race([pending, timeout]);
      if (next === TIMEOUT) break;
      pending = undefined;
      if (next.done) {
        ended = true;
        break;
      }
      batch.push(next.value);
      size += weight(next.value);
    }
    clearTimeout(timer);
    yield batch;
    if (ended) return;
  }
}

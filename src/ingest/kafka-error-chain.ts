/**
 * The errors kafkajs nests, outermost first. Its retriers wrap the error they give up on: by
 * `originalError` (the last try) and by `cause` (the first error), which differ once retriers are
 * nested, so both links are followed. Bounded: a chain is a few errors deep.
 */
export function kafkaErrorChain(err: unknown): unknown[] {
  const out: unknown[] = [];
  const queue: unknown[] = [err];
  while (queue.length > 0 && out.length < 12) {
    const e = queue.shift();
    if (!e || out.includes(e)) continue;
    out.push(e);
    queue.push((e as { originalError?: unknown }).originalError, (e as { cause?: unknown }).cause);
  }
  return out;
}

/** The Kafka protocol error type (`UNKNOWN_TOPIC_OR_PARTITION`, ...) in the chain, if any. */
export function kafkaErrorType(err: unknown): string | undefined {
  for (const e of kafkaErrorChain(err)) {
    const type = (e as { type?: unknown }).type;
    if (typeof type === 'string') return type;
  }
  return undefined;
}

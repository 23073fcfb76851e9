import { type Problem, type SourceLocation, TallyError } from '../errors.ts';
import { dedupKeyColumn, kafkaOnlyKeyColumns } from './dedup-key-column.ts';
import type { DataSource } from './model.ts';

/**
 * The `dedup_key` columns ingestion cannot build a key from (a Float or Decimal column, one
 * computed by `default_expr`...), reported when the project loads, so that check, deploy and dev
 * refuse them with the message and location ingestion would give. The rule itself is ingestion's
 * (dedup-key-column.ts, which ingestion's dedupKeyOf uses too): asked once per key column, so every bad column is
 * reported, not only the first. Columns that do not exist are left to the reader, which has
 * already reported them. `keyLoc`: where `dedup_key` is written.
 */
export function checkDedupKey(ds: DataSource, problems: Problem[], keyLoc?: SourceLocation): void {
  const kafkaOnly = kafkaOnlyKeyColumns(ds);
  if (kafkaOnly.length > 0) {
    problems.push({
      severity: 'warning',
      code: 'dedup-kafka-metadata',
      message: `dedup_key of \`${ds.name}\` uses Kafka metadata (${kafkaOnly.join(', ')}): events that do not come through Kafka (the events API with wait=true or without Kafka, tally append, fixtures) have none, and are refused`,
      hint: 'a redelivered Kafka message is recognised by its coordinates without a dedup_key; key by fields of the event to deduplicate events from either way in',
      location: keyLoc ?? ds.loc,
    });
  }
  for (const name of ds.dedupKey ?? []) {
    if (!ds.columns.some((c) => c.name === name)) continue;
    try {
      dedupKeyColumn(ds, name);
    } catch (err) {
      if (!(err instanceof TallyError)) throw err;
      problems.push(err.toProblem(ds.loc));
    }
  }
}

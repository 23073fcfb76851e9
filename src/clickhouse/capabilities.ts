/**
 * What the connected ClickHouse can do, read once from `SELECT version()`. Code elsewhere asks
 * these flags, never the version number, so version quirks live in this one file.
 */
export interface Capabilities {
  version: string;
  major: number;
  minor: number;
  /** Server-side `{name:Type}` query parameters. */
  queryParams: boolean;
  /** `WITH name AS (SELECT ...)` common table expressions. */
  cte: boolean;
  windowFunctions: boolean;
  dateTime64: boolean;
  /** LowCardinality columns need `allow_experimental_low_cardinality_type=1`. */
  lowCardinalityNeedsSetting: boolean;
  /**
   * LowCardinality of numbers, dates and short FixedStrings is refused as "suspicious" unless
   * `allow_suspicious_low_cardinality_types=1` (chDB's 26.7 refuses it; 18.16 takes it as is).
   * Set from 20.1, by when the setting surely exists; a 19.x server that refuses it says so.
   */
  suspiciousLowCardinalityNeedsSetting: boolean;
  /** `EXCHANGE TABLES a AND b` (atomic swap; needs an Atomic database). */
  exchangeTables: boolean;
  /** `insert_deduplication_token` for explicit insert idempotency. */
  insertDeduplicationToken: boolean;
  /** `Map(K, V)` type. */
  map: boolean;
  /** `CREATE OR REPLACE VIEW`. */
  createOrReplace: boolean;
  /** A native `Bool` type (older servers use UInt8). */
  boolType: boolean;
  /** Table and column `TTL` clauses (and `ALTER TABLE ... MODIFY TTL`). */
  ttl: boolean;
  /** `ALTER TABLE ... REMOVE TTL`. */
  alterRemoveTtl: boolean;
  /** `ALTER TABLE ... MODIFY SETTING` on MergeTree tables. */
  alterModifySetting: boolean;
  /** `ALTER TABLE ... MODIFY COLUMN c REMOVE DEFAULT` (older servers drop it with `MODIFY COLUMN c Type`). */
  alterRemoveDefault: boolean;
  /**
   * Dates and times end at 2105-12-31 23:59:59 UTC: the server's date tables stop in 2105, and a
   * later Date is stored as 0000-00-00, a later DateTime as a wrong time. 21.4 extended them (Date
   * to 2149-06-06, DateTime to 2106-02-07 06:28:15).
   */
  datesEndIn2105: boolean;
  /**
   * A materialized view whose FROM is a subquery runs over the inserted rows in place of the
   * table inside the subquery. 18.16 puts them in place of the whole subquery (view-subquery-source.ts);
   * checked wrong on 18.16 and right on chDB's 26.7; fixed in 19 by ClickHouse's account.
   */
  viewsReadSubqueries: boolean;
  /**
   * An INSERT fires the views of the tables that views write into (chained views). 18.16 fires
   * only the views of the table it names (measured here; view-chains.ts, plan.ts).
   */
  viewsFireOnViewWrites: boolean;
}

/** Parses `major.minor.patch.build` (e.g. `18.16.1`, `26.7.2.1`). */
export function capabilitiesFor(version: string): Capabilities {
  const [major = 0, minor = 0] = version.split('.').map((p) => Number.parseInt(p, 10) || 0);
  const atLeast = (M: number, m: number) => major > M || (major === M && minor >= m);
  return {
    version,
    major,
    minor,
    // Thresholds are the release that made each feature generally usable; older servers get
    // the portable path (literals rendered by Tally, nested subqueries), which works everywhere.
    queryParams: atLeast(19, 11),
    cte: atLeast(20, 10),
    windowFunctions: atLeast(21, 9),
    dateTime64: atLeast(20, 1),
    lowCardinalityNeedsSetting: !atLeast(19, 0),
    suspiciousLowCardinalityNeedsSetting: atLeast(20, 1),
    exchangeTables: atLeast(21, 8),
    insertDeduplicationToken: atLeast(22, 2),
    map: atLeast(21, 8),
    createOrReplace: atLeast(20, 10),
    boolType: atLeast(21, 12),
    ttl: atLeast(19, 6),
    alterRemoveTtl: atLeast(20, 12),
    alterModifySetting: atLeast(19, 10),
    alterRemoveDefault: atLeast(21, 3),
    datesEndIn2105: !atLeast(21, 4),
    viewsReadSubqueries: atLeast(19, 1),
    viewsFireOnViewWrites: atLeast(19, 1),
  };
}

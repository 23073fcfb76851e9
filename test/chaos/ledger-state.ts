// What the chaos project holds, read either straight from the engine (the server back end, or
// the embedded folder once Tally has stopped) or through Tally's own check endpoints (the
// embedded back end while Tally runs: chDB lets one process open a data folder).
import type { Engine } from '../../src/clickhouse/engine.ts';

export interface LedgerState {
  /** Rows of the ledger, outside the 4 MB body's account `acct-m`. */
  rows: number;
  distinct: number;
  /** Rows whose id the run never produced. */
  foreign: number;
  /** Per account: sumMerge(total) and sumMerge(n) of the snapshot. */
  snapshot: Map<string, { s: number; n: number }>;
  quarantined: number;
  mRows: number;
  mDistinct: number;
}

export type LedgerStateReader = () => Promise<LedgerState>;

interface LedgerRow {
  c: string;
  u: string;
  foreign: string;
  mc: string;
  mu: string;
}
interface SnapshotRow {
  account: string;
  s: string;
  n: string;
}

// The same SQL as the check endpoints in chaos-project.ts.
const LEDGER_SQL = `SELECT toString(countIf(account != 'acct-m')) AS c,
  toString(uniqExactIf(id, account != 'acct-m')) AS u,
  toString(countIf(id NOT LIKE 'e%' AND id != 'big-1' AND account != 'acct-m')) AS foreign,
  toString(countIf(account = 'acct-m')) AS mc,
  toString(uniqExactIf(id, account = 'acct-m')) AS mu
FROM ledger`;
const SNAPSHOT_SQL = `SELECT account, toString(sumMerge(total)) AS s, toString(sumMerge(n)) AS n
FROM ledger_totals WHERE account != 'acct-m' GROUP BY account`;

export function engineStateReader(engine: Engine): LedgerStateReader {
  return async () => {
    const [l] = await engine.rows<LedgerRow>(LEDGER_SQL);
    const snap = await engine.rows<SnapshotRow>(SNAPSHOT_SQL);
    const [q] = await engine.rows<{ n: string }>('SELECT toString(count()) AS n FROM ledger_quarantine');
    return toState(l, snap, q?.n);
  };
}

/** Reads through `tally serve`'s check endpoints; throws while they do not answer 200. */
export function endpointStateReader(baseUrl: () => string): LedgerStateReader {
  const get = async <T>(name: string): Promise<T[]> => {
    const r = await fetch(`${baseUrl()}/v0/pipes/${name}.json`, { signal: AbortSignal.timeout(5000) });
    if (r.status !== 200) throw new Error(`${name}: HTTP ${r.status} ${(await r.text()).slice(0, 200)}`);
    return ((await r.json()) as { data: T[] }).data;
  };
  return async () => {
    const [l] = await get<LedgerRow>('check_ledger');
    const snap = await get<SnapshotRow>('check_snapshot');
    const [q] = await get<{ n: string }>('check_quarantine');
    return toState(l, snap, q?.n);
  };
}

function toState(
  l: LedgerRow | undefined,
  snap: SnapshotRow[],
  quarantined: string | undefined,
): LedgerState {
  if (!l) throw new Error('the ledger check returned no row');
  return {
    rows: Number(l.c),
    distinct: Number(l.u),
    foreign: Number(l.foreign),
    snapshot: new Map(snap.map((r) => [r.account, { s: Number(r.s), n: Number(r.n) }])),
    quarantined: Number(quarantined ?? 0),
    mRows: Number(l.mc),
    mDistinct: Number(l.mu),
  };
}

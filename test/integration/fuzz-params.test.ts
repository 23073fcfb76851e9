// Fuzzing of endpoint params on both back ends, through the app: every param of every endpoint
// of the example project (plus one endpoint with a param of each type) gets the hostile corpus
// and random bytes. Never a 500; a value is refused with a 400 naming the param, or answers with
// exactly the columns a benign call answers with; the data is intact afterwards.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { type ExampleApp, startExampleApp } from '../fuzz/example-app.ts';
import { GOOD_EVENT } from '../fuzz/hostile-events.ts';
import { hostileParamValues } from '../fuzz/hostile-params.ts';
import { forEachBackend } from '../support/backends.ts';
import { removeProjects } from '../unit/project/write-project.ts';

afterAll(removeProjects);

export const TYPES_PIPE = `params:
  s:    { type: String, default: "a" }
  i8:   { type: Int8, default: 0 }
  u64:  { type: UInt64, default: 0 }
  i64:  { type: Int64, default: 0 }
  f:    { type: Float64, default: 0 }
  d:    { type: "Decimal(18, 2)", default: 0 }
  b:    { type: Boolean, default: false }
  day:  { type: Date, default: "2024-01-01" }
  at:   { type: DateTime, default: "2024-01-01 00:00:00" }
  strs: { type: Array(String), default: [] }
  ints: { type: Array(Int32), default: [] }
  maybe: { type: String }
nodes:
  - name: q
    sql: |
      SELECT count() AS n, toString(sum(amount)) AS total FROM transactions
      WHERE account_id != {{ s }} AND {{ i8 }} >= -128 AND {{ u64 }} >= 0 AND {{ i64 }} > -9223372036854775807
        AND {{ f }} = {{ f }} AND amount != {{ d }} AND {{ b }} IN (0, 1) AND toDate(timestamp) >= {{ day }}
        AND timestamp >= {{ at }} AND NOT has({{ strs }}, account_id) AND length({{ ints }}) >= 0
        {% if defined(maybe) %} AND type != {{ maybe }} {% end %}
`;

const BENIGN: Record<string, string> = {
  account_id: 'fuzz-acct',
  subscription_id: 'sub-1',
  customer_id: 'cust-1',
  user_id: 'u-1',
  session_id: 's-1',
};

forEachBackend('fuzz: endpoint params', (ctx) => {
  let ex: ExampleApp;
  const counts = { requests: 0, refused: 0, answered: 0 };

  beforeAll(async () => {
    ex = await startExampleApp(ctx.engine, {
      files: {
        'pipes/fuzz_types.pipe.yaml': TYPES_PIPE,
        'endpoints/fuzz_types.endpoint.yaml': 'pipe: fuzz_types\n',
      },
    });
    const body = Array.from({ length: 20 }, (_, i) => GOOD_EVENT(`p-${i}`, `${i}.50`)).join('\n');
    const res = await ex.app.request('/v0/events?name=transactions&wait=true', { method: 'POST', body });
    expect(res.status).toBe(200);
  });
  afterAll(async () => {
    await ex?.stop();
  });

  it('every param of every endpoint, hostile and random values: 400 naming the param, or the benign columns', async () => {
    const values = hostileParamValues(3, 60);
    const problems: string[] = [];
    for (const [name, endpoint] of ex.project.endpoints) {
      const pipe = ex.project.pipes.get(endpoint.pipe);
      if (!pipe) continue;
      const benignOf = (p: { name: string; type: { text: string } }) =>
        p.type.text.startsWith('UInt')
          ? '1'
          : p.type.text === 'DateTime'
            ? '2024-03-13 00:00:00'
            : (BENIGN[p.name] ?? 'x');
      const base: Record<string, string> = {};
      for (const p of pipe.params.values()) {
        if (p.required) base[p.name] = benignOf(p);
      }
      // A param given only with others (`requires`): they come along, benign, so its own value is what is tried.
      const withCompanions = (p: { requires?: readonly string[] }) =>
        Object.fromEntries((p.requires ?? []).map((n) => [n, benignOf(pipe.params.get(n)!)]));
      const call = async (params: Record<string, string>) => {
        const res = await ex.app.request(`/v0/pipes/${name}.json?${new URLSearchParams(params)}`);
        counts.requests++;
        return {
          status: res.status,
          body: (await res.json()) as {
            meta?: { name: string; type: string }[];
            error?: string;
            param?: string;
          },
        };
      };
      const benign = await call(base);
      expect(benign.status, `${name} benign: ${JSON.stringify(benign.body).slice(0, 300)}`).toBe(200);
      const columns = JSON.stringify(benign.body.meta);
      for (const p of pipe.params.values()) {
        for (const v of values) {
          const { status, body } = await call({ ...base, ...withCompanions(p), [p.name]: v });
          const what = `${name}.${p.name}=${JSON.stringify(v.slice(0, 80))}`;
          if (status === 400) {
            counts.refused++;
            if (body.param !== p.name)
              problems.push(`${what}: 400 without naming the param: ${JSON.stringify(body).slice(0, 200)}`);
          } else if (status === 200) {
            counts.answered++;
            if (JSON.stringify(body.meta) !== columns)
              problems.push(`${what}: other columns ${JSON.stringify(body.meta)}`);
          } else {
            problems.push(`${what}: ${status} ${JSON.stringify(body).slice(0, 300)}`);
          }
        }
      }
    }
    console.log(`[${ctx.backend}] params fuzz: ${JSON.stringify(counts)}`);
    expect(problems).toEqual([]);
    expect(counts.refused).toBeGreaterThan(100);
    expect(counts.answered).toBeGreaterThan(100);
  }, 300_000);

  it('the data is intact: nothing written, nothing dropped', async () => {
    const rows = await ctx.engine.rows<{ n: string }>('SELECT count() AS n FROM transactions');
    expect(Number(rows[0]?.n)).toBe(20);
    const pwned = await ctx.engine.rows<{ n: string }>(
      "SELECT count() AS n FROM system.tables WHERE name = 'pwned'",
    );
    expect(Number(pwned[0]?.n)).toBe(0);
  });
});

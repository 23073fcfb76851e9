// Hostile event lines for the row parser and the events API, generated from a seed.
import { mulberry32 } from '../unit/fuzz/rng.ts';

export const GOOD_EVENT = (id: string, amount = '1.25', account = 'fuzz-acct') =>
  `{"transaction_id":"${id}","timestamp":"2024-05-01 10:00:00","account_id":"${account}","type":"deposit","amount":${amount}}`;

/** Lines that must be refused (quarantined), each with what it tries. */
export function hostileLines(seed: number, count: number): { what: string; line: string }[] {
  const rng = mulberry32(seed);
  const out: { what: string; line: string }[] = [
    { what: 'deep array nesting (10k)', line: `${'['.repeat(10_000)}${']'.repeat(10_000)}` },
    { what: 'deep object nesting (10k)', line: `${'{"a":'.repeat(10_000)}1${'}'.repeat(10_000)}` },
    { what: 'unclosed nesting (10k)', line: '{"a":'.repeat(10_000) },
    { what: 'amount 1e400', line: GOOD_EVENT('x-1', '1e400') },
    { what: 'amount -1e400', line: GOOD_EVENT('x-2', '-1e400') },
    { what: 'amount 30 digits', line: GOOD_EVENT('x-3', '9'.repeat(30)) },
    { what: 'amount 3 decimals', line: GOOD_EVENT('x-4', '1.234') },
    { what: 'amount as bool', line: GOOD_EVENT('x-5', 'true') },
    { what: 'amount as object', line: GOOD_EVENT('x-6', '{"v":1}') },
    { what: 'amount NaN text', line: GOOD_EVENT('x-7', '"NaN"') },
    { what: 'amount as 10 MB-ish string', line: GOOD_EVENT('x-8', `"${'7'.repeat(2_000_000)}"`) },
    {
      what: 'timestamp far future',
      line: GOOD_EVENT('x-9').replace('2024-05-01 10:00:00', '9999-12-31 23:59:59'),
    },
    { what: 'timestamp negative epoch', line: GOOD_EVENT('x-10').replace('"2024-05-01 10:00:00"', '-1') },
    { what: 'timestamp as array', line: GOOD_EVENT('x-11').replace('"2024-05-01 10:00:00"', '[1,2]') },
    { what: 'id as number', line: GOOD_EVENT('x').replace('"x"', '12345678901234567890123') },
    {
      what: 'id missing',
      line: '{"timestamp":"2024-05-01 10:00:00","account_id":"a","type":"t","amount":1}',
    },
    { what: 'top-level array', line: '[1,2,3]' },
    { what: 'top-level string', line: '"just a string"' },
    { what: 'top-level number', line: '1e999' },
    { what: 'null', line: 'null' },
    { what: 'lone surrogate in key', line: GOOD_EVENT('x-12').replace('"type"', '"ty\\ud800pe"') },
    { what: 'duplicate keys', line: `${GOOD_EVENT('x-13').slice(0, -1)},"amount":"no"}` },
    { what: '__proto__ key', line: '{"__proto__":{"amount":1},"constructor":{"prototype":1}}' },
    { what: 'trailing garbage', line: `${GOOD_EVENT('x-14')} trailing` },
    { what: 'NUL bytes', line: `{"transaction_id":"\u0000","amount":"\u0000"}` },
  ];
  for (let i = 0; i < count; i++) {
    const kind = rng.int(4);
    if (kind === 0)
      out.push({
        what: 'random bytes',
        line: rng
          .bytes(1 + rng.int(300))
          .toString('latin1')
          .replace(/\n/g, ' '),
      });
    else if (kind === 1)
      out.push({
        what: 'random BMP chars',
        line: rng.chars(1 + rng.int(200)).replace(/[\n\r\u2028\u2029]/g, ' '),
      });
    else if (kind === 2) {
      // A good event with one byte changed: often still JSON, with a wrong value somewhere.
      const good = GOOD_EVENT(`m-${seed}-${i}`);
      const at = rng.int(good.length);
      const ch = String.fromCharCode(32 + rng.int(95));
      out.push({ what: 'one char mutated', line: good.slice(0, at) + ch + good.slice(at + 1) });
    } else {
      const values = [
        'null',
        'true',
        '[]',
        '{}',
        '-0',
        '1e308',
        '1e-400',
        '"\\u0000"',
        '18446744073709551616',
        '""',
      ];
      const field = rng.pick(['transaction_id', 'timestamp', 'account_id', 'type', 'amount']);
      const ev: Record<string, unknown> = JSON.parse(GOOD_EVENT(`w-${seed}-${i}`));
      const line = JSON.stringify(ev).replace(
        new RegExp(`"${field}":("[^"]*"|[^,}]*)`),
        `"${field}":${rng.pick(values)}`,
      );
      out.push({ what: `wrong type in ${field}`, line });
    }
  }
  return out;
}

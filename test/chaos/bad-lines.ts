// Event lines the chaos project's ledger must refuse, each into quarantine once.
export function badLines(n: number): string[] {
  const base = [
    '{"id":"bad-1","account":"a","amount":1.5,"ts":"2024-06-01 12:00:00"}',
    '{"id":"bad-2","account":"a","amount":"1e400","ts":"2024-06-01 12:00:00"}',
    '{"id":"bad-3","account":"a","amount":99999999999999999999,"ts":"2024-06-01 12:00:00"}',
    '{"id":"bad-4","account":"a","amount":1,"ts":"never"}',
    '{"id":5,"account":"a","amount":1,"ts":"2024-06-01 12:00:00"}',
    '{"id":"bad-6","account":null,"amount":1,"ts":"2024-06-01 12:00:00"}',
    '{"id":"bad-7","account":"a","amount":true,"ts":"2024-06-01 12:00:00"}',
    `${'['.repeat(10_000)}${']'.repeat(10_000)}`,
    `{"id":"bad-9","account":"${'z'.repeat(900_000)}`,
    'not json at all',
    '{"id":"bad-11","account":"a","amount":1,"ts":"2024-06-01 12:00:00"} trailing',
    '\u0000\u0001\u0002',
  ];
  const out: string[] = [];
  for (let i = 0; out.length < n; i++) {
    const b = base[i % base.length] as string;
    out.push(i < base.length ? b : b.replace('bad-', `bad-${i}-`));
  }
  return out;
}

import { readFileSync } from 'node:fs';
import { isMap, isScalar, isSeq, type Node } from 'yaml';
import type { Config } from '../config/config.ts';
import { CONFIG_FILE } from '../config/load-config.ts';
import type { Problem } from '../errors.ts';
import { didYouMean } from '../util/did-you-mean.ts';
import { YamlFile } from '../yaml/yaml-file.ts';

/**
 * Tokens in tally.yaml may list the endpoints (read) or data sources (append) they open; a
 * misspelt name there would silently deny access at run time, so it is an error now. The config
 * model keeps no locations, so tally.yaml is parsed again (it is small) to point at the name.
 */
export function checkTokenLists(
  config: Config,
  names: { endpoints: readonly string[]; datasources: readonly string[] },
  problems: Problem[],
): void {
  if (!config.file) return;
  let text: string;
  try {
    text = readFileSync(config.file, 'utf8');
  } catch {
    return;
  }
  const yf = YamlFile.parse(CONFIG_FILE, text, []);
  const tokens = mapGet(yf.root, 'tokens');
  if (!tokens || !isMap(tokens)) return;
  const byName = new Map(config.tokens.map((t) => [t.name, t]));
  for (const pair of tokens.items) {
    const tokenName = isScalar(pair.key) ? String(pair.key.value) : '?';
    for (const key of ['endpoints', 'datasources'] as const) {
      const list = mapGet(pair.value as Node | null, key);
      const items = list && isSeq(list) ? (list.items as Node[]) : list ? [list] : [];
      // The names as the config read them (${ENV} expanded), in the file's order.
      const read = byName.get(tokenName)?.[key];
      items.forEach((item, i) => {
        if (!isScalar(item) || typeof item.value !== 'string') return;
        const name = read?.[i] ?? item.value;
        if (names[key].includes(name)) return;
        const what = key === 'endpoints' ? 'endpoint' : 'data source';
        const from = name === item.value ? '' : ` (from \`${item.value}\`)`;
        problems.push({
          severity: 'error',
          code: 'unknown-reference',
          message: `token \`${tokenName}\` lists unknown ${what} \`${name}\`${from}${didYouMean(name, names[key])}`,
          location: yf.loc(item),
        });
      });
    }
  }
}

function mapGet(node: Node | null | undefined, key: string): Node | null | undefined {
  if (!node || !isMap(node)) return undefined;
  const pair = node.items.find((p) => isScalar(p.key) && p.key.value === key);
  return pair ? (pair.value as Node | null) : undefined;
}

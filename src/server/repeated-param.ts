/**
 * The first query-string name a URL gives more than once (`?plan=free&plan=pro`), or undefined.
 * Only the first value would be read and the others never checked, so such a request is refused;
 * an Array param takes its items comma-separated in one value.
 */
export function repeatedParam(url: string): string | undefined {
  const q = url.indexOf('?');
  if (q < 0 || url.indexOf('&', q) < 0) return undefined; // one pair at most: the usual case
  const seen = new Set<string>();
  for (const pair of url.slice(q + 1).split('&')) {
    if (pair === '') continue;
    const eq = pair.indexOf('=');
    const name = decodeName(eq < 0 ? pair : pair.slice(0, eq));
    if (seen.has(name)) return name;
    seen.add(name);
  }
  return undefined;
}

function decodeName(raw: string): string {
  const text = raw.replace(/\+/g, ' ');
  try {
    return decodeURIComponent(text);
  } catch {
    return text; // a bad escape: the query reader says what it makes of it
  }
}

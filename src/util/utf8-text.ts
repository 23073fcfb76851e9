const strict = new TextDecoder('utf-8', { fatal: true });

/**
 * The text of a file's bytes, or the line of its first byte that is not UTF-8. A lenient decode
 * would turn a Latin-1 `é` in SQL into U+FFFD and change the query without a word.
 */
export function utf8Text(bytes: Uint8Array): { text: string } | { badLine: number } {
  try {
    return { text: strict.decode(bytes) };
  } catch {
    return { badLine: firstBadLine(bytes) };
  }
}

function firstBadLine(b: Uint8Array): number {
  let line = 1;
  for (let i = 0; i < b.length; ) {
    const c = b[i]!;
    if (c === 0x0a) line++;
    const n = c < 0x80 ? 1 : (c & 0xe0) === 0xc0 ? 2 : (c & 0xf0) === 0xe0 ? 3 : (c & 0xf8) === 0xf0 ? 4 : 0;
    if (n === 0 || i + n > b.length) return line;
    for (let k = 1; k < n; k++) if ((b[i + k]! & 0xc0) !== 0x80) return line;
    i += n;
  }
  return line; // an overlong form or a surrogate: the decoder knows, the scan above does not
}

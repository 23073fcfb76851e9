import { isUtf8 } from 'node:buffer';

/**
 * Where bytes stop being UTF-8. Node's `isUtf8` says whether they are; this says where they are
 * not, for a message that names the byte (only called once `isUtf8` has said no).
 */

/** Index of the first byte that does not begin or continue a valid UTF-8 sequence, or -1. */
export function firstInvalidUtf8(bytes: Uint8Array): number {
  let i = 0;
  while (i < bytes.length) {
    const b = bytes[i]!;
    if (b < 0x80) {
      i++;
      continue;
    }
    // Sequence length and the allowed range of its second byte (no overlongs, no surrogates,
    // nothing past U+10FFFF), after RFC 3629's table.
    let n: number;
    let lo = 0x80;
    let hi = 0xbf;
    if (b >= 0xc2 && b <= 0xdf) n = 2;
    else if (b >= 0xe0 && b <= 0xef) {
      n = 3;
      if (b === 0xe0) lo = 0xa0;
      if (b === 0xed) hi = 0x9f;
    } else if (b >= 0xf0 && b <= 0xf4) {
      n = 4;
      if (b === 0xf0) lo = 0x90;
      if (b === 0xf4) hi = 0x8f;
    } else return i;
    if (i + n > bytes.length) return i;
    const second = bytes[i + 1]!;
    if (second < lo || second > hi) return i;
    for (let k = 2; k < n; k++) if ((bytes[i + k]! & 0xc0) !== 0x80) return i;
    i += n;
  }
  return -1;
}

/** Where text that is not UTF-8 goes wrong, by line (1-based) and byte of that line (1-based). */
export interface Utf8Fault {
  line: number;
  byteOfLine: number;
  /** 0-based offset in the whole input. */
  offset: number;
  /** The byte found there, as two upper-case hex digits. */
  hex: string;
}

/** The first fault of `bytes` read as UTF-8 lines, or undefined when they are UTF-8. */
export function utf8Fault(bytes: Uint8Array): Utf8Fault | undefined {
  // Node's native check first: the scan below runs only for bytes that are not UTF-8.
  if (isUtf8(bytes)) return undefined;
  const offset = firstInvalidUtf8(bytes);
  if (offset < 0) return undefined;
  let line = 1;
  let lineStart = 0;
  for (let i = 0; i < offset; i++) {
    if (bytes[i] === 0x0a) {
      line++;
      lineStart = i + 1;
    }
  }
  const hex = bytes[offset]!.toString(16).toUpperCase().padStart(2, '0');
  return { line, byteOfLine: offset - lineStart + 1, offset, hex };
}

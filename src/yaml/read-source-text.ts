import { readFileSync } from 'node:fs';
import type { Problem } from '../errors.ts';
import { notAFile, pathKind } from '../util/path-kind.ts';
import { utf8Text } from '../util/utf8-text.ts';

/**
 * The text of a project file (`rel` names it in problems), or undefined with the reason added to
 * `problems`: not a regular file (a folder, a link to nothing, a FIFO whose read would never
 * end), unreadable, or not UTF-8. A file that does not exist is undefined with no problem: the
 * caller knows whether it may be missing.
 */
export function readSourceText(path: string, rel: string, problems: Problem[]): string | undefined {
  const refuse = (code: string, message: string, line = 1) =>
    problems.push({ severity: 'error', code, message, location: { file: rel, line, col: 1 } });
  let decoded: ReturnType<typeof utf8Text>;
  try {
    const kind = pathKind(path);
    if (kind === 'missing') return undefined;
    if (kind !== 'file') {
      refuse('unreadable-file', `${rel} ${notAFile(kind)}`);
      return undefined;
    }
    decoded = utf8Text(readFileSync(path));
  } catch (err) {
    refuse('unreadable-file', `cannot read ${rel}: ${(err as Error).message}`);
    return undefined;
  }
  if ('text' in decoded) return decoded.text;
  refuse('not-utf8', `${rel} is not UTF-8 text (line ${decoded.badLine}): save it as UTF-8`, decoded.badLine);
  return undefined;
}

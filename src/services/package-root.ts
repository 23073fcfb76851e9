import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The folder Tally itself is installed in (holds services/ and docker-compose.yml). */
export function tallyRoot(): string {
  return resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
}

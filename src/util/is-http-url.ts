/** Whether `text` parses as an absolute http:// or https:// URL. */
export function isHttpUrl(text: string): boolean {
  try {
    const u = new URL(text);
    return u.protocol === 'http:' || u.protocol === 'https:';
  } catch {
    return false;
  }
}

/**
 * Whether a URL carries a user or password (`http://u:p@host`): such a URL would show the
 * secret wherever the address is named (messages, logs, /health).
 */
export function hasCredentials(url: string): boolean {
  try {
    const u = new URL(url);
    return u.username !== '' || u.password !== '';
  } catch {
    return false;
  }
}

/** `word` as a POSIX shell reads it back as one word: quoted only when the shell would split or expand it. */
export function shellWord(word: string): string {
  return /^[\w./@%+=:,-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

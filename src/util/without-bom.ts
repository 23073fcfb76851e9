/** `text` without a leading byte-order mark (editors on Windows write one): it is no part of the data. */
export function withoutBom(text: string): string {
  return text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
}

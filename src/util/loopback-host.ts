/** A name of this machine's loopback interface: `localhost`, `127.x.y.z`, `::1` (bracketed or not). */
export function isLoopbackHost(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  return h === 'localhost' || h === '::1' || /^127\.\d+\.\d+\.\d+$/.test(h);
}

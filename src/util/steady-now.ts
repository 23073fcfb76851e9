/**
 * Milliseconds since the epoch read from the monotonic clock: it starts at the wall clock's
 * reading when the process started and then only moves forward at a steady pace, so a step of
 * the wall clock (NTP correcting it, a VM resumed) does not move it. For comparing instants
 * within one process; do not show it as a date after a clock step.
 */
export function steadyNow(): number {
  return performance.timeOrigin + performance.now();
}

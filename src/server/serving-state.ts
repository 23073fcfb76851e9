import type { Engine } from '../clickhouse/engine.ts';
import type { Project } from '../project/model.ts';

/**
 * What the server answers from. It is replaced whole on reload: a request takes the current
 * state once when it starts, so requests in flight finish on the version they started with.
 */
export interface ServingState {
  project: Project;
  engine: Engine;
  /** Changes on every reload or redeploy; part of every cache key. */
  version: string;
}

export class StateHolder {
  private current: ServingState;
  private readonly listeners: Array<(s: ServingState) => void> = [];
  private hold?: Promise<void> | undefined;

  constructor(initial: ServingState) {
    this.current = initial;
  }

  get(): ServingState {
    return this.current;
  }

  swap(next: ServingState): void {
    this.current = next;
    for (const l of this.listeners) l(next);
  }

  /**
   * Requests wait (in `held`) until `ready` settles, at most `maxMs`: `tally dev` loads its
   * fixtures after the server is listening, and an endpoint answered before then would be empty.
   */
  holdUntil(ready: Promise<unknown>, maxMs: number): void {
    let timer: NodeJS.Timeout | undefined;
    const capped = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, maxMs);
      timer.unref?.();
    });
    const hold = Promise.race([ready.then(noop, noop), capped]).then(() => {
      clearTimeout(timer);
      if (this.hold === hold) this.hold = undefined;
    });
    this.hold = hold;
  }

  /** Settles when a hold ends; undefined when none is on (the common case: no await at all). */
  get held(): Promise<void> | undefined {
    return this.hold;
  }

  onSwap(listener: (s: ServingState) => void): void {
    this.listeners.push(listener);
  }
}

function noop(): void {}

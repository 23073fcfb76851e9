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

  onSwap(listener: (s: ServingState) => void): void {
    this.listeners.push(listener);
  }
}

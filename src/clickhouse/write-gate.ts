/**
 * The writes into an embedded database, as seen from inside the process. chDB opens a data folder
 * in one process only, so every writer of an embedded database is in this process: ingestion's
 * flushes take the gate shared; deploy takes it exclusively to attach a view and backfill it with
 * nothing written in between (an exact boundary without renaming tables away or hard-linking a
 * snapshot, which is what a server, written by other processes, needs: deploy/hold.ts).
 *
 *   await writeGate(engine).shared(() => insertFlush());       // writers
 *   const release = await writeGate(engine).exclusive();       // deploy
 *   try { ... } finally { release(); }
 *
 * An exclusive request waits for the writes in progress and holds back new ones meanwhile.
 */
import type { Engine } from './engine.ts';

export class WriteGate {
  private writing = 0;
  private held = false;
  /** Exclusive requests waiting; while any waits, new shared writes queue behind it. */
  private readonly exclusiveQueue: Array<() => void> = [];
  private readonly sharedQueue: Array<() => void> = [];
  private drained: (() => void) | undefined;

  async shared<T>(write: () => Promise<T>): Promise<T> {
    if (this.held || this.exclusiveQueue.length > 0) {
      await new Promise<void>((resolve) => this.sharedQueue.push(resolve));
    }
    this.writing++;
    try {
      return await write();
    } finally {
      this.writing--;
      if (this.writing === 0) this.drained?.();
    }
  }

  /** Resolves once no write runs and none can start; call the returned function to reopen. */
  async exclusive(): Promise<() => void> {
    if (this.held || this.exclusiveQueue.length > 0) {
      await new Promise<void>((resolve) => this.exclusiveQueue.push(resolve));
    }
    this.held = true;
    if (this.writing > 0) {
      await new Promise<void>((resolve) => {
        this.drained = resolve;
      });
      this.drained = undefined;
    }
    let open = false;
    return () => {
      if (open) return;
      open = true;
      this.held = false;
      const next = this.exclusiveQueue.shift();
      if (next) {
        this.held = true;
        next();
        return;
      }
      for (const wake of this.sharedQueue.splice(0)) wake();
    };
  }

  /** Writes in progress and whether deploy holds the gate (for tests and stats). */
  get state(): { writing: number; held: boolean } {
    return { writing: this.writing, held: this.held };
  }
}

const gates = new Map<string, WriteGate>();
const ofEngine = new WeakMap<Engine, WriteGate>();

/**
 * The gate of the engine's database: one per embedded folder and database in this process (two
 * Engine objects on the same folder share it); on a server, one per Engine object, which only
 * orders this process's own writes (deploy does not rely on it there).
 */
export function writeGate(engine: Engine): WriteGate {
  if (engine.backend === 'embedded' && engine.dataPath) {
    const key = `${engine.dataPath}\u0000${engine.database}`;
    let g = gates.get(key);
    if (!g) {
      g = new WriteGate();
      gates.set(key, g);
    }
    return g;
  }
  let g = ofEngine.get(engine);
  if (!g) {
    g = new WriteGate();
    ofEngine.set(engine, g);
  }
  return g;
}

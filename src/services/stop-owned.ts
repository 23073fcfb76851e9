import { composeStop, dockerEngineAnswers, readDockerMarker, removeDockerMarker } from './docker-compose.ts';
import { isOurProcess, readPidFile, removePidFile } from './pid-file.ts';
import type { DownResult, ProgressLog, ServiceName } from './service.ts';
import { stopProcess } from './stop-process.ts';

export interface StopOwnedOptions {
  name: ServiceName;
  address: string;
  paths: { pidFile: string; dockerMarker: string };
  stopTimeoutMs: number;
  log: ProgressLog;
  /** True when the expected service answers at the address (then it is someone else's). */
  answers: () => Promise<boolean>;
}

/**
 * `tally services down` for one service: stops only what `up` started (by pid file, or the
 * compose container it marked), never a server someone else runs at the address.
 */
export async function stopOwned(o: StopOwnedOptions): Promise<DownResult> {
  const base = { name: o.name, address: o.address };
  const rec = readPidFile(o.paths.pidFile);
  if (rec && isOurProcess(rec)) {
    o.log(`${o.name}: stopping pid ${rec.pid}`);
    await stopProcess(rec, o.stopTimeoutMs);
    removePidFile(o.paths.pidFile);
    return { ...base, action: 'stopped', owner: 'tally' };
  }
  removePidFile(o.paths.pidFile);
  if (readDockerMarker(o.paths.dockerMarker) && (await dockerEngineAnswers())) {
    o.log(`${o.name}: stopping the ${o.name} container`);
    await composeStop(o.name);
    removeDockerMarker(o.paths.dockerMarker);
    return { ...base, action: 'stopped', owner: 'docker' };
  }
  removeDockerMarker(o.paths.dockerMarker);
  if (await o.answers()) return { ...base, action: 'not-owned', owner: 'external' };
  return { ...base, action: 'not-running' };
}

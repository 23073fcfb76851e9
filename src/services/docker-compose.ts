import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { TallyError } from '../errors.ts';
import { tailLines } from './log-tail.ts';
import { tallyRoot } from './package-root.ts';
import { findExecutable, formatCommand, runCommand } from './run-command.ts';

/** The compose project name, fixed so `down` finds the containers from any folder. */
const PROJECT = 'tally';

let compose: Promise<string[] | undefined> | undefined;

/**
 * The compose command (`docker compose`, or the older `docker-compose`) when a Docker engine
 * answers `docker info`, else undefined. Asked once per process.
 */
export function dockerCompose(): Promise<string[] | undefined> {
  compose ??= (async () => {
    if (!findExecutable('docker')) return undefined;
    const info = await runCommand('docker', ['info', '--format', '{{.ServerVersion}}'], {
      timeoutMs: 10_000,
    });
    if (info.code !== 0) return undefined;
    if ((await runCommand('docker', ['compose', 'version'], { timeoutMs: 10_000 })).code === 0)
      return ['docker', 'compose'];
    return findExecutable('docker-compose') ? ['docker-compose'] : undefined;
  })();
  return compose;
}

/** True when services can be started with Docker: an engine answers and compose is installed. */
export async function dockerEngineAnswers(): Promise<boolean> {
  return (await dockerCompose()) !== undefined;
}

/** Tally's docker-compose.yml, shipped beside package.json. */
export function composeFile(): string {
  return join(tallyRoot(), 'docker-compose.yml');
}

/** `docker compose up -d <service>`; throws with the command and its output when it fails. */
export async function composeUp(service: string): Promise<void> {
  await runCompose(['up', '-d', service]);
}

/** `docker compose stop <service>`: stops the container and keeps its data volume. */
export async function composeStop(service: string): Promise<void> {
  await runCompose(['stop', service]);
}

/** The image tag a compose service runs (`apache/kafka:4.1.1` gives `4.1.1`), if it is pinned. */
export function composeImageTag(service: string): string | undefined {
  try {
    const text = readFileSync(composeFile(), 'utf8');
    const block = new RegExp(`^  ${service}:\\n((?:    .*\\n|\\s*\\n)*)`, 'm').exec(text)?.[1] ?? '';
    return /^\s+image:\s*\S+:([\w.-]+)\s*$/m.exec(block)?.[1];
  } catch {
    return undefined;
  }
}

async function runCompose(args: string[]): Promise<void> {
  const [cmd, ...pre] = (await dockerCompose()) ?? ['docker', 'compose'];
  const full = [...pre, '-f', composeFile(), '-p', PROJECT, ...args];
  const res = await runCommand(cmd!, full, { timeoutMs: 15 * 60_000 });
  if (res.code !== 0) {
    throw new TallyError(
      'SERVICE_DOCKER_FAILED',
      `\`${formatCommand(cmd!, full)}\` failed (exit ${res.code ?? 'timeout'}):\n${tailLines(res.stderr + res.stdout, 20)}`,
      { exitCode: 2 },
    );
  }
}

/** The marker `up` leaves when it started a service's container, so `down` stops it later. */
export interface DockerMarker {
  service: string;
  composeFile: string;
  startedAt: string;
}

export function readDockerMarker(path: string): DockerMarker | undefined {
  if (!existsSync(path)) return undefined;
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as DockerMarker;
  } catch {
    return undefined;
  }
}

export function writeDockerMarker(path: string, service: string): void {
  mkdirSync(dirname(path), { recursive: true });
  const marker: DockerMarker = { service, composeFile: composeFile(), startedAt: new Date().toISOString() };
  writeFileSync(path, `${JSON.stringify(marker, null, 2)}\n`);
}

export function removeDockerMarker(path: string): void {
  rmSync(path, { force: true });
}

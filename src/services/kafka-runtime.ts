import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { TallyError } from '../errors.ts';
import { tailLines } from './log-tail.ts';
import { tallyRoot } from './package-root.ts';
import { findExecutable, formatCommand, runCommand } from './run-command.ts';
import type { ProgressLog } from './service.ts';

const STAMP = '.tally-stamp';

/** The pom that pins the Kafka version, and the log4j2 config the broker logs with. */
export function kafkaRuntimeFiles(): { pom: string; log4j: string } {
  const dir = join(tallyRoot(), 'services');
  return { pom: join(dir, 'pom.xml'), log4j: join(dir, 'kafka-log4j2.properties') };
}

/** A `java` of version 17 or newer (Kafka 4's minimum for the broker). */
export async function ensureJava(): Promise<string> {
  const fromHome = process.env.JAVA_HOME ? join(process.env.JAVA_HOME, 'bin', 'java') : undefined;
  const java = fromHome && existsSync(fromHome) ? fromHome : findExecutable('java');
  if (!java) {
    throw new TallyError(
      'SERVICE_PREREQUISITE',
      'Java 17 or newer is needed to run Kafka without Docker: install a JDK or JRE (`sudo apt-get install openjdk-17-jre-headless` on Debian or Ubuntu), or install Docker.',
    );
  }
  const res = await runCommand(java, ['-version'], { timeoutMs: 30_000 });
  const m = /version "(\d+)(?:\.(\d+))?/.exec(res.stderr + res.stdout);
  const major = m ? (m[1] === '1' ? Number(m[2]) : Number(m[1])) : undefined;
  if (major !== undefined && major < 17) {
    throw new TallyError(
      'SERVICE_PREREQUISITE',
      `Kafka 4 needs Java 17 or newer, but ${java} is Java ${major}: install Java 17 or newer (or set JAVA_HOME to it), or install Docker.`,
    );
  }
  return java;
}

/**
 * The broker's jars in `libDir`, resolved from Maven Central with `mvn` the first time and
 * whenever services/pom.xml changes (a stamp holds the pom's hash). Returns the Kafka version.
 */
export async function ensureKafkaJars(libDir: string, log: ProgressLog): Promise<string> {
  const { pom } = kafkaRuntimeFiles();
  const stamp = createHash('sha256').update(readFileSync(pom)).digest('hex');
  const cached = kafkaVersionIn(libDir);
  if (cached && readStamp(libDir) === stamp) return cached;

  const mvn = findExecutable('mvn');
  if (!mvn) {
    throw new TallyError(
      'SERVICE_PREREQUISITE',
      'Maven is needed once to download the Kafka jars: install it (`sudo apt-get install maven` on Debian or Ubuntu), or install Docker.',
    );
  }
  log('kafka: resolving the Kafka jars with Maven (first run only)');
  const tmp = `${libDir}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  const args = [
    '-q',
    '-B',
    '-f',
    pom,
    'dependency:copy-dependencies',
    `-DoutputDirectory=${tmp}`,
    '-DincludeScope=runtime',
  ];
  const res = await runCommand(mvn, args, { timeoutMs: 15 * 60_000 });
  const version = res.code === 0 ? kafkaVersionIn(tmp) : undefined;
  if (!version) {
    rmSync(tmp, { recursive: true, force: true });
    throw new TallyError(
      'SERVICE_INSTALL_FAILED',
      `Resolving the Kafka jars failed (exit ${res.code ?? 'timeout'}).\ncommand: ${formatCommand(mvn, args)}\n${tailLines(res.stdout + res.stderr, 20)}`,
      { exitCode: 2 },
    );
  }
  writeFileSync(join(tmp, STAMP), `${stamp}\n`);
  rmSync(libDir, { recursive: true, force: true });
  renameSync(tmp, libDir);
  return version;
}

/** The Kafka version of the broker jar in `dir` (`kafka_2.13-4.1.1.jar` gives 4.1.1). */
export function kafkaVersionIn(dir: string): string | undefined {
  try {
    for (const f of readdirSync(dir)) {
      const m = /^kafka_[\d.]+-(.+)\.jar$/.exec(f);
      if (m) return m[1];
    }
  } catch {
    // no such folder
  }
  return undefined;
}

function readStamp(dir: string): string | undefined {
  try {
    return readFileSync(join(dir, STAMP), 'utf8').trim();
  } catch {
    return undefined;
  }
}

import type { Config } from '../config/config.ts';
import type { Problem, SourceLocation } from '../errors.ts';
import { didYouMean } from '../util/did-you-mean.ts';
import { checkDefaultOnlyColumns } from './check-default-only-columns.ts';
import { checkUnfilledAggregates } from './check-unfilled-aggregates.ts';
import type { DataSource, Endpoint, Pipe } from './model.ts';
import { templateParamUses } from './parse-template.ts';
import { selectColumns } from './select-columns.ts';
import { sqlLocator } from './sql-locator.ts';
import { sqlReferences } from './sql-references.ts';

/** What validateProject looks at: the project's parts, before they are frozen into a Project. */
export interface ProjectParts {
  config: Config;
  datasources: ReadonlyMap<string, DataSource>;
  pipes: ReadonlyMap<string, Pipe>;
  endpoints: ReadonlyMap<string, Endpoint>;
}

export interface ValidateOptions {
  /**
   * Names whose files exist but could not be read (a YAML syntax error, say). References to them
   * are not reported again as unknown: the file's own problems say what is wrong.
   */
  unreadable?: ReadonlySet<string>;
}

/** The scopes that may call an endpoint (`append` tokens only post events). */
const ENDPOINT_SCOPES = ['admin', 'read'];

/**
 * The rules that need more than one file: names shared by data sources and pipes, what nodes
 * read (unknown names, later nodes, a pipe reading its own materialize target), materialize
 * targets and their columns, cycles of materialized pipes, params used but not declared or
 * declared but unused, what endpoints point at (pipe, token), and literal defaults of data sources
 * that take events that are never read from them, aggregate states no pipe fills.
 */
export function validateProject(parts: ProjectParts, problems: Problem[], opts: ValidateOptions = {}): void {
  const unreadable = opts.unreadable ?? new Set<string>();
  const report = (
    severity: Problem['severity'],
    code: string,
    location: SourceLocation,
    message: string,
    hint?: string,
  ) => problems.push({ severity, code, message, location, ...(hint ? { hint } : {}) });
  const dsNames = [...parts.datasources.keys()];

  for (const pipe of parts.pipes.values()) {
    // One namespace for tables and pipes, so a name means one thing in messages, URLs and
    // ClickHouse; the exception is the pipe that fills its namesake (`account_balances`
    // materializing into `account_balances`, `balance_snapshots` copying into its namesake).
    const clash = parts.datasources.get(pipe.name);
    const target = pipe.materialize?.to ?? pipe.copy?.to ?? pipe.refusedCopyTo;
    // A target that names no data source is its own error (with a did-you-mean): most likely a
    // typo of the namesake, so not also a clash.
    const targetUnknown = target !== undefined && !parts.datasources.has(target);
    if (clash && target !== pipe.name && !targetUnknown) {
      report(
        'error',
        'duplicate-name',
        pipe.loc,
        `pipe \`${pipe.name}\` has the same name as data source \`${pipe.name}\` (${clash.file}); data sources and pipes share one namespace`,
        'rename one of the files; only a pipe that materializes or copies into its namesake may share its name',
      );
    }
    checkParams(pipe, report);
    checkNodes(pipe, parts, unreadable, report);
    if (pipe.materialize) checkWriteTarget(pipe, 'materialize', parts, unreadable, dsNames, report);
    if (pipe.copy) checkWriteTarget(pipe, 'copy', parts, unreadable, dsNames, report);
  }
  checkMaterializeCycles(parts, report);
  // Which pipes fill which data source is known only when every file could be read.
  if (unreadable.size === 0) {
    checkDefaultOnlyColumns(parts, problems);
    checkUnfilledAggregates(parts, problems);
  }

  // With no tokens configured every endpoint is public (a development setup): said once, at the
  // first endpoint whose `token:` suggests its author expects otherwise.
  const guarded = [...parts.endpoints.values()].filter((ep) => ep.token !== undefined);
  if (parts.config.tokens.length === 0 && guarded.length > 0) {
    const first = guarded[0]!;
    report(
      'warning',
      'tokens-not-configured',
      first.tokenLoc ?? first.loc,
      `tally.yaml configures no tokens, so every endpoint is public, also ${guarded.length === 1 ? 'this one' : `the ${guarded.length} with \`token:\` (${guarded.map((e) => e.name).join(', ')})`}`,
      'add tokens to tally.yaml before serving them to anyone but yourself',
    );
  }

  // The tokens an endpoint may name (append tokens only post events).
  const endpointTokenNames = parts.config.tokens.filter((t) => t.scope !== 'append').map((t) => t.name);
  const pipeNames = [...parts.pipes.keys()];
  for (const ep of parts.endpoints.values()) {
    const at = ep.pipeLoc ?? ep.loc;
    const pipe = parts.pipes.get(ep.pipe);
    if (!pipe && ep.pipe !== '' && !unreadable.has(ep.pipe)) {
      if (parts.datasources.has(ep.pipe)) {
        report(
          'error',
          'unknown-reference',
          at,
          `endpoint \`${ep.name}\` must read a pipe; \`${ep.pipe}\` is a data source`,
          `add a pipe that selects from ${ep.pipe} and name it here`,
        );
      } else {
        report(
          'error',
          'unknown-reference',
          at,
          `endpoint \`${ep.name}\` reads unknown pipe \`${ep.pipe}\`${didYouMean(ep.pipe, pipeNames)}`,
        );
      }
    } else if (pipe?.materialize) {
      report(
        'error',
        'endpoint-materialized-pipe',
        at,
        `endpoint \`${ep.name}\` reads pipe \`${ep.pipe}\`, which materializes into \`${pipe.materialize.to}\`; a materialized pipe cannot serve an endpoint`,
        `add a pipe that reads ${pipe.materialize.to} and point the endpoint at it`,
      );
    } else if (pipe?.copy) {
      report(
        'error',
        'endpoint-copy-pipe',
        at,
        `endpoint \`${ep.name}\` reads pipe \`${ep.pipe}\`, which copies into \`${pipe.copy.to}\` on a schedule; a copy pipe cannot serve an endpoint`,
        `add a pipe that reads ${pipe.copy.to} and point the endpoint at it`,
      );
    }
    const named = parts.config.tokens.find((t) => t.name === ep.token);
    if (ep.token === 'append' || named?.scope === 'append') {
      report(
        'error',
        'endpoint-append-token',
        ep.tokenLoc ?? ep.loc,
        `${ep.token === 'append' ? 'scope `append`' : `token \`${ep.token}\` has scope append, which`} cannot call an endpoint: append tokens only post events`,
        'give the endpoint `token: read`, `token: admin` or the name of a read token',
      );
    } else if (ep.token !== undefined && !ENDPOINT_SCOPES.includes(ep.token) && !named) {
      report(
        'error',
        'unknown-token',
        ep.tokenLoc ?? ep.loc,
        `token \`${ep.token}\` is neither a scope (admin, read) nor a token in tally.yaml${didYouMean(ep.token, [...ENDPOINT_SCOPES, ...endpointTokenNames])}`,
      );
    } else if (named?.scope === 'read' && named.endpoints && !named.endpoints.includes(ep.name)) {
      // The token named would be refused by the endpoint it is named for: only admin could call it.
      report(
        'error',
        'endpoint-token-denied',
        ep.tokenLoc ?? ep.loc,
        `token \`${named.name}\` may not call endpoint \`${ep.name}\`: its endpoints in tally.yaml are ${named.endpoints.length > 0 ? named.endpoints.join(', ') : 'none'}`,
        `add ${ep.name} to the token's endpoints, or name another token or scope here`,
      );
    }
  }
}

type Report = (
  severity: Problem['severity'],
  code: string,
  location: SourceLocation,
  message: string,
  hint?: string,
) => void;

function checkParams(pipe: Pipe, report: Report): void {
  const declared = [...pipe.params.keys()];
  const used = new Set<string>();
  for (const node of pipe.nodes) {
    for (const use of templateParamUses(node.template)) {
      const first = !used.has(use.param);
      used.add(use.param);
      if (first && !pipe.params.has(use.param) && !pipe.paramsUnreadable) {
        report(
          'error',
          'undeclared-param',
          use.loc,
          `param \`${use.param}\` is used in node \`${node.name}\` but not declared${didYouMean(use.param, declared)}`,
          pipe.copy
            ? 'a copy pipe has only {{ snapshot_at }} and {{ settled_before }}'
            : `declare it under params, e.g. ${use.param}: { type: String }`,
        );
      }
    }
  }
  for (const p of pipe.params.values()) {
    if (!used.has(p.name) && !p.supplied) {
      report(
        'warning',
        'unused-param',
        p.loc,
        `param \`${p.name}\` is declared but no node uses it`,
        'use it in a node as {{ ' + p.name + ' }}, or remove it',
      );
    }
  }
}

function checkNodes(pipe: Pipe, parts: ProjectParts, unreadable: ReadonlySet<string>, report: Report): void {
  const index = new Map(pipe.nodes.map((n, i) => [n.name, i]));
  pipe.nodes.forEach((node, i) => {
    if (parts.datasources.has(node.name)) {
      report(
        'warning',
        'node-shadows-datasource',
        node.loc,
        `node \`${node.name}\` has the name of a data source; later nodes of this pipe will read the node, not the data source`,
      );
    }
    const locate = sqlLocator(node.sql, node.sqlStart);
    const earlier = pipe.nodes.slice(0, i).map((n) => n.name);
    for (const ref of sqlReferences(node.sql)) {
      const at = locate(ref.offset);
      const j = index.get(ref.name);
      if (j !== undefined && j < i) continue;
      if (j === i) {
        report(
          'error',
          'node-cycle',
          at,
          `node \`${node.name}\` reads itself`,
          'a node reads data sources and the nodes above it',
        );
      } else if (j !== undefined) {
        report(
          'error',
          'node-cycle',
          at,
          `node \`${node.name}\` reads \`${ref.name}\`, which comes after it in the pipe`,
          `move node ${ref.name} above ${node.name}; a node reads only the nodes above it`,
        );
      } else if (parts.datasources.has(ref.name)) {
        if (pipe.materialize?.to === ref.name) {
          report(
            'error',
            'materialize-reads-target',
            at,
            `node \`${node.name}\` reads \`${ref.name}\`, the data source this pipe materializes into; every insert would feed itself`,
          );
        }
      } else if (unreadable.has(ref.name)) {
        // its own file's problems are reported
      } else if (parts.pipes.has(ref.name)) {
        report(
          'error',
          'unknown-reference',
          at,
          `node \`${node.name}\` reads pipe \`${ref.name}\`; nodes read data sources and earlier nodes, not other pipes`,
          parts.pipes.get(ref.name)?.materialize
            ? `read the data source it materializes into: ${parts.pipes.get(ref.name)!.materialize!.to}`
            : 'copy the nodes you need into this pipe, or materialize that pipe into a data source and read it',
        );
      } else {
        report(
          'error',
          'unknown-reference',
          at,
          `node \`${node.name}\` reads unknown table \`${ref.name}\`${didYouMean(ref.name, [...earlier, ...parts.datasources.keys()])}`,
          'a node reads data sources and the nodes above it; write db.table for a table outside the project',
        );
      }
    }
  });
}

/**
 * A materialized or copy pipe writes into a data source: it must exist, and the last node must
 * fill its columns.
 */
function checkWriteTarget(
  pipe: Pipe,
  kind: 'materialize' | 'copy',
  parts: ProjectParts,
  unreadable: ReadonlySet<string>,
  dsNames: string[],
  report: Report,
): void {
  const { to, loc } = kind === 'copy' ? pipe.copy! : pipe.materialize!;
  const target = parts.datasources.get(to);
  if (!target) {
    if (unreadable.has(to)) return;
    const isPipe = parts.pipes.has(to);
    report(
      'error',
      'unknown-reference',
      loc,
      isPipe
        ? `${kind}.to must name a data source; \`${to}\` is a pipe`
        : `pipe \`${pipe.name}\` ${kind === 'copy' ? 'copies' : 'materializes'} into unknown data source \`${to}\`${didYouMean(to, dsNames)}`,
      isPipe ? undefined : `create datasources/${to}.datasource.yaml`,
    );
    return;
  }
  checkTargetColumns(pipe, target, loc, `${kind}-columns`, report);
}

/**
 * The last node's output columns against the target's, by name: every target column without a
 * default is selected, and nothing else is (Kafka metadata columns are not expected). Skipped
 * when the names cannot be read from the SQL (`SELECT *`, an unnamed expression).
 */
function checkTargetColumns(
  pipe: Pipe,
  target: DataSource,
  loc: SourceLocation,
  code: string,
  report: Report,
): void {
  const last = pipe.nodes[pipe.nodes.length - 1];
  const selected = last ? selectColumns(last.sql) : undefined;
  if (!last || !selected) return;
  const metadata = new Set<string>(target.kafka?.metadata ?? []);
  const columns = target.columns.filter((c) => !metadata.has(c.name));
  const names = columns.map((c) => c.name);
  const missing = columns
    .filter((c) => !selected.includes(c.name) && c.default === undefined)
    .map((c) => c.name);
  const extra = selected.filter((s) => !names.includes(s));
  if (missing.length === 0 && extra.length === 0) return;
  const parts_: string[] = [];
  if (missing.length > 0) parts_.push(`missing ${missing.map((m) => `\`${m}\``).join(', ')}`);
  if (extra.length > 0) {
    parts_.push(`not in the data source ${extra.map((x) => `\`${x}\`${didYouMean(x, missing)}`).join(', ')}`);
  }
  report(
    'error',
    code,
    loc,
    `the columns of node \`${last.name}\` do not match data source \`${target.name}\`: ${parts_.join('; ')}`,
    `data source ${target.name} has ${names.join(', ')}; name each selected column after one (AS name)`,
  );
}

/** Materialized pipes that feed each other in a loop (a -> b -> a) would insert forever. */
function checkMaterializeCycles(parts: ProjectParts, report: Report): void {
  const edges = new Map<string, Array<{ to: string; pipe: Pipe }>>();
  for (const pipe of parts.pipes.values()) {
    const to = pipe.materialize?.to;
    if (!to || !parts.datasources.has(to)) continue;
    const nodeNames = new Set(pipe.nodes.map((n) => n.name));
    const reads = new Set(
      pipe.nodes.flatMap((n) => n.references).filter((r) => !nodeNames.has(r) && parts.datasources.has(r)),
    );
    for (const from of reads) {
      if (from === to) continue; // reported as materialize-reads-target
      const list = edges.get(from) ?? [];
      list.push({ to, pipe });
      edges.set(from, list);
    }
  }
  const state = new Map<string, 'active' | 'done'>();
  const stack: Array<{ ds: string; via?: Pipe }> = [];
  const reported = new Set<string>();
  const visit = (ds: string) => {
    state.set(ds, 'active');
    for (const e of edges.get(ds) ?? []) {
      const s = state.get(e.to);
      if (s === 'active') {
        const start = stack.findIndex((x) => x.ds === e.to);
        const cycle = [...stack.slice(start), { ds: e.to, via: e.pipe }];
        const key = cycle
          .slice(1)
          .map((c) => c.via!.name)
          .sort()
          .join(',');
        if (!reported.has(key)) {
          reported.add(key);
          const path = cycle
            .map((c, k) => (k === 0 ? c.ds : `(pipe ${c.via!.name}) -> ${c.ds}`))
            .join(' -> ');
          report(
            'error',
            'materialize-cycle',
            e.pipe.materialize!.loc,
            `materialized pipes form a cycle: ${path}`,
            'every insert would flow around the loop forever; break it by materializing one of them elsewhere',
          );
        }
      } else if (s === undefined) {
        stack.push({ ds: e.to, via: e.pipe });
        visit(e.to);
        stack.pop();
      }
    }
    state.set(ds, 'done');
  };
  for (const ds of [...edges.keys()].sort()) {
    if (state.has(ds)) continue;
    stack.push({ ds });
    visit(ds);
    stack.pop();
  }
}

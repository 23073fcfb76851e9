/**
 * The page at `/` in a real headless browser: Debian's chromium driven by playwright-core.
 * Chromium is installed with apt when it is missing and we run as root (CI runs as root on a
 * fresh Debian machine; the install takes about a minute); only when it cannot be installed is
 * the suite skipped, saying why.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { type BrowserContext, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { applyDeploy } from '../../src/deploy/deploy.ts';
import { compileRowParser } from '../../src/ingest/row-parser.ts';
import { loadProjectOrThrow } from '../../src/project/load-project.ts';
import type { Project } from '../../src/project/model.ts';
import { createApp } from '../../src/server/create-app.ts';
import { StateHolder } from '../../src/server/serving-state.ts';
import { type RunningServer, startServer } from '../../src/server/start-server.ts';
import { aptInstall, canAptInstall } from '../../src/services/apt-install.ts';
import { forEachBackend } from '../support/backends.ts';

const REPO = resolve(import.meta.dirname, '..', '..');
const CHROMIUM = '/usr/bin/chromium';

/**
 * The chromium binary, installing Debian's package when missing (as root, with the installer the
 * services use); or why there is none.
 */
async function ensureChromium(): Promise<{ path?: string; reason?: string }> {
  if (existsSync(CHROMIUM)) return { path: CHROMIUM };
  if (process.platform !== 'linux' || !canAptInstall()) {
    return { reason: 'no /usr/bin/chromium, and no apt-get to install it as root (not Debian, or not root)' };
  }
  const t0 = performance.now();
  try {
    const path = await aptInstall(
      {
        label: 'home page',
        packages: ['chromium'],
        options: ['-q', '-o', 'DPkg::Lock::Timeout=300', '--no-install-recommends'],
        find: () => (existsSync(CHROMIUM) ? CHROMIUM : undefined),
      },
      (line) => console.log(`[${line}]`),
    );
    console.log(
      `[home page] installed chromium with apt in ${((performance.now() - t0) / 1000).toFixed(1)} s`,
    );
    return { path };
  } catch (err) {
    return { reason: `apt-get install chromium failed: ${(err as Error).message.split('\n')[0]}` };
  }
}

const browserBinary = await ensureChromium();
// No browser is a failure, not a skip, unless whoever runs the tests says so.
const SKIP_BROWSER = Boolean(process.env.TALLY_SKIP_BROWSER) && process.env.TALLY_SKIP_BROWSER !== '0';
if (!browserBinary.path && !SKIP_BROWSER) {
  it('has a headless chromium to run in (TALLY_SKIP_BROWSER=1 skips the browser test)', () => {
    throw new Error(`no browser for the home page test: ${browserBinary.reason}`);
  });
}
if (browserBinary.reason && SKIP_BROWSER) {
  console.warn(`[home page] skipping the browser test (TALLY_SKIP_BROWSER): ${browserBinary.reason}`);
}

const ACCOUNT = '1f2ab978';

describe.skipIf(!browserBinary.path)('home page in headless chromium', () => {
  let context: BrowserContext;
  let profile: string;

  beforeAll(async () => {
    profile = mkdtempSync(join(tmpdir(), 'tally-chromium-'));
    context = await chromium.launchPersistentContext(profile, {
      executablePath: browserBinary.path!,
      headless: true,
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    });
  }, 60_000);

  afterAll(async () => {
    await context?.close();
    rmSync(profile, { recursive: true, force: true });
  });

  forEachBackend('example project', (ctx) => {
    let project: Project;
    let server: RunningServer;
    let page: Page;

    beforeAll(async () => {
      project = loadProjectOrThrow(REPO, { env: {} });
      const deployed = await applyDeploy(project, ctx.engine);
      expect(deployed.ok, deployed.error).toBe(true);
      // Through the row parser: the fixtures hold v1 events (amount_cents) and unknown versions.
      const parser = compileRowParser(project.datasources.get('transactions')!);
      const rows = readFileSync(join(REPO, 'fixtures', 'transactions.ndjson'), 'utf8')
        .split('\n')
        .filter((l) => l.trim() !== '')
        .map((l) => parser.parseLine(l))
        .flatMap((r): Array<Record<string, unknown>> => {
          if (!r.ok) return [];
          if (r.line !== undefined) return [JSON.parse(r.line) as Record<string, unknown>];
          // A default_expr column (ingested_at) left out: the server fills it.
          const row: Record<string, unknown> = {};
          parser.columns.forEach((c, i) => {
            const cell = r.cells[i];
            if (cell !== undefined) row[c.name] = JSON.parse(cell);
          });
          return [row];
        });
      await ctx.engine.insert('transactions', rows);
      const app = createApp({
        state: new StateHolder({ project, engine: ctx.engine, version: 'v1' }),
        tokens: [],
      });
      server = await startServer(app, '127.0.0.1', 0);
      page = await context.newPage();
    });

    afterAll(async () => {
      await page?.close();
      await server?.close();
    });

    it('lists every endpoint with its description and params', async () => {
      const errors: string[] = [];
      page.on('pageerror', (e) => errors.push(String(e)));
      page.on('console', (m) => {
        if (m.type() === 'error') errors.push(m.text());
      });
      const res = await page.goto(`${server.url}/`);
      expect(res?.status()).toBe(200);
      const names = await page.locator('section.endpoint h2').allTextContents();
      expect(names).toEqual([...project.endpoints.keys()].sort());
      const balance = page.locator('#ep-balance');
      await expect(balance.locator('.description').textContent()).resolves.toContain(
        'Balance of one account',
      );
      const params = await balance.locator('table.params td code').allTextContents();
      expect(params).toEqual(expect.arrayContaining(['account_id', 'String', 'as_of', 'DateTime']));
      expect(errors, 'no script errors and no CSP violations').toEqual([]);
    });

    it('runs an endpoint from its form and shows the rows', async () => {
      const balance = page.locator('#ep-balance');
      await balance.locator('input[name="account_id"]').fill(ACCOUNT);
      await expect(balance.locator('a.url').textContent()).resolves.toBe(
        `GET /v0/pipes/balance.json?account_id=${ACCOUNT}`,
      );
      await balance.locator('button[type="submit"]').click();
      const status = balance.locator('.result .status');
      await status.filter({ hasText: /^200 / }).waitFor({ timeout: 15_000 });
      await expect(status.textContent()).resolves.toMatch(
        /200 OK · \d+ ms · freshness unknown · cache (miss|hit) · 1 row$/,
      );
      const header = await balance.locator('.result table tr').first().locator('th').allTextContents();
      expect(header).toEqual(['account_id', 'balance', 'transactions', 'updated_at']);
      const cells = await balance.locator('.result table tr').nth(1).locator('td').allTextContents();
      expect(cells[0]).toBe(ACCOUNT);
      // The same answer as the API gives.
      const api = (await (
        await fetch(`${server.url}/v0/pipes/balance.json?account_id=${ACCOUNT}`)
      ).json()) as {
        data: Array<Record<string, unknown>>;
      };
      expect(cells[1]).toBe(String(api.data[0]!.balance));
      expect(await balance.locator('.result pre.raw').textContent()).toContain('"statistics"');
    });

    it('shows an error answer, and takes params in other formats', async () => {
      const history = page.locator('#ep-account_history');
      await history.locator('button[type="submit"]').click();
      const status = history.locator('.result .status');
      await status.filter({ hasText: /^400 / }).waitFor({ timeout: 15_000 });
      expect(await history.locator('.result pre.raw').textContent()).toContain('"param": "account_id"');

      await history.locator('input[name="account_id"]').fill(ACCOUNT);
      await history.locator('input[name="limit"]').fill('2');
      await history.locator('select[name="__format"]').selectOption('csv');
      await history.locator('button[type="submit"]').click();
      await status.filter({ hasText: /^200 / }).waitFor({ timeout: 15_000 });
      const csv = (await history.locator('.result pre.raw').textContent()) ?? '';
      expect(csv.trim().split('\n')).toHaveLength(3);
      expect(csv).toMatch(/^"transaction_id","timestamp"/);
    });

    it('with tokens: asks for one, then lists and runs only what it may call', async () => {
      const secured = await startServer(
        createApp({
          state: new StateHolder({ project, engine: ctx.engine, version: 'v1' }),
          tokens: [{ name: 'limited', value: 'lim-7c1e', scope: 'read', endpoints: ['balance'] }],
        }),
        '127.0.0.1',
        0,
      );
      const tab = await context.newPage();
      const errors: string[] = [];
      tab.on('pageerror', (e) => errors.push(String(e)));
      try {
        expect((await tab.goto(`${secured.url}/`))?.status()).toBe(200);
        expect(await tab.locator('section.endpoint').count()).toBe(0);
        await tab.locator('form.unlock input[name="token"]').fill('lim-7c1e');
        await Promise.all([tab.waitForURL(/\?token=lim-7c1e$/), tab.locator('form.unlock button').click()]);
        expect(await tab.locator('section.endpoint h2').allTextContents()).toEqual(['balance']);
        expect(await tab.locator('#openapi').getAttribute('href')).toBe('/v0/openapi.json?token=lim-7c1e');
        const balance = tab.locator('#ep-balance');
        await balance.locator('input[name="account_id"]').fill(ACCOUNT);
        await balance.locator('button[type="submit"]').click();
        await balance.locator('.result .status').filter({ hasText: /^200 / }).waitFor({ timeout: 15_000 });
        expect(errors, 'no script errors and no CSP violations').toEqual([]);
      } finally {
        await tab.close();
        // The browser keeps a socket open to it: no need to wait the default grace for that.
        await secured.close(100);
      }
    });
  });
});

/**
 * `GET /`: one self-contained HTML page (no external assets) that lists the served endpoints
 * with their descriptions and params, and has a form per endpoint to try it and see the answer.
 * Everything from the project is escaped into the HTML; the script only reads the forms and
 * writes answers with `textContent`. A Content-Security-Policy allows exactly the inline script
 * and style by their hashes, and `fetch` to this origin.
 */
import { createHash } from 'node:crypto';
import { basename } from 'node:path';
import type { Endpoint, Param, Project } from '../project/model.ts';
import { expectedOf, paramType } from '../sql/index.ts';

export interface HomePage {
  html: string;
  /** The Content-Security-Policy header to send with it. */
  csp: string;
}

export interface HomePageOptions {
  version: string;
  /** Tokens are configured: the page has a token field, sent with every request it makes. */
  secured: boolean;
  /**
   * Tokens are configured and the request brought none (`needed`) or an unknown one (`invalid`):
   * the page asks for one instead of listing endpoints (`project`'s are not shown).
   */
  locked?: 'needed' | 'invalid';
}

/**
 * The page for a project (with tokens configured: the endpoints the request's token may call);
 * build once per project version and endpoint set.
 */
export function renderHomePage(project: Project, opts: HomePageOptions): HomePage {
  const endpoints = opts.locked
    ? []
    : [...project.endpoints.values()].sort((a, b) => a.name.localeCompare(b.name));
  const name = project.config.name ?? basename(project.root);
  const html = [
    '<!doctype html>',
    '<html lang="en"><head><meta charset="utf-8">',
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    // No favicon request: the page loads nothing but itself.
    '<link rel="icon" href="data:,">',
    `<title>${esc(name)} · Tally</title>`,
    `<style>${STYLE}</style></head><body>`,
    '<header>',
    `<h1>${esc(name)} <small>Tally endpoints · version ${esc(opts.version)}</small></h1>`,
    '<nav><a id="openapi" href="/v0/openapi.json">OpenAPI</a> · <a href="/health">health</a> · <a href="/metrics">metrics</a></nav>',
    opts.locked ? LOCKED[opts.locked] : '',
    opts.secured && !opts.locked
      ? '<p class="token"><label>Token <input id="token" type="password" autocomplete="off" placeholder="sent as Authorization: Bearer"></label></p>'
      : '',
    `<ul class="toc">${endpoints.map((e) => `<li><a href="#ep-${esc(e.name)}">${esc(e.name)}</a></li>`).join('')}</ul>`,
    '</header><main>',
    opts.locked
      ? ''
      : endpoints.length === 0
        ? opts.secured
          ? '<p>This token may call no endpoints.</p>'
          : '<p>No endpoints are served: add one under <code>endpoints/</code>.</p>'
        : '',
    ...endpoints.map((e) => section(e, project)),
    `</main><script>${SCRIPT}</script></body></html>`,
  ].join('\n');
  return { html, csp: CSP };
}

/** What a page without a usable token shows: a form that loads the page again with one. */
const TOKEN_FORM =
  '<form class="unlock" method="get" action="/"><label>Token <input name="token" type="password" autocomplete="off" required></label> <button type="submit">Show endpoints</button></form>';
const LOCKED = {
  needed: `<p>This server needs a token: the page lists the endpoints yours may call.</p>${TOKEN_FORM}`,
  invalid: `<p class="status error">The token is not valid.</p>${TOKEN_FORM}`,
} as const;

function section(e: Endpoint, project: Project): string {
  const pipe = project.pipes.get(e.pipe);
  const params = pipe ? [...pipe.params.values()] : [];
  const facts = [
    `pipe <code>${esc(e.pipe)}</code>`,
    e.cacheMs !== undefined ? `cache ${e.cacheMs / 1000} s` : '',
    e.maxStalenessMs !== undefined ? `max staleness ${e.maxStalenessMs / 1000} s` : '',
    e.token ? `token <code>${esc(e.token)}</code>` : '',
  ].filter(Boolean);
  const formats = e.formats
    .map((f) => `<option value="${esc(f)}"${f === 'json' ? ' selected' : ''}>${esc(f)}</option>`)
    .join('');
  return [
    `<section class="endpoint" id="ep-${esc(e.name)}">`,
    `<h2>${esc(e.name)}</h2>`,
    e.description ? `<p class="description">${esc(e.description)}</p>` : '',
    `<p class="facts">${facts.join(' · ')}</p>`,
    `<form class="try" data-endpoint="${esc(e.name)}">`,
    params.length > 0
      ? `<table class="params"><thead><tr><th>param</th><th>type</th><th>value</th><th>description</th></tr></thead><tbody>${params.map(paramRow).join('')}</tbody></table>`
      : '<p class="noparams">No params.</p>',
    `<p class="actions"><label>format <select name="__format">${formats}</select></label> `,
    '<button type="submit">Run</button> <a class="url" href="#"></a></p>',
    '</form>',
    '<div class="result" hidden><p class="status"></p><div class="table"></div><pre class="raw"></pre></div>',
    '</section>',
  ].join('\n');
}

function paramRow(p: Param): string {
  const t = paramType(p.type);
  const base = t.kind === 'nullable' ? t.inner : t;
  const placeholder =
    p.default !== undefined ? `default ${JSON.stringify(p.default)}` : p.required ? 'required' : '';
  let input: string;
  if (p.enum && p.enum.length > 0 && base.kind !== 'array') {
    const options = [
      '<option value="">—</option>',
      ...p.enum.map((v) => `<option>${esc(String(v))}</option>`),
    ];
    input = `<select name="${esc(p.name)}">${options.join('')}</select>`;
  } else if (base.kind === 'bool') {
    input = `<select name="${esc(p.name)}"><option value="">—</option><option>true</option><option>false</option></select>`;
  } else {
    const hint = base.kind === 'array' ? 'comma-separated or a JSON array' : placeholder;
    input = `<input name="${esc(p.name)}" placeholder="${esc(hint || placeholder)}" autocomplete="off">`;
  }
  return [
    '<tr>',
    `<td><code>${esc(p.name)}</code>${p.required && p.default === undefined ? ' <span class="req">required</span>' : ''}</td>`,
    `<td><code>${esc(p.type.text)}</code></td>`,
    `<td>${input}</td>`,
    `<td>${esc(p.description ?? '')}<div class="expected">${esc(expectedOf(p))}</div></td>`,
    '</tr>',
  ].join('');
}

function esc(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

const STYLE = `
:root{color-scheme:light dark;font-family:system-ui,sans-serif;line-height:1.4}
body{max-width:72rem;margin:0 auto;padding:1rem 1.5rem}
h1 small{font-size:.55em;font-weight:normal;opacity:.7}
nav a,.toc a{margin-right:.3rem}
.toc{display:flex;flex-wrap:wrap;gap:.3rem 1rem;padding:0;list-style:none}
.endpoint{border-top:1px solid #8884;padding:.5rem 0 1rem}
.facts,.expected{font-size:.85em;opacity:.75}
table{border-collapse:collapse;margin:.4rem 0}
th,td{text-align:left;padding:.2rem .6rem .2rem 0;vertical-align:top}
.result table td,.result table th{border-bottom:1px solid #8883;font-family:ui-monospace,monospace;font-size:.9em}
.req{color:#c33;font-size:.8em}
input,select{font:inherit;min-width:14rem}
pre{background:#8881;padding:.6rem;overflow:auto;max-height:24rem}
.status.error{color:#c33}
`;

const SCRIPT = `
(() => {
  'use strict';
  const tokenInput = document.getElementById('token');
  const openapi = document.getElementById('openapi');
  if (tokenInput) {
    // Arrived through the token form (?token=): every request of the page sends it, as does the
    // OpenAPI link (the document lists what the token may call).
    const given = new URLSearchParams(location.search).get('token');
    if (given && !tokenInput.value) tokenInput.value = given;
    const link = () => {
      openapi.href = '/v0/openapi.json' + (tokenInput.value ? '?token=' + encodeURIComponent(tokenInput.value) : '');
    };
    tokenInput.addEventListener('input', link);
    link();
  }
  function query(form) {
    const qs = new URLSearchParams();
    for (const el of form.elements) {
      if (!el.name || el.name === '__format' || el.value === '') continue;
      qs.append(el.name, el.value);
    }
    const format = form.elements.__format.value;
    const s = qs.toString();
    return '/v0/pipes/' + encodeURIComponent(form.dataset.endpoint) + '.' + format + (s ? '?' + s : '');
  }
  function cell(tag, text) {
    const el = document.createElement(tag);
    el.textContent = text;
    return el;
  }
  function show(result, answer) {
    const table = result.querySelector('.table');
    table.replaceChildren();
    if (!answer || !Array.isArray(answer.meta) || !Array.isArray(answer.data)) return;
    const t = document.createElement('table');
    const head = document.createElement('tr');
    for (const m of answer.meta) head.append(cell('th', m.name));
    t.append(head);
    for (const row of answer.data.slice(0, 200)) {
      const tr = document.createElement('tr');
      for (const m of answer.meta) {
        const v = row[m.name];
        tr.append(cell('td', v !== null && typeof v === 'object' ? JSON.stringify(v) : String(v)));
      }
      t.append(tr);
    }
    table.append(t);
  }
  for (const form of document.querySelectorAll('form.try')) {
    const link = form.querySelector('a.url');
    const update = () => { const u = query(form); link.textContent = 'GET ' + u; link.href = u; };
    form.addEventListener('input', update);
    update();
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      const result = form.parentElement.querySelector('.result');
      const status = result.querySelector('.status');
      const raw = result.querySelector('.raw');
      result.hidden = false;
      status.className = 'status';
      status.textContent = 'running…';
      raw.textContent = '';
      result.querySelector('.table').replaceChildren();
      const url = query(form);
      const headers = {};
      if (tokenInput && tokenInput.value) headers.Authorization = 'Bearer ' + tokenInput.value;
      const t0 = performance.now();
      try {
        const res = await fetch(url, { headers });
        const text = await res.text();
        const ms = Math.round(performance.now() - t0);
        const fresh = res.headers.get('x-tally-freshness');
        const cache = res.headers.get('x-tally-cache');
        status.textContent = res.status + ' ' + res.statusText + ' · ' + ms + ' ms' +
          (fresh ? ' · freshness ' + fresh + (fresh === 'unknown' ? '' : ' s') : '') + (cache ? ' · cache ' + cache : '');
        if (!res.ok) status.className = 'status error';
        let answer;
        if ((res.headers.get('content-type') || '').includes('application/json')) {
          try { answer = JSON.parse(text); } catch { answer = undefined; }
        }
        if (answer && res.ok) {
          show(result, answer);
          status.textContent += ' · ' + answer.rows + ' row' + (answer.rows === 1 ? '' : 's');
        }
        raw.textContent = answer ? JSON.stringify(answer, null, 2) : text;
      } catch (err) {
        status.className = 'status error';
        status.textContent = 'request failed: ' + err;
      }
    });
  }
})();
`;

function hash(s: string): string {
  return `'sha256-${createHash('sha256').update(s).digest('base64')}'`;
}

const CSP = [
  "default-src 'none'",
  `script-src ${hash(SCRIPT)}`,
  `style-src ${hash(STYLE)}`,
  "connect-src 'self'",
  "img-src 'self' data:",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

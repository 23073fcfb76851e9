import { afterAll, describe, expect, it } from 'vitest';
import { loadProjectOrThrow } from '../../../src/project/load-project.ts';
import { renderHomePage } from '../../../src/server/home-page.ts';
import { removeProjects, writeProject } from '../project/write-project.ts';

afterAll(removeProjects);

describe('home page', () => {
  it('escapes everything that comes from the project, and allows only its own script by hash', () => {
    const dir = writeProject({
      'datasources/t.datasource.yaml':
        'columns:\n  - { name: id, type: String }\nengine: { sorting_key: [id] }\n',
      'pipes/p.pipe.yaml': [
        'params:',
        '  who: { type: String, description: "<img src=x onerror=alert(1)> & \\"quotes\\"" }',
        '  flag: { type: Boolean }',
        '  kind: { type: String, enum: ["<b>", "a\'b"] }',
        'nodes:',
        '  - name: x',
        '    sql: SELECT id FROM t',
      ].join('\n'),
      'endpoints/p.endpoint.yaml': 'pipe: p\ndescription: "</script><script>alert(2)</script>"\n',
    });
    const page = renderHomePage(loadProjectOrThrow(dir, { env: {} }), { version: 'v<1>', secured: true });
    expect(page.html).not.toContain('<img');
    expect(page.html).not.toContain('<script>alert');
    expect(page.html).toContain('&#60;img src=x onerror=alert(1)&#62; &#38; &#34;quotes&#34;');
    expect(page.html).toContain('<option>&#60;b&#62;</option><option>a&#39;b</option>');
    expect(page.html).toContain('id="token"');
    expect(page.html.match(/<script>/g)).toHaveLength(1);
    expect(page.csp).toMatch(/script-src 'sha256-[A-Za-z0-9+/=]+'/);
    expect(page.csp).toContain("default-src 'none'");
    expect(page.html).not.toMatch(/(src|href)="(https?:)?\/\//);
  });

  it('asks for a token instead of listing endpoints when locked, and says when a token may call none', () => {
    const dir = writeProject({
      'datasources/t.datasource.yaml':
        'columns:\n  - { name: id, type: String }\nengine: { sorting_key: [id] }\n',
      'pipes/secret_pipe.pipe.yaml': 'nodes:\n  - name: x\n    sql: SELECT id FROM t\n',
      'endpoints/secret_pipe.endpoint.yaml': 'pipe: secret_pipe\ndescription: internal numbers\n',
    });
    const project = loadProjectOrThrow(dir, { env: {} });
    const needed = renderHomePage(project, { version: 'v1', secured: true, locked: 'needed' });
    expect(needed.html).toContain('<form class="unlock" method="get" action="/">');
    expect(needed.html).not.toContain('secret_pipe');
    expect(needed.html).not.toContain('internal numbers');
    expect(needed.html).not.toContain('id="token"');
    const invalid = renderHomePage(project, { version: 'v1', secured: true, locked: 'invalid' });
    expect(invalid.html).toContain('The token is not valid.');
    expect(invalid.html).not.toContain('secret_pipe');
    const none = renderHomePage({ ...project, endpoints: new Map() }, { version: 'v1', secured: true });
    expect(none.html).toContain('This token may call no endpoints.');
    expect(none.html).toContain('id="token"');
    const open = renderHomePage(project, { version: 'v1', secured: false });
    expect(open.html).toContain('id="ep-secret_pipe"');
    expect(open.html).not.toContain('id="token"');
    // The same one script everywhere, allowed by its hash.
    expect(new Set([needed.csp, invalid.csp, none.csp, open.csp]).size).toBe(1);
  });
});

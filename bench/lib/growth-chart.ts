import type { GrowthPoint } from './result-schema.ts';

/**
 * The growth curves as an SVG, written by hand (no charting dependency): ingest rate and
 * endpoint p50 latency against the data size, Tally (solid) beside the raw engine (dashed), one
 * color per back end. Both axes are logarithmic, so "10x the data" is one step to the right and
 * a line's slope shows how cost grows with the work.
 */
export function growthChart(points: readonly GrowthPoint[], subtitle: string): string {
  const width = 960;
  const height = 430;
  const panels = [
    {
      title: 'Ingest rate (rows/s, higher is better)',
      x0: 0,
      series: seriesOf(
        points,
        (p) => p.ingest.tallyRowsPerS,
        (p) => p.ingest.rawRowsPerS,
      ),
      unit: 'rows/s',
    },
    {
      title: 'balance endpoint p50 latency (ms, lower is better)',
      x0: width / 2,
      series: seriesOf(
        points,
        (p) => p.latency.tallyP50Ms,
        (p) => p.latency.rawP50Ms,
      ),
      unit: 'ms',
    },
  ];
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="Helvetica, Arial, sans-serif" font-size="12">`,
    `<title>Growth: ingest rate and endpoint p50 latency at 1x, 10x, 100x the data (${esc(subtitle)})</title>`,
    `<rect width="${width}" height="${height}" fill="#ffffff"/>`,
    `<text x="${width / 2}" y="22" text-anchor="middle" font-size="15" font-weight="bold">Growth: cost at 1x, 10x and 100x the data</text>`,
    `<text x="${width / 2}" y="40" text-anchor="middle" fill="#555555">${esc(subtitle)}</text>`,
  ];
  const sizes = [...new Set(points.map((p) => p.events))].sort((a, b) => a - b);
  for (const panel of panels) parts.push(drawPanel(panel, sizes));
  parts.push(legend(width, height));
  parts.push('</svg>');
  return `${parts.join('\n')}\n`;
}

interface Series {
  backend: string;
  side: 'Tally' | 'raw engine';
  points: Array<{ x: number; y: number }>;
}

const COLORS: Record<string, string> = { server: '#1f5fa8', embedded: '#c2410c' };

function seriesOf(
  points: readonly GrowthPoint[],
  tally: (p: GrowthPoint) => number,
  raw: (p: GrowthPoint) => number,
): Series[] {
  const out: Series[] = [];
  for (const backend of ['server', 'embedded']) {
    const mine = points.filter((p) => p.backend === backend).sort((a, b) => a.events - b.events);
    if (mine.length === 0) continue;
    out.push({ backend, side: 'Tally', points: mine.map((p) => ({ x: p.events, y: tally(p) })) });
    out.push({ backend, side: 'raw engine', points: mine.map((p) => ({ x: p.events, y: raw(p) })) });
  }
  return out;
}

function drawPanel(
  panel: { title: string; x0: number; series: Series[]; unit: string },
  sizes: readonly number[],
): string {
  const left = panel.x0 + 75;
  const right = panel.x0 + 455;
  const top = 70;
  const bottom = 340;
  const ys = panel.series.flatMap((s) => s.points.map((p) => p.y)).filter((y) => y > 0 && Number.isFinite(y));
  const out: string[] = [
    `<text x="${(left + right) / 2}" y="${top - 12}" text-anchor="middle" font-weight="bold">${esc(panel.title)}</text>`,
    `<rect x="${left}" y="${top}" width="${right - left}" height="${bottom - top}" fill="none" stroke="#999999"/>`,
  ];
  if (ys.length === 0 || sizes.length === 0) {
    out.push(
      `<text x="${(left + right) / 2}" y="${(top + bottom) / 2}" text-anchor="middle">no figures</text>`,
    );
    return out.join('\n');
  }
  const yLo = Math.floor(Math.log10(Math.min(...ys)));
  const yHi = Math.max(yLo + 1, Math.ceil(Math.log10(Math.max(...ys))));
  const xLo = Math.log10(sizes[0]!);
  const xHi = Math.max(xLo + 1, Math.log10(sizes.at(-1)!));
  const px = (x: number) => left + 30 + ((Math.log10(x) - xLo) / (xHi - xLo)) * (right - left - 60);
  const py = (y: number) => bottom - ((Math.log10(y) - yLo) / (yHi - yLo)) * (bottom - top);
  // Grid: every power of ten, and 2 and 5 between them when the range is short.
  for (let d = yLo; d <= yHi; d++) {
    for (const m of yHi - yLo <= 2 ? [1, 2, 5] : [1]) {
      const v = m * 10 ** d;
      if (Math.log10(v) > yHi + 1e-9) continue;
      const y = py(v).toFixed(1);
      out.push(
        `<line x1="${left}" y1="${y}" x2="${right}" y2="${y}" stroke="${m === 1 ? '#dddddd' : '#f0f0f0'}"/>`,
        `<text x="${left - 6}" y="${y}" text-anchor="end" dominant-baseline="middle" fill="#444444">${esc(short(v))}</text>`,
      );
    }
  }
  const first = sizes[0]!;
  for (const s of sizes) {
    const x = px(s).toFixed(1);
    out.push(
      `<line x1="${x}" y1="${top}" x2="${x}" y2="${bottom}" stroke="#eeeeee"/>`,
      `<text x="${x}" y="${bottom + 16}" text-anchor="middle" fill="#444444">${esc(short(s))} events</text>`,
      `<text x="${x}" y="${bottom + 30}" text-anchor="middle" fill="#777777">${Math.round(s / first)}x</text>`,
    );
  }
  for (const s of panel.series) {
    const color = COLORS[s.backend] ?? '#333333';
    const pts = s.points.filter((p) => p.y > 0 && Number.isFinite(p.y));
    const path = pts.map((p) => `${px(p.x).toFixed(1)},${py(p.y).toFixed(1)}`).join(' ');
    const dash = s.side === 'Tally' ? '' : ' stroke-dasharray="6 4"';
    out.push(`<polyline points="${path}" fill="none" stroke="${color}" stroke-width="2"${dash}/>`);
    for (const p of pts) {
      const cx = px(p.x).toFixed(1);
      const cy = py(p.y).toFixed(1);
      out.push(
        s.side === 'Tally'
          ? `<circle cx="${cx}" cy="${cy}" r="4" fill="${color}"><title>${esc(`${s.side}, ${s.backend}, ${p.x} events: ${label(p.y)} ${panel.unit}`)}</title></circle>`
          : `<rect x="${Number(cx) - 4}" y="${Number(cy) - 4}" width="8" height="8" fill="#ffffff" stroke="${color}" stroke-width="2"><title>${esc(`${s.side}, ${s.backend}, ${p.x} events: ${label(p.y)} ${panel.unit}`)}</title></rect>`,
      );
    }
  }
  return out.join('\n');
}

function legend(width: number, height: number): string {
  const items: Array<{ backend: string; side: string }> = [
    { backend: 'server', side: 'Tally' },
    { backend: 'server', side: 'raw engine' },
    { backend: 'embedded', side: 'Tally' },
    { backend: 'embedded', side: 'raw engine' },
  ];
  const y = height - 28;
  const step = 232;
  let x = width / 2 - (step * items.length) / 2 + 10;
  const out: string[] = [];
  for (const it of items) {
    const color = COLORS[it.backend]!;
    const dash = it.side === 'Tally' ? '' : ' stroke-dasharray="6 4"';
    out.push(
      `<line x1="${x}" y1="${y}" x2="${x + 30}" y2="${y}" stroke="${color}" stroke-width="2"${dash}/>`,
    );
    out.push(
      `<text x="${x + 38}" y="${y}" dominant-baseline="middle">${esc(`${it.side}, ${it.backend === 'server' ? 'ClickHouse server' : 'embedded chDB'}`)}</text>`,
    );
    x += step;
  }
  return out.join('\n');
}

/** 1000 -> 1k, 2000000 -> 2M, 0.5 -> 0.5. */
function short(v: number): string {
  if (v >= 1e6) return `${trim(v / 1e6)}M`;
  if (v >= 1e3) return `${trim(v / 1e3)}k`;
  return trim(v);
}

function trim(v: number): string {
  return String(Number(v.toPrecision(3)));
}

function label(v: number): string {
  return v >= 100 ? Math.round(v).toLocaleString('en-US') : v.toFixed(2);
}

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

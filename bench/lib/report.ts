/** The result table, the machine it ran on, and the CDF chart (hand-written SVG). */
import { cpus, loadavg, release, totalmem } from 'node:os';
import { readFileSync } from 'node:fs';
import type { Row } from '../scenarios/types.js';
import { cdfPoints, percentile } from './util.js';

export interface MachineFacts {
  cpuModel: string;
  cores: number;
  ramGb: number;
  node: string;
  kernel: string;
  date: string;
  loadAverage: number[];
}

export function machineFacts(): MachineFacts {
  let cpuModel = 'unknown';
  try {
    cpuModel = /^model name\s*:\s*(.+)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1]?.trim() ?? cpuModel;
  } catch {
    // not Linux
  }
  return {
    cpuModel,
    cores: cpus().length,
    ramGb: Math.round((totalmem() / 1024 ** 3) * 10) / 10,
    node: process.version,
    kernel: release(),
    date: new Date().toISOString(),
    loadAverage: loadavg().map((l) => Math.round(l * 100) / 100),
  };
}

export function formatValue(v: number | null, unit: string): string {
  if (v === null) return '—';
  let s: string;
  if (unit === 'ms') s = v < 10 ? v.toFixed(2) : v < 100 ? v.toFixed(1) : v.toFixed(0);
  else if (unit === 's') s = v.toFixed(2);
  else if (unit === 'MB' || unit === 'KB') s = v.toFixed(1);
  else if (Number.isInteger(v)) s = v.toLocaleString('en-US');
  else s = v < 10 ? v.toFixed(2) : Math.round(v).toLocaleString('en-US');
  return unit && unit !== '' ? `${s} ${unit}` : s;
}

const formatRatio = (r: number | null) => (r === null ? '' : `${r < 10 ? r.toFixed(2) : r.toFixed(1)}×`);

/** Plain-text table; `markdown` gives the same as a Markdown table. */
export function formatTable(rows: Row[], markdown = false): string {
  const header = ['scenario', 'metric', 'Patternwire', 'baseline', 'ratio', 'target', 'met?'];
  const body = rows.map((r) => [
    r.scenario,
    r.metric,
    formatValue(r.patternwire, r.unit),
    r.baseline === null ? '' : formatValue(r.baseline, r.unit),
    formatRatio(r.ratio),
    r.target,
    r.met === null ? '' : r.met ? 'yes' : 'NO',
  ]);
  if (markdown) {
    return [header, header.map(() => '---'), ...body].map((cells) => `| ${cells.join(' | ')} |`).join('\n');
  }
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const numeric = new Set([2, 3, 4]);
  const line = (cells: string[]) =>
    cells.map((c, i) => (numeric.has(i) ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join('  ');
  const out = [line(header), widths.map((w) => '─'.repeat(w)).join('  ')];
  let last = '';
  for (const cells of body) {
    if (cells[0] !== last && last !== '') out.push('');
    out.push(line(cells[0] === last ? ['', ...cells.slice(1)] : cells));
    last = cells[0]!;
  }
  return out.join('\n');
}

// ---------------------------------------------------------------------------------------------
// CDF chart

export interface Curve {
  label: string;
  color: string;
  sorted: Float64Array;
}

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** Latency CDFs on one chart: x = latency (ms, log scale), y = fraction of deliveries ≤ x. */
export function cdfSvg(curves: Curve[], title: string, subtitle: string, targets: { ms: number; label: string }[] = []): string {
  const W = 900;
  const m = { left: 70, right: 30, top: 70, bottom: 76 + curves.length * 20 + 24 };
  const H = 470 + m.bottom;
  const pw = W - m.left - m.right;
  const ph = H - m.top - m.bottom;
  const all = curves.filter((c) => c.sorted.length > 0);
  const lo = Math.max(0.01, Math.min(...all.map((c) => c.sorted[0]!)));
  const hi = Math.max(...all.map((c) => c.sorted[c.sorted.length - 1]!), ...targets.map((t) => t.ms));
  const x0 = Math.floor(Math.log10(lo));
  const x1 = Math.max(x0 + 1, Math.ceil(Math.log10(hi)));
  const sx = (v: number) => m.left + ((Math.log10(Math.max(v, 10 ** x0)) - x0) / (x1 - x0)) * pw;
  const sy = (f: number) => m.top + (1 - f) * ph;
  const parts: string[] = [];
  parts.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="Helvetica, Arial, sans-serif" font-size="12">`,
  );
  parts.push(`<rect width="${W}" height="${H}" fill="#ffffff"/>`);
  parts.push(`<text x="${W / 2}" y="28" text-anchor="middle" font-size="17" font-weight="bold">${esc(title)}</text>`);
  parts.push(`<text x="${W / 2}" y="48" text-anchor="middle" font-size="12" fill="#555">${esc(subtitle)}</text>`);

  // Grid and axes.
  for (let k = 0; k <= 10; k++) {
    const f = k / 10;
    const y = sy(f);
    parts.push(`<line x1="${m.left}" y1="${y}" x2="${m.left + pw}" y2="${y}" stroke="${k % 5 ? '#eeeeee' : '#dddddd'}"/>`);
    parts.push(`<text x="${m.left - 8}" y="${y + 4}" text-anchor="end" fill="#333">${f.toFixed(1)}</text>`);
  }
  for (let e = x0; e <= x1; e++) {
    for (const mult of [1, 2, 5]) {
      const v = mult * 10 ** e;
      if (v < 10 ** x0 || v > 10 ** x1) continue;
      const x = sx(v);
      parts.push(`<line x1="${x}" y1="${m.top}" x2="${x}" y2="${m.top + ph}" stroke="${mult === 1 ? '#dddddd' : '#f0f0f0'}"/>`);
      const label = v >= 1 ? String(v) : v.toFixed(-e);
      parts.push(`<text x="${x}" y="${m.top + ph + 18}" text-anchor="middle" fill="#333">${label}</text>`);
    }
  }
  parts.push(`<rect x="${m.left}" y="${m.top}" width="${pw}" height="${ph}" fill="none" stroke="#888"/>`);
  parts.push(
    `<text x="${m.left + pw / 2}" y="${m.top + ph + 42}" text-anchor="middle" font-size="13">latency, publish → graphql-ws receive (ms, log scale)</text>`,
  );
  parts.push(
    `<text transform="translate(20 ${m.top + ph / 2}) rotate(-90)" text-anchor="middle" font-size="13">fraction of deliveries ≤ x</text>`,
  );

  // Curves (steps), with their p50 and p99 marked.
  for (const c of all) {
    const pts = cdfPoints(c.sorted, 600);
    let d = `M${sx(pts[0]![0]).toFixed(1)},${sy(0).toFixed(1)}`;
    let prevY = 0;
    for (const [x, f] of pts) {
      d += ` L${sx(x).toFixed(1)},${sy(prevY).toFixed(1)} L${sx(x).toFixed(1)},${sy(f).toFixed(1)}`;
      prevY = f;
    }
    parts.push(`<path d="${d}" fill="none" stroke="${c.color}" stroke-width="2"/>`);
    for (const p of [50, 99]) {
      const v = percentile(c.sorted, p)!;
      parts.push(`<circle cx="${sx(v).toFixed(1)}" cy="${sy(p / 100).toFixed(1)}" r="4" fill="${c.color}" stroke="#fff"/>`);
    }
  }

  for (const t of targets) {
    const x = sx(t.ms);
    parts.push(
      `<line x1="${x}" y1="${m.top}" x2="${x}" y2="${m.top + ph}" stroke="#c0392b" stroke-dasharray="5 4" stroke-width="1.2"/>`,
    );
    parts.push(
      `<text transform="translate(${x + 13} ${m.top + 8}) rotate(90)" fill="#c0392b" font-size="11" stroke="#ffffff" stroke-width="3" paint-order="stroke">${esc(t.label)}</text>`,
    );
  }

  // Legend, under the plot.
  const lx = m.left + 8;
  let ly = m.top + ph + 72;
  parts.push(
    `<rect x="${m.left}" y="${ly - 16}" width="${pw}" height="${all.length * 20 + 24}" fill="#fafafa" stroke="#cccccc"/>`,
  );
  for (const c of all) {
    const p50 = percentile(c.sorted, 50)!;
    const p99 = percentile(c.sorted, 99)!;
    parts.push(`<line x1="${lx}" y1="${ly - 4}" x2="${lx + 24}" y2="${ly - 4}" stroke="${c.color}" stroke-width="3"/>`);
    parts.push(
      `<text x="${lx + 32}" y="${ly}">${esc(`${c.label}: p50 ${fmt(p50)} ms, p99 ${fmt(p99)} ms (${c.sorted.length.toLocaleString('en-US')} deliveries)`)}</text>`,
    );
    ly += 20;
  }
  parts.push(`<text x="${lx}" y="${ly}" fill="#666" font-size="11">dots: p50 and p99 of each curve</text>`);
  parts.push('</svg>');
  return parts.join('\n') + '\n';
}

const fmt = (v: number) => (v < 10 ? v.toFixed(2) : v.toFixed(1));

/** All runs' latencies of one system as one ascending array. */
export function pooled(arrays: Float64Array[]): Float64Array {
  const out = new Float64Array(arrays.reduce((n, a) => n + a.length, 0));
  let at = 0;
  for (const a of arrays) {
    out.set(a, at);
    at += a.length;
  }
  return out.sort();
}

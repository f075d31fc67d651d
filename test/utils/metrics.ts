/** Reading what a `/metrics` endpoint says, for assertions. */

/** Samples by series (`name{a="x",b="y"}`, labels sorted; `name` alone without labels), and the families' types. */
export interface Scrape {
  samples: Map<string, number>;
  /** `# TYPE` lines: family name → counter, gauge, histogram, … */
  types: Map<string, string>;
  text: string;
}

/** The series key of `name` with `labels`, as `parseMetrics` builds them. */
export function series(name: string, labels: Record<string, string | number> = {}): string {
  const parts = Object.entries(labels)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([k, v]) => `${k}="${v}"`);
  return parts.length ? `${name}{${parts.join(',')}}` : name;
}

/** Prometheus text format 0.0.4, as far as these tests need it (no escapes in label values). */
export function parseMetrics(text: string): Scrape {
  const samples = new Map<string, number>();
  const types = new Map<string, string>();
  for (const line of text.split('\n')) {
    if (line.startsWith('# TYPE ')) {
      const [, , name, type] = line.split(' ');
      types.set(name!, type!);
      continue;
    }
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)$/.exec(line);
    if (!m) throw new Error(`not a sample line: ${line}`);
    const labels: Record<string, string> = {};
    for (const [, k, v] of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="([^"]*)"/g)) labels[k!] = v!;
    samples.set(series(m[1]!, labels), Number(m[3]));
  }
  return { samples, types, text };
}

/** Every sample and family name a scrape exports (`x_bucket`, `x_sum`, `x_count` and `x` for a histogram). */
export function exportedNames(scrape: Scrape): Set<string> {
  const names = new Set(scrape.types.keys());
  for (const key of scrape.samples.keys()) names.add(key.split('{')[0]!);
  return names;
}

export async function scrape(url: string, token?: string): Promise<Scrape> {
  const res = await fetch(url, { headers: token ? { authorization: `Bearer ${token}` } : {} });
  if (res.status !== 200) throw new Error(`${url} answered ${res.status}: ${(await res.text()).slice(0, 300)}`);
  return parseMetrics(await res.text());
}

/** The sum of every sample of `name` whose labels include `labels`. */
export function sumOf(s: Scrape, name: string, labels: Record<string, string> = {}): number {
  let total = 0;
  for (const [key, value] of s.samples) {
    if (key !== name && !key.startsWith(`${name}{`)) continue;
    if (Object.entries(labels).every(([k, v]) => key.includes(`${k}="${v}"`))) total += value;
  }
  return total;
}

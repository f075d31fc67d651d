/**
 * The layering rule of `src/` (docs/architecture.md): a room may import from its own room and
 * from rooms on a lower floor, never from a higher floor or from another room on its own floor.
 * Run by `npm run check`; exits 1 naming every import that breaks the rule.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** Floor of each room, ground floor first. A room is a folder under src/ (or src/workers/<role>). */
export const FLOORS: Record<string, number> = {
  lib: 0,
  config: 1,
  schema: 2,
  domain: 3,
  client: 3,
  db: 4,
  redis: 4,
  pubsub: 5,
  auth: 5,
  queues: 5,
  notifications: 5,
  'workers/ingest': 6,
  'workers/store': 6,
  'workers/notify': 6,
  api: 6,
  runtime: 7,
  // src/cli.ts and src/demo.ts: the executable.
  '.': 8,
};

/** The room of a path relative to src/. */
export function roomOf(file: string): string {
  const parts = file.split('/');
  if (parts.length === 1) return '.';
  if (parts[0] === 'workers' && parts.length > 2) return `workers/${parts[1]}`;
  return parts[0]!;
}

export interface Violation {
  file: string;
  imports: string;
  why: string;
}

/** Checks `imports` (file → relative specifiers it imports), all paths relative to src/. */
export function checkLayers(imports: Map<string, string[]>): Violation[] {
  const out: Violation[] = [];
  for (const [file, specifiers] of imports) {
    const from = roomOf(file);
    for (const spec of specifiers) {
      const target = path.posix.normalize(path.posix.join(path.posix.dirname(file), spec));
      if (target.startsWith('..')) {
        out.push({ file, imports: spec, why: 'reaches outside src/' });
        continue;
      }
      const to = roomOf(target);
      if (to === from) continue;
      const a = FLOORS[from];
      const b = FLOORS[to];
      if (a === undefined || b === undefined) {
        out.push({ file, imports: spec, why: `room "${a === undefined ? from : to}" has no floor in scripts/check-layers.ts` });
      } else if (b > a) {
        out.push({ file, imports: spec, why: `${from} (floor ${a}) imports ${to} (floor ${b}), a higher floor` });
      } else if (b === a) {
        out.push({ file, imports: spec, why: `${from} imports ${to}, another room on the same floor (${a})` });
      }
    }
  }
  return out;
}

const IMPORT = /(?:^|\n)\s*(?:import|export)\s[^;]*?from\s+['"](\.{1,2}\/[^'"]+)['"]|import\(\s*['"](\.{1,2}\/[^'"]+)['"]\s*\)/g;

export function readImports(srcDir: string): Map<string, string[]> {
  const files = (readdirSync(srcDir, { recursive: true }) as string[]).filter((f) => f.endsWith('.ts'));
  const imports = new Map<string, string[]>();
  for (const f of files) {
    const text = readFileSync(path.join(srcDir, f), 'utf8');
    imports.set(
      f.split(path.sep).join('/'),
      [...text.matchAll(IMPORT)].map((m) => (m[1] ?? m[2])!),
    );
  }
  return imports;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const src = fileURLToPath(new URL('../src', import.meta.url));
  const violations = checkLayers(readImports(src));
  for (const v of violations) console.error(`src/${v.file}: imports '${v.imports}': ${v.why}`);
  if (violations.length > 0) process.exit(1);
  console.log('layers: every import goes to the same room or a lower floor');
}

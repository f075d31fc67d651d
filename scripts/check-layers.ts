/**
 * The layering rule of `src/` (docs/architecture.md): a room may import from its own room and
 * from rooms on a lower floor, never from a higher floor or from another room on its own floor.
 * And the dashboard's (`web/`): it is built for the browser, so it may import `src/client` and
 * `src/schema` and no server room, and whatever the browser runs (web/src and every module of
 * src/ it reaches by a value import) may import only BROWSER_PACKAGES.
 * Run by `npm run check`; exits 1 naming every import that breaks the rule.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** Floor of each room, ground floor first. A room is a folder under src/ (or src/workers/<role>). */
export const FLOORS: Record<string, number> = {
  lib: 0,
  config: 1,
  // Every role counts into the metrics, so they sit low; they import only lib/ and schema/ (its enums).
  metrics: 3,
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

/** Rooms of src/ that web/ may import: the browser-safe ones. */
export const WEB_MAY_IMPORT: readonly string[] = ['client', 'schema'];
/** Packages a module that runs in the browser may import (with their subpaths: `preact/hooks`). */
export const BROWSER_PACKAGES: readonly string[] = ['preact', 'graphql-ws'];

export interface ModuleImport {
  specifier: string;
  /** `import type …` / `export type …`: erased, so nothing of it runs in the browser. */
  typeOnly: boolean;
}

const MODULE_IMPORT =
  /(?:^|\n)\s*(import|export)\s+(type\s+)?(?:[^;'"]*?\sfrom\s+)?['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/g;

/** Every import of a module's text, relative or bare. */
export function parseImports(text: string): ModuleImport[] {
  return [...text.matchAll(MODULE_IMPORT)].map((m) => ({ specifier: (m[3] ?? m[4])!, typeOnly: m[2] !== undefined }));
}

/** The package of a bare specifier: `preact/hooks` → `preact`, `@scope/pkg/x` → `@scope/pkg`. */
function packageOf(specifier: string): string {
  const parts = specifier.split('/');
  return specifier.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0]!;
}

/**
 * Checks the modules under web/ (paths relative to the repository root, `web/src/app.tsx`).
 * `importsOf` gives any module's imports (web/ and src/ alike); relative specifiers ending in
 * `.js` name the `.ts`/`.tsx` source, which `importsOf` is given.
 */
export function checkWeb(webFiles: readonly string[], importsOf: (file: string) => ModuleImport[]): Violation[] {
  const out: Violation[] = [];
  const browserModules: string[] = [];
  const seen = new Set<string>();
  const runsInBrowser = (file: string) => {
    if (seen.has(file)) return;
    seen.add(file);
    browserModules.push(file);
  };
  for (const file of webFiles) {
    const shipped = file.startsWith('web/src/');
    if (shipped) runsInBrowser(file);
    for (const { specifier, typeOnly } of importsOf(file)) {
      if (!specifier.startsWith('.')) continue;
      const target = path.posix.normalize(path.posix.join(path.posix.dirname(file), specifier));
      if (target.startsWith('web/')) continue;
      if (!target.startsWith('src/')) {
        out.push({ file, imports: specifier, why: 'reaches outside web/ and src/' });
        continue;
      }
      const room = roomOf(target.slice('src/'.length));
      if (!WEB_MAY_IMPORT.includes(room)) {
        out.push({
          file,
          imports: specifier,
          why: `web/ imports src/${room}, a server room (it may import ${WEB_MAY_IMPORT.map((r) => `src/${r}`).join(' and ')})`,
        });
      } else if (shipped && !typeOnly) runsInBrowser(target);
    }
  }
  // What the browser runs, followed through value imports into src/.
  for (let i = 0; i < browserModules.length; i++) {
    const file = browserModules[i]!;
    for (const { specifier, typeOnly } of importsOf(file)) {
      if (typeOnly) continue;
      if (specifier.startsWith('.')) {
        const target = path.posix.normalize(path.posix.join(path.posix.dirname(file), specifier));
        if (target.startsWith('src/') || target.startsWith('web/src/')) runsInBrowser(target);
      } else if (!BROWSER_PACKAGES.includes(packageOf(specifier))) {
        out.push({
          file,
          imports: specifier,
          why: `runs in the browser (the dashboard's build), where only ${BROWSER_PACKAGES.join(', ')} may be imported`,
        });
      }
    }
  }
  return out;
}

/** Reads a module by its specifier's path (`x.js` is the source `x.ts` or `x.tsx`); a CSS file or anything else has no imports. */
export function moduleReader(root: string): (file: string) => ModuleImport[] {
  return (file) => {
    const base = file.replace(/\.js$/, '');
    for (const candidate of [file, `${base}.ts`, `${base}.tsx`]) {
      if (!/\.tsx?$/.test(candidate)) continue;
      try {
        return parseImports(readFileSync(path.join(root, candidate), 'utf8'));
      } catch {
        // Not this one.
      }
    }
    return [];
  };
}

export function webFiles(root: string): string[] {
  return (readdirSync(path.join(root, 'web'), { recursive: true }) as string[])
    .map((f) => `web/${f.split(path.sep).join('/')}`)
    .filter((f) => /\.tsx?$/.test(f));
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const root = fileURLToPath(new URL('..', import.meta.url));
  const violations = checkLayers(readImports(path.join(root, 'src'))).map((v) => ({ ...v, file: `src/${v.file}` }));
  violations.push(...checkWeb(webFiles(root), moduleReader(root)));
  for (const v of violations) console.error(`${v.file}: imports '${v.imports}': ${v.why}`);
  if (violations.length > 0) process.exit(1);
  console.log('layers: every import goes to the same room or a lower floor; web/ imports only browser-safe modules');
}

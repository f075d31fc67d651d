import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import {
  checkLayers,
  checkWeb,
  moduleReader,
  parseImports,
  readImports,
  webFiles,
  type ModuleImport,
} from '../../scripts/check-layers.js';

describe('the layering check', () => {
  it('passes on the tree as it is', () => {
    expect(checkLayers(readImports(fileURLToPath(new URL('../../src', import.meta.url))))).toEqual([]);
  });

  it('names an import from a higher floor, from a sibling room, and out of src', () => {
    const found = checkLayers(
      new Map([
        ['lib/logger.ts', ['../config/env.js', './timeout.js']],
        ['api/server.ts', ['../workers/store/processor.js', '../db/client.js']],
        ['workers/ingest/job-intake.ts', ['../store/processor.js']],
        ['domain/inbound.ts', ['../../test/utils/env.js']],
      ]),
    );
    expect(found.map((v) => `${v.file} → ${v.imports}`)).toEqual([
      'lib/logger.ts → ../config/env.js',
      'api/server.ts → ../workers/store/processor.js',
      'workers/ingest/job-intake.ts → ../store/processor.js',
      'domain/inbound.ts → ../../test/utils/env.js',
    ]);
  });
});

describe("the dashboard's layering (web/)", () => {
  const root = fileURLToPath(new URL('../../', import.meta.url));

  it('passes on the tree as it is, and follows web/src into src/', () => {
    const read = moduleReader(root);
    const reached: string[] = [];
    const violations = checkWeb(webFiles(root), (file) => {
      reached.push(file);
      return read(file);
    });
    expect(violations).toEqual([]);
    expect(reached).toContain('src/client/alert-client.js');
  });

  it('reads value, type-only, side-effect and dynamic imports', () => {
    expect(
      parseImports(
        `import { a, type B } from './a.js';\nimport type { C } from "../c.js";\nimport './side.css';\nexport { d } from 'preact/hooks';\nconst e = await import('./e.js');\nimport {\n  f,\n} from '@scope/pkg/sub';`,
      ),
    ).toEqual([
      { specifier: './a.js', typeOnly: false },
      { specifier: '../c.js', typeOnly: true },
      { specifier: './side.css', typeOnly: false },
      { specifier: 'preact/hooks', typeOnly: false },
      { specifier: './e.js', typeOnly: false },
      { specifier: '@scope/pkg/sub', typeOnly: false },
    ]);
  });

  it('names a server room imported by web/, a server package reached from web/src, and a reach outside', () => {
    const modules = new Map<string, ModuleImport[]>([
      [
        'web/src/app.tsx',
        [
          { specifier: 'preact/hooks', typeOnly: false },
          { specifier: '../../src/api/dashboard.js', typeOnly: true },
          { specifier: '../../src/client/x.js', typeOnly: false },
          { specifier: '../../src/schema/db.js', typeOnly: true },
          { specifier: '../../test/utils/env.js', typeOnly: false },
        ],
      ],
      // Reached from web/src by a value import: runs in the browser.
      [
        'src/client/x.js',
        [
          { specifier: '../schema/y.js', typeOnly: false },
          { specifier: 'graphql-ws', typeOnly: false },
        ],
      ],
      [
        'src/schema/y.js',
        [
          { specifier: 'zod', typeOnly: false },
          { specifier: 'node:fs', typeOnly: true },
        ],
      ],
      // Tests and the build's config are not shipped: packages are theirs to choose.
      ['web/test/a.test.ts', [{ specifier: 'vitest', typeOnly: false }]],
      ['web/vite.config.ts', [{ specifier: 'vite', typeOnly: false }]],
    ]);
    const found = checkWeb(
      [...modules.keys()].filter((f) => f.startsWith('web/')),
      (f) => modules.get(f) ?? [],
    );
    expect(found.map((v) => `${v.file} → ${v.imports}`)).toEqual([
      'web/src/app.tsx → ../../src/api/dashboard.js',
      'web/src/app.tsx → ../../test/utils/env.js',
      'src/schema/y.js → zod',
    ]);
    expect(found[0]!.why).toMatch(/server room/);
    expect(found[2]!.why).toMatch(/runs in the browser/);
  });
});

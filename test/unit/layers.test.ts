import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { checkLayers, readImports } from '../../scripts/check-layers.js';

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

import { createRequire } from 'node:module';
import { GraphQLError } from 'graphql';
import { expect, it } from 'vitest';

// Guards vitest.config.ts's alias: our sources and graphql-yoga must share one graphql, as they
// do when the built app runs under Node.
it('loads one copy of graphql for our code and for graphql-yoga', () => {
  const require = createRequire(import.meta.url);
  const yogasGraphql = require(
    require.resolve('graphql', { paths: [require.resolve('graphql-yoga')] }),
  ) as typeof import('graphql');
  expect(yogasGraphql.GraphQLError).toBe(GraphQLError);
});

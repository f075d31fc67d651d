import { GraphQLScalarType, Kind, type ValueNode } from 'graphql';

// Plain errors, not GraphQLErrors: graphql-js then wraps them with the expected type and the
// location of the bad value, and the user-input-errors plugin tags them BAD_USER_INPUT with
// the argument's name. (A GraphQLError thrown here is reported as is, without either.)
function parseDateTime(value: unknown): Date {
  if (typeof value !== 'string') throw new TypeError(`DateTime must be an ISO-8601 string, got ${JSON.stringify(value)}`);
  // Require at least a full date, so "5" or "yesterday" are not silently accepted by Date.parse.
  if (!/^\d{4}-\d{2}-\d{2}([T ][\d:.]+(Z|[+-]\d{2}:?\d{2})?)?$/.test(value)) {
    throw new TypeError(`DateTime must be an ISO-8601 string such as 2026-11-26T14:30:00Z, got "${value}"`);
  }
  const d = new Date(value);
  if (Number.isNaN(d.getTime())) throw new TypeError(`DateTime "${value}" is not a valid date`);
  return d;
}

export const DateTime = new GraphQLScalarType<Date, string>({
  name: 'DateTime',
  description: 'ISO-8601 string, UTC, millisecond precision.',
  // Every value the API serves holds Dates (the pub/sub layer decodes the wire's strings).
  serialize(value) {
    if (!(value instanceof Date) || Number.isNaN(value.getTime()))
      throw new TypeError(`cannot serialise ${String(value)} as DateTime`);
    return value.toISOString();
  },
  parseValue: parseDateTime,
  parseLiteral(ast) {
    if (ast.kind !== Kind.STRING) throw new TypeError('DateTime must be a string');
    return parseDateTime(ast.value);
  },
});

function literalToJson(ast: ValueNode, variables: Record<string, unknown> | null | undefined): unknown {
  switch (ast.kind) {
    case Kind.STRING:
    case Kind.BOOLEAN:
      return ast.value;
    case Kind.INT:
    case Kind.FLOAT:
      return Number(ast.value);
    case Kind.NULL:
      return null;
    case Kind.LIST:
      return ast.values.map((v) => literalToJson(v, variables));
    case Kind.OBJECT:
      return Object.fromEntries(ast.fields.map((f) => [f.name.value, literalToJson(f.value, variables)]));
    case Kind.VARIABLE:
      return variables?.[ast.name.value];
    case Kind.ENUM:
      return ast.value;
  }
}

export const JSONScalar = new GraphQLScalarType({
  name: 'JSON',
  description: 'Any JSON value.',
  serialize: (value) => value,
  parseValue: (value) => value,
  parseLiteral: literalToJson,
});

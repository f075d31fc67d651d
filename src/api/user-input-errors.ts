/**
 * Contract §2: a GraphQL argument the client got wrong is an error with
 * `extensions.code = "BAD_USER_INPUT"` whose message names the argument.
 *
 * graphql-js reports a literal of the wrong type (`first: "ten"`) as an ordinary validation
 * error (yoga: GRAPHQL_VALIDATION_FAILED) and a variable of the wrong type (`$first: Int`
 * given "ten") as a request error with no code at all. This plugin tags exactly those two
 * kinds; every other validation error (an unknown field, a variable used where its type does
 * not fit, …) is left as yoga reports it.
 *
 * Errors are recognised by where graphql-js locates them, not by message text: a value error
 * points at the offending value node, a variable coercion error at the variable's definition.
 */
import { Kind, visit, BREAK, type ASTNode, type DocumentNode, type ExecutionResult, type GraphQLError } from 'graphql';
import { createGraphQLError, isAsyncIterable, type Plugin } from 'graphql-yoga';

const BAD_USER_INPUT = 'BAD_USER_INPUT';

/** Node kinds a value error (graphql-js ValuesOfCorrectTypeRule) is located at. A bare variable is not one. */
const VALUE_KINDS = new Set<string>([
  Kind.INT,
  Kind.FLOAT,
  Kind.STRING,
  Kind.BOOLEAN,
  Kind.NULL,
  Kind.ENUM,
  Kind.LIST,
  Kind.OBJECT,
  Kind.OBJECT_FIELD,
]);

/** Errors this plugin made, so a cached validation result is not rewritten twice. */
const tagged = new WeakSet<object>();

function tag(error: GraphQLError, message: string): GraphQLError {
  const out = createGraphQLError(message, {
    nodes: error.nodes ?? null,
    source: error.source ?? null,
    positions: error.positions ?? null,
    path: error.path ?? null,
    extensions: { ...error.extensions, code: BAD_USER_INPUT },
  });
  tagged.add(out);
  return out;
}

/** `filter.since` for a value inside `filter: { since: … }`; `$first` for a variable's default value. */
function argumentPath(document: DocumentNode, target: ASTNode): string | null {
  let found: string | null = null;
  visit(document, {
    enter(node, _key, parent, _path, ancestors) {
      if (node !== target) return undefined;
      const names: string[] = [];
      // `ancestors` stops short of the parent.
      for (const a of [...ancestors, parent, node]) {
        if (!a) continue;
        if (Array.isArray(a) || (a === target && a.kind === Kind.OBJECT_FIELD)) continue;
        const n = a as ASTNode;
        if (n.kind === Kind.ARGUMENT || n.kind === Kind.OBJECT_FIELD) names.push(n.name.value);
        else if (n.kind === Kind.VARIABLE_DEFINITION) names.push(`$${n.variable.name.value}`);
      }
      found = names.length ? names.join('.') : null;
      return BREAK;
    },
  });
  return found;
}

/** The arguments a variable is passed to, e.g. `"first"` or `"filter.since"`. */
function variableUsages(document: DocumentNode, variable: string): string[] {
  const paths: string[] = [];
  visit(document, {
    Variable(node, _key, parent) {
      // Skip the `$x` of the definition itself.
      if (node.name.value !== variable || (parent as ASTNode | undefined)?.kind === Kind.VARIABLE_DEFINITION) return;
      const path = argumentPath(document, node);
      if (path && !paths.includes(path)) paths.push(path);
    },
  });
  return paths;
}

function quoteList(names: string[]): string {
  return names.map((n) => `"${n}"`).join(', ');
}

function tagValueError(document: DocumentNode, error: GraphQLError): GraphQLError {
  const node = error.nodes?.[0];
  if (tagged.has(error) || !node || !VALUE_KINDS.has(node.kind)) return error;
  const path = argumentPath(document, node);
  if (!path) return tag(error, error.message);
  const what = path.startsWith('$') ? `Invalid default value of variable "${path}"` : `Invalid value for argument "${path}"`;
  return tag(error, `${what}: ${error.message}`);
}

function tagVariableError(document: DocumentNode | undefined, error: GraphQLError): GraphQLError {
  const node = error.nodes?.[0];
  if (tagged.has(error) || error.path || node?.kind !== Kind.VARIABLE_DEFINITION) return error;
  const usages = document ? variableUsages(document, node.variable.name.value) : [];
  const suffix = usages.length ? ` (passed to argument${usages.length > 1 ? 's' : ''} ${quoteList(usages)})` : '';
  return tag(error, suffix ? `${error.message.replace(/\.$/, '')}${suffix}` : error.message);
}

function tagRequestErrors(
  document: DocumentNode,
  result: ExecutionResult | AsyncIterable<ExecutionResult>,
  setResult: (r: ExecutionResult) => void,
): void {
  // Variable coercion fails before execution starts: such a result has errors and no data.
  if (isAsyncIterable(result) || !result.errors?.length || result.data !== undefined) return;
  const errors = result.errors.map((e) => tagVariableError(document, e));
  if (errors.some((e, i) => e !== result.errors![i])) setResult({ ...result, errors });
}

export function useUserInputErrors(): Plugin {
  return {
    onValidate({ params }) {
      return ({ valid, result, setResult }) => {
        if (valid) return;
        const errors = (result as GraphQLError[]).map((e) => tagValueError(params.documentAST as DocumentNode, e));
        if (errors.some((e, i) => e !== result[i])) setResult(errors);
      };
    },
    onExecute({ args }) {
      return { onExecuteDone: ({ result, setResult }) => tagRequestErrors(args.document as DocumentNode, result, setResult) };
    },
    onSubscribe({ args }) {
      return { onSubscribeResult: ({ result, setResult }) => tagRequestErrors(args.document as DocumentNode, result, setResult) };
    },
  };
}

/**
 * Executing a per-recipient payload in two parts: what it shares with every other recipient of
 * the same event once per event, and only what is the recipient's own per recipient.
 *
 * A `myAlerts` Alert is one user's: its `watchlists` are theirs. But its `detection`, usually
 * most of the selection, is the same for all 333 users a detection can reach at once. Executing
 * each Alert in full repeats the detection's part per user; here the operation is split into
 * two documents, the shared part is executed once per event and the personal part once per
 * distinct personal value (the same matched watchlists come back detection after detection),
 * and each recipient's result is the two merged in the order the full operation gives.
 */
import {
  getNamedType,
  TypeInfo,
  visit,
  visitWithTypeInfo,
  type DocumentNode,
  type ExecutionArgs,
  type ExecutionResult,
  type GraphQLSchema,
} from 'graphql';

/** Which fields of a payload type depend on the recipient, and what each part depends on. */
export interface PersonalFields<E extends object = object> {
  /** The GraphQL type a subscription's root field returns, e.g. `Alert`. */
  type: string;
  /** Its fields whose values are the recipient's own, e.g. `watchlists`. */
  fields: readonly string[];
  /**
   * What the other fields depend on, the same object for every recipient of one event (the
   * detection); null to execute this payload in full.
   */
  sharedBy(payload: E): object | null;
  /** What the personal fields depend on, the same object whenever their result is the same. */
  personalBy(payload: E): object;
}

/** An operation split into the part shared by event and the recipient's part; null parts select nothing. */
export interface SplitOperation {
  shared: DocumentNode | null;
  personal: DocumentNode | null;
}

/**
 * Splits `args`' operation by `split`, if its root field returns `split.type`; otherwise null.
 * Fields of that type are kept in one part or the other, wherever they are written (in the root
 * field's selection, in fragments, in inline fragments); nothing else changes.
 */
export function splitOperation(args: ExecutionArgs, split: PersonalFields): SplitOperation | null {
  if (!returnsType(args.schema, args.document, split.type)) return null;
  const personal = new Set(split.fields);
  const shared = keepFields(args.schema, args.document, split.type, (name) => !personal.has(name));
  const own = keepFields(args.schema, args.document, split.type, (name) => personal.has(name));
  return { shared: shared.kept > 0 ? shared.document : null, personal: own.kept > 0 ? own.document : null };
}

/**
 * One recipient's result from the two parts' results, the payload's fields in `order` (the
 * response keys of the full operation). Undefined when either part has errors or no data: then
 * the payload is executed in full, so errors come out exactly as they would.
 */
export function mergeParts(
  rootKey: string,
  order: readonly string[],
  shared: ExecutionResult | null,
  personal: ExecutionResult | null,
): ExecutionResult | undefined {
  const a = partOf(shared, rootKey);
  const b = partOf(personal, rootKey);
  if (a === undefined || b === undefined) return undefined;
  const merged: Record<string, unknown> = {};
  for (const key of order) merged[key] = Object.hasOwn(a, key) ? a[key] : b[key];
  return { data: { [rootKey]: merged } };
}

/** The root field's object in a part's result; {} for a part that selects nothing; undefined if it failed. */
function partOf(result: ExecutionResult | null, rootKey: string): Record<string, unknown> | undefined {
  if (result === null) return {};
  if (result.errors?.length) return undefined;
  const value = result.data?.[rootKey];
  return typeof value === 'object' && value !== null ? (value as Record<string, unknown>) : undefined;
}

/** The response key order of a full result, once it has one: the root key and its fields'. */
export function orderOf(result: ExecutionResult): { rootKey: string; order: string[] } | null {
  if (result.errors?.length || !result.data) return null;
  const rootKey = Object.keys(result.data)[0];
  if (rootKey === undefined) return null;
  const value = result.data[rootKey];
  if (typeof value !== 'object' || value === null) return null;
  return { rootKey, order: Object.keys(value) };
}

function returnsType(schema: GraphQLSchema, document: DocumentNode, type: string): boolean {
  const typeInfo = new TypeInfo(schema);
  const root = schema.getSubscriptionType();
  let found = false;
  visit(
    document,
    visitWithTypeInfo(typeInfo, {
      Field() {
        if (typeInfo.getParentType() === root && getNamedType(typeInfo.getType())?.name === type) found = true;
      },
    }),
  );
  return found;
}

function keepFields(
  schema: GraphQLSchema,
  document: DocumentNode,
  type: string,
  keep: (field: string) => boolean,
): { document: DocumentNode; kept: number } {
  const typeInfo = new TypeInfo(schema);
  let kept = 0;
  const out = visit(
    document,
    visitWithTypeInfo(typeInfo, {
      Field(node) {
        if (typeInfo.getParentType()?.name !== type) return undefined;
        if (!keep(node.name.value)) return null;
        kept++;
        return undefined;
      },
    }),
  );
  return { document: out, kept };
}

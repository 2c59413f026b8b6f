// Limits so one request cannot ask for the whole database: a cost limit
// (every field costs 1, and a paged field multiplies what is under it by its
// `limit`, the default page size when absent), a depth limit that does not
// count introspection (the standard introspection query is 15 deep, and
// GraphiQL and code generators must be able to run it), and bounds on the
// lists (each one a database statement, whatever its page size) and the
// similarity searches one request may run.
//
// One walk measures all four, and each fragment is measured once per
// operation: a document of doubled fragment spreads (F0 spreads F1 twice,
// F1 spreads F2 twice, …) names 2^n selections in n lines, and walking each
// spread anew blocked the event loop for seconds at 22 levels.
import {
  GraphQLError, Kind, type FieldNode, type FragmentDefinitionNode, type OperationDefinitionNode, type SelectionSetNode,
  type ValidationContext, type ValidationRule, type ValueNode,
} from 'graphql';
import { DEFAULT_PAGE_SIZE } from '../core/catalog.js';

export const MAX_QUERY_COST = 100_000;
export const MAX_QUERY_DEPTH = 12;
/** Paged list fields per request (aliases and repeats count): each is a statement. */
export const MAX_LIST_FIELDS = 50;
/** `orderBy: {bySimilarity: …}` listings per request: each scores every candidate row. */
export const MAX_SIMILARITY_SEARCHES = 4;

const PAGED = new Set(['channels', 'packages', 'variants', 'versions', 'users']);

interface Measure { cost: number; depth: number; lists: number; searches: number }
const ZERO: Measure = { cost: 0, depth: 0, lists: 0, searches: 0 };

/** The value an argument has in this request: a literal, a variable, or the variable's default. */
function argValue(field: FieldNode, name: string, vars: RequestVariables): unknown {
  const arg = field.arguments?.find((a) => a.name.value === name);
  return arg ? valueOf(arg.value, vars) : undefined;
}

interface RequestVariables { values: Record<string, unknown>; defaults: Map<string, ValueNode> }

function valueOf(v: ValueNode, vars: RequestVariables, depth = 0): unknown {
  if (depth > 8) return undefined; // only shallow shapes (limit, orderBy.bySimilarity) are read here
  switch (v.kind) {
    case Kind.INT: return Number(v.value);
    case Kind.STRING: return v.value;
    case Kind.VARIABLE: {
      const name = v.name.value;
      if (Object.hasOwn(vars.values, name)) return vars.values[name];
      const fallback = vars.defaults.get(name);
      return fallback ? valueOf(fallback, vars, depth + 1) : undefined;
    }
    case Kind.OBJECT: return Object.fromEntries(v.fields.map((f) => [f.name.value, valueOf(f.value, vars, depth + 1)]));
    default: return undefined;
  }
}

function isSearch(orderBy: unknown): boolean {
  return typeof orderBy === 'object' && orderBy !== null && (orderBy as { bySimilarity?: unknown }).bySimilarity != null;
}

function measureOperation(op: OperationDefinitionNode, fragments: Map<string, FragmentDefinitionNode>, variables: Record<string, unknown>): Measure {
  const vars: RequestVariables = {
    values: variables,
    defaults: new Map((op.variableDefinitions ?? []).flatMap((d) => (d.defaultValue ? [[d.variable.name.value, d.defaultValue] as const] : []))),
  };
  // A fragment's measure does not depend on where it is spread (a paged
  // parent multiplies it from outside), so it is taken once.
  const memo = new Map<string, Measure>();
  const fragment = (name: string): Measure => {
    const known = memo.get(name);
    if (known) return known;
    memo.set(name, ZERO); // a cycle counts nothing; the standard rules report it
    const m = measureSet(fragments.get(name)?.selectionSet);
    memo.set(name, m);
    return m;
  };
  const measureSet = (set: SelectionSetNode | undefined): Measure => {
    if (!set) return ZERO;
    const total = { cost: 0, depth: 0, lists: 0, searches: 0 };
    const add = (m: Measure, depth: number) => {
      total.cost += m.cost;
      total.lists += m.lists;
      total.searches += m.searches;
      total.depth = Math.max(total.depth, depth);
    };
    for (const sel of set.selections) {
      if (sel.kind === Kind.FIELD) {
        const inner = measureSet(sel.selectionSet);
        const paged = PAGED.has(sel.name.value);
        const limit = paged ? argValue(sel, 'limit', vars) : undefined;
        const multiplier = paged ? Math.max(1, typeof limit === 'number' ? limit : DEFAULT_PAGE_SIZE) : 1;
        const introspection = sel.name.value.startsWith('__');
        add({
          cost: 1 + multiplier * inner.cost,
          lists: inner.lists + (paged ? 1 : 0),
          searches: inner.searches + (paged && isSearch(argValue(sel, 'orderBy', vars)) ? 1 : 0),
          depth: 0,
        }, introspection || !sel.selectionSet ? 0 : 1 + inner.depth);
      } else if (sel.kind === Kind.INLINE_FRAGMENT) {
        const inner = measureSet(sel.selectionSet);
        add(inner, inner.depth);
      } else {
        const inner = fragment(sel.name.value);
        add(inner, inner.depth);
      }
    }
    return total;
  };
  return measureSet(op.selectionSet);
}

export interface QueryLimits { maxCost: number; maxDepth: number; maxLists: number; maxSearches: number }

const DEFAULT_LIMITS: QueryLimits = {
  maxCost: MAX_QUERY_COST, maxDepth: MAX_QUERY_DEPTH, maxLists: MAX_LIST_FIELDS, maxSearches: MAX_SIMILARITY_SEARCHES,
};

/** Refuses an operation over any of the limits, with BAD_USER_INPUT naming which. */
export function queryLimitsRule(variables: Record<string, unknown>, limits: Partial<QueryLimits> = {}): ValidationRule {
  const { maxCost, maxDepth, maxLists, maxSearches } = { ...DEFAULT_LIMITS, ...limits };
  return (context: ValidationContext) => {
    const fragments = new Map<string, FragmentDefinitionNode>();
    for (const def of context.getDocument().definitions) {
      if (def.kind === Kind.FRAGMENT_DEFINITION) fragments.set(def.name.value, def);
    }
    const refuse = (node: OperationDefinitionNode, message: string) =>
      context.reportError(new GraphQLError(message, { nodes: [node], extensions: { code: 'BAD_USER_INPUT' } }));
    return {
      OperationDefinition(node) {
        const m = measureOperation(node, fragments, variables);
        if (m.depth > maxDepth) refuse(node, `query depth ${m.depth} is over the limit of ${maxDepth}`);
        if (m.cost > maxCost) {
          const cost = Number.isFinite(m.cost) && m.cost < 1e15 ? String(m.cost) : 'astronomical';
          refuse(node, `query is too expensive (cost ${cost} > ${maxCost}); ask for smaller pages`);
        }
        if (m.lists > maxLists) refuse(node, `query asks for ${m.lists} lists (aliases and repeats count); at most ${maxLists} per request`);
        if (m.searches > maxSearches) refuse(node, `query runs ${m.searches} similarity searches; at most ${maxSearches} per request`);
      },
    };
  };
}

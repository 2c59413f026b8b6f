// Limits so one request cannot ask for the whole database: a cost limit
// (every field costs 1, and a paged field multiplies what is under it by its
// `limit`, the default page size when absent) and a depth limit that does
// not count introspection (the standard introspection query is 15 deep, and
// GraphiQL and code generators must be able to run it).
import {
  GraphQLError, Kind, type FieldNode, type FragmentDefinitionNode, type SelectionSetNode, type ValidationContext,
  type ValidationRule, type ValueNode,
} from 'graphql';
import { DEFAULT_PAGE_SIZE } from '../core/catalog.js';

export const MAX_QUERY_COST = 100_000;

function argInt(field: FieldNode, name: string, variables: Record<string, unknown>): number | null {
  const arg = field.arguments?.find((a) => a.name.value === name);
  if (!arg) return null;
  const v: ValueNode = arg.value;
  if (v.kind === Kind.INT) return Number(v.value);
  if (v.kind === Kind.VARIABLE) {
    const value = variables[v.name.value];
    return typeof value === 'number' ? value : null;
  }
  return null;
}

function fragmentsOf(context: ValidationContext): Map<string, FragmentDefinitionNode> {
  const fragments = new Map<string, FragmentDefinitionNode>();
  for (const def of context.getDocument().definitions) {
    if (def.kind === Kind.FRAGMENT_DEFINITION) fragments.set(def.name.value, def);
  }
  return fragments;
}

const PAGED = new Set(['channels', 'packages', 'variants', 'versions', 'users']);

export function costLimitRule(variables: Record<string, unknown>, max = MAX_QUERY_COST): ValidationRule {
  return (context: ValidationContext) => {
    const fragments = fragmentsOf(context);
    const costOf = (set: SelectionSetNode | undefined, seen: Set<string>): number => {
      if (!set) return 0;
      let total = 0;
      for (const sel of set.selections) {
        if (sel.kind === Kind.FIELD) {
          const inner = costOf(sel.selectionSet, seen);
          const multiplier = PAGED.has(sel.name.value) ? Math.max(1, argInt(sel, 'limit', variables) ?? DEFAULT_PAGE_SIZE) : 1;
          total += 1 + multiplier * inner;
        } else if (sel.kind === Kind.INLINE_FRAGMENT) {
          total += costOf(sel.selectionSet, seen);
        } else {
          const name = sel.name.value;
          if (seen.has(name)) continue; // cycles are reported by the standard rules
          total += costOf(fragments.get(name)?.selectionSet, new Set([...seen, name]));
        }
        if (total > max) return total;
      }
      return total;
    };
    return {
      OperationDefinition(node) {
        const cost = costOf(node.selectionSet, new Set());
        if (cost > max) {
          context.reportError(new GraphQLError(`query is too expensive (cost ${cost} > ${max}); ask for smaller pages`, { nodes: [node], extensions: { code: 'BAD_USER_INPUT' } }));
        }
      },
    };
  };
}

export const MAX_QUERY_DEPTH = 12;

export function depthLimitRule(max = MAX_QUERY_DEPTH): ValidationRule {
  return (context: ValidationContext) => {
    const fragments = fragmentsOf(context);
    const depthOf = (set: SelectionSetNode | undefined, seen: Set<string>): number => {
      if (!set) return 0;
      let deepest = 0;
      for (const sel of set.selections) {
        let d = 0;
        if (sel.kind === Kind.FIELD) {
          if (sel.name.value.startsWith('__')) continue;
          d = sel.selectionSet ? 1 + depthOf(sel.selectionSet, seen) : 0;
        } else if (sel.kind === Kind.INLINE_FRAGMENT) {
          d = depthOf(sel.selectionSet, seen);
        } else if (!seen.has(sel.name.value)) {
          d = depthOf(fragments.get(sel.name.value)?.selectionSet, new Set([...seen, sel.name.value]));
        }
        deepest = Math.max(deepest, d);
        if (deepest > max) return deepest;
      }
      return deepest;
    };
    return {
      OperationDefinition(node) {
        const depth = depthOf(node.selectionSet, new Set());
        if (depth > max) {
          context.reportError(new GraphQLError(`query depth ${depth} is over the limit of ${max}`, { nodes: [node], extensions: { code: 'BAD_USER_INPUT' } }));
        }
      },
    };
  };
}

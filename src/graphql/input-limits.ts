// Bounds on input values, literal or in variables: list lengths, string
// lengths and nesting. Every list argument, filter and batch is read (and
// sent to the database) entry by entry, so none is unbounded; nesting is
// bounded before graphql-js coerces variables, which recurses once per level.
import { GraphQLError, type ValidationContext, type ValidationRule } from 'graphql';

/** Entries per list (batch mutations, isIn, or/and). */
export const MAX_LIST_ENTRIES = 1000;
/** Characters per string value (names and descriptions are far shorter). */
export const MAX_STRING_CHARS = 16 * 1024;
/** Nesting of lists and input objects in one value (filters nest and/or). */
export const MAX_INPUT_DEPTH = 12;

const tooLong = (what: string, n: number) => `${what} has ${n} characters; at most ${MAX_STRING_CHARS}`;
const tooMany = (what: string, n: number) => `${what} has ${n} entries; at most ${MAX_LIST_ENTRIES}`;
const tooDeep = (what: string) => `${what} nests lists and objects more than ${MAX_INPUT_DEPTH} deep`;

/** The first bound a variable's JSON value crosses, walked without recursion. */
function variableProblem(name: string, value: unknown): string | null {
  const stack: Array<[unknown, number]> = [[value, 0]];
  while (stack.length > 0) {
    const [v, depth] = stack.pop()!;
    if (typeof v === 'string' && v.length > MAX_STRING_CHARS) return tooLong(`variable $${name}: a string`, v.length);
    if (typeof v !== 'object' || v === null) continue;
    if (depth >= MAX_INPUT_DEPTH) return tooDeep(`variable $${name}`);
    const children = Array.isArray(v) ? v : Object.values(v);
    if (Array.isArray(v) && v.length > MAX_LIST_ENTRIES) return tooMany(`variable $${name}: a list`, v.length);
    for (const c of children) stack.push([c, depth + 1]);
  }
  return null;
}

export function inputLimitsRule(variables: Record<string, unknown>): ValidationRule {
  return (context: ValidationContext) => {
    const refuse = (message: string, node?: Parameters<ValidationContext['reportError']>[0]['nodes']) =>
      context.reportError(new GraphQLError(message, { nodes: node, extensions: { code: 'BAD_USER_INPUT' } }));
    let depth = 0;
    let deepReported = false;
    const enterNested = () => {
      if (++depth > MAX_INPUT_DEPTH && !deepReported) {
        deepReported = true;
        refuse(tooDeep('an argument'));
      }
    };
    const leaveNested = () => void depth--;
    return {
      Document() {
        for (const [name, value] of Object.entries(variables)) {
          const problem = variableProblem(name, value);
          if (problem) refuse(problem);
        }
      },
      ListValue: {
        enter(node) {
          enterNested();
          if (node.values.length > MAX_LIST_ENTRIES) refuse(tooMany('a list', node.values.length), [node]);
        },
        leave: leaveNested,
      },
      ObjectValue: { enter: enterNested, leave: leaveNested },
      StringValue(node) {
        if (node.value.length > MAX_STRING_CHARS) refuse(tooLong('a string', node.value.length), [node]);
      },
    };
  };
}

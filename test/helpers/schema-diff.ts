// Compares the schema a server exposes with a reference schema (prefix.dev's).
// A client written against the reference must be able to send every query it
// can build from what we expose: so every type we expose must exist there with
// the same kind, every field with the same type, the same arguments (names,
// types, defaults), enums with the same values, input objects with the same
// fields. We may leave out whole fields of object types and whole types.
import {
  astFromValue, isEnumType, isInputObjectType, isInterfaceType, isObjectType, isScalarType, isSpecifiedScalarType,
  isUnionType, print, type GraphQLArgument, type GraphQLField, type GraphQLInputField, type GraphQLInputType,
  type GraphQLNamedType, type GraphQLSchema,
} from 'graphql';

function kindOf(t: GraphQLNamedType): string {
  if (isObjectType(t)) return 'OBJECT';
  if (isInterfaceType(t)) return 'INTERFACE';
  if (isUnionType(t)) return 'UNION';
  if (isEnumType(t)) return 'ENUM';
  if (isInputObjectType(t)) return 'INPUT_OBJECT';
  if (isScalarType(t)) return 'SCALAR';
  return 'UNKNOWN';
}

/** A default value as GraphQL source text (`ASC`, `90`, `false`), or `(none)`. */
function printDefault(value: unknown, type: GraphQLInputType): string {
  if (value === undefined) return '(none)';
  const ast = astFromValue(value, type);
  return ast ? print(ast) : JSON.stringify(value);
}

function diffSet(where: string, what: string, ours: string[], theirs: string[]): string[] {
  const out: string[] = [];
  const t = new Set(theirs);
  const o = new Set(ours);
  for (const x of ours) if (!t.has(x)) out.push(`${where}: ${what} ${x} is ours but not in the reference`);
  for (const x of theirs) if (!o.has(x)) out.push(`${where}: ${what} ${x} is in the reference but missing from ours`);
  return out;
}

/** Arguments of a field, or fields of an input object: same names, types and defaults. */
function diffInputValues(
  where: string, what: string,
  ours: ReadonlyArray<GraphQLArgument | GraphQLInputField>, theirs: ReadonlyArray<GraphQLArgument | GraphQLInputField>,
): string[] {
  const out = diffSet(where, what, ours.map((a) => a.name), theirs.map((a) => a.name));
  for (const a of ours) {
    const ref = theirs.find((r) => r.name === a.name);
    if (!ref) continue;
    if (String(a.type) !== String(ref.type)) out.push(`${where}(${a.name}): type ${String(a.type)}, reference ${String(ref.type)}`);
    const [d, rd] = [printDefault(a.defaultValue, a.type), printDefault(ref.defaultValue, ref.type)];
    if (d !== rd) out.push(`${where}(${a.name}): default ${d}, reference ${rd}`);
  }
  return out;
}

function diffField(where: string, ours: GraphQLField<unknown, unknown>, ref: GraphQLField<unknown, unknown>): string[] {
  const out: string[] = [];
  if (String(ours.type) !== String(ref.type)) out.push(`${where}: type ${String(ours.type)}, reference ${String(ref.type)}`);
  out.push(...diffInputValues(where, 'argument', ours.args, ref.args));
  if ((ours.deprecationReason ?? null) !== (ref.deprecationReason ?? null)) {
    out.push(`${where}: deprecation ${JSON.stringify(ours.deprecationReason ?? null)}, reference ${JSON.stringify(ref.deprecationReason ?? null)}`);
  }
  return out;
}

/** Every difference that would break a client of the reference; empty when ours conforms. */
export function schemaDifferences(ours: GraphQLSchema, reference: GraphQLSchema): string[] {
  const out: string[] = [];
  for (const [root, mine, theirs] of [
    ['query', ours.getQueryType(), reference.getQueryType()],
    ['mutation', ours.getMutationType(), reference.getMutationType()],
  ] as const) {
    if (mine && mine.name !== theirs?.name) out.push(`schema: ${root} root type ${mine.name}, reference ${theirs?.name ?? '(none)'}`);
  }
  for (const type of Object.values(ours.getTypeMap())) {
    if (type.name.startsWith('__') || isSpecifiedScalarType(type)) continue;
    const ref = reference.getType(type.name);
    if (!ref) {
      out.push(`${type.name}: type is ours but not in the reference`);
      continue;
    }
    if (kindOf(type) !== kindOf(ref)) {
      out.push(`${type.name}: kind ${kindOf(type)}, reference ${kindOf(ref)}`);
      continue;
    }
    if ((isObjectType(type) || isInterfaceType(type)) && (isObjectType(ref) || isInterfaceType(ref))) {
      out.push(...diffSet(type.name, 'interface', type.getInterfaces().map((i) => i.name), ref.getInterfaces().map((i) => i.name)));
      const refFields = ref.getFields();
      for (const field of Object.values(type.getFields())) {
        const rf = refFields[field.name];
        if (!rf) out.push(`${type.name}.${field.name}: field is ours but not in the reference`);
        else out.push(...diffField(`${type.name}.${field.name}`, field, rf));
      }
    } else if (isEnumType(type) && isEnumType(ref)) {
      out.push(...diffSet(type.name, 'value', type.getValues().map((v) => v.name), ref.getValues().map((v) => v.name)));
      for (const v of type.getValues()) {
        const rv = ref.getValue(v.name);
        if (rv && (v.deprecationReason ?? null) !== (rv.deprecationReason ?? null)) {
          out.push(`${type.name}.${v.name}: deprecation ${JSON.stringify(v.deprecationReason ?? null)}, reference ${JSON.stringify(rv.deprecationReason ?? null)}`);
        }
      }
    } else if (isInputObjectType(type) && isInputObjectType(ref)) {
      out.push(...diffInputValues(type.name, 'input field', Object.values(type.getFields()), Object.values(ref.getFields())));
      if (type.isOneOf !== ref.isOneOf) out.push(`${type.name}: @oneOf ${type.isOneOf}, reference ${ref.isOneOf}`);
    } else if (isUnionType(type) && isUnionType(ref)) {
      out.push(...diffSet(type.name, 'member', type.getTypes().map((t) => t.name), ref.getTypes().map((t) => t.name)));
    }
  }
  return out;
}

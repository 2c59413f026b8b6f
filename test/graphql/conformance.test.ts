// Our running server's schema, read by introspection over HTTP as GraphiQL,
// codegen tools and pixi-pfx's "sync-schema" read prefix.dev's, against the
// contract: shared/reference/prefix-dev-schema-core.graphql (prefix.dev's
// own SDL, verbatim subset). Whatever we expose must be what prefix.dev
// exposes, so clients compiled against prefix.dev's schema work unchanged.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import {
  buildClientSchema, buildSchema, getIntrospectionQuery, isInputObjectType, isObjectType, printSchema, type GraphQLSchema, type IntrospectionQuery,
} from 'graphql';
import { gql, type GqlResponse } from '../helpers/graphql.js';
import { sharedDir } from '../helpers/paths.js';
import { schemaDifferences } from '../helpers/schema-diff.js';
import { startServer, type TestServer } from '../helpers/server.js';

const referenceSdl = fs.readFileSync(path.join(sharedDir, 'reference/prefix-dev-schema-core.graphql'), 'utf8');
const reference = buildSchema(referenceSdl);

const REQUIRED_QUERY = ['viewer', 'user', 'users', 'apiKeys', 'channels', 'channel', 'packages', 'package', 'variant', 'channelManageAccess', 'backgroundJob'];
const REQUIRED_MUTATION = [
  'createApiKey', 'revokeApiKey', 'deleteApiKey', 'createChannel', 'updateChannel', 'deleteChannel', 'addChannelMember',
  'deleteChannelMember', 'batchYankPackageVariants', 'batchUnyankPackageVariants', 'batchDeletePackageVariants',
  'addGithubOidcPublisher', 'addGitlabOidcPublisher', 'deleteOidcPublisher',
];

// The same information as getIntrospectionQuery() asks for, nested only as
// deep as our types go (NON_NULL(LIST(NON_NULL(Named)))), so it reads the
// schema even from a server whose depth limit refuses the standard query.
const TYPE_REF = 'kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name } } } }';
const INPUT_VALUE = `name description type { ${TYPE_REF} } defaultValue isDeprecated deprecationReason`;
const COMPACT_INTROSPECTION = `query CompactIntrospection { __schema {
  queryType { name } mutationType { name } subscriptionType { name }
  types { kind name description specifiedByURL isOneOf
    fields(includeDeprecated: true) { name description args(includeDeprecated: true) { ${INPUT_VALUE} } type { ${TYPE_REF} } isDeprecated deprecationReason }
    inputFields(includeDeprecated: true) { ${INPUT_VALUE} }
    interfaces { name } enumValues(includeDeprecated: true) { name description isDeprecated deprecationReason } possibleTypes { name } }
  directives { name description isRepeatable locations args(includeDeprecated: true) { ${INPUT_VALUE} } } } }`;

let server: TestServer;
let standard: GqlResponse<IntrospectionQuery>;
let ours: GraphQLSchema;

before(async () => {
  server = await startServer();
  standard = await gql<IntrospectionQuery>(server, getIntrospectionQuery({ oneOf: true, inputValueDeprecation: true, specifiedByUrl: true }));
  const compact = await gql<IntrospectionQuery>(server, COMPACT_INTROSPECTION);
  assert.equal(compact.status, 200, JSON.stringify(compact.body));
  assert.equal(compact.body.errors, undefined, JSON.stringify(compact.body.errors));
  ours = buildClientSchema(compact.body.data!);
});

after(async () => {
  await server?.close();
  if (server) fs.rmSync(server.dataDir, { recursive: true, force: true });
});

describe('introspection', () => {
  it('answers the standard introspection query (GraphiQL, codegen, pixi-pfx sync-schema)', () => {
    assert.equal(standard.status, 200, `HTTP ${standard.status}: ${JSON.stringify(standard.body)}`);
    assert.equal(standard.body.errors, undefined, JSON.stringify(standard.body.errors));
    assert.equal(printSchema(buildClientSchema(standard.body.data!)), printSchema(ours));
  });

  it('also over GET, as GraphiQL-style tools may send it', async () => {
    const r = await fetch(`${server.url}/api/graphql?query=${encodeURIComponent('{ __schema { queryType { name } mutationType { name } } }')}`);
    assert.equal(r.status, 200);
    assert.deepEqual(await r.json(), { data: { __schema: { queryType: { name: 'Query' }, mutationType: { name: 'Mutation' } } } });
  });
});

describe('schema conformance with prefix.dev', () => {
  it('every type, field, argument, default, enum value, interface and input field we expose is prefix.dev\'s', () => {
    const diffs = schemaDifferences(ours, reference);
    assert.equal(diffs.length, 0, `our schema differs from prefix-dev-schema-core.graphql:\n  ${diffs.join('\n  ')}`);
  });

  it('exposes the Query fields clients use', () => {
    const fields = ours.getQueryType()!.getFields();
    const missing = REQUIRED_QUERY.filter((f) => !fields[f]);
    assert.deepEqual(missing, [], `Query lacks ${missing.join(', ')}`);
    for (const f of REQUIRED_QUERY) assert.ok(reference.getQueryType()!.getFields()[f], `${f} is not even in the reference`);
  });

  it('exposes the Mutation fields clients use', () => {
    const fields = ours.getMutationType()!.getFields();
    const missing = REQUIRED_MUTATION.filter((f) => !fields[f]);
    assert.deepEqual(missing, [], `Mutation lacks ${missing.join(', ')}`);
    for (const f of REQUIRED_MUTATION) assert.ok(reference.getMutationType()!.getFields()[f], `${f} is not even in the reference`);
  });

  it('lists what of the reference we leave out (informational)', (t) => {
    const omitted: string[] = [];
    for (const type of Object.values(reference.getTypeMap())) {
      if (type.name.startsWith('__')) continue;
      const mine = ours.getType(type.name);
      if (!mine) {
        omitted.push(`type ${type.name}`);
        continue;
      }
      if ((isObjectType(type) || isInputObjectType(type)) && (isObjectType(mine) || isInputObjectType(mine))) {
        const have = mine.getFields() as Record<string, unknown>;
        for (const f of Object.keys(type.getFields())) if (!have[f]) omitted.push(`${type.name}.${f}`);
      }
    }
    t.diagnostic(`omitted from the reference: ${omitted.join(', ') || '(nothing)'}`);
  });
});

describe('the comparison itself', () => {
  // Each edit below is made to a copy of the reference and must be reported.
  function doctored(edits: Array<[block: string, from: string, to: string]>): GraphQLSchema {
    let sdl = referenceSdl;
    for (const [block, from, to] of edits) {
      const start = sdl.indexOf(`\n${block} `);
      assert.ok(start >= 0, `no ${block} in the reference`);
      const end = sdl.indexOf('\n}', start);
      const body = sdl.slice(start, end);
      assert.equal(body.split(from).length, 2, `"${from}" is not exactly once in ${block}`);
      sdl = sdl.slice(0, start) + body.replace(from, to) + sdl.slice(end);
    }
    return buildSchema(sdl);
  }
  const differences = (edits: Array<[string, string, string]>) => schemaDifferences(doctored(edits), reference);

  it('finds nothing between the reference and itself, nor when whole fields are left out', () => {
    assert.deepEqual(schemaDifferences(reference, reference), []);
    assert.deepEqual(differences([['type Channel', '  """\n  The logo of the channel.\n  """\n  logo: String\n', '']]), []);
  });

  const cases: Array<{ what: string; edits: Array<[string, string, string]>; expect: string }> = [
    { what: 'a nullable field that is non-null there', edits: [['type Channel', '  name: String!', '  name: String']], expect: 'Channel.name: type String, reference String!' },
    { what: 'a list type', edits: [['type Package', 'platforms: [String!]!', 'platforms: [String]!']], expect: 'Package.platforms: type [String]!, reference [String!]!' },
    { what: 'an extra field', edits: [['type Channel', '  logo: String\n', '  logo: String\n  colour: String\n']], expect: 'Channel.colour: field is ours but not in the reference' },
    { what: 'an extra enum value', edits: [['enum UrlKind', 'FEEDSTOCK', 'FEEDSTOCK\n  WIKI']], expect: 'UrlKind: value WIKI is ours but not in the reference' },
    { what: 'a missing enum value', edits: [['enum UrlKind', '\n  FEEDSTOCK', '']], expect: 'UrlKind: value FEEDSTOCK is in the reference but missing from ours' },
    { what: 'a different argument default', edits: [['input PackageOrderByField', '= ASC', '= DESC']], expect: 'PackageOrderByField(direction): default DESC, reference ASC' },
    { what: 'a missing argument', edits: [['type Query', 'package(channelName: String!, name: String!)', 'package(name: String!)']], expect: 'Query.package: argument channelName is in the reference but missing from ours' },
    { what: 'an extra argument', edits: [['type Query', 'viewer: User', 'viewer(as: String): User']], expect: 'Query.viewer: argument as is ours but not in the reference' },
    { what: 'an argument type', edits: [['type Query', 'channel(name: String!)', 'channel(name: String)']], expect: 'Query.channel(name): type String, reference String!' },
    { what: 'a dropped interface', edits: [['type User', 'type User implements Owner {', 'type User {']], expect: 'User: interface Owner is in the reference but missing from ours' },
    { what: 'an input field type', edits: [['input StringFilter', '  eq: String', '  eq: Int']], expect: 'StringFilter(eq): type Int, reference String' },
    { what: 'an extra input field', edits: [['input StringFilter', '  eq: String', '  eq: String\n  like: String']], expect: 'StringFilter: input field like is ours but not in the reference' },
    { what: 'a lost @oneOf', edits: [['input ChannelOrderBy', 'input ChannelOrderBy @oneOf {', 'input ChannelOrderBy {']], expect: 'ChannelOrderBy: @oneOf false, reference true' },
    { what: 'a lost deprecation', edits: [['enum ChannelMemberRole', '  MEMBER @deprecated(reason: "Use VIEWER instead")', '  MEMBER']], expect: 'ChannelMemberRole.MEMBER: deprecation null, reference "Use VIEWER instead"' },
  ];
  for (const c of cases) {
    it(`reports ${c.what}`, () => {
      const diffs = differences(c.edits);
      assert.ok(diffs.includes(c.expect), `expected "${c.expect}" among ${JSON.stringify(diffs)}`);
    });
  }

  it('reports a type of another kind', () => {
    assert.equal(referenceSdl.split('\nscalar JSON\n').length, 2);
    const diffs = schemaDifferences(buildSchema(referenceSdl.replace('\nscalar JSON\n', '\nenum JSON { A }\n')), reference);
    assert.ok(diffs.includes('JSON: kind ENUM, reference SCALAR'), JSON.stringify(diffs));
  });

  it('reports a type the reference does not have', () => {
    const extra = buildSchema(`${referenceSdl}\ntype Extra { a: Int }\nextend type Query { extra: Extra }\n`);
    const diffs = schemaDifferences(extra, reference);
    assert.ok(diffs.includes('Extra: type is ours but not in the reference'), JSON.stringify(diffs));
    assert.ok(diffs.includes('Query.extra: field is ours but not in the reference'), JSON.stringify(diffs));
  });
});

// Per-request GraphQL context: the same principal REST uses (one auth
// module), the core, the public base URL, and per-request batch loaders.
import DataLoader from 'dataloader';
import type { FastifyRequest } from 'fastify';
import type { PackageFacts } from '../core/catalog.js';
import type { Core } from '../core/core.js';
import type { Channel, PackageRow, Principal, User } from '../types.js';
import { ANONYMOUS } from '../types.js';
import { packageKeyString, type PackageKey, type PackageListRow } from '../core/catalog.js';

export interface GqlContext {
  core: Core;
  principal: Principal;
  baseUrl: string;
  batch: RequestLoaders;
}

export interface RequestLoaders {
  facts: DataLoader<PackageKey, PackageFacts | undefined, string>;
  latestVariant: DataLoader<PackageKey, PackageRow | undefined, string>;
  versionVariant: DataLoader<PackageKey & { version: string }, PackageRow | undefined, string>;
  packageRow: DataLoader<PackageKey, PackageListRow | undefined, string>;
  user: DataLoader<number, User | null>;
  channel: DataLoader<number, Channel | null>;
}

function loaders(core: Core): RequestLoaders {
  const cacheKeyFn = packageKeyString;
  return {
    facts: new DataLoader(async (keys) => {
      const m = await core.catalog.facts([...keys]);
      return keys.map((k) => m.get(packageKeyString(k)));
    }, { cacheKeyFn }),
    latestVariant: new DataLoader(async (keys) => {
      const m = await core.catalog.latestVariants([...keys]);
      return keys.map((k) => m.get(packageKeyString(k)));
    }, { cacheKeyFn }),
    versionVariant: new DataLoader(async (keys) => {
      const rows = await core.catalog.newestVariantOfVersions([...keys]);
      const m = new Map(rows.map((r) => [`${packageKeyString(r)}\0${r.version}`, r]));
      return keys.map((k) => m.get(`${packageKeyString(k)}\0${k.version}`));
    }, { cacheKeyFn: (k) => `${packageKeyString(k)}\0${k.version}` }),
    packageRow: new DataLoader(async (keys) => {
      const m = await core.catalog.packageRows([...keys]);
      return keys.map((k) => m.get(packageKeyString(k)));
    }, { cacheKeyFn }),
    user: new DataLoader(async (ids) => Promise.all(ids.map((id) => core.users.byId(id)))),
    channel: new DataLoader(async (ids) => Promise.all(ids.map((id) => core.channels.byId(id)))),
  };
}

export async function buildContext(core: Core, request: FastifyRequest): Promise<GqlContext> {
  // A bad or missing key is not an HTTP error on GraphQL: the caller is
  // anonymous (viewer: null), which is how pixi/rattler validate a token.
  const outcome = await request.authOutcome;
  const principal = outcome.ok ? outcome.principal : ANONYMOUS;
  return { core, principal, baseUrl: `${request.protocol}://${request.host}`, batch: loaders(core) };
}

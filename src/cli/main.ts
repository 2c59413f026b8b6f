// The channeld command line. Every command works on a data folder, also
// while a server runs on it (SQLite in WAL mode; the server's indexer picks
// up changes made here within its poll interval).
import { parseArgs } from 'node:util';
import pino from 'pino';
import type { FastifyBaseLogger } from 'fastify';
import { loadConfig, type Config } from '../config.js';
import { createCore, type Core } from '../core/core.js';
import { ID_CLAIMS } from '../core/publisher-match.js';
import { findInvalidRecords } from '../core/stored-metadata.js';
import type { AccessMode, OidcPublisher, Principal } from '../types.js';
import { isAppError } from '../errors.js';
import { formatSummary, migrateStorage, MigrateError } from './migrate-storage.js';
import { serve } from './serve.js';

const USAGE = `usage:
  channeld serve [--host H] [--port P] [--data DIR]
  channeld user create LOGIN [--admin] [--password-stdin] [--data DIR]
  channeld user set-password LOGIN --password-stdin [--data DIR]
  channeld key create --user LOGIN --name NAME [--expires-days N] [--data DIR]
  channeld key revoke --user LOGIN --name NAME [--data DIR]
  channeld channel create NAME --owner LOGIN [--private] [--data DIR]
  channeld publisher add CHANNEL --user LOGIN --github OWNER/REPO --workflow FILE
           [--repository-owner-id ID] [--repository-id ID] [--environment ENV] [--access-mode MODE] [--data DIR]
  channeld publisher add CHANNEL --user LOGIN --gitlab NAMESPACE/PROJECT --workflow PATH
           [--namespace-id ID] [--project-id ID] [--environment ENV] [--access-mode MODE] [--data DIR]
  channeld publisher list CHANNEL [--data DIR]
  channeld reindex CHANNEL [SUBDIR] [--data DIR]
  channeld audit [--limit N] [--channel NAME] [--data DIR]
  channeld check [--data DIR]
  channeld migrate-storage [--to-database postgres://…] [--to-storage s3://bucket/prefix] [--resume] [--data DIR]

Configuration also comes from CHANNELD_* environment variables (see README).`;

const OPTIONS = {
  host: { type: 'string' },
  port: { type: 'string' },
  data: { type: 'string' },
  admin: { type: 'boolean' },
  'password-stdin': { type: 'boolean' },
  user: { type: 'string' },
  name: { type: 'string' },
  'expires-days': { type: 'string' },
  owner: { type: 'string' },
  private: { type: 'boolean' },
  description: { type: 'string' },
  limit: { type: 'string' },
  channel: { type: 'string' },
  github: { type: 'string' },
  gitlab: { type: 'string' },
  workflow: { type: 'string' },
  environment: { type: 'string' },
  'access-mode': { type: 'string' },
  'repository-owner-id': { type: 'string' },
  'repository-id': { type: 'string' },
  'namespace-id': { type: 'string' },
  'project-id': { type: 'string' },
  'to-database': { type: 'string' },
  'to-storage': { type: 'string' },
  resume: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

class UsageError extends Error {}

export async function main(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options: OPTIONS, allowPositionals: true, strict: true });
  } catch (err) {
    process.stderr.write(`channeld: ${(err as Error).message}\n${USAGE}\n`);
    return 2;
  }
  const { values, positionals } = parsed;
  if (values.help || positionals.length === 0) {
    process.stdout.write(`${USAGE}\n`);
    return values.help ? 0 : 2;
  }
  const [command, sub, ...rest] = positionals;
  const known = ['serve', 'reindex', 'audit', 'check', 'user create', 'user set-password', 'key create', 'key revoke', 'channel create', 'publisher add', 'publisher list', 'migrate-storage'];
  if (!known.includes(command!) && !known.includes(`${command} ${sub}`)) {
    // Checked before anything opens the data folder: a typo creates nothing.
    process.stderr.write(`channeld: unknown command: ${[command, sub].filter(Boolean).join(' ')}\n${USAGE}\n`);
    return 2;
  }
  const config = loadConfig(process.env, { host: values.host, port: values.port, dataDir: values.data });
  if (command === 'serve') return serve(config);
  if (command === 'migrate-storage') return migrateCommand(config, values);

  const core = await createCore(config, cliLogger(config));
  try {
    return (await run(core, config, command!, sub, rest, values)) ?? 0;
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`channeld: ${err.message}\n${USAGE}\n`);
      return 2;
    }
    if (isAppError(err)) {
      process.stderr.write(`channeld: ${err.message}\n`);
      return 1;
    }
    throw err;
  } finally {
    await core.close();
  }
}

type Values = Record<string, string | boolean | undefined>;

/** Runs one command; a number is its exit code (0 when it returns nothing). */
async function run(core: Core, _config: Config, command: string, sub: string | undefined, rest: string[], values: Values): Promise<number | void> {
  const need = (name: string): string => {
    const v = values[name];
    if (typeof v !== 'string' || v === '') throw new UsageError(`--${name} is required`);
    return v;
  };
  const verb = command === 'reindex' || command === 'audit' || command === 'check' ? command : `${command} ${sub ?? ''}`;
  switch (verb) {
    case 'user create': {
      const login = rest[0];
      if (!login) throw new UsageError('user create needs a LOGIN');
      const password = values['password-stdin'] === true ? await readPassword() : null;
      const user = await core.users.create(login, values.admin === true);
      if (password !== null) await core.users.setPassword(user, password);
      process.stdout.write(`created user ${user.login}${user.isAdmin ? ' (admin)' : ''}\n`);
      return;
    }
    case 'user set-password': {
      const login = rest[0];
      if (!login) throw new UsageError('user set-password needs a LOGIN');
      if (values['password-stdin'] !== true) throw new UsageError('--password-stdin is required (the password is read from standard input)');
      const user = await core.users.byLogin(login);
      await core.users.setPassword(user, await readPassword());
      process.stdout.write(`password set for ${user.login}\n`);
      return;
    }
    case 'key create': {
      const user = await core.users.byLogin(need('user'));
      const daysText = values['expires-days'];
      let expiresAt: number | null = null;
      if (typeof daysText === 'string') {
        const days = Number(daysText);
        if (!Number.isFinite(days) || days <= 0) throw new UsageError('--expires-days must be a positive number');
        expiresAt = Date.now() + days * 86_400_000;
      }
      const { token } = await core.users.createKey(user, { name: need('name'), expiresAt });
      // Only the key on stdout, so scripts can capture it.
      process.stdout.write(`${token}\n`);
      return;
    }
    case 'key revoke': {
      const user = await core.users.byLogin(need('user'));
      await core.users.revokeKey(user, need('name'));
      process.stdout.write(`revoked key ${String(values.name)} of ${user.login}\n`);
      return;
    }
    case 'channel create': {
      const name = rest[0];
      if (!name) throw new UsageError('channel create needs a NAME');
      const owner = await core.users.byLogin(need('owner'));
      const channel = await core.channels.create(name, owner.id, {
        isPublic: values.private !== true,
        description: typeof values.description === 'string' ? values.description : null,
      });
      process.stdout.write(`created ${channel.isPublic ? 'public' : 'private'} channel ${channel.name} owned by ${owner.login}\n`);
      return;
    }
    case 'publisher add': {
      const channelName = rest[0];
      if (!channelName) throw new UsageError('publisher add needs a CHANNEL');
      const github = values.github;
      const gitlab = values.gitlab;
      if ((typeof github === 'string') === (typeof gitlab === 'string')) throw new UsageError('publisher add needs one of --github OWNER/REPO or --gitlab NAMESPACE/PROJECT');
      const provider = typeof github === 'string' ? 'github' : 'gitlab';
      const path = (github ?? gitlab) as string;
      const slash = path.lastIndexOf('/');
      if (slash <= 0 || slash === path.length - 1) throw new UsageError(`--${provider} is ${provider === 'github' ? 'OWNER/REPO' : 'NAMESPACE/PROJECT'}, not ${JSON.stringify(path)}`);
      // Each CI's own claim names, so they read as in its token documentation.
      const idFlags = provider === 'github' ? ['repository-owner-id', 'repository-id'] : ['namespace-id', 'project-id'];
      const wrong = (provider === 'github' ? ['namespace-id', 'project-id'] : ['repository-owner-id', 'repository-id']).find((f) => values[f] !== undefined);
      if (wrong) throw new UsageError(`--${wrong} is for ${provider === 'github' ? '--gitlab' : '--github'} publishers`);
      const flag = (name: string): string | null => (typeof values[name] === 'string' ? (values[name] as string) : null);
      const user = await core.users.byLogin(need('user'));
      const principal: Principal = { kind: 'user', user, roles: await core.repos.channels.rolesOfUser(user.id), key: null };
      const p = await core.publishers.add(principal, channelName, {
        provider, owner: path.slice(0, slash), project: path.slice(slash + 1), workflow: need('workflow'),
        environment: flag('environment'), accessMode: flag('access-mode') as AccessMode | null,
        ownerId: flag(idFlags[0]!), projectId: flag(idFlags[1]!),
      });
      process.stdout.write(`${JSON.stringify(publisherLine(p))}\n`);
      return;
    }
    case 'publisher list': {
      const channelName = rest[0];
      if (!channelName) throw new UsageError('publisher list needs a CHANNEL');
      const channel = await core.channels.byName(channelName);
      if (!channel) throw new UsageError(`channel '${channelName}' not found`);
      // One JSON object per line, oldest first; ids null until pinned.
      for (const p of await core.repos.oidc.publishers(channel.id)) process.stdout.write(`${JSON.stringify(publisherLine(p))}\n`);
      return;
    }
    case 'reindex': {
      const channelName = sub;
      if (!channelName) throw new UsageError('reindex needs a CHANNEL');
      const channel = await core.channels.byName(channelName);
      if (!channel) throw new UsageError(`channel '${channelName}' not found`);
      const subdirs = rest[0] ? [rest[0]] : await core.packages.subdirsOf(channel);
      for (const subdir of subdirs) {
        const r = await core.packages.rescan(channel, subdir);
        await core.indexer.indexNow({ channelId: channel.id, channel: channel.name, subdir });
        process.stdout.write(`${channel.name}/${subdir}: ${r.added} added, ${r.dropped} dropped${r.refused.length ? `, ${r.refused.length} refused` : ''}\n`);
        for (const f of r.refused) process.stdout.write(`  refused ${f.filename}: ${f.reason}\n`);
      }
      return;
    }
    case 'audit': {
      const limit = typeof values.limit === 'string' ? Number(values.limit) : 100;
      if (!Number.isInteger(limit) || limit < 1) throw new UsageError('--limit must be a positive integer');
      const events = await core.audit.list({ limit, channel: typeof values.channel === 'string' ? values.channel : null });
      // One JSON object per line, newest first: easy to grep or feed to jq.
      for (const e of events) process.stdout.write(`${JSON.stringify({ ...e, at: new Date(e.at).toISOString() })}\n`);
      return;
    }
    case 'check': {
      // Stored records clients could not read (accepted before today's rules): one line each, exit 1 if any.
      const invalid = await findInvalidRecords(core.repos);
      for (const r of invalid) {
        process.stdout.write(`${r.channel}/${r.subdir}/${r.filename}: ${r.message}${r.yanked ? '' : ' (still listed until a server starts)'}\n`);
      }
      process.stderr.write(`channeld check: ${invalid.length} stored package${invalid.length === 1 ? '' : 's'} with metadata clients cannot read\n`);
      return invalid.length > 0 ? 1 : 0;
    }
    default:
      throw new UsageError(`unknown command: ${[command, sub].filter(Boolean).join(' ')}`);
  }
}

/** A publisher as the CLI prints it, with its ids under the claim names of its CI. */
function publisherLine(p: OidcPublisher): Record<string, unknown> {
  const ids = ID_CLAIMS[p.provider];
  return {
    id: p.id, provider: p.provider, owner: p.owner, project: p.project, workflow: p.workflow, environment: p.environment,
    accessMode: p.accessMode, [ids.owner]: p.ownerId, [ids.project]: p.projectId,
    createdAt: new Date(p.createdAt).toISOString(), updatedAt: new Date(p.updatedAt).toISOString(),
  };
}

/**
 * The source is always the data folder's own SQLite file and object folder;
 * the target comes from the flags, else from CHANNELD_DATABASE_URL /
 * CHANNELD_STORAGE_URL (with CHANNELD_S3_* and AWS_* for the bucket).
 */
async function migrateCommand(config: Config, values: Values): Promise<number> {
  let target: Config;
  try {
    const flag = (name: string): string | undefined => (typeof values[name] === 'string' ? (values[name] as string) : undefined);
    target = loadConfig({
      ...process.env,
      CHANNELD_DATABASE_URL: flag('to-database') ?? process.env.CHANNELD_DATABASE_URL,
      CHANNELD_STORAGE_URL: flag('to-storage') ?? process.env.CHANNELD_STORAGE_URL,
    }, { dataDir: config.dataDir });
  } catch (err) {
    process.stderr.write(`channeld: ${(err as Error).message}\n`);
    return 2;
  }
  try {
    const summary = await migrateStorage({ dataDir: config.dataDir, target, resume: values.resume === true, progress: process.stderr });
    process.stdout.write(`${formatSummary(summary)}\n`);
    return 0;
  } catch (err) {
    if (!(err instanceof MigrateError)) throw err;
    process.stderr.write(`channeld: migrate-storage: ${err.message}\n`);
    return 1;
  }
}

/** The password from standard input (first line), never from argv where `ps` would show it. */
async function readPassword(): Promise<string> {
  let text = '';
  for await (const chunk of process.stdin) text += chunk;
  const password = text.split(/\r?\n/)[0] ?? '';
  if (password === '') throw new UsageError('no password on standard input');
  return password;
}

function cliLogger(config: Config): FastifyBaseLogger {
  const level = process.env.CHANNELD_LOG_LEVEL ?? 'warn';
  void config;
  return pino({ level }, pino.destination(2)) as unknown as FastifyBaseLogger;
}

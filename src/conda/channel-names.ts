// Channel names: ^[a-z0-9_][a-z0-9_.-]*$ (CEP 26's channel path component),
// here 3–64 characters, no `..`, and not a name the server's own routes use.
import { Errors } from '../errors.js';
import { quoted as q } from './quoted.js';

export const MIN_CHANNEL_NAME_LENGTH = 3;
export const MAX_CHANNEL_NAME_LENGTH = 64;

const CHANNEL_NAME_RE = /^[a-z0-9_][a-z0-9_.-]*$/;

/** Channel names that would collide with server routes or well-known paths. */
export const RESERVED_CHANNEL_NAMES: ReadonlySet<string> = new Set([
  'api',
  'healthz',
  't',
  'static',
  'assets',
  'ui',
  'login',
  'logout',
  'settings',
  'channels',
  'graphql',
  'graphiql',
  'metrics',
  'favicon.ico',
  'robots.txt',
  '_',
  'admin',
  'auth',
  'oidc',
  '.well-known',
]);

/**
 * Validates a channel name; returns it unchanged.
 * @throws Errors.INVALID_CHANNEL_NAME (400)
 */
export function validateChannelName(name: string): string {
  const bad = (why: string): never => {
    throw new Errors.INVALID_CHANNEL_NAME(why);
  };
  if (typeof name !== 'string') return bad('the channel name must be a string');
  if (name.length < MIN_CHANNEL_NAME_LENGTH) bad(`names must be at least ${MIN_CHANNEL_NAME_LENGTH} characters long`);
  if (name.length > MAX_CHANNEL_NAME_LENGTH) bad(`channel names must be at most ${MAX_CHANNEL_NAME_LENGTH} characters long`);
  if (!CHANNEL_NAME_RE.test(name)) {
    bad(
      `invalid channel name ${q(name)}: use lowercase letters, digits, "_", "." and "-", ` +
        'starting with a letter, digit or "_"',
    );
  }
  if (name.includes('..')) bad(`invalid channel name ${q(name)}: two "." in a row`);
  if (RESERVED_CHANNEL_NAMES.has(name)) bad(`the channel name ${q(name)} is reserved`);
  return name;
}

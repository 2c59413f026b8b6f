// Verifies CI identity tokens (GitHub Actions, GitLab CI) for trusted
// publishing. The issuer must be on the configured list; its keys come from
// the jwks_uri of its OpenID discovery document (cached for an hour), and
// jose's remote key set fetches them again when a token names a key it has
// not seen (issuers rotate keys), at most once per cooldown. Only
// asymmetric algorithms are accepted: with HS256 the "secret" would be
// whatever key material an attacker can find, such as the issuer's public key.
import {
  createRemoteJWKSet, decodeJwt, decodeProtectedHeader, errors, jwtVerify, type JWTPayload,
} from 'jose';
import type { OidcIssuer } from '../config.js';
import { Errors } from '../errors.js';

const ASYMMETRIC_ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA', 'Ed25519'];
/** Leeway for exp/nbf/iat between the CI's clock and ours. */
export const CLOCK_TOLERANCE_SECONDS = 30;
const DISCOVERY_TTL_MS = 60 * 60_000;
const FETCH_TIMEOUT_MS = 5_000;

export interface VerifiedCiToken {
  issuer: OidcIssuer;
  claims: JWTPayload;
  jti: string;
  expiresAtMs: number;
}

type KeySet = ReturnType<typeof createRemoteJWKSet>;

interface Discovered {
  jwksUri: string;
  keys: KeySet;
  untilMs: number;
}

const invalid = (message: string) => new Errors.OIDC_TOKEN_INVALID(message);

export class OidcVerifier {
  private readonly discovered = new Map<string, Discovered>();
  private readonly discovering = new Map<string, Promise<Discovered>>();

  constructor(
    private readonly issuers: readonly OidcIssuer[],
    private readonly opts: { jwksCooldownMs: number },
  ) {}

  async verify(jwt: string, audience: string): Promise<VerifiedCiToken> {
    let unverified: JWTPayload;
    try {
      decodeProtectedHeader(jwt);
      unverified = decodeJwt(jwt);
    } catch {
      throw new Errors.BAD_REQUEST('"token" is not a JWT (header.payload.signature, base64url)');
    }
    if (this.issuers.length === 0) throw invalid('trusted publishing is off on this server (CHANNELD_OIDC_TRUSTED_ISSUERS=none)');
    const issuer = this.issuers.find((i) => i.url === unverified.iss);
    if (!issuer) {
      throw invalid(`the token's issuer ${JSON.stringify(unverified.iss ?? null)} is not trusted here (trusted: ${this.issuers.map((i) => i.url).join(', ')})`);
    }
    const { keys } = await this.discover(issuer);
    let claims: JWTPayload;
    try {
      ({ payload: claims } = await jwtVerify(jwt, keys, {
        issuer: issuer.url,
        audience,
        algorithms: ASYMMETRIC_ALGORITHMS,
        clockTolerance: CLOCK_TOLERANCE_SECONDS,
        requiredClaims: ['exp', 'iat', 'jti'],
      }));
    } catch (err) {
      throw explain(err, jwt, audience, issuer);
    }
    if (claims.iat! > Date.now() / 1000 + CLOCK_TOLERANCE_SECONDS) throw invalid('the token says it was issued in the future (iat)');
    if (typeof claims.jti !== 'string' || claims.jti === '') throw invalid('the token has no usable "jti" claim');
    return { issuer, claims, jti: claims.jti, expiresAtMs: claims.exp! * 1000 };
  }

  /** The issuer's key set, found through its discovery document; one fetch however many ask at once. */
  private async discover(issuer: OidcIssuer): Promise<Discovered> {
    const cached = this.discovered.get(issuer.url);
    if (cached && cached.untilMs > Date.now()) return cached;
    let pending = this.discovering.get(issuer.url);
    if (!pending) {
      pending = this.fetchDiscovery(issuer, cached)
        .catch((err: unknown) => {
          // A stale document beats none while the issuer is briefly unreachable.
          if (cached) return cached;
          throw err;
        })
        .finally(() => this.discovering.delete(issuer.url));
      this.discovering.set(issuer.url, pending);
    }
    return pending;
  }

  private async fetchDiscovery(issuer: OidcIssuer, previous: Discovered | undefined): Promise<Discovered> {
    const url = `${issuer.url}/.well-known/openid-configuration`;
    const unavailable = (why: string) => new Errors.OIDC_ISSUER_UNAVAILABLE(`could not read ${url}: ${why}`);
    let doc: unknown;
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(FETCH_TIMEOUT_MS), redirect: 'error', headers: { accept: 'application/json' } });
      if (!res.ok) throw unavailable(`HTTP ${res.status}`);
      doc = await res.json();
    } catch (err) {
      if (err instanceof Errors.OIDC_ISSUER_UNAVAILABLE) throw err;
      throw unavailable((err as Error).message);
    }
    const { issuer: named, jwks_uri: jwksUri } = (doc ?? {}) as { issuer?: unknown; jwks_uri?: unknown };
    // OpenID Connect Discovery §4.3: the document must name the issuer it was fetched for.
    if (named !== issuer.url) throw unavailable(`it names issuer ${JSON.stringify(named)}`);
    if (typeof jwksUri !== 'string' || !URL.canParse(jwksUri)) throw unavailable('it has no jwks_uri');
    const keysUrl = new URL(jwksUri);
    if (keysUrl.protocol !== 'https:' && !(keysUrl.protocol === 'http:' && new URL(issuer.url).protocol === 'http:')) {
      throw unavailable(`its jwks_uri ${jwksUri} is not https`);
    }
    // Keep the key set (and what it has cached) while the document still points at it.
    const keys = previous?.jwksUri === jwksUri
      ? previous.keys
      : createRemoteJWKSet(keysUrl, { timeoutDuration: FETCH_TIMEOUT_MS, cooldownDuration: this.opts.jwksCooldownMs });
    const found: Discovered = { jwksUri, keys, untilMs: Date.now() + DISCOVERY_TTL_MS };
    this.discovered.set(issuer.url, found);
    return found;
  }
}

/** What a CI job's log should say about a token that did not verify. */
function explain(err: unknown, jwt: string, audience: string, issuer: OidcIssuer): Error {
  const header = safeHeader(jwt);
  if (err instanceof errors.JWTExpired) {
    const exp = typeof err.payload.exp === 'number' ? new Date(err.payload.exp * 1000).toISOString() : '?';
    return invalid(`the token expired at ${exp}`);
  }
  if (err instanceof errors.JWTClaimValidationFailed) {
    const p = err.payload;
    if (err.reason === 'missing') return invalid(`the token has no "${err.claim}" claim`);
    if (err.claim === 'aud') {
      return invalid(`the token's audience is ${JSON.stringify(p.aud ?? null)}; this server accepts "${audience}" (request the CI token with that audience)`);
    }
    if (err.claim === 'nbf' && typeof p.nbf === 'number') return invalid(`the token is not valid before ${new Date(p.nbf * 1000).toISOString()}`);
    return invalid(`the token's "${err.claim}" claim is not acceptable (${err.message})`);
  }
  if (err instanceof errors.JOSEAlgNotAllowed || err instanceof errors.JOSENotSupported) {
    return invalid(`the token is signed with ${JSON.stringify(header.alg ?? null)}; only ${ASYMMETRIC_ALGORITHMS.join(', ')} are accepted`);
  }
  if (err instanceof errors.JWKSNoMatchingKey || err instanceof errors.JWKSMultipleMatchingKeys) {
    return invalid(`${issuer.url} publishes no single key ${JSON.stringify(header.kid ?? null)} for ${JSON.stringify(header.alg ?? null)}`);
  }
  if (err instanceof errors.JWSSignatureVerificationFailed) return invalid('the token\'s signature does not verify');
  if (err instanceof errors.JWSInvalid || err instanceof errors.JWTInvalid || err instanceof errors.JWKInvalid) {
    return invalid(`the token is malformed: ${err.message}`);
  }
  if (err instanceof errors.JWKSTimeout || err instanceof errors.JWKSInvalid || err instanceof errors.JOSEError || err instanceof TypeError) {
    return new Errors.OIDC_ISSUER_UNAVAILABLE(`could not read the keys of ${issuer.url}: ${(err as Error).message}`);
  }
  return err instanceof Error ? err : new Error(String(err));
}

function safeHeader(jwt: string): { alg?: string; kid?: string } {
  try {
    return decodeProtectedHeader(jwt) as { alg?: string; kid?: string };
  } catch {
    return {};
  }
}

// Trusted publishing: channel owners name the CI workflows they trust
// (publishers); a CI job exchanges its identity token for a channeld token
// that lives 15 minutes and may act only on the channels whose publishers
// the identity matched, with those publishers' access modes.
import { randomUUID } from 'node:crypto';
import type { FastifyBaseLogger } from 'fastify';
import { can } from '../auth/policy.js';
import { CLOCK_TOLERANCE_SECONDS, type OidcVerifier } from '../auth/oidc-verifier.js';
import { newPublisherToken, PUBLISHER_TOKEN_TTL_MS } from '../auth/publisher-tokens.js';
import type { Repositories } from '../db/repositories.js';
import { Errors } from '../errors.js';
import type { AuditLog } from './audit.js';
import type { ChannelService } from './channels.js';
import {
  describeToken, ID_CLAIMS, idMismatch, keptClaims, mismatch, needsPinning, OWNER_CLAIM, PINNED_ID_RE, tokenIds,
} from './publisher-match.js';
import type { AccessMode, Channel, OidcProvider, OidcPublisher, Principal, PublisherClaims } from '../types.js';

export interface PublisherSpec {
  provider: OidcProvider;
  /** GitHub repository owner / GitLab namespace (group/subgroup…). */
  owner: string;
  /** GitHub repository name / GitLab project. */
  project: string;
  /** GitHub workflow file name / GitLab CI config path. */
  workflow: string;
  environment?: string | null;
  accessMode?: AccessMode | null;
  /**
   * The CI's immutable ids of the owner and the project (GitHub
   * repository_owner_id / repository_id, GitLab namespace_id / project_id).
   * Those left out are recorded from the first token that matches by name.
   */
  ownerId?: string | null;
  projectId?: string | null;
}

const PUBLISHER_MODES: readonly AccessMode[] = ['READ', 'READ_WRITE', 'READ_WRITE_DELETE'];

// The names each CI allows; anything else could never match a token.
const FIELD_RULES: Record<OidcProvider, Record<'owner' | 'project' | 'workflow', { re: RegExp; hint: string }>> = {
  github: {
    owner: { re: /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})$/, hint: 'a GitHub user or organisation name' },
    project: { re: /^(?!\.\.?$)[A-Za-z0-9._-]{1,100}$/, hint: 'a GitHub repository name' },
    workflow: { re: /^[^/\\@\s]+\.ya?ml$/, hint: 'the workflow file name only, e.g. release.yml (not its path)' },
  },
  gitlab: {
    owner: { re: /^[A-Za-z0-9_.-]+(?:\/[A-Za-z0-9_.-]+)*$/, hint: 'a GitLab group or user path, e.g. acme or acme/tools' },
    project: { re: /^[A-Za-z0-9_.-]+$/, hint: 'a GitLab project path (the last part of its URL)' },
    workflow: { re: /^(?!\/)(?!.*(?:^|\/)\.\.(?:\/|$))[^@\s]+\.ya?ml$/, hint: 'the CI config path in the project, e.g. .gitlab-ci.yml' },
  },
};
const ENVIRONMENT_RE = /^[^\x00-\x1f]{1,255}$/;

export interface MintResult {
  token: string;
  expiresAt: number;
  channels: string[];
}

export class PublisherService {
  private warnedAboutAudience = false;

  constructor(
    private readonly repos: Repositories,
    private readonly channels: ChannelService,
    private readonly verifier: OidcVerifier,
    private readonly audit: AuditLog,
    private readonly opts: { audience: string | null; publicUrl: string | null; log: FastifyBaseLogger },
  ) {}

  async add(principal: Principal, channelName: string, spec: PublisherSpec): Promise<OidcPublisher> {
    const channel = await this.channels.resolve(principal, channelName, 'manage');
    const rules = FIELD_RULES[spec.provider];
    for (const field of ['owner', 'project', 'workflow'] as const) {
      if (!rules[field].re.test(spec[field])) throw new Errors.BAD_REQUEST(`${JSON.stringify(spec[field])} is not ${rules[field].hint}`);
    }
    const environment = spec.environment?.trim() ?? '';
    if (environment !== '' && !ENVIRONMENT_RE.test(environment)) throw new Errors.BAD_REQUEST('an environment name is 1 to 255 printable characters');
    const accessMode = spec.accessMode ?? 'READ_WRITE';
    if (!PUBLISHER_MODES.includes(accessMode)) {
      throw new Errors.BAD_REQUEST(`a publisher's access mode is one of ${PUBLISHER_MODES.join(', ')} (ALL is for unscoped user keys)`);
    }
    const ids = { ownerId: spec.ownerId ?? null, projectId: spec.projectId ?? null };
    for (const [field, claim] of [['ownerId', ID_CLAIMS[spec.provider].owner], ['projectId', ID_CLAIMS[spec.provider].project]] as const) {
      const v = ids[field];
      if (v !== null && (typeof v !== 'string' || !PINNED_ID_RE.test(v))) {
        throw new Errors.BAD_REQUEST(`${claim} is the decimal id ${spec.provider === 'github' ? 'GitHub' : 'GitLab'} puts in its tokens (1 to 20 digits, no leading zero), not ${JSON.stringify(String(v).slice(0, 40))}`);
      }
    }
    const publisher = await this.repos.oidc.addPublisher({
      id: randomUUID(), channelId: channel.id, provider: spec.provider, owner: spec.owner, project: spec.project,
      workflow: spec.workflow, environment, accessMode, ...ids, createdBy: principal.kind === 'user' ? principal.user.id : null,
    });
    if (!publisher) throw new Errors.CONFLICT(`channel '${channel.name}' already has this publisher`);
    await this.audit.record(principal, 'publisher.added', { channel: channel.name, target: publisher.id, details: describe(publisher) });
    return publisher;
  }

  async delete(principal: Principal, channelName: string, id: string): Promise<OidcPublisher> {
    const channel = await this.channels.resolve(principal, channelName, 'manage');
    const publisher = await this.repos.oidc.deletePublisher(channel.id, id);
    if (!publisher) throw new Errors.NOT_FOUND(`channel '${channel.name}' has no publisher ${JSON.stringify(id)}`);
    await this.audit.record(principal, 'publisher.deleted', { channel: channel.name, target: publisher.id, details: describe(publisher) });
    return publisher;
  }

  /** The channel's publishers, for those who may manage it (they describe its CI setup); [] for others. */
  async list(principal: Principal, channel: Channel): Promise<OidcPublisher[]> {
    if (!can(principal, 'manage', channel)) return [];
    return this.repos.oidc.publishers(channel.id);
  }

  /**
   * The `aud` CI tokens must carry. rattler requests the server's host name,
   * so without configuration it is the host this request came to; set
   * CHANNELD_OIDC_AUDIENCE or CHANNELD_PUBLIC_URL so a token meant for some
   * other service cannot be replayed here with a forged Host header.
   */
  audienceFor(requestHostname: string): string {
    if (this.opts.audience) return this.opts.audience;
    if (this.opts.publicUrl) return new URL(this.opts.publicUrl).hostname.toLowerCase();
    if (!this.warnedAboutAudience) {
      this.warnedAboutAudience = true;
      this.opts.log.warn('trusted publishing takes the token audience from the Host header; set CHANNELD_PUBLIC_URL or CHANNELD_OIDC_AUDIENCE');
    }
    return requestHostname.toLowerCase();
  }

  /**
   * The publisher with the token's ids recorded where it had none yet (the
   * first token that matches it by name; the audit log keeps that token's
   * claims). Null when it was deleted meanwhile.
   */
  private async pinned(p: OidcPublisher, ids: { ownerId: string; projectId: string }, claims: PublisherClaims): Promise<OidcPublisher | null> {
    if (!needsPinning(p)) return p;
    const outcome = await this.repos.oidc.pinPublisherIds(p.id, ids, Date.now());
    if (!outcome) return null;
    if (outcome.changed) {
      const channel = await this.repos.channels.byId(outcome.publisher.channelId);
      const actor: Principal = { kind: 'publisher', grants: [{ publisherId: p.id, channelId: p.channelId, accessMode: p.accessMode }], claims };
      await this.audit.record(actor, 'publisher.ids-pinned', {
        channel: channel?.name ?? null, target: p.id, details: describe(outcome.publisher),
      });
    }
    return outcome.publisher;
  }

  /** Exchanges a CI identity token for a channeld token (the client flow of prefix-api.md §1.4). */
  async mint(jwt: string, audience: string): Promise<MintResult> {
    const verified = await this.verifier.verify(jwt, audience);
    const { provider } = verified.issuer;
    const { claims } = verified;
    const owner = claims[OWNER_CLAIM[provider]];
    if (typeof owner !== 'string') {
      throw new Errors.OIDC_TOKEN_INVALID(`the token has no "${OWNER_CLAIM[provider]}" claim: ${verified.issuer.url} is configured as a ${provider} issuer`);
    }
    const candidates = await this.repos.oidc.publishersOfOwner(provider, owner);
    const kept = keptClaims(provider, claims);
    const matched: OidcPublisher[] = [];
    const refusals: string[] = [];
    const ids = tokenIds(provider, claims);
    for (const candidate of candidates) {
      const byName = mismatch(candidate, claims);
      if (byName !== null) {
        refusals.push(byName);
        continue;
      }
      if ('refusal' in ids) {
        refusals.push(ids.refusal);
        continue;
      }
      const p = await this.pinned(candidate, ids, kept);
      if (!p) {
        refusals.push('the matching publisher was deleted just now');
        continue;
      }
      const byId = idMismatch(p, ids);
      if (byId !== null) {
        // Someone now holds the name this publisher trusts: worth an operator's attention. No token contents here.
        this.opts.log.warn({ publisher: p.id, channelId: p.channelId, provider, differ: byId.claims },
          'trusted publishing: a token matches a publisher by name but its ids differ from those pinned; refused');
        refusals.push(byId.refusal);
        continue;
      }
      matched.push(p);
    }
    if (matched.length === 0) {
      const reasons = [...new Set(refusals)].slice(0, 3);
      throw new Errors.NO_MATCHING_PUBLISHER(reasons.length
        ? `no trusted publisher matches this token: ${reasons.join('; ')}`
        : `no trusted publisher is configured for ${JSON.stringify(owner)} (the token is from ${describeToken(provider, claims)})`);
    }
    const { token, tokenHash } = newPublisherToken();
    const now = Date.now();
    const expiresAt = now + PUBLISHER_TOKEN_TTL_MS;
    const grants = matched.map((p) => ({ publisherId: p.id, channelId: p.channelId, accessMode: p.accessMode }));
    const outcome = await this.repos.oidc.mintToken({
      tokenHash, grants, claims: kept, expiresAt,
      issuer: verified.issuer.url, jti: verified.jti, jtiExpiresAt: verified.expiresAtMs + CLOCK_TOLERANCE_SECONDS * 1000,
    }, now);
    if (outcome === 'replayed') throw new Errors.OIDC_TOKEN_INVALID(`this token (jti ${JSON.stringify(verified.jti)}) was already exchanged; request a new one`);
    if (outcome === 'publisher-gone') throw new Errors.NO_MATCHING_PUBLISHER('the matching publisher was deleted just now');
    const actor: Principal = { kind: 'publisher', grants, claims: kept };
    const channels: string[] = [];
    for (const p of matched) {
      const channel = await this.repos.channels.byId(p.channelId);
      if (channel) channels.push(channel.name);
      await this.audit.record(actor, 'publisher.token-minted', {
        channel: channel?.name ?? null, target: p.id, details: { accessMode: p.accessMode, expiresAt },
      });
    }
    return { token, expiresAt, channels };
  }
}

function describe(p: OidcPublisher): Record<string, string | null> {
  return {
    provider: p.provider, owner: p.owner, project: p.project, workflow: p.workflow, environment: p.environment, accessMode: p.accessMode,
    ownerId: p.ownerId, projectId: p.projectId,
  };
}

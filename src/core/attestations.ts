// The multipart `attestation` part of an upload: a sigstore bundle whose
// DSSE envelope holds an in-toto statement about the package (what
// rattler-build --generate-attestation and GitHub's actions/attest make).
// Kept only after checks that need no network: the bundle's shape, a
// subject with the package's sha256, conda's publish predicate and a
// targetChannel naming this channel. The signature and certificate are not
// verified here (that needs sigstore's trust root); clients verify them
// from `<file>.v0.sigs`.
import { Errors } from '../errors.js';

export const CONDA_PUBLISH_PREDICATE = 'https://schemas.conda.org/attestations-publish-1.schema.json';
const IN_TOTO_PAYLOAD_TYPE = 'application/vnd.in-toto+json';
const STATEMENT_TYPES = ['https://in-toto.io/Statement/v1', 'https://in-toto.io/Statement/v0.1'];
const BASE64_RE = /^[A-Za-z0-9+/_-]+={0,2}$/;
const MAX_BUNDLES = 16;

export interface AttestationTarget {
  /** The package's sha256, lowercase hex. */
  sha256: string;
  channel: string;
  /** When the server knows its public host, targetChannel must name it too. */
  host: string | null;
}

const refuse = (why: string) => new Errors.INVALID_ATTESTATION(`the attestation ${why}`);
const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

/** Checks the part (one bundle, or an array of them) and returns what to store: a JSON array of bundles. */
export function checkAttestation(text: string, target: AttestationTarget): string {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw refuse('is not valid JSON');
  }
  const bundles = Array.isArray(parsed) ? parsed : [parsed];
  if (bundles.length === 0 || bundles.length > MAX_BUNDLES) throw refuse(`must hold 1 to ${MAX_BUNDLES} sigstore bundles`);
  bundles.forEach((b, i) => checkBundle(b, target, bundles.length > 1 ? `bundle ${i}: ` : ''));
  return JSON.stringify(bundles);
}

function checkBundle(bundle: unknown, target: AttestationTarget, where: string): void {
  const fail = (why: string) => refuse(`${where}${why}`);
  if (!isObject(bundle)) throw fail('is not a sigstore bundle (a JSON object)');
  if (typeof bundle.mediaType !== 'string' || !bundle.mediaType.startsWith('application/vnd.dev.sigstore.bundle')) {
    throw fail('is not a sigstore bundle (mediaType application/vnd.dev.sigstore.bundle…)');
  }
  const material = bundle.verificationMaterial;
  if (!isObject(material) || !(isObject(material.certificate) || isObject(material.x509CertificateChain) || isObject(material.publicKey))) {
    throw fail('has no verificationMaterial (certificate, x509CertificateChain or publicKey)');
  }
  const envelope = bundle.dsseEnvelope;
  if (!isObject(envelope)) throw fail('has no dsseEnvelope: it must sign an in-toto statement, not a bare digest');
  if (envelope.payloadType !== IN_TOTO_PAYLOAD_TYPE) throw fail(`payloadType is ${JSON.stringify(envelope.payloadType ?? null)}, not ${IN_TOTO_PAYLOAD_TYPE}`);
  const signatures = envelope.signatures;
  if (!Array.isArray(signatures) || signatures.length === 0 || !signatures.every((s) => isObject(s) && typeof s.sig === 'string' && BASE64_RE.test(s.sig))) {
    throw fail('envelope has no signatures');
  }
  if (typeof envelope.payload !== 'string' || !BASE64_RE.test(envelope.payload)) throw fail('envelope payload is not base64');
  let statement: unknown;
  try {
    statement = JSON.parse(Buffer.from(envelope.payload, 'base64').toString('utf8'));
  } catch {
    throw fail('envelope payload is not an in-toto statement (JSON)');
  }
  if (!isObject(statement) || !STATEMENT_TYPES.includes(statement._type as string)) throw fail('envelope payload is not an in-toto statement');

  const subjects = Array.isArray(statement.subject) ? statement.subject.filter(isObject) : [];
  const digests = subjects.map((s) => (isObject(s.digest) && typeof s.digest.sha256 === 'string' ? s.digest.sha256.toLowerCase() : null));
  if (!digests.includes(target.sha256)) {
    const named = subjects.map((s, i) => `${typeof s.name === 'string' ? s.name : '?'} (sha256 ${digests[i] ?? 'none'})`).join(', ') || 'nothing';
    throw fail(`is about ${named}, not this package (sha256 ${target.sha256})`);
  }
  if (statement.predicateType !== CONDA_PUBLISH_PREDICATE) {
    throw fail(`predicateType is ${JSON.stringify(statement.predicateType ?? null)}, not ${CONDA_PUBLISH_PREDICATE}`);
  }
  const targetChannel = isObject(statement.predicate) ? statement.predicate.targetChannel : undefined;
  if (typeof targetChannel !== 'string' || !URL.canParse(targetChannel)) throw fail('predicate has no targetChannel URL');
  const url = new URL(targetChannel);
  const last = url.pathname.split('/').filter((s) => s !== '').pop();
  if (last !== target.channel) throw fail(`targets channel ${JSON.stringify(targetChannel)}, not '${target.channel}'`);
  if (target.host !== null && url.host.toLowerCase() !== target.host.toLowerCase()) {
    throw fail(`targets ${JSON.stringify(targetChannel)}, a channel on another server than ${target.host}`);
  }
}

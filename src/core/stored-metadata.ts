// Stored records that fail today's metadata rules (made by a server that
// accepted them before the rules existed). They are never served: start-up
// yanks and hides each one that is still listed (nothing is deleted; the file
// stays downloadable and an owner sees why in the UI), warns once per file,
// and `channeld check` lists them all. Unyanking one is refused.
import type { FastifyBaseLogger } from 'fastify';
import type { Repositories } from '../db/repositories.js';
import { indexJsonProblem, type MetadataProblem } from '../conda/index-json.js';

export interface InvalidRecord extends MetadataProblem {
  channelId: number;
  channel: string;
  subdir: string;
  filename: string;
  yanked: boolean;
}

const PAGE = 2000;
/** The yank reason start-up writes (and recognises). */
export const INVALID_METADATA_REASON = 'invalid metadata';

/** The problem of one stored record (its repodata record, as served), or null. */
export function storedRecordProblem(recordJson: string): MetadataProblem | null {
  let record: unknown;
  try {
    record = JSON.parse(recordJson);
  } catch {
    return { field: '(record)', message: 'the stored record is not valid JSON' };
  }
  if (typeof record !== 'object' || record === null || Array.isArray(record)) {
    return { field: '(record)', message: 'the stored record is not a JSON object' };
  }
  return indexJsonProblem(record as Record<string, unknown>);
}

/** Every stored record clients could not read, in storage order. */
export async function findInvalidRecords(repos: Repositories): Promise<InvalidRecord[]> {
  const found: InvalidRecord[] = [];
  for (let after = 0; ;) {
    const page = await repos.packages.recordsAfter(after, PAGE);
    for (const r of page) {
      const problem = storedRecordProblem(r.recordJson);
      if (problem) {
        found.push({ ...problem, channelId: r.channelId, channel: r.channel, subdir: r.subdir, filename: r.filename, yanked: r.yankedReason !== null });
      }
    }
    if (page.length < PAGE) return found;
    after = page[page.length - 1]!.id;
  }
}

/** Start-up: takes every invalid record out of the indexes (yanked + hidden) and warns once per file. */
export async function setAsideInvalidRecords(repos: Repositories, log: FastifyBaseLogger): Promise<number> {
  const invalid = await findInvalidRecords(repos);
  for (const r of invalid) {
    if (!r.yanked) {
      await repos.packages.setYanked([{ channelId: r.channelId, subdir: r.subdir, filename: r.filename }], `${INVALID_METADATA_REASON}: ${r.message}`, true);
    }
    log.warn({ channel: r.channel, subdir: r.subdir, filename: r.filename, field: r.field },
      `stored package left out of every index: ${r.message} (see channeld check)`);
  }
  return invalid.length;
}

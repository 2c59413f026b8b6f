// Removes what published index generations no longer need: older
// generations' files, shards superseded long enough ago, and package files
// whose rows were deleted. A pass calls it after publishing, so a file goes
// only once the index that replaced it is live.
import type { Repositories } from '../db/repositories.js';
import type { PendingFileDeletion, SubdirRef } from '../types.js';
import type { ObjectStore } from '../storage/object-store.js';
import { SHARD_INDEX_FILE, attestationKey, gzipKey, indexFolderKey, indexKey, packageKey, parseIndexFileName, shardKey } from '../storage/keys.js';

const SHARD_COLLECTION_INTERVAL_MS = 10 * 60_000;

export class Collector {
  /** When each subdir's superseded shards were last looked for (per process; a week's grace makes this lazy). */
  private readonly shardsCollectedAt = new Map<string, number>();

  constructor(
    private readonly repos: Repositories,
    private readonly store: ObjectStore,
    /** How long a superseded shard stays downloadable (Config.supersededShardRetentionMs). */
    private readonly supersededShardRetentionMs: number,
  ) {}

  /** Per variant, keeps the live generation and the one before it (a reader may have just looked it up). */
  async oldGenerations(ref: SubdirRef): Promise<void> {
    const state = await this.repos.indexState.get(ref.channelId, ref.subdir);
    if (!state) return;
    const byVariant = new Map<string, number[]>();
    for (const name of await this.store.list(indexFolderKey(ref.channel, ref.subdir))) {
      const file = parseIndexFileName(name);
      if (!file) continue;
      byVariant.set(file.variant, [...(byVariant.get(file.variant) ?? []), file.generation]);
    }
    for (const [variant, gens] of byVariant) {
      const live = variant === SHARD_INDEX_FILE ? state.shardsRevision : state.indexedRevision;
      const older = gens.filter((g) => g < live).sort((a, b) => a - b);
      const keep = new Set([live, older.at(-1)]);
      for (const g of new Set(gens)) {
        if (g >= live || keep.has(g)) continue;
        const key = indexKey(ref.channel, ref.subdir, g, variant);
        await this.store.delete(key);
        await this.store.delete(gzipKey(key));
      }
    }
  }

  /**
   * Superseded shards live supersededShardRetentionMs (a week); looking for expired ones scans the
   * subdir's shard files (15 ms at 18.6k names), so it is done at most every
   * ten minutes, not on every upload's path.
   */
  async expiredShards(ref: SubdirRef, now: number): Promise<void> {
    const key = `${ref.channelId}/${ref.subdir}`;
    if (now - (this.shardsCollectedAt.get(key) ?? 0) < SHARD_COLLECTION_INTERVAL_MS) return;
    this.shardsCollectedAt.set(key, now);
    for (const old of await this.repos.indexState.collectableShards(ref, now - this.supersededShardRetentionMs)) {
      await this.store.delete(shardKey(ref.channel, ref.subdir, old));
      await this.repos.indexState.forgetShardFile(ref, old);
    }
  }

  /** Unlinks package files whose rows were deleted, once both kinds of index no longer list them. */
  async deletedPackages(deletions: PendingFileDeletion[]): Promise<void> {
    for (const d of deletions) {
      await this.store.delete(packageKey(d.channel, d.subdir, d.filename));
      await this.store.delete(attestationKey(d.channel, d.subdir, d.filename));
    }
    await this.repos.indexState.forgetDeletions(deletions.map((d) => d.id));
  }
}

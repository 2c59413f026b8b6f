import type { ChannelRepository, ChannelUpdate, NewChannel } from '../repositories.js';
import type { Channel, ChannelMember, ChannelRole } from '../../types.js';
import { type ChannelRow, type MemberRow, toChannel, toMember } from '../shared/rows.js';
import { type Pool, changes, inTransaction, row, rows } from './database.js';

const MEMBER_SELECT = `SELECT m.channel_id, m.user_id, u.login, m.role, m.created_at
                       FROM channel_members m JOIN users u ON u.id = m.user_id`;

export class PgChannelRepository implements ChannelRepository {
  constructor(private readonly pool: Pool) {}

  async create(c: NewChannel): Promise<Channel | null> {
    return inTransaction(this.pool, async (tx) => {
      const now = Date.now();
      const r = await row<ChannelRow>(tx,
        `INSERT INTO channels (name, owner_id, is_public, description, logo, allow_v3_uploads, relation_base_id,
           relation_overrides_id, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9)
         ON CONFLICT (name) DO NOTHING RETURNING *`,
        [c.name, c.ownerId, c.isPublic ? 1 : 0, c.description, c.logo ?? null, c.allowV3Uploads ? 1 : 0,
          c.relationBaseId ?? null, c.relationOverridesId ?? null, now]);
      if (!r) return null;
      // Every channel serves noarch/repodata.json from the start: clients
      // probe noarch to decide whether a channel exists.
      await tx.query(`INSERT INTO subdirs (channel_id, subdir, revision, indexed_revision) VALUES ($1, 'noarch', 1, 0)`, [r.id]);
      return toChannel(r);
    });
  }

  async byName(name: string): Promise<Channel | null> {
    const r = await row<ChannelRow>(this.pool, 'SELECT * FROM channels WHERE name = $1', [name]);
    return r ? toChannel(r) : null;
  }

  async byId(id: number): Promise<Channel | null> {
    const r = await row<ChannelRow>(this.pool, 'SELECT * FROM channels WHERE id = $1', [id]);
    return r ? toChannel(r) : null;
  }

  async list(): Promise<Channel[]> {
    return (await rows<ChannelRow>(this.pool, 'SELECT * FROM channels ORDER BY name')).map(toChannel);
  }

  async update(id: number, u: ChannelUpdate): Promise<Channel | null> {
    const r = await row<ChannelRow>(this.pool,
      `UPDATE channels SET
         description = CASE WHEN $2::boolean THEN $3 ELSE description END,
         is_public = coalesce($4, is_public),
         logo = CASE WHEN $5::boolean THEN $6 ELSE logo END,
         allow_v3_uploads = coalesce($7, allow_v3_uploads),
         relation_base_id = CASE WHEN $8::boolean THEN $9::bigint ELSE relation_base_id END,
         relation_overrides_id = CASE WHEN $10::boolean THEN $11::bigint ELSE relation_overrides_id END,
         updated_at = $12
       WHERE id = $1 RETURNING *`,
      [id,
        u.description !== undefined, u.description ?? null,
        u.isPublic === undefined ? null : u.isPublic ? 1 : 0,
        u.logo !== undefined, u.logo ?? null,
        u.allowV3Uploads === undefined ? null : u.allowV3Uploads ? 1 : 0,
        u.relationBaseId !== undefined, u.relationBaseId ?? null,
        u.relationOverridesId !== undefined, u.relationOverridesId ?? null,
        Date.now()]);
    return r ? toChannel(r) : null;
  }

  async delete(id: number): Promise<boolean> {
    return inTransaction(this.pool, async (tx) => {
      await tx.query('DELETE FROM file_deletions WHERE channel_id = $1', [id]);
      return (await changes(tx, 'DELETE FROM channels WHERE id = $1', [id])) > 0;
    });
  }

  async members(channelId: number): Promise<ChannelMember[]> {
    return (await rows<MemberRow>(this.pool, `${MEMBER_SELECT} WHERE m.channel_id = $1 ORDER BY u.login`, [channelId])).map(toMember);
  }

  async membersOf(channelIds: number[]): Promise<ChannelMember[]> {
    return (await rows<MemberRow>(this.pool,
      `${MEMBER_SELECT} WHERE m.channel_id = ANY($1::bigint[]) ORDER BY m.channel_id, u.login`, [channelIds])).map(toMember);
  }

  async setMember(channelId: number, userId: number, role: ChannelRole): Promise<void> {
    await this.pool.query(
      `INSERT INTO channel_members (channel_id, user_id, role, created_at) VALUES ($1, $2, $3, $4)
       ON CONFLICT (channel_id, user_id) DO UPDATE SET role = excluded.role`, [channelId, userId, role, Date.now()]);
  }

  async removeMember(channelId: number, userId: number): Promise<boolean> {
    return (await changes(this.pool, 'DELETE FROM channel_members WHERE channel_id = $1 AND user_id = $2', [channelId, userId])) > 0;
  }

  async sizeBytes(channelId: number): Promise<number> {
    return (await row<{ n: number }>(this.pool, 'SELECT coalesce(sum(size_bytes), 0) AS n FROM packages WHERE channel_id = $1', [channelId]))!.n;
  }

  async rolesOfUser(userId: number): Promise<Map<number, ChannelRole>> {
    const found = await rows<{ channel_id: number; role: string }>(this.pool, 'SELECT channel_id, role FROM channel_members WHERE user_id = $1', [userId]);
    return new Map(found.map((r) => [r.channel_id, r.role as ChannelRole]));
  }
}

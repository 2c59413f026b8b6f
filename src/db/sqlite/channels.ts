import type { SqliteDb } from './database.js';
import type { ChannelRepository, ChannelUpdate, NewChannel } from '../repositories.js';
import type { Channel, ChannelMember, ChannelRole } from '../../types.js';
import { type ChannelRow, type MemberRow, toChannel, toMember } from '../shared/rows.js';

export class SqliteChannelRepository implements ChannelRepository {
  private readonly createTx;
  private readonly selectByName;
  private readonly selectById;
  private readonly selectAll;
  private readonly updateStmt;
  private readonly deleteStmt;
  private readonly selectMembers;
  private readonly selectMembersOf;
  private readonly upsertMember;
  private readonly deleteMemberStmt;
  private readonly selectSize;
  private readonly selectRoles;

  constructor(db: SqliteDb) {
    const insert = db.prepare(
      `INSERT INTO channels (name, owner_id, is_public, description, logo, allow_v3_uploads, relation_base_id,
         relation_overrides_id, created_at, updated_at)
       VALUES (@name, @ownerId, @isPublic, @description, @logo, @allowV3Uploads, @relationBaseId,
         @relationOverridesId, @now, @now)
       ON CONFLICT (name) DO NOTHING RETURNING *`);
    // Every channel serves noarch/repodata.json from the start: clients probe
    // noarch to decide whether a channel exists.
    const insertNoarch = db.prepare<[number]>(
      `INSERT INTO subdirs (channel_id, subdir, revision, indexed_revision) VALUES (?, 'noarch', 1, 0)`);
    this.createTx = db.transaction((c: NewChannel): Channel | null => {
      const row = insert.get({
        name: c.name, ownerId: c.ownerId, isPublic: c.isPublic ? 1 : 0, description: c.description,
        logo: c.logo ?? null, allowV3Uploads: c.allowV3Uploads ? 1 : 0, relationBaseId: c.relationBaseId ?? null,
        relationOverridesId: c.relationOverridesId ?? null, now: Date.now(),
      }) as ChannelRow | undefined;
      if (!row) return null;
      insertNoarch.run(row.id);
      return toChannel(row);
    });
    this.selectByName = db.prepare<[string], ChannelRow>('SELECT * FROM channels WHERE name = ?');
    this.selectById = db.prepare<[number], ChannelRow>('SELECT * FROM channels WHERE id = ?');
    this.selectAll = db.prepare<[], ChannelRow>('SELECT * FROM channels ORDER BY name');
    this.updateStmt = db.prepare(
      `UPDATE channels SET
         description = CASE WHEN @setDescription THEN @description ELSE description END,
         is_public = coalesce(@isPublic, is_public),
         logo = CASE WHEN @setLogo THEN @logo ELSE logo END,
         allow_v3_uploads = coalesce(@allowV3Uploads, allow_v3_uploads),
         relation_base_id = CASE WHEN @setBase THEN @relationBaseId ELSE relation_base_id END,
         relation_overrides_id = CASE WHEN @setOverrides THEN @relationOverridesId ELSE relation_overrides_id END,
         updated_at = @now
       WHERE id = @id RETURNING *`);
    const deleteChannel = db.prepare<[number]>('DELETE FROM channels WHERE id = ?');
    const deleteDeletions = db.prepare<[number]>('DELETE FROM file_deletions WHERE channel_id = ?');
    this.deleteStmt = db.transaction((id: number): boolean => {
      deleteDeletions.run(id);
      return deleteChannel.run(id).changes > 0;
    });
    const memberSelect = `SELECT m.channel_id, m.user_id, u.login, m.role, m.created_at
                          FROM channel_members m JOIN users u ON u.id = m.user_id`;
    this.selectMembers = db.prepare<[number], MemberRow>(`${memberSelect} WHERE m.channel_id = ? ORDER BY u.login`);
    this.selectMembersOf = db.prepare<[string], MemberRow>(
      `${memberSelect} WHERE m.channel_id IN (SELECT value FROM json_each(?)) ORDER BY m.channel_id, u.login`);
    this.upsertMember = db.prepare(
      `INSERT INTO channel_members (channel_id, user_id, role, created_at) VALUES (@channelId, @userId, @role, @now)
       ON CONFLICT (channel_id, user_id) DO UPDATE SET role = excluded.role`);
    this.deleteMemberStmt = db.prepare<[number, number]>('DELETE FROM channel_members WHERE channel_id = ? AND user_id = ?');
    this.selectRoles = db.prepare<[number], { channel_id: number; role: string }>(
      'SELECT channel_id, role FROM channel_members WHERE user_id = ?');
    this.selectSize = db.prepare<[number], { n: number }>(
      'SELECT coalesce(sum(size_bytes), 0) AS n FROM packages WHERE channel_id = ?');
  }

  async create(channel: NewChannel): Promise<Channel | null> {
    return this.createTx.immediate(channel);
  }

  async byName(name: string): Promise<Channel | null> {
    const r = this.selectByName.get(name);
    return r ? toChannel(r) : null;
  }

  async byId(id: number): Promise<Channel | null> {
    const r = this.selectById.get(id);
    return r ? toChannel(r) : null;
  }

  async list(): Promise<Channel[]> {
    return this.selectAll.all().map(toChannel);
  }

  async update(id: number, u: ChannelUpdate): Promise<Channel | null> {
    const row = this.updateStmt.get({
      id,
      setDescription: u.description !== undefined ? 1 : 0, description: u.description ?? null,
      isPublic: u.isPublic === undefined ? null : u.isPublic ? 1 : 0,
      setLogo: u.logo !== undefined ? 1 : 0, logo: u.logo ?? null,
      allowV3Uploads: u.allowV3Uploads === undefined ? null : u.allowV3Uploads ? 1 : 0,
      setBase: u.relationBaseId !== undefined ? 1 : 0, relationBaseId: u.relationBaseId ?? null,
      setOverrides: u.relationOverridesId !== undefined ? 1 : 0, relationOverridesId: u.relationOverridesId ?? null,
      now: Date.now(),
    }) as ChannelRow | undefined;
    return row ? toChannel(row) : null;
  }

  async delete(id: number): Promise<boolean> {
    return this.deleteStmt.immediate(id);
  }

  async members(channelId: number): Promise<ChannelMember[]> {
    return this.selectMembers.all(channelId).map(toMember);
  }

  async membersOf(channelIds: number[]): Promise<ChannelMember[]> {
    return this.selectMembersOf.all(JSON.stringify(channelIds)).map(toMember);
  }

  async setMember(channelId: number, userId: number, role: ChannelRole): Promise<void> {
    this.upsertMember.run({ channelId, userId, role, now: Date.now() });
  }

  async removeMember(channelId: number, userId: number): Promise<boolean> {
    return this.deleteMemberStmt.run(channelId, userId).changes > 0;
  }

  async sizeBytes(channelId: number): Promise<number> {
    return this.selectSize.get(channelId)!.n;
  }

  async rolesOfUser(userId: number): Promise<Map<number, ChannelRole>> {
    return new Map(this.selectRoles.all(userId).map((r) => [r.channel_id, r.role as ChannelRole]));
  }
}

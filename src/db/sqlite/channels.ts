import type { SqliteDb } from '../database.js';
import type { ChannelRepository, NewChannel } from '../repositories.js';
import type { Channel } from '../../core/types.js';

interface ChannelRow {
  id: number; name: string; owner_id: number; is_public: number; description: string | null;
  created_at: number; updated_at: number;
}

const toChannel = (r: ChannelRow): Channel => ({
  id: r.id, name: r.name, ownerId: r.owner_id, isPublic: r.is_public === 1, description: r.description,
  createdAt: r.created_at, updatedAt: r.updated_at,
});

export class SqliteChannelRepository implements ChannelRepository {
  private readonly createTx;
  private readonly selectByName;
  private readonly selectById;
  private readonly selectAll;

  constructor(db: SqliteDb) {
    const insert = db.prepare<[string, number, number, string | null, number, number], ChannelRow>(
      `INSERT INTO channels (name, owner_id, is_public, description, created_at, updated_at)
       VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (name) DO NOTHING RETURNING *`);
    // Every channel serves noarch/repodata.json from the start: clients probe
    // noarch to decide whether a channel exists.
    const insertNoarch = db.prepare<[number]>(
      `INSERT INTO subdirs (channel_id, subdir, revision, indexed_revision) VALUES (?, 'noarch', 1, 0)`);
    this.createTx = db.transaction((c: NewChannel): Channel | null => {
      const now = Date.now();
      const row = insert.get(c.name, c.ownerId, c.isPublic ? 1 : 0, c.description, now, now);
      if (!row) return null;
      insertNoarch.run(row.id);
      return toChannel(row);
    });
    this.selectByName = db.prepare<[string], ChannelRow>('SELECT * FROM channels WHERE name = ?');
    this.selectById = db.prepare<[number], ChannelRow>('SELECT * FROM channels WHERE id = ?');
    this.selectAll = db.prepare<[], ChannelRow>('SELECT * FROM channels ORDER BY name');
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
}

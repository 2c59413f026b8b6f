// Channels: creation and lookup. A new channel gets its empty
// noarch/repodata.json written before create() returns: clients probe noarch
// to decide whether a channel exists.
import type { Repositories } from '../db/repositories.js';
import { Errors } from '../errors.js';
import { validateChannelName } from './conda-names.js';
import type { Channel, SubdirRef } from './types.js';

export interface IndexNow {
  indexNow(ref: SubdirRef): Promise<void>;
}

export class ChannelService {
  constructor(private readonly repos: Repositories, private readonly indexer: IndexNow) {}

  async create(name: string, ownerId: number, opts: { isPublic: boolean; description?: string | null }): Promise<Channel> {
    validateChannelName(name);
    const channel = await this.repos.channels.create({
      name, ownerId, isPublic: opts.isPublic, description: opts.description ?? null,
    });
    if (!channel) throw new Errors.CONFLICT(`channel '${name}' already exists`);
    await this.indexer.indexNow({ channelId: channel.id, channel: channel.name, subdir: 'noarch' });
    return channel;
  }

  async byName(name: string): Promise<Channel | null> {
    return this.repos.channels.byName(name);
  }
}

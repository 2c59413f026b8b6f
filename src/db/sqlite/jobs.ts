import type { SqliteDb } from './database.js';
import type { JobRepository } from '../repositories.js';
import type { BackgroundJob } from '../../types.js';
import { type JobRow, toJob } from '../shared/rows.js';

export class SqliteJobRepository implements JobRepository {
  private readonly insert;
  private readonly select;
  private readonly updateStmt;

  constructor(db: SqliteDb) {
    this.insert = db.prepare(
      `INSERT INTO background_jobs (id, job_type, status, channel_id, created_by, payload, total_count, processed_count,
         failed_count, error_message, results, created_at)
       VALUES (@id, @jobType, @status, @channelId, @createdBy, @payload, @totalCount, @processedCount, @failedCount,
         @errorMessage, @results, @now) RETURNING *`);
    this.select = db.prepare<[string], JobRow>('SELECT * FROM background_jobs WHERE id = ?');
    this.updateStmt = db.prepare(
      `UPDATE background_jobs SET status = coalesce(@status, status), processed_count = coalesce(@processedCount, processed_count),
         failed_count = coalesce(@failedCount, failed_count), total_count = coalesce(@totalCount, total_count),
         error_message = coalesce(@errorMessage, error_message), results = coalesce(@results, results),
         completed_at = coalesce(@completedAt, completed_at)
       WHERE id = @id`);
  }

  async create(job: Omit<BackgroundJob, 'createdAt' | 'completedAt'>): Promise<BackgroundJob> {
    return toJob(this.insert.get({
      ...job, payload: JSON.stringify(job.payload), results: job.results === null || job.results === undefined ? null : JSON.stringify(job.results),
      now: Date.now(),
    }) as JobRow);
  }

  async get(id: string): Promise<BackgroundJob | null> {
    const r = this.select.get(id);
    return r ? toJob(r) : null;
  }

  async update(id: string, patch: Partial<Pick<BackgroundJob, 'status' | 'processedCount' | 'failedCount' | 'errorMessage' | 'results' | 'completedAt' | 'totalCount'>>): Promise<void> {
    this.updateStmt.run({
      id, status: patch.status ?? null, processedCount: patch.processedCount ?? null, failedCount: patch.failedCount ?? null,
      totalCount: patch.totalCount ?? null, errorMessage: patch.errorMessage ?? null,
      results: patch.results === undefined ? null : JSON.stringify(patch.results), completedAt: patch.completedAt ?? null,
    });
  }
}

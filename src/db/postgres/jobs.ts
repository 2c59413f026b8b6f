import type { JobRepository } from '../repositories.js';
import type { BackgroundJob } from '../../types.js';
import { type JobRow, toJob } from '../shared/rows.js';
import { type Pool, row } from './database.js';

export class PgJobRepository implements JobRepository {
  constructor(private readonly pool: Pool) {}

  async create(job: Omit<BackgroundJob, 'createdAt' | 'completedAt'>): Promise<BackgroundJob> {
    return toJob((await row<JobRow>(this.pool,
      `INSERT INTO background_jobs (id, job_type, status, channel_id, created_by, payload, total_count, processed_count,
         failed_count, error_message, results, created_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) RETURNING *`,
      [job.id, job.jobType, job.status, job.channelId, job.createdBy, JSON.stringify(job.payload), job.totalCount,
        job.processedCount, job.failedCount, job.errorMessage,
        job.results === null || job.results === undefined ? null : JSON.stringify(job.results), Date.now()]))!);
  }

  async get(id: string): Promise<BackgroundJob | null> {
    const r = await row<JobRow>(this.pool, 'SELECT * FROM background_jobs WHERE id = $1', [id]);
    return r ? toJob(r) : null;
  }

  async update(id: string, patch: Partial<Pick<BackgroundJob, 'status' | 'processedCount' | 'failedCount' | 'errorMessage' | 'results' | 'completedAt' | 'totalCount'>>): Promise<void> {
    await this.pool.query(
      `UPDATE background_jobs SET status = coalesce($2, status), processed_count = coalesce($3, processed_count),
         failed_count = coalesce($4, failed_count), total_count = coalesce($5, total_count),
         error_message = coalesce($6, error_message), results = coalesce($7, results),
         completed_at = coalesce($8, completed_at)
       WHERE id = $1`,
      [id, patch.status ?? null, patch.processedCount ?? null, patch.failedCount ?? null, patch.totalCount ?? null,
        patch.errorMessage ?? null, patch.results === undefined ? null : JSON.stringify(patch.results), patch.completedAt ?? null]);
  }
}

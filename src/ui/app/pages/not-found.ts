import { gql } from '../api.js';
import { notFound, type PageCtx } from '../ctx.js';

// Unknown address: the one request only asks who is signed in, for the header.
export async function notFoundPage(ctx: PageCtx): Promise<void> {
  const { data } = await gql<{ viewer: { login: string } | null }>('query Viewer { viewer { login } }');
  ctx.setViewer(data.viewer?.login ?? null);
  notFound(ctx);
}

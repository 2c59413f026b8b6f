// The GraphQL schema, as SDL in schema.graphql beside this file (copied
// into dist/ by the build), read once at start-up.
import fs from 'node:fs';

export const schema = fs.readFileSync(new URL('./schema.graphql', import.meta.url), 'utf8');

// s3rver in a process of its own, for benchmarks: in the benchmark's own
// process it would share an event loop with the load generator and slow
// both. Prints its endpoint as one line, runs until stdin closes (so it can
// never outlive the script that started it).
import { startS3Double } from '../../test/helpers/backends.js';

const s3 = await startS3Double();
process.stdout.write(`${s3.endpoint}\n`);
// The helper unrefs its server (tests must not hang on it); here stdin keeps the process up.
process.stdin.resume();
process.stdin.on('end', () => void s3.close().finally(() => process.exit(0)));

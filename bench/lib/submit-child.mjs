// The scheduler benchmark's load generator, in a process of its own: it submits BENCH_SUBMIT_N tasks
// (POST /api/v1/tasks, BENCH_SUBMIT_CONCURRENCY in flight) and prints their ids as one JSON line. Its
// client work (HTTP, JSON) would otherwise run on the event loop of the server it measures — the
// benchmark runs the server in its own process — as submissions from other machines never do.
// Plain JavaScript with node:http (a keep-alive agent): started with plain `node`, no loader.
import { Buffer } from 'node:buffer';
import http from 'node:http';

const url = new URL('/api/v1/tasks', process.env.BENCH_SUBMIT_URL);
const n = Number(process.env.BENCH_SUBMIT_N);
const concurrency = Number(process.env.BENCH_SUBMIT_CONCURRENCY ?? 8);
const body = process.env.BENCH_SUBMIT_BODY;
const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });

function submit() {
  return new Promise((resolve, reject) => {
    const req = http.request(
      url,
      {
        method: 'POST',
        agent,
        headers: {
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(body),
          authorization: `Bearer ${process.env.BENCH_SUBMIT_TOKEN}`,
        },
        timeout: 60_000,
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c) => (text += c));
        res.on('end', () => {
          if (res.statusCode !== 201) reject(new Error(`submit answered ${res.statusCode}: ${text}`));
          else resolve(JSON.parse(text).task_id);
        });
      },
    );
    req.on('timeout', () => req.destroy(new Error('submit timed out')));
    req.on('error', reject);
    req.end(body);
  });
}

const ids = [];
let next = 0;
await Promise.all(
  Array.from({ length: concurrency }, async () => {
    while (next < n) {
      next++;
      ids.push(await submit());
    }
  }),
);
agent.destroy();
process.stdout.write(JSON.stringify({ ids }) + '\n');

// Sends log lines to siftd's Loki push API with a Loki client from npm,
// winston-loki (a winston transport): snappy-compressed protobuf by
// default, JSON with "json".  Used by tests/blackbox/test_shippers_loki.py
// and bench/shippers.py.
//
// Usage: node loki_send.mjs URL proto|json COUNT TAG
//   URL    siftd's base URL; the client posts to URL/loki/api/v1/push
//   COUNT  lines, "<TAG> n<i>", with stream labels app=winston-app,
//          env=test and the level as a label; JSON also carries the
//          line's meta ({seq: i}) as structured metadata
// Exits 0 once every batch was answered 2xx, non-zero otherwise.
import winston from 'winston';
import LokiTransport from 'winston-loki';

const [url, mode, countArg, tag] = process.argv.slice(2);
if (!url || !tag || !['proto', 'json'].includes(mode)) {
  console.error('usage: node loki_send.mjs URL proto|json COUNT TAG');
  process.exit(2);
}
const count = Number(countArg);
let failures = 0;
const transport = new LokiTransport({
  host: url,
  json: mode === 'json',
  batching: true,
  interval: 0.2,
  labels: { app: 'winston-app', env: 'test' },
  clearOnError: false,
  gracefulShutdown: false,
  headers: process.env.SIFT_TOKEN
    ? { Authorization: `Bearer ${process.env.SIFT_TOKEN}` }
    : {},
  onConnectionError: (err) => {
    failures++;
    console.error('push failed:', err.message);
  },
});
const logger = winston.createLogger({ transports: [transport] });
const levels = ['info', 'warn', 'error'];
for (let i = 0; i < count; i++)
  logger.log(levels[i % 3], `${tag} n${i}`, { seq: i });
await transport.flush();
await transport.close();
if (failures) {
  console.error(`${failures} push(es) failed`);
  process.exit(1);
}
console.log(`sent ${count}`);

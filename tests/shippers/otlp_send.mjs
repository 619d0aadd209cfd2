// Sends log records to siftd with the OpenTelemetry JS SDK's own OTLP/HTTP
// log exporter, as an instrumented application would: a LoggerProvider with
// a resource, a batch processor and @opentelemetry/exporter-logs-otlp-http
// (OTLP/JSON) or -proto (binary protobuf).  Used by
// tests/blackbox/test_shippers_otlp.py and bench/shippers.py.
//
// Usage: node otlp_send.mjs URL http|proto COUNT TAG [gzip]
//   URL    siftd's base URL; the exporter posts to URL/v1/logs
//   COUNT  records to send, numbered 0..COUNT-1 in the body "<TAG> n<i>"
//   TAG    a word unique to the run
// Exits 0 once every record was exported (forceFlush resolved without an
// export error), non-zero otherwise.
import { SeverityNumber } from '@opentelemetry/api-logs';
import { resourceFromAttributes } from '@opentelemetry/resources';
import {
  BatchLogRecordProcessor,
  LoggerProvider,
} from '@opentelemetry/sdk-logs';

const [url, proto, countArg, tag, gzip] = process.argv.slice(2);
if (!url || !tag || !['http', 'proto'].includes(proto)) {
  console.error('usage: node otlp_send.mjs URL http|proto COUNT TAG [gzip]');
  process.exit(2);
}
const count = Number(countArg);
const mod = await import(
  proto === 'http'
    ? '@opentelemetry/exporter-logs-otlp-http'
    : '@opentelemetry/exporter-logs-otlp-proto'
);

let failures = 0;
const inner = new mod.OTLPLogExporter({
  url: `${url}/v1/logs`,
  compression: gzip === 'gzip' ? 'gzip' : 'none',
  headers: process.env.SIFT_TOKEN
    ? { Authorization: `Bearer ${process.env.SIFT_TOKEN}` }
    : {},
});
// Count export failures: the SDK only logs them.
const exporter = {
  export(records, done) {
    inner.export(records, (result) => {
      if (result.code !== 0) {
        failures++;
        console.error('export failed:', result.error?.message ?? result);
      }
      done(result);
    });
  },
  shutdown: () => inner.shutdown(),
  forceFlush: () => inner.forceFlush?.(),
};

const provider = new LoggerProvider({
  resource: resourceFromAttributes({
    'service.name': `otel-${proto}`,
    'host.name': 'node-host-1',
    'deployment.environment': 'test',
  }),
  processors: [
    new BatchLogRecordProcessor({
      exporter,
      maxExportBatchSize: 100,
      maxQueueSize: Math.max(2048, count + 1),
      scheduledDelayMillis: 50,
    }),
  ],
});
const logger = provider.getLogger('checkout-lib', '1.4.2');

const levels = [
  [SeverityNumber.INFO, 'INFO'],
  [SeverityNumber.WARN, 'WARN'],
  [SeverityNumber.ERROR, 'ERROR'],
];
for (let i = 0; i < count; i++) {
  const [num, text] = levels[i % levels.length];
  const structured = i % 10 === 9;
  logger.emit({
    severityNumber: num,
    severityText: text,
    body: structured
      ? { message: `${tag} n${i}`, order: { id: `A-${i}`, total: i * 1.5 } }
      : `${tag} n${i}`,
    attributes: { 'http.status_code': 200 + (i % 5), seq: i, tag },
    timestamp: Date.now(),
  });
}
await provider.forceFlush();
await provider.shutdown();
if (failures) {
  console.error(`${failures} export(s) failed`);
  process.exit(1);
}
console.log(`sent ${count}`);

// --metrics-listen: GET /metrics on a loopback TCP port for a local Prometheus (or node_exporter's
// textfile collector's neighbours). Only /metrics: the task API never answers here.
import http from 'node:http';
import type { Logger } from 'pino';
import { parseLoopbackAddress } from '../util/loopback.js';
import { ConfigError } from '../errors.js';

export async function listenMetrics(
  address: string,
  metrics: { contentType: string; render(): Promise<string> },
  logger: Logger,
): Promise<http.Server> {
  const a = parseLoopbackAddress(address);
  if (!a) throw new ConfigError('--metrics-listen', `${JSON.stringify(address)} is not a loopback address and port`);
  const log = logger.child({ component: 'metrics' });
  const server = http.createServer({ headersTimeout: 5_000, requestTimeout: 10_000 }, (req, res) => {
    const p = new URL(req.url ?? '/', 'http://metrics').pathname;
    if (req.method !== 'GET' || p !== '/metrics') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('only GET /metrics here\n');
      return;
    }
    metrics.render().then(
      (body) => res.writeHead(200, { 'content-type': metrics.contentType, 'content-length': Buffer.byteLength(body) }).end(body),
      (err: unknown) => {
        log.error({ err }, 'metrics render failed');
        res.writeHead(500, { 'content-type': 'text/plain' }).end('metrics failed; see the daemon log\n');
      },
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) => reject(new ConfigError('--metrics-listen', `cannot listen on ${address}: ${err.code ?? err.message}`)));
    server.listen({ host: a.host, port: a.port, exclusive: true }, () => resolve());
  });
  log.info({ address }, 'metrics listening on loopback TCP');
  return server;
}

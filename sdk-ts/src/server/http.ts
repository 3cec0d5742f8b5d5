/**
 * The server's HTTP side: GET /health (JSON, for load balancers, orchestrators and
 * humans) and GET /metrics (Prometheus text). Plain node:http: two read-only endpoints
 * do not need a framework, and nothing here accepts a body.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';
import { RustDHTError } from '../errors.js';
import type { PeerRole, Transport } from '../network/types.js';

export interface HealthPeer {
  readonly peerId: string;
  readonly transport: Transport;
  readonly role: PeerRole | undefined;
  /** Last ping round trip; undefined (absent from the JSON) before the first ping. */
  readonly rttMs: number | undefined;
}

/** The body of GET /health. */
export interface HealthJson {
  readonly status: 'ok';
  readonly peerId: string;
  /** Addresses other peers can dial, with /p2p/<peerId>. */
  readonly addresses: readonly string[];
  readonly peers: { readonly count: number; readonly list: readonly HealthPeer[] };
  /** offline: no peer; syncing: outbox entries or requests in flight; idle: caught up. */
  readonly state: 'offline' | 'syncing' | 'idle';
  readonly uptimeSeconds: number;
  readonly store: { readonly bytes: number };
  readonly outboxSize: number;
  readonly version: string;
}

export interface HttpServerOptions {
  /** 0: any free port (read it back from the result). */
  readonly port: number;
  /** Default 127.0.0.1. */
  readonly host?: string;
  readonly health: () => Promise<HealthJson> | HealthJson;
  readonly metrics: Registry;
}

export interface HttpServer {
  /** The port actually bound (differs from the option when it was 0). */
  readonly port: number;
  readonly host: string;
  /** e.g. http://127.0.0.1:7400 */
  readonly url: string;
  /** Stops accepting connections, lets requests in flight finish (at most a few seconds), then resolves. */
  close(): Promise<void>;
}

/** How long close() waits for requests in flight before cutting their connections. */
const CLOSE_GRACE_MS = 3000;

function send(response: ServerResponse, status: number, contentType: string, body: string, headers: Record<string, string> = {}): void {
  response.writeHead(status, {
    'content-type': contentType,
    'content-length': Buffer.byteLength(body),
    // Health and metrics describe this instant: a cached copy is a wrong answer.
    'cache-control': 'no-store',
    ...headers,
  });
  // For HEAD, node:http sends the headers and drops the body.
  response.end(body);
}

function sendJson(response: ServerResponse, status: number, value: unknown, headers?: Record<string, string>): void {
  send(response, status, 'application/json; charset=utf-8', `${JSON.stringify(value)}\n`, headers);
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

async function handle(options: HttpServerOptions, request: IncomingMessage, response: ServerResponse): Promise<void> {
  // Only the path matters; the base is a placeholder for URL's parser.
  const path = new URL(request.url ?? '/', 'http://localhost').pathname.replace(/\/+$/, '') || '/';
  const known = path === '/health' || path === '/metrics';
  if (!known) {
    sendJson(response, 404, { error: 'not found', path, endpoints: ['/health', '/metrics'] });
    return;
  }
  // HEAD too: some load balancers probe with it, and it costs nothing to answer.
  if (request.method !== 'GET' && request.method !== 'HEAD') {
    sendJson(response, 405, { error: `method ${request.method ?? '?'} not allowed`, allow: ['GET', 'HEAD'] }, { allow: 'GET, HEAD' });
    return;
  }
  if (path === '/health') {
    try {
      sendJson(response, 200, await options.health());
    } catch (error) {
      // 503 tells a load balancer to route around this server.
      sendJson(response, 503, { status: 'error', error: messageOf(error) });
    }
    return;
  }
  try {
    send(response, 200, options.metrics.contentType, await options.metrics.metrics());
  } catch (error) {
    send(response, 500, 'text/plain; charset=utf-8', `# metrics collection failed: ${messageOf(error)}\n`);
  }
}

/** Starts listening; rejects with code `http/listen` (e.g. the port is taken). */
export function startHttpServer(options: HttpServerOptions): Promise<HttpServer> {
  const host = options.host ?? '127.0.0.1';
  const server = createServer((request, response) => {
    // Bodies are never read: drain them so keep-alive connections stay usable.
    request.resume();
    handle(options, request, response).catch((error: unknown) => {
      if (!response.headersSent) sendJson(response, 500, { error: messageOf(error) });
      else response.destroy();
    });
  });
  return new Promise((resolve, reject) => {
    const onError = (error: NodeJS.ErrnoException): void => {
      const why = error.code === 'EADDRINUSE' ? 'the port is already in use' : error.code === 'EADDRNOTAVAIL' ? 'no such local address' : error.message;
      reject(new RustDHTError('http/listen', `cannot serve HTTP on ${host}:${options.port}: ${why}`, { cause: error }));
    };
    server.once('error', onError);
    server.listen(options.port, host, () => {
      server.off('error', onError);
      const { port } = server.address() as AddressInfo;
      const urlHost = host.includes(':') ? `[${host}]` : host;
      let closing: Promise<void> | undefined;
      resolve({
        port,
        host,
        url: `http://${urlHost}:${port}`,
        close: () =>
          (closing ??= new Promise<void>((done) => {
            const force = setTimeout(() => server.closeAllConnections(), CLOSE_GRACE_MS);
            force.unref();
            server.close(() => {
              clearTimeout(force);
              done();
            });
            // Scrapers keep connections alive between scrapes; idle ones would hold close() open.
            server.closeIdleConnections();
          })),
      });
    });
  });
}

/**
 * The server's HTTP side: GET /health (JSON, for load balancers, orchestrators and
 * humans), GET /metrics (Prometheus text) and, with `staticDir` (`rustdht serve --demo
 * DIR`), the files of a built web page at / (the demo page, which reads /health to find
 * the server's addresses). Plain node:http: read-only endpoints and static files do not
 * need a framework, and nothing here accepts a body.
 */
import { createReadStream } from 'node:fs';
import { realpath, stat } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { extname, join, resolve, sep } from 'node:path';
import type { Registry } from 'prom-client';
import { RustDHTError } from '../api/errors.js';
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
  /** ok, or degraded (answered with HTTP 503) with the reasons: writes refused, the engine trapped, the event loop lagging. */
  readonly status: 'ok' | 'degraded';
  readonly reasons?: ReadonlyArray<{ readonly code: string; readonly message: string }>;
  readonly peerId: string;
  /** Addresses other peers can dial, with /p2p/<peerId>. */
  readonly addresses: readonly string[];
  readonly peers: { readonly count: number; readonly list: readonly HealthPeer[] };
  /**
   * idle: listening and caught up (with or without peers); syncing: outbox entries or
   * requests in flight; offline: not listening (stopping).
   */
  readonly state: 'offline' | 'syncing' | 'idle';
  readonly uptimeSeconds: number;
  readonly store: { readonly bytes: number };
  readonly outboxSize: number;
  /**
   * Memory: the process's resident set (the kernel's count), V8's heap and external
   * memory, the engine's WebAssembly linear memory (it grows and never shrinks), and the
   * nodes loaded in the engine with their estimated bytes against --memory-budget.
   */
  readonly memory?: {
    readonly rssBytes: number;
    readonly heapUsedBytes: number;
    readonly heapTotalBytes: number;
    readonly externalBytes: number;
    readonly engineMemoryBytes: number;
    readonly residentNodes: number | undefined;
    readonly residentBytes: number | undefined;
    readonly budgetBytes: number | undefined;
  };
  /**
   * The DHT as this server sees it (servers only): live members (itself included), R,
   * and about how much of the key space it owns (0..1).
   */
  readonly dht?: { readonly members: number; readonly replicas: number; readonly share: number };
  readonly version: string;
}

export interface HttpServerOptions {
  /** 0: any free port (read it back from the result). */
  readonly port: number;
  /** Default 127.0.0.1. */
  readonly host?: string;
  readonly health: () => Promise<HealthJson> | HealthJson;
  readonly metrics: Registry;
  /**
   * A directory whose files are served at / (GET / → index.html), with content types by
   * extension (application/wasm for .wasm). Paths outside it (.., symlinks leading out)
   * are 404. Absent: only /health and /metrics.
   */
  readonly staticDir?: string;
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

/** Content types of the files a built web page is made of; anything else is application/octet-stream. */
const CONTENT_TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.wasm': 'application/wasm',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.webmanifest': 'application/manifest+json; charset=utf-8',
  '.txt': 'text/plain; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.gif': 'image/gif',
  '.webp': 'image/webp',
  '.ico': 'image/x-icon',
  '.woff': 'font/woff',
  '.woff2': 'font/woff2',
};

/** The content type served for a file name. */
export function contentTypeOf(file: string): string {
  return CONTENT_TYPES[extname(file).toLowerCase()] ?? 'application/octet-stream';
}

/**
 * The file under `root` that the URL path `pathname` names (`/` and directories: their
 * index.html), or undefined when there is none or it would lie outside `root` (`..`,
 * encoded or not, a NUL, or a symlink leading out).
 */
async function staticFile(root: string, pathname: string): Promise<{ file: string; relative: string; size: number } | undefined> {
  let decoded: string;
  try {
    decoded = decodeURIComponent(pathname);
  } catch {
    return undefined; // malformed %-encoding
  }
  if (decoded.includes('\0') || decoded.includes('\\')) return undefined;
  const base = await realpath(root).catch(() => undefined);
  if (base === undefined) return undefined;
  let candidate = resolve(base, `.${decoded.startsWith('/') ? decoded : `/${decoded}`}`);
  if (candidate !== base && !candidate.startsWith(base + sep)) return undefined;
  let info = await stat(candidate).catch(() => undefined);
  if (info?.isDirectory() === true) {
    candidate = join(candidate, 'index.html');
    info = await stat(candidate).catch(() => undefined);
  }
  if (info === undefined || !info.isFile()) return undefined;
  // Symlinks inside the directory may point anywhere: serve only what really lies inside.
  const real = await realpath(candidate).catch(() => undefined);
  if (real === undefined || !real.startsWith(base + sep)) return undefined;
  return { file: real, relative: real.slice(base.length), size: info.size };
}

/** Serves a static file (the demo page); false when there is no such file. */
async function serveStatic(root: string, pathname: string, request: IncomingMessage, response: ServerResponse): Promise<boolean> {
  const found = await staticFile(root, pathname);
  if (found === undefined) return false;
  if (request.method !== 'GET' && request.method !== 'HEAD') {
    sendJson(response, 405, { error: `method ${request.method ?? '?'} not allowed`, allow: ['GET', 'HEAD'] }, { allow: 'GET, HEAD' });
    return true;
  }
  const hashed = /^[\\/]assets[\\/]/.test(found.relative);
  response.writeHead(200, {
    'content-type': contentTypeOf(found.file),
    'content-length': found.size,
    // Vite's assets/ carry a content hash in their names; the page itself must be revalidated.
    'cache-control': hashed ? 'public, max-age=31536000, immutable' : 'no-cache',
    'x-content-type-options': 'nosniff',
  });
  if (request.method === 'HEAD') {
    response.end();
    return true;
  }
  await new Promise<void>((done, fail) => {
    const stream = createReadStream(found.file);
    stream.on('error', fail);
    response.on('close', () => {
      stream.destroy();
      done();
    });
    stream.pipe(response);
  });
  return true;
}

async function handle(options: HttpServerOptions, request: IncomingMessage, response: ServerResponse): Promise<void> {
  // Only the path matters; the base is a placeholder for URL's parser.
  const pathname = new URL(request.url ?? '/', 'http://localhost').pathname;
  const path = pathname.replace(/\/+$/, '') || '/';
  const known = path === '/health' || path === '/metrics';
  if (!known) {
    if (options.staticDir !== undefined && (await serveStatic(options.staticDir, pathname, request, response))) return;
    const endpoints = options.staticDir === undefined ? ['/health', '/metrics'] : ['/', '/health', '/metrics'];
    sendJson(response, 404, { error: 'not found', path, endpoints });
    return;
  }
  // /health is public and read-only: pages on other origins may read it (to find this
  // server's addresses, as the demo page does on its own origin). /metrics is not.
  const cors: Record<string, string> = path === '/health' ? { 'access-control-allow-origin': '*' } : {};
  if (request.method === 'OPTIONS' && path === '/health') {
    response.writeHead(204, { ...cors, 'access-control-allow-methods': 'GET, HEAD', 'access-control-max-age': '86400' });
    response.end();
    return;
  }
  // HEAD too: some load balancers probe with it, and it costs nothing to answer.
  if (request.method !== 'GET' && request.method !== 'HEAD') {
    sendJson(response, 405, { error: `method ${request.method ?? '?'} not allowed`, allow: ['GET', 'HEAD'] }, { allow: 'GET, HEAD' });
    return;
  }
  if (path === '/health') {
    try {
      const body = await options.health();
      // 503 tells a load balancer to route around this server while it is degraded.
      sendJson(response, body.status === 'ok' ? 200 : 503, body, cors);
    } catch (error) {
      // 503 tells a load balancer to route around this server.
      sendJson(response, 503, { status: 'error', error: messageOf(error) }, cors);
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

/**
 * The `rustdht` command line: what each command accepts, its --help text, and the
 * parsing of argv into a typed invocation. Parsing is strict (node:util parseArgs):
 * an unknown option or a malformed value is a UsageError naming the flag, never a
 * silently ignored typo that leaves a server on the wrong port.
 *
 * Each command's options live in one table (OPTIONS) that both the parser and the
 * tests read, so a flag cannot be added without the test noticing a help text that
 * does not mention it.
 *
 * Over ~400 lines because the help texts are here, beside the table they document.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import type { PutObject, PutValue } from '../api/flatten.js';
import { parseMultiaddr } from '../network/multiaddr.js';
import { LOG_FORMATS, LOG_LEVELS, type LogFormat, type LogLevel } from '../server/log.js';
import { VERSION } from '../server/version.js';
import { UsageError } from './cli-error.js';

export const COMMANDS = ['serve', 'get', 'put', 'watch', 'where'] as const;
export type CommandName = (typeof COMMANDS)[number];

export const DEFAULTS = {
  dataDir: './rustdht-data',
  /** TCP for servers and Node peers, WebSockets for browsers, WebRTC Direct for browsers without TLS. */
  listen: ['/ip4/0.0.0.0/tcp/7401', '/ip4/0.0.0.0/tcp/7402/ws', '/ip4/0.0.0.0/udp/7403/webrtc-direct'],
  httpPort: 7400,
  /** Estimated engine memory of the nodes a server keeps loaded; the rest stay in its store. */
  memoryBudgetBytes: 256 * 1024 * 1024,
  /** Writes are refused (storage/full) while the data directory's disk has less free. */
  minFreeDiskBytes: 512 * 1024 * 1024,
  /** Bytes per second one peer, and all peers together, may have the server store. */
  peerWriteRate: 4 * 1024 * 1024,
  totalWriteRate: 32 * 1024 * 1024,
  replicas: 3,
  /** Souls a server holds for owners that have not taken them yet (network.dht.maxHints). */
  maxHints: 100_000,
  /** Other servers up to which every one is kept connected (network.dht.fullMeshMax). */
  fullMeshMax: 24,
  /** Loopback: /metrics and /health reveal topology; exposing them is an explicit choice. */
  httpHost: '127.0.0.1',
  logLevel: 'info' as LogLevel,
  logFormat: 'json' as LogFormat,
  timeoutMs: 10_000,
} as const;

/** The variable get/put/watch/where read peers from when --peer is absent. */
export const PEER_ENV = 'RUSTDHT_PEER';

export interface ServeOptions {
  readonly dataDir: string;
  readonly listen: readonly string[];
  readonly bootstrap: readonly string[];
  readonly httpPort: number;
  readonly httpHost: string;
  readonly logLevel: LogLevel;
  readonly logFormat: LogFormat;
  readonly quiet: boolean;
  /** A directory of static files (the built demo page) served at / by the HTTP server; undefined: none. */
  readonly demoDir: string | undefined;
  /** Exempt loopback connections from libp2p's connection limits (--exempt-loopback). */
  readonly exemptLoopback: boolean;
  /** Bytes of engine memory the loaded nodes are kept under (--memory-budget). */
  readonly memoryBudgetBytes: number;
  /** Free disk below which writes are refused (--min-free-disk). */
  readonly minFreeDiskBytes: number;
  /** Store size at which public writes are refused (--max-store; undefined: no cap). */
  readonly maxStoreBytes: number | undefined;
  /** Bytes per second one peer / all peers may have the server store (--peer-write-rate, --total-write-rate). */
  readonly peerWriteRate: number;
  readonly totalWriteRate: number;
  /** R: how many servers own each soul (--replicas). */
  readonly replicas: number;
  /** Only these peer ids may be members (--trusted-member; empty: any server with a valid record). */
  readonly trustedMembers: readonly string[];
  /** Souls held for owners that have not taken them, at most (--max-hints). */
  readonly maxHints: number;
  /** Other servers up to which each is kept connected; beyond, routing-table neighbours and on demand (--full-mesh-max). */
  readonly fullMeshMax: number;
  /** Addresses announced to the other members instead of the listening ones (--announce). */
  readonly announce: readonly string[];
}

export interface ClientOptions {
  readonly peers: readonly string[];
  readonly timeoutMs: number;
  readonly json: boolean;
}

export interface GetOptions extends ClientOptions {
  readonly soul: string;
  readonly key: string | undefined;
}

export interface PutOptions extends ClientOptions {
  readonly soul: string;
  /** The properties to write, in command-line order. */
  readonly values: PutObject;
}

export interface WatchOptions extends ClientOptions {
  readonly soul: string;
  readonly key: string | undefined;
}

export interface WhereOptions extends ClientOptions {
  readonly soul: string;
  /** R the servers use (--replicas): how many owners to list. */
  readonly replicas: number;
}

export type Invocation =
  | { readonly command: 'help'; readonly topic: CommandName | undefined }
  | { readonly command: 'version' }
  | { readonly command: 'serve'; readonly options: ServeOptions }
  | { readonly command: 'get'; readonly options: GetOptions }
  | { readonly command: 'put'; readonly options: PutOptions }
  | { readonly command: 'watch'; readonly options: WatchOptions }
  | { readonly command: 'where'; readonly options: WhereOptions };

type OptionTable = NonNullable<ParseArgsConfig['options']>;
type ClientCommand = Exclude<CommandName, 'serve'>;

const HELP_OPTION = { help: { type: 'boolean', short: 'h' } } as const satisfies OptionTable;
const CLIENT_OPTIONS = {
  peer: { type: 'string', multiple: true },
  timeout: { type: 'string' },
  json: { type: 'boolean' },
  ...HELP_OPTION,
} as const satisfies OptionTable;

/** Every option of every command (what parseArgs accepts and the help texts must document). */
export const OPTIONS = {
  serve: {
    data: { type: 'string' },
    listen: { type: 'string', multiple: true },
    bootstrap: { type: 'string', multiple: true },
    http: { type: 'string' },
    'http-host': { type: 'string' },
    'log-level': { type: 'string' },
    'log-format': { type: 'string' },
    quiet: { type: 'boolean' },
    demo: { type: 'string' },
    'exempt-loopback': { type: 'boolean' },
    'memory-budget': { type: 'string' },
    'min-free-disk': { type: 'string' },
    'max-store': { type: 'string' },
    'peer-write-rate': { type: 'string' },
    'total-write-rate': { type: 'string' },
    replicas: { type: 'string' },
    'trusted-member': { type: 'string', multiple: true },
    'max-hints': { type: 'string' },
    'full-mesh-max': { type: 'string' },
    announce: { type: 'string', multiple: true },
    ...HELP_OPTION,
  },
  get: CLIENT_OPTIONS,
  put: CLIENT_OPTIONS,
  watch: CLIENT_OPTIONS,
  where: { ...CLIENT_OPTIONS, replicas: { type: 'string' } },
} as const satisfies Record<CommandName, OptionTable>;

// ---------------------------------------------------------------------------------------
// Help texts. Every default shown here is the one DEFAULTS applies.

const CLIENT_HELP = `  --peer ADDR     a server to connect to: its HTTP URL (http://127.0.0.1:7400: its
                  addresses are read from /health), or a multiaddr as rustdht serve
                  prints it (/ip4/127.0.0.1/tcp/7401/p2p/12D3KooW...; the /p2p/ part is
                  optional and, when given, checked); repeat for several. Required
                  unless ${PEER_ENV} is set (separated by commas or spaces).
  --timeout MS    milliseconds to wait for the network (default: ${DEFAULTS.timeoutMs})`;

export const HELP: Readonly<Record<'main' | CommandName, string>> = {
  main: `rustdht ${VERSION}: run a RustDHT server, or read and write a RustDHT network from the shell.

Usage:
  rustdht serve [options]                   run a server (a backbone peer with a LevelDB store)
  rustdht get SOUL [KEY] [options]          print a node, or one property, fetched from peers
  rustdht put SOUL KEY=VALUE... [options]   write properties and wait until a peer stored them
  rustdht watch SOUL [KEY] [options]        print a node as JSON at every change, until Ctrl+C
  rustdht where SOUL [options]              show which servers own a soul and whether they hold it
  rustdht help [COMMAND]                    show a command's options (= rustdht COMMAND --help)
  rustdht --version                         print the version

Exit status:
  0    success (where: every owner holds the soul)
  1    failure: not found, write invalid or refused by a peer, any other error
       (where: some owner does not hold the soul, or could not be reached)
  2    no peer could be reached, or no peer acknowledged a write, within --timeout
  64   usage error: unknown command or option, missing or malformed argument
  130  interrupted (Ctrl+C) before get, put or where finished
Errors are printed as one line on stderr: "rustdht: CODE: message".

Environment:
  ${PEER_ENV}     peers for get, put, watch and where when --peer is not given
                   (multiaddrs separated by commas or spaces)
  RUSTDHT_DEBUG=1  print stack traces with errors
`,

  serve: `Usage: rustdht serve [options]

Runs a RustDHT server: keeps the graph in a LevelDB store, listens for peers (servers,
Node apps, browsers) over libp2p, replicates with the servers it follows, and serves
GET /health (JSON) and GET /metrics (Prometheus) over HTTP. Logs one line per event on
stdout. SIGINT or SIGTERM stops it cleanly (stop HTTP, close the network, flush the
store) and exits 0; a second signal forces exit 1.

Options:
  --data DIR            data directory (default: ${DEFAULTS.dataDir}). The LevelDB store lives
                        in DIR/store, the peer key and WebRTC certificate in DIR/peer: they
                        keep the peer id and addresses stable across restarts, so keep DIR
                        private and back it up.
  --listen ADDR         multiaddr to listen on; repeat for several. Giving any replaces all
                        of the defaults: ${DEFAULTS.listen[0]} (TCP),
                        ${DEFAULTS.listen[1]} (WebSockets),
                        ${DEFAULTS.listen[2]} (WebRTC Direct)
  --bootstrap ADDR      multiaddr of a server to join (its /p2p/PEER_ID part optional,
                        checked when given); repeat for several; redialled with backoff
                        when the connection drops. These are the servers this one
                        replicates from (follows their change logs) and sends its own
                        writes to; a peer that dials in and says it is a server is
                        served like a client. List every other server of the cluster
                        (one shared list, this server's own address included, is fine).
                        (default: none: a first server starts a new network)
  --http PORT           port of the HTTP endpoints /health and /metrics
                        (default: ${DEFAULTS.httpPort}; 0: any free port, printed at start)
  --http-host HOST      address the HTTP server binds to (default: ${DEFAULTS.httpHost};
                        0.0.0.0 exposes /health and /metrics on every interface)
  --log-level LEVEL     ${LOG_LEVELS.join(', ')}: drop lines below LEVEL (default: ${DEFAULTS.logLevel})
  --log-format FORMAT   json: one JSON object per line, {time, level, msg, ...}; the
                        "ready" line lists the addresses (default: ${DEFAULTS.logFormat})
                        pretty: human-readable lines, and a banner with the addresses
  --quiet               log warnings and errors only, no banner (= --log-level warn)
  --demo DIR            also serve the static files of DIR at / on the HTTP port, e.g. the
                        built demo page (demo/dist, what npm start serves): GET / answers
                        DIR/index.html (default: none, only /health and /metrics)
  --exempt-loopback     exempt connections from 127.0.0.0/8 and ::1 from the connection
                        limits (5 new connections per second per host, 10 pending, 300
                        in all). Off by default: behind a reverse proxy on this host
                        every client comes from loopback, and this would lift the limits
                        for all of them. For tests and local tools.
  --memory-budget SIZE  keep the nodes loaded in memory under about SIZE of engine memory
                        (e.g. 512MiB, 2GiB, or bytes; default: 256MiB); beyond it the
                        least recently used leave memory and load again from the store
                        when next used. The process needs about 150 MiB more than this.
  --min-free-disk SIZE  refuse writes (storage/full) while the data directory's disk has
                        less than SIZE free, before LevelDB runs out of room; reads go on
                        and writes resume by themselves (default: 512MiB)
  --max-store SIZE      once the store holds SIZE, refuse writes to public souls
                        (quota/public); writes signed into an owner's ~ space still pass
                        (default: no cap)
  --peer-write-rate SIZE  bytes per second one peer may have this server store, with
                        bursts of 10 s of it (quota/peer; default: 4MiB); each update
                        counts 512 bytes more than its size; the servers in
                        --bootstrap are exempt
  --total-write-rate SIZE the same for all peers together (quota/rate; default: 32MiB), so
                        a swarm of peer ids cannot multiply the per-peer rate
  --replicas N          R: how many servers own (store) each soul, the R whose peer ids
                        hash closest to the soul's hash (default: ${DEFAULTS.replicas}). Every server
                        of a network must use the same R; with R or fewer servers, each
                        holds everything. Servers find each other through any one
                        --bootstrap server (signed member records, gossiped)
  --trusted-member ID   only servers with these peer ids may be members (own data);
                        repeat for each (default: any server with a valid signed record)
  --max-hints N         souls this server may hold for owners that have not taken them
                        yet (hinted hand-off; default: ${DEFAULTS.maxHints}); past it, clients'
                        writes of souls it does not own are refused for now (quota/hints)
  --full-mesh-max N     up to N other servers, keep a connection to every one (default:
                        ${DEFAULTS.fullMeshMax}); beyond, to routing-table neighbours, and to others while
                        a write, read or repair needs them
  --announce ADDR       multiaddr the other servers dial this one at, instead of the
                        listening addresses (behind NAT or a proxy); repeat for several
  -h, --help            show this help

Example:
  rustdht serve --data /var/lib/rustdht --bootstrap /dns4/a.example.com/tcp/7401/p2p/12D3KooW...
`,

  get: `Usage: rustdht get SOUL [KEY] [options]

Connects to the peers, asks them for node SOUL (or its property KEY) and prints it:
a node as indented JSON (links as {"#":"soul"}, deleted properties as null); a
property's value as is: a string unquoted, anything else as JSON. Exits 1 with
"not found" when no peer that answered within --timeout knows it, 2 when no peer
could be reached.

Options:
${CLIENT_HELP}
  --json          print the result as exactly one line of JSON (strings quoted), for scripts
  -h, --help      show this help

Example:
  rustdht get users/ann name --peer http://127.0.0.1:7400
`,

  put: `Usage: rustdht put SOUL KEY=VALUE [KEY=VALUE...] [options]

Writes the properties into node SOUL as one atomic batch and waits until a peer has
acknowledged it (stored it). Exits 1 when the write is invalid or a peer refused it,
2 when no peer could be reached or acknowledged it within --timeout (the write is then
lost: this client keeps nothing once it exits).

VALUE is read as JSON when it parses as JSON, and as the raw string otherwise:
  n=42  ok=true  gone=null          a number, a boolean, null (null deletes the property)
  name=Ann                          not JSON: the string "Ann"
  name='"Ann"'  n='"42"'            JSON strings: "Ann", and the string "42" (not a number)
  friend='{"#":"users/bob"}'        a link to node users/bob
  address='{"city":"Oslo"}'         an object: stored as a linked child node
Arrays are not values. KEY=VALUE splits at the first "=" (KEY cannot contain "=";
VALUE can). Quote values for your shell, as above.

Options:
${CLIENT_HELP}
  --json          print the result as one line of JSON: {"soul":…,"keys":[…],"acknowledged":true}
  -h, --help      show this help

Example:
  rustdht put users/ann name=Ann age=37 --peer http://127.0.0.1:7400
`,

  watch: `Usage: rustdht watch SOUL [KEY] [options]

Prints node SOUL (or its property KEY) as one line of JSON now, if it is known, and
again after every change, until Ctrl+C (SIGINT) or SIGTERM; then exits 0. Connection
losses are reported on stderr; the client redials by itself.

Options:
${CLIENT_HELP.replace('milliseconds to wait for the network', 'milliseconds to wait for the first connection')}
  --json          print each change as {"time":"<ISO 8601>","soul":…,"key":…,"value":…}
  -h, --help      show this help

Example:
  rustdht watch rooms/lobby --peer http://127.0.0.1:7400 > lobby.jsonl
`,

  where: `Usage: rustdht where SOUL [options]

Shows where node SOUL lives in the DHT: asks a server for the network's signed member
records, computes the soul's owners as every server does (the R servers whose position,
SHA-256 of the peer id, is closest by XOR to the soul's, SHA-256 of the soul), then
dials each owner at an address from its record and asks it for the soul. Prints the
soul's position, each owner (closest first) with its XOR distance (hex, and its leading
zero bits) and what it holds (the number of properties and the newest state, "not
held", or "unreachable: CODE"), and how long each step took.
Exits 0 when every owner holds the soul, 1 when one does not or could not be reached
(or the server knows no members), 2 when no peer given could be reached.

Options:
${CLIENT_HELP}
  --replicas N    R, the servers' --replicas: how many owners each soul has
                  (default: ${DEFAULTS.replicas}, the servers' default; it must match theirs)
  --json          print the result as one line of JSON: {"soul","position","members",
                  "replicas","owners":[{"peerId","address","distance","leadingZeroBits",
                  "status":"held"|"not-held"|"unreachable",…}],"timingsMs":{…}}
  -h, --help      show this help

Example:
  rustdht where users/ann --peer http://127.0.0.1:7400
`,
};

// ---------------------------------------------------------------------------------------
// Values

function isCommand(word: string | undefined): word is CommandName {
  return (COMMANDS as readonly string[]).includes(word ?? '');
}

/** A size: bytes, or a number with KiB, MiB or GiB (also KB/MB/GB, read as powers of 1024). */
function byteSize(flag: string, text: string, command: CommandName, min = 1024 * 1024): number {
  const match = /^(\d+(?:\.\d+)?)\s*(|B|KiB|KB|K|MiB|MB|M|GiB|GB|G)$/i.exec(text.trim());
  const unit = match?.[2]?.toUpperCase().replace('IB', 'B') ?? '';
  const scale: Record<string, number> = { '': 1, B: 1, K: 1024, KB: 1024, M: 1024 ** 2, MB: 1024 ** 2, G: 1024 ** 3, GB: 1024 ** 3 };
  const value = match === null ? Number.NaN : Math.floor(Number(match[1]) * scale[unit]!);
  if (!Number.isSafeInteger(value) || value < min) {
    throw new UsageError(`--${flag} takes a size${min > 0 ? ` of at least ${min >= 1024 * 1024 ? `${min / 1024 / 1024}MiB` : `${min / 1024}KiB`}` : ''}, e.g. 512MiB or 2GiB, not '${text}'`, command);
  }
  return value;
}

function integer(flag: string, text: string, min: number, max: number, command: CommandName): number {
  const value = /^\d+$/.test(text) ? Number(text) : Number.NaN;
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    throw new UsageError(`--${flag} takes a whole number from ${min} to ${max}, not '${text}'`, command);
  }
  return value;
}

function oneOf<T extends string>(flag: string, text: string, allowed: readonly T[], command: CommandName): T {
  if (!(allowed as readonly string[]).includes(text)) {
    throw new UsageError(`--${flag} takes one of ${allowed.join(', ')}, not '${text}'`, command);
  }
  return text as T;
}

/** Checked here so a typo is a usage error naming the flag, not a libp2p failure after startup. */
function multiaddrs(source: string, texts: readonly string[], command: CommandName): string[] {
  return texts.map((text) => {
    try {
      return parseMultiaddr(text, source).toString();
    } catch (error) {
      throw new UsageError((error as Error).message, command);
    }
  });
}

/** Client peers: multiaddrs, or servers' HTTP(S) URLs (resolved through /health when the command runs). */
function peerAddresses(source: string, texts: readonly string[], command: CommandName): string[] {
  return texts.map((text) => {
    if (!/^https?:\/\//i.test(text)) return multiaddrs(source, [text], command)[0]!;
    try {
      const url = new URL(text);
      if (url.search !== '' || url.hash !== '') throw new Error('no query or fragment expected');
      return url.toString().replace(/\/$/, '');
    } catch (error) {
      const why = error instanceof Error ? error.message : String(error);
      throw new UsageError(`${source} '${text}' is not a usable URL (${why}); expected e.g. http://127.0.0.1:7400`, command);
    }
  });
}

/**
 * A put's VALUE: JSON when it parses (numbers, true/false/null, "strings", links and
 * objects), else the raw string, so `name=Ann` needs no quoting while `n=42` is a number.
 */
export function parseValue(text: string, key = 'VALUE'): PutValue {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return text;
  }
  if (Array.isArray(parsed)) {
    throw new UsageError(`the value of ${key} is a JSON array; arrays are not values (use an object, or quote it as a string: '"[…]"')`, 'put');
  }
  return parsed as PutValue;
}

function keyValues(pairs: readonly string[]): PutObject {
  if (pairs.length === 0) throw new UsageError('put needs at least one KEY=VALUE after the soul', 'put');
  const values: PutObject = {};
  const seen = new Set<string>();
  for (const pair of pairs) {
    const eq = pair.indexOf('=');
    if (eq <= 0) {
      throw new UsageError(`'${pair}' is not KEY=VALUE${eq === 0 ? ' (the key is empty)' : ''}`, 'put');
    }
    const key = pair.slice(0, eq);
    if (seen.has(key)) throw new UsageError(`key '${key}' is given twice`, 'put');
    seen.add(key);
    // defineProperty: a key named __proto__ must be a property, not the object's prototype.
    Object.defineProperty(values, key, { value: parseValue(pair.slice(eq + 1), key), enumerable: true, writable: true, configurable: true });
  }
  return values;
}

function envPeers(env: Readonly<Record<string, string | undefined>>): string[] {
  return (env[PEER_ENV] ?? '').split(/[\s,]+/).filter((peer) => peer !== '');
}

// ---------------------------------------------------------------------------------------
// Parsing

/** parseArgs' messages suggest `--` tricks and quote oddly; ours name the command and the flag. */
function usageFromParseError(error: unknown, command: CommandName): UsageError {
  const code = (error as { code?: unknown }).code;
  const message = error instanceof Error ? error.message : String(error);
  const flag = /'(-[^' ]*)/.exec(message)?.[1];
  switch (code) {
    case 'ERR_PARSE_ARGS_UNKNOWN_OPTION':
      return new UsageError(`unknown option '${flag ?? message}' for rustdht ${command}`, command);
    case 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE':
      return new UsageError(
        /argument missing|ambiguous/.test(message)
          ? `option '${flag ?? '?'}' needs a value (a value starting with '-' must be given as ${flag ?? '--option'}=VALUE)`
          : `option '${flag ?? '?'}' takes no value`,
        command,
      );
    default:
      return new UsageError(message, command);
  }
}

function parse<T extends OptionTable>(command: CommandName, options: T, args: readonly string[]) {
  try {
    return parseArgs({ args: [...args], options, strict: true, allowPositionals: true });
  } catch (error) {
    throw usageFromParseError(error, command);
  }
}

function wantsHelp(args: readonly string[]): boolean {
  const end = args.indexOf('--');
  return (end === -1 ? args : args.slice(0, end)).some((arg) => arg === '--help' || arg === '-h');
}

function noPositionals(command: CommandName, positionals: readonly string[]): void {
  if (positionals.length > 0) throw new UsageError(`rustdht ${command} takes no arguments, got '${positionals[0]}'`, command);
}

function parseServe(args: readonly string[]): ServeOptions {
  const { values, positionals } = parse('serve', OPTIONS.serve, args);
  noPositionals('serve', positionals);
  const logLevel = oneOf('log-level', values['log-level'] ?? DEFAULTS.logLevel, LOG_LEVELS, 'serve');
  const quiet = values.quiet === true;
  return {
    dataDir: values.data ?? DEFAULTS.dataDir,
    listen: multiaddrs('--listen', values.listen ?? DEFAULTS.listen, 'serve'),
    bootstrap: multiaddrs('--bootstrap', values.bootstrap ?? [], 'serve'),
    httpPort: values.http === undefined ? DEFAULTS.httpPort : integer('http', values.http, 0, 65_535, 'serve'),
    httpHost: values['http-host'] ?? DEFAULTS.httpHost,
    // --quiet raises the threshold to warn but never lowers an explicit --log-level error.
    logLevel: quiet && (logLevel === 'debug' || logLevel === 'info') ? 'warn' : logLevel,
    logFormat: oneOf('log-format', values['log-format'] ?? DEFAULTS.logFormat, LOG_FORMATS, 'serve'),
    quiet,
    demoDir: values.demo === undefined || values.demo === '' ? undefined : values.demo,
    exemptLoopback: values['exempt-loopback'] === true,
    memoryBudgetBytes: values['memory-budget'] === undefined ? DEFAULTS.memoryBudgetBytes : byteSize('memory-budget', values['memory-budget'], 'serve'),
    minFreeDiskBytes: values['min-free-disk'] === undefined ? DEFAULTS.minFreeDiskBytes : byteSize('min-free-disk', values['min-free-disk'], 'serve', 0),
    maxStoreBytes: values['max-store'] === undefined ? undefined : byteSize('max-store', values['max-store'], 'serve'),
    peerWriteRate: values['peer-write-rate'] === undefined ? DEFAULTS.peerWriteRate : byteSize('peer-write-rate', values['peer-write-rate'], 'serve', 1024),
    totalWriteRate: values['total-write-rate'] === undefined ? DEFAULTS.totalWriteRate : byteSize('total-write-rate', values['total-write-rate'], 'serve', 1024),
    replicas: values.replicas === undefined ? DEFAULTS.replicas : integer('replicas', values.replicas, 1, 64, 'serve'),
    trustedMembers: values['trusted-member'] ?? [],
    maxHints: values['max-hints'] === undefined ? DEFAULTS.maxHints : integer('max-hints', values['max-hints'], 1, 1_000_000_000, 'serve'),
    fullMeshMax: values['full-mesh-max'] === undefined ? DEFAULTS.fullMeshMax : integer('full-mesh-max', values['full-mesh-max'], 0, 100_000, 'serve'),
    announce: multiaddrs('--announce', values.announce ?? [], 'serve'),
  };
}

function parseClient(command: 'get' | 'put' | 'watch', args: readonly string[], env: Readonly<Record<string, string | undefined>>) {
  const { values, positionals } = parse(command, OPTIONS[command], args);
  return clientOptions(command, values, positionals, env);
}

/** What every client command takes: peers, --timeout, --json, and the SOUL first. */
function clientOptions(
  command: ClientCommand,
  values: { peer?: string[]; timeout?: string; json?: boolean },
  positionals: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
) {
  const given = values.peer ?? envPeers(env);
  if (given.length === 0) throw new UsageError(`no peer to connect to: pass --peer ADDR or set ${PEER_ENV}`, command);
  const peers = peerAddresses(values.peer === undefined ? PEER_ENV : '--peer', given, command);
  const soul = positionals[0];
  if (soul === undefined || soul === '') throw new UsageError(`rustdht ${command} needs a SOUL`, command);
  const client: ClientOptions = {
    peers,
    // Timers take at most 2^31-1 ms; beyond that Node fires them at once.
    timeoutMs: values.timeout === undefined ? DEFAULTS.timeoutMs : integer('timeout', values.timeout, 1, 2_147_483_647, command),
    json: values.json === true,
  };
  return { client, soul, rest: positionals.slice(1) };
}

function optionalKey(command: 'get' | 'watch', rest: readonly string[]): string | undefined {
  if (rest.length > 1) throw new UsageError(`rustdht ${command} takes SOUL [KEY], got an extra argument '${rest[1]}'`, command);
  return rest[0];
}

function parseWhere(args: readonly string[], env: Readonly<Record<string, string | undefined>>): WhereOptions {
  const { values, positionals } = parse('where', OPTIONS.where, args);
  const { client, soul, rest } = clientOptions('where', values, positionals, env);
  if (rest.length !== 0) throw new UsageError(`rustdht where takes one SOUL, got an extra argument '${rest[0]}'`, 'where');
  const { replicas } = values;
  // The same bounds as serve's --replicas: a value no server runs with is a typo.
  return { ...client, soul, replicas: replicas === undefined ? DEFAULTS.replicas : integer('replicas', replicas, 1, 64, 'where') };
}

/**
 * Turns `process.argv.slice(2)` into what to run. `env` supplies RUSTDHT_PEER. Throws
 * UsageError for anything malformed; `--help` anywhere before `--` wins over errors in
 * the rest of the line, so a half-typed command can always ask for its help.
 */
export function parseCommandLine(argv: readonly string[], env: Readonly<Record<string, string | undefined>> = {}): Invocation {
  const [first, ...args] = argv;
  if (first === undefined) throw new UsageError(`no command given (commands: ${COMMANDS.join(', ')})`);
  if (first === '--help' || first === '-h') return { command: 'help', topic: undefined };
  if (first === '--version') return { command: 'version' };
  if (first === 'help') {
    if (args.length > 1) throw new UsageError(`rustdht help takes at most one COMMAND, got '${args[1]}'`);
    const topic = args[0];
    if (topic !== undefined && !isCommand(topic)) throw new UsageError(`no command '${topic}' (commands: ${COMMANDS.join(', ')})`);
    return { command: 'help', topic };
  }
  if (!isCommand(first)) {
    throw new UsageError(
      first.startsWith('-')
        ? `unknown option '${first}': the command comes first (rustdht COMMAND [options])`
        : `unknown command '${first}' (commands: ${COMMANDS.join(', ')})`,
    );
  }
  if (wantsHelp(args)) return { command: 'help', topic: first };
  switch (first) {
    case 'serve':
      return { command: 'serve', options: parseServe(args) };
    case 'get': {
      const { client, soul, rest } = parseClient('get', args, env);
      return { command: 'get', options: { ...client, soul, key: optionalKey('get', rest) } };
    }
    case 'watch': {
      const { client, soul, rest } = parseClient('watch', args, env);
      return { command: 'watch', options: { ...client, soul, key: optionalKey('watch', rest) } };
    }
    case 'put': {
      const { client, soul, rest } = parseClient('put', args, env);
      return { command: 'put', options: { ...client, soul, values: keyValues(rest) } };
    }
    case 'where':
      return { command: 'where', options: parseWhere(args, env) };
  }
}

/** The help text for a command, or the list of commands. */
export function helpText(topic?: CommandName): string {
  return HELP[topic ?? 'main'];
}

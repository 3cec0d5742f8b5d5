/**
 * The `rustdht` command line without a network: parsing into typed options, value
 * parsing for put, the help texts (every flag documented, with its default), and how
 * mistakes end (one line on stderr, exit 64).
 */
import { describe, expect, it } from 'vitest';
import {
  COMMANDS,
  DEFAULTS,
  HELP,
  OPTIONS,
  parseCommandLine,
  parseValue,
  type GetOptions,
  type PutOptions,
  type ServeOptions,
  type WatchOptions,
  type WhereOptions,
} from '../../src/cli/args.js';
import { EXIT, UsageError } from '../../src/cli/cli-error.js';
import type { CliIO } from '../../src/cli/io.js';
import { run } from '../../src/cli/run.js';
import { VERSION } from '../../src/server/version.js';

const PEER = '/ip4/127.0.0.1/tcp/7401/p2p/12D3KooWDpJ7As7BWAwRMfu1VU2WCqNjvq387JEYKDBj4kx6nXTN';

function usageError(argv: string[], env: Record<string, string> = {}): UsageError {
  try {
    parseCommandLine(argv, env);
  } catch (error) {
    expect(error).toBeInstanceOf(UsageError);
    return error as UsageError;
  }
  throw new Error(`expected a usage error for ${argv.join(' ')}`);
}

interface OptionsOf {
  serve: ServeOptions;
  get: GetOptions;
  put: PutOptions;
  watch: WatchOptions;
  where: WhereOptions;
}

function options<C extends keyof OptionsOf>(command: C, argv: string[], env: Record<string, string> = {}): OptionsOf[C] {
  const invocation = parseCommandLine([command, ...argv], env);
  expect(invocation.command).toBe(command);
  return (invocation as unknown as { options: OptionsOf[C] }).options;
}

/** Runs the CLI in-process with captured output. */
async function runCli(argv: string[], env: Record<string, string> = {}) {
  let stdout = '';
  let stderr = '';
  const io: CliIO = {
    stdout: (text) => void (stdout += text),
    stderr: (text) => void (stderr += text),
    env,
    stdoutIsTTY: false,
    onSignal: () => () => {},
    exit: (code) => {
      throw new Error(`exit(${code}) called`);
    },
  };
  const code = await run(argv, io);
  return { code, stdout, stderr };
}

describe('rustdht serve: options', () => {
  it('defaults to the documented values', () => {
    expect(options('serve', [])).toEqual({
      dataDir: './rustdht-data',
      listen: ['/ip4/0.0.0.0/tcp/7401', '/ip4/0.0.0.0/tcp/7402/ws', '/ip4/0.0.0.0/udp/7403/webrtc-direct'],
      bootstrap: [],
      httpPort: 7400,
      httpHost: '127.0.0.1',
      logLevel: 'info',
      logFormat: 'json',
      quiet: false,
      demoDir: undefined,
      exemptLoopback: false,
      memoryBudgetBytes: 256 * 1024 * 1024,
      minFreeDiskBytes: 512 * 1024 * 1024,
      maxStoreBytes: undefined,
      peerWriteRate: 4 * 1024 * 1024,
      totalWriteRate: 32 * 1024 * 1024,
      replicas: 3,
      trustedMembers: [],
      maxHints: 100_000,
      fullMeshMax: 24,
      announce: [],
    });
  });

  it('takes every flag, repeatable ones repeated, in both --flag value and --flag=value forms', () => {
    const parsed = options('serve', [
      '--data=/var/lib/rustdht',
      '--listen', '/ip4/127.0.0.1/tcp/9001',
      '--listen', '/ip4/127.0.0.1/tcp/9002/ws',
      '--bootstrap', PEER,
      '--bootstrap', '/dns4/a.example.com/tcp/7401/p2p/12D3KooWDpJ7As7BWAwRMfu1VU2WCqNjvq387JEYKDBj4kx6nXTN',
      '--http', '0',
      '--http-host', '0.0.0.0',
      '--log-level', 'debug',
      '--log-format', 'pretty',
      '--demo', 'demo/dist',
      '--exempt-loopback',
      '--memory-budget=1.5GiB',
      '--min-free-disk', '0',
      '--max-store', '10GiB',
      '--peer-write-rate', '256KiB',
      '--total-write-rate=4MiB',
      '--replicas', '5',
      '--trusted-member', '12D3KooWDpJ7As7BWAwRMfu1VU2WCqNjvq387JEYKDBj4kx6nXTN',
      '--trusted-member=12D3KooWDPJFDEAtLBgrABdvV9HCyBjqVzK6ehsSvxTJsN9GADda',
      '--max-hints', '5000',
      '--full-mesh-max', '40',
      '--announce', '/dns4/a.example.com/tcp/7401',
    ]);
    expect(parsed).toEqual({
      dataDir: '/var/lib/rustdht',
      listen: ['/ip4/127.0.0.1/tcp/9001', '/ip4/127.0.0.1/tcp/9002/ws'],
      bootstrap: [PEER, '/dns4/a.example.com/tcp/7401/p2p/12D3KooWDpJ7As7BWAwRMfu1VU2WCqNjvq387JEYKDBj4kx6nXTN'],
      httpPort: 0,
      httpHost: '0.0.0.0',
      logLevel: 'debug',
      logFormat: 'pretty',
      quiet: false,
      demoDir: 'demo/dist',
      exemptLoopback: true,
      memoryBudgetBytes: 1.5 * 1024 ** 3,
      minFreeDiskBytes: 0,
      maxStoreBytes: 10 * 1024 ** 3,
      peerWriteRate: 256 * 1024,
      totalWriteRate: 4 * 1024 ** 2,
      replicas: 5,
      trustedMembers: ['12D3KooWDpJ7As7BWAwRMfu1VU2WCqNjvq387JEYKDBj4kx6nXTN', '12D3KooWDPJFDEAtLBgrABdvV9HCyBjqVzK6ehsSvxTJsN9GADda'],
      maxHints: 5000,
      fullMeshMax: 40,
      announce: ['/dns4/a.example.com/tcp/7401'],
    });
  });

  it('--memory-budget takes bytes or KiB/MiB/GiB sizes of at least 1 MiB', () => {
    expect(options('serve', ['--memory-budget', '512MiB'])).toMatchObject({ memoryBudgetBytes: 512 * 1024 ** 2 });
    expect(options('serve', ['--memory-budget', '2gb'])).toMatchObject({ memoryBudgetBytes: 2 * 1024 ** 3 });
    expect(options('serve', ['--memory-budget', '1048576'])).toMatchObject({ memoryBudgetBytes: 1024 ** 2 });
    for (const bad of ['lots', '12', '1TiB', '0.5MiB', '']) expect(() => options('serve', ['--memory-budget', bad]), bad).toThrow(/--memory-budget takes a size/);
  });

  it('--full-mesh-max takes a whole number from 0', () => {
    expect(options('serve', ['--full-mesh-max', '0'])).toMatchObject({ fullMeshMax: 0 });
    for (const bad of ['all', '2.5', '', '100001']) expect(() => options('serve', ['--full-mesh-max', bad]), bad).toThrow(/--full-mesh-max takes a whole number from 0 to 100000/);
  });

  it('--max-hints takes a whole number from 1', () => {
    expect(options('serve', ['--max-hints', '1'])).toMatchObject({ maxHints: 1 });
    for (const bad of ['0', 'many', '1.5', '', '1000000001']) expect(() => options('serve', ['--max-hints', bad]), bad).toThrow(/--max-hints takes a whole number from 1 to 1000000000/);
  });

  it('--quiet raises the log level to warn but keeps error', () => {
    expect(options('serve', ['--quiet'])).toMatchObject({ quiet: true, logLevel: 'warn' });
    expect(options('serve', ['--quiet', '--log-level', 'debug'])).toMatchObject({ logLevel: 'warn' });
    expect(options('serve', ['--quiet', '--log-level', 'error'])).toMatchObject({ logLevel: 'error' });
  });

  it.each([
    [['--http', '70000'], /--http takes a whole number from 0 to 65535, not '70000'/],
    [['--http', 'abc'], /--http takes a whole number/],
    [['--http', '-1'], /option '--http' needs a value/],
    [['--log-level', 'verbose'], /--log-level takes one of debug, info, warn, error, not 'verbose'/],
    [['--log-format', 'xml'], /--log-format takes one of json, pretty/],
    [['--listen', 'localhost:7401'], /--listen 'localhost:7401' is not a multiaddr/],
    [['--bootstrap', '/ip4/999.0.0.1/tcp/1'], /--bootstrap '\/ip4\/999.0.0.1\/tcp\/1' is not a multiaddr/],
    [['--data'], /option '--data' needs a value/],
    [['--quiet=yes'], /option '--quiet' takes no value/],
    [['--demo'], /option '--demo' needs a value/],
    [['--port', '7400'], /unknown option '--port' for rustdht serve/],
    [['extra'], /rustdht serve takes no arguments, got 'extra'/],
  ])('refuses %j', (argv, message) => {
    const error = usageError(['serve', ...argv]);
    expect(error.code).toBe('cli/usage');
    expect(error.exitCode).toBe(EXIT.usage);
    expect(error.command).toBe('serve');
    expect(error.message).toMatch(message);
  });
});

describe('rustdht get / put / watch: options', () => {
  it('get SOUL [KEY] with --peer, --timeout and --json', () => {
    expect(options('get', ['users/ann', '--peer', PEER])).toEqual({ soul: 'users/ann', key: undefined, peers: [PEER], timeoutMs: DEFAULTS.timeoutMs, json: false });
    expect(options('get', ['users/ann', 'name', '--peer', PEER, '--peer', PEER, '--timeout', '2500', '--json'])).toEqual({
      soul: 'users/ann',
      key: 'name',
      peers: [PEER, PEER],
      timeoutMs: 2500,
      json: true,
    });
  });

  it('reads peers from RUSTDHT_PEER (commas or spaces) when --peer is absent; --peer wins', () => {
    const other = PEER.replace('7401', '7501');
    expect(options('watch', ['room'], { RUSTDHT_PEER: `${PEER}, ${other}` }).peers).toEqual([PEER, other]);
    expect(options('watch', ['room'], { RUSTDHT_PEER: ` ${PEER}\n${other} ` }).peers).toEqual([PEER, other]);
    expect(options('get', ['room', '--peer', other], { RUSTDHT_PEER: PEER }).peers).toEqual([other]);
  });

  it('put SOUL KEY=VALUE… parses values as JSON when they are JSON, else as strings', () => {
    const parsed = options('put', ['users/ann', 'name=Ann', 'age=37', 'admin=false', 'gone=null', 'id="42"', 'friend={"#":"users/bob"}', 'eq=a=b', 'empty=', '--peer', PEER]);
    expect(parsed.soul).toBe('users/ann');
    expect(parsed.values).toEqual({ name: 'Ann', age: 37, admin: false, gone: null, id: '42', friend: { '#': 'users/bob' }, eq: 'a=b', empty: '' });
    expect(Object.keys(parsed.values)).toEqual(['name', 'age', 'admin', 'gone', 'id', 'friend', 'eq', 'empty']);
  });

  it('a key named __proto__ is a property, not a prototype', () => {
    const { values } = options('put', ['s', '__proto__=1', '--peer', PEER]);
    expect(Object.getPrototypeOf(values)).toBe(Object.prototype);
    expect(Object.keys(values)).toEqual(['__proto__']);
  });

  it.each([
    ['42', 42],
    ['-1.5e3', -1500],
    ['true', true],
    ['null', null],
    ['"quoted"', 'quoted'],
    ['"42"', '42'],
    ['plain words', 'plain words'],
    ['007', '007'],
    ['{"#":"users/bob"}', { '#': 'users/bob' }],
    ['{"city":"Oslo"}', { city: 'Oslo' }],
    ['', ''],
  ])('parseValue(%j) is %j', (text, value) => {
    expect(parseValue(text)).toEqual(value);
  });

  it('refuses JSON arrays as values', () => {
    expect(() => parseValue('[1,2]', 'tags')).toThrow(/the value of tags is a JSON array/);
  });

  it.each([
    [['get', 'soul'], /no peer to connect to: pass --peer ADDR or set RUSTDHT_PEER/],
    [['get', '--peer', PEER], /rustdht get needs a SOUL/],
    [['get', 's', 'k', 'extra', '--peer', PEER], /extra argument 'extra'/],
    [['watch', 's', 'k', 'extra', '--peer', PEER], /extra argument 'extra'/],
    [['get', 's', '--peer', 'not-an-address'], /--peer 'not-an-address' is not a multiaddr/],
    [['get', 's', '--timeout', '0', '--peer', PEER], /--timeout takes a whole number from 1/],
    [['get', 's', '--timeout', 'soon', '--peer', PEER], /--timeout takes a whole number/],
    [['get', 's', '--data', 'x', '--peer', PEER], /unknown option '--data' for rustdht get/],
    [['put', 's', '--peer', PEER], /put needs at least one KEY=VALUE/],
    [['put', 's', 'novalue', '--peer', PEER], /'novalue' is not KEY=VALUE/],
    [['put', 's', '=1', '--peer', PEER], /'=1' is not KEY=VALUE \(the key is empty\)/],
    [['put', 's', 'a=1', 'a=2', '--peer', PEER], /key 'a' is given twice/],
    [['put', 's', 'tags=[1]', '--peer', PEER], /arrays are not values/],
  ])('refuses %j', (argv, message) => {
    expect(usageError(argv).message).toMatch(message);
  });

  it('says where a bad RUSTDHT_PEER came from', () => {
    expect(usageError(['get', 's'], { RUSTDHT_PEER: 'nope' }).message).toMatch(/^RUSTDHT_PEER 'nope' is not a multiaddr/);
  });
});

describe('rustdht where: options', () => {
  it('where SOUL with --peer, --replicas (default: serve\'s), --timeout, --json, or RUSTDHT_PEER', () => {
    expect(options('where', ['users/ann', '--peer', PEER])).toEqual({ soul: 'users/ann', replicas: DEFAULTS.replicas, peers: [PEER], timeoutMs: DEFAULTS.timeoutMs, json: false });
    expect(options('where', ['users/ann', '--peer', 'http://127.0.0.1:7400', '--replicas', '5', '--timeout', '3000', '--json'])).toEqual({
      soul: 'users/ann',
      replicas: 5,
      peers: ['http://127.0.0.1:7400'],
      timeoutMs: 3000,
      json: true,
    });
    expect(options('where', ['room'], { RUSTDHT_PEER: PEER }).peers).toEqual([PEER]);
  });

  it.each([
    [['where', '--peer', PEER], /rustdht where needs a SOUL/],
    [['where', 's'], /no peer to connect to/],
    [['where', 's', 'key', '--peer', PEER], /rustdht where takes one SOUL, got an extra argument 'key'/],
    [['where', 's', '--replicas', '0', '--peer', PEER], /--replicas takes a whole number from 1 to 64, not '0'/],
    [['where', 's', '--replicas', 'three', '--peer', PEER], /--replicas takes a whole number/],
    [['where', 's', '--replicas', '--peer', PEER], /option '--replicas' needs a value/],
    [['where', 's', '--bootstrap', PEER, '--peer', PEER], /unknown option '--bootstrap' for rustdht where/],
  ])('refuses %j', (argv, message) => {
    const error = usageError(argv);
    expect(error.message).toMatch(message);
    expect(error.command).toBe('where');
  });

  it('a usage error of where exits 64 (like every command) with one line on stderr', async () => {
    const result = await runCli(['where', 's', 'extra', '--peer', PEER]);
    expect(result).toEqual({ code: EXIT.usage, stdout: '', stderr: "rustdht: cli/usage: rustdht where takes one SOUL, got an extra argument 'extra' (see rustdht where --help)\n" });
  });

  it('its help states the exit codes, the --replicas default and an example with a server URL', () => {
    for (const text of ['Exits 0 when every owner holds', ' 1 when one does not', ' 2 when no peer', `(default: ${DEFAULTS.replicas}`, 'http://127.0.0.1:7400', 'RUSTDHT_PEER', 'unreachable: CODE']) {
      expect(HELP.where).toContain(text);
    }
  });
});

describe('commands and help', () => {
  it.each([
    [['--help'], undefined],
    [['-h'], undefined],
    [['help'], undefined],
    [['help', 'put'], 'put'],
    [['serve', '--help'], 'serve'],
    [['get', '-h'], 'get'],
    // --help wins over mistakes elsewhere on the line, so a half-typed command can ask for help.
    [['put', '--bogus', '--help'], 'put'],
  ])('%j asks for help on %s', (argv, topic) => {
    expect(parseCommandLine(argv)).toEqual({ command: 'help', topic });
  });

  it('--help after -- is a positional, not a request for help', () => {
    expect(parseCommandLine(['get', '--peer', PEER, '--', '--help'])).toMatchObject({ command: 'get', options: { soul: '--help' } });
  });

  it.each([
    [[], /no command given/],
    [['serv'], /unknown command 'serv' \(commands: serve, get, put, watch/],
    [['--peer', PEER, 'get'], /the command comes first/],
    [['help', 'nope'], /no command 'nope'/],
  ])('refuses %j', (argv, message) => {
    const error = usageError(argv);
    expect(error.message).toMatch(message);
    expect(error.command).toBeUndefined();
  });

  it.each(COMMANDS)('rustdht %s --help documents every flag it accepts', (command) => {
    const help = HELP[command];
    for (const [name, spec] of Object.entries(OPTIONS[command])) {
      expect(help, `--${name}`).toContain(`--${name}`);
      if ('short' in spec) expect(help).toContain(`-${spec.short}, --${name}`);
    }
    expect(help).toMatch(new RegExp(`^Usage: rustdht ${command}`));
  });

  it('rustdht serve --help states every default', () => {
    const help = HELP.serve;
    for (const text of [
      `--data DIR`,
      `(default: ${DEFAULTS.dataDir})`,
      'DIR/store',
      'DIR/peer',
      ...DEFAULTS.listen,
      `(default: ${DEFAULTS.httpPort}; 0: any free port`,
      `(default: ${DEFAULTS.httpHost}`,
      `(default: ${DEFAULTS.logLevel})`,
      `(default: ${DEFAULTS.logFormat})`,
      'debug, info, warn, error',
      'json',
      'pretty',
      'SIGTERM',
      '--demo DIR',
      'index.html',
    ]) {
      expect(help).toContain(text);
    }
  });

  it('client help texts state the timeout default, RUSTDHT_PEER and (put) the value rules', () => {
    for (const command of ['get', 'put', 'watch'] as const) {
      expect(HELP[command]).toContain(`(default: ${DEFAULTS.timeoutMs})`);
      expect(HELP[command]).toContain('RUSTDHT_PEER');
    }
    for (const text of ['JSON', 'raw string', 'n=42', '{"#":"users/bob"}', 'Arrays are not values']) expect(HELP.put).toContain(text);
  });

  it('rustdht --help lists every command, the exit codes and the environment', () => {
    for (const command of COMMANDS) expect(HELP.main).toContain(`rustdht ${command} `);
    for (const text of ['--version', ' 64 ', ' 2 ', '130', 'RUSTDHT_PEER', 'RUSTDHT_DEBUG']) expect(HELP.main).toContain(text);
  });

  it('no help line is wider than 100 columns', () => {
    for (const text of Object.values(HELP)) {
      for (const line of text.split('\n')) expect(line.length, line).toBeLessThanOrEqual(100);
    }
  });
});

describe('run(): output and exit codes', () => {
  it('--version prints the package version', async () => {
    expect(await runCli(['--version'])).toEqual({ code: 0, stdout: `${VERSION}\n`, stderr: '' });
    expect(VERSION).toMatch(/^\d+\.\d+\.\d+/);
  });

  it('help prints the help text on stdout and exits 0', async () => {
    expect(await runCli(['serve', '--help'])).toEqual({ code: 0, stdout: HELP.serve, stderr: '' });
    expect(await runCli(['help'])).toEqual({ code: 0, stdout: HELP.main, stderr: '' });
  });

  it('a usage error is one line on stderr with code and pointer to help, exit 64', async () => {
    const result = await runCli(['serve', '--prot', '1']);
    expect(result.code).toBe(64);
    expect(result.stdout).toBe('');
    expect(result.stderr).toBe("rustdht: cli/usage: unknown option '--prot' for rustdht serve (see rustdht serve --help)\n");
  });

  it('says "see … --help" once, whatever the mistake', async () => {
    for (const argv of [[], ['nope'], ['--nope'], ['get'], ['serve', '--prot', '1']]) {
      const { stderr } = await runCli(argv);
      expect(stderr.match(/see rustdht/g), stderr).toHaveLength(1);
    }
  });

  it('--peer and --bootstrap help does not claim /p2p/ is required, and offers the HTTP URL', () => {
    for (const text of Object.values(HELP)) expect(text).not.toMatch(/ending in \/p2p\//);
    for (const command of ['get', 'put', 'watch'] as const) expect(HELP[command]).toContain('http://127.0.0.1:7400');
  });

  it('--peer accepts a server URL and multiaddrs without /p2p/; rejects a URL with a query', () => {
    const invocation = parseCommandLine(['get', 's', '--peer', 'http://127.0.0.1:7400/', '--peer', '/ip4/127.0.0.1/tcp/7401']);
    expect(invocation).toMatchObject({ command: 'get', options: { peers: ['http://127.0.0.1:7400', '/ip4/127.0.0.1/tcp/7401'] } });
    expect(() => parseCommandLine(['get', 's', '--peer', 'http://127.0.0.1:7400/?x=1'])).toThrow(/not a usable URL/);
  });

  it('no command: one line, exit 64', async () => {
    const result = await runCli([]);
    expect(result.code).toBe(64);
    expect(result.stderr.split('\n')).toHaveLength(2);
    expect(result.stderr).toMatch(/^rustdht: cli\/usage: no command given .*\(see rustdht --help\)\n$/);
  });

  it('RUSTDHT_DEBUG=1 adds the stack trace', async () => {
    const result = await runCli(['nope'], { RUSTDHT_DEBUG: '1' });
    expect(result.code).toBe(64);
    expect(result.stderr.split('\n')[0]).toMatch(/^rustdht: cli\/usage: unknown command 'nope'/);
    expect(result.stderr).toMatch(/\n\s*UsageError: unknown command[\s\S]*\n\s+at /);
  });
});

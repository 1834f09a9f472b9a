// Fuzzing the CNI result and error parsers: whatever a plugin prints, the daemon gets a checked
// CniResult or a CniError with a bounded message, never another exception (a RangeError from a deeply
// nested value, a TypeError from an odd shape) that would escape the invoker and wedge a task.
// Runs and seed: see fuzz-config.ts (FUZZ_RUNS=100000 for a long run).
import { Address4, Address6 } from 'ip-address';
import fc from 'fast-check';
import { CniError } from '../../agent/errors.js';
import { toPrevResult } from '../../cni/invoker.js';
import { CNI_MSG_LIMIT, parseCniErrorOutput, parseCniResult, parseVersionResult } from '../../cni/result.js';
import type { CniResult } from '../../cni/types.js';
import { BRIDGE_RESULT_030, DUAL_STACK_RESULT_040, HOST_DEVICE_RESULT_100, LEGACY_RESULT_020 } from '../support/cni-results.js';
import { fuzzParams } from './fuzz-config.js';
import { paths, setAt } from './json-paths.js';

const { seed, numRuns, timeoutMs } = fuzzParams(3000, 20261125);

/** An error message stays readable: prefix + what was wrong + the output quoted to ~500 characters. */
const MAX_MESSAGE = 1200;
const MAX_DETAILS = 700;

// ---------------------------------------------------------------------------------------------
// Seeds: results as real plugins print them, which the mutations below break in every way.

const SEEDS: unknown[] = [
  BRIDGE_RESULT_030,
  { cniVersion: '0.3.1', interfaces: [{ name: 'eth1', mac: '0a:58:a9:fe:ac:10' }], ips: [{ version: '4', address: '10.99.1.15/24' }], dns: {} },
  DUAL_STACK_RESULT_040,
  HOST_DEVICE_RESULT_100,
  LEGACY_RESULT_020,
  { cniVersion: '0.4.0', code: 11, msg: 'ipam store is locked', details: 'open /var/lib/ecs/data/eni-ipam.db: timeout' },
  { cniVersion: '1.0.0', supportedVersions: ['0.3.0', '0.3.1', '0.4.0', '1.0.0'] },
  // The Amazon ECS plugins: no cniVersion in a result (read as the config's), Go error objects without one.
  {
    interfaces: [{ name: 'capbr0', mac: '3e:2b:dc:ce:f2:e7' }, { name: 'veth36068456', mac: 'fe:af:7b:f3:18:67' }, { name: 'ecs-eth0' }],
    ips: [{ version: '4', interface: 2, address: '169.254.172.2/22', gateway: '169.254.172.1' }],
    routes: [{ dst: '169.254.170.2/32' }, { dst: '169.254.172.1/32', gw: '169.254.172.1' }],
    dns: {},
  },
  { ips: [{ version: '6', address: 'fd00:ec5::2/64', gateway: 'fd00:ec5::1' }], routes: [{ dst: 'fd00:ec2::23/128' }], dns: {} },
  { code: 100, msg: 'runtime error: index out of range [0] with length 0', details: 'goroutine 1 [running, locked to thread]:\n...' },
];


/** Placeholders replaced in the JSON text (a value this deep cannot be built and stringified here). */
const DEEP = '__FUZZ_DEEP__';
const HUGE = '__FUZZ_HUGE__';

const hostileValue: fc.Arbitrary<unknown> = fc.oneof(
  fc.jsonValue({ maxDepth: 3 }),
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.constantFrom(
    '', '1.0.0', '0.2.0', '0.3', '99999999999999999999.0.0', '10.0.0.1', '10.0.0.1/24', '10.0.0.1/33', '::1/128',
    'fe80::1%eth0/64', '256.0.0.1/8', '::ffff:10.0.0.1/128', '0a:58', 'ZZ:ZZ:ZZ:ZZ:ZZ:ZZ', '__proto__', 'constructor',
    'toString', '4', '6', '\u0000', '\ud800', DEEP, HUGE,
  ),
  fc.integer(),
  fc.double(),
  fc.constantFrom(-1, 0, 1, 2, 3, 11, 2 ** 53, -(2 ** 53), 1e308, -0, 0.5),
  fc.constant(null),
  fc.constant([]),
  fc.constant({}),
);

function seedText(seedIndex: number, mutations: Array<{ at: number; value: unknown; remove: boolean }>): string {
  let doc: unknown = structuredClone(SEEDS[seedIndex]);
  const all = paths(doc);
  // A fresh copy of each value: fc.constant hands out one shared object, which could end up inside itself.
  for (const m of mutations) doc = setAt(doc, all[m.at % all.length]!, structuredClone(m.value), m.remove);
  const text = JSON.stringify(doc) ?? '';
  return text
    .replaceAll(JSON.stringify(DEEP), `${'['.repeat(20_000)}${']'.repeat(20_000)}`)
    .replaceAll(JSON.stringify(HUGE), JSON.stringify('x'.repeat(50_000)));
}

const mutatedResult = fc
  .tuple(
    fc.nat({ max: SEEDS.length - 1 }),
    fc.array(fc.record({ at: fc.nat(), value: hostileValue, remove: fc.boolean() }), { minLength: 1, maxLength: 4 }),
  )
  .map(([i, m]) => seedText(i, m));

/** Text-level damage on top: cut short, bytes spliced in, wrapped, prefixed, duplicated. */
const damagedText = fc
  .tuple(mutatedResult, fc.nat(), fc.string({ unit: 'binary', maxLength: 8 }), fc.nat({ max: 7 }))
  .map(([text, at, junk, how]) => {
    const cut = at % (text.length + 1);
    switch (how) {
      case 0: return text.slice(0, cut);
      case 1: return text.slice(0, cut) + junk + text.slice(cut);
      case 2: return `[${text}]`;
      case 3: return `\ufeff${text}`;
      case 4: return `${text}\n${text}`;
      case 5: return text.replace('"cniVersion"', '"cniVersion":"1.0.0","cniVersion"');
      case 6: return `progress: 40%\n${text}`;
      default: return text;
    }
  });

const anyOutput: fc.Arbitrary<string> = fc.oneof(
  { weight: 4, arbitrary: mutatedResult },
  { weight: 3, arbitrary: damagedText },
  { weight: 1, arbitrary: fc.string({ unit: 'binary' }) },
  { weight: 1, arbitrary: fc.jsonValue().map((v) => JSON.stringify(v) ?? '') },
  { weight: 1, arbitrary: fc.nat({ max: 20_000 }).map((n) => `${'{"a":'.repeat(n)}1${'}'.repeat(n)}`) },
);

// ---------------------------------------------------------------------------------------------
// Checks

const isCidr = (s: string): boolean => s.includes('/') && (Address4.isValid(s) || Address6.isValid(s));
const isIp = (s: string): boolean => !s.includes('/') && (Address4.isValid(s) || Address6.isValid(s));

function checkResult(r: CniResult): void {
  expect(r.cniVersion).toMatch(/^\d+\.\d+\.\d+$/);
  for (const i of r.interfaces) {
    expect(typeof i.name).toBe('string');
    expect(i.name.length).toBeGreaterThan(0);
    if (i.mac !== undefined) expect(i.mac).toBe(i.mac.toLowerCase());
  }
  for (const ip of r.ips) {
    expect(isCidr(ip.address)).toBe(true);
    if (ip.gateway !== undefined) expect(isIp(ip.gateway)).toBe(true);
    if (ip.interface !== undefined) expect(ip.interface).toBeLessThan(r.interfaces.length);
  }
  for (const rt of r.routes) {
    expect(isCidr(rt.dst)).toBe(true);
    if (rt.gw !== undefined) expect(isIp(rt.gw)).toBe(true);
  }
  for (const ns of r.dns.nameservers ?? []) expect(isIp(ns)).toBe(true);
  // What the manager saves in the task record must survive the store's JSON round trip.
  expect(JSON.parse(JSON.stringify(r))).toEqual(r);
}

/** The exit-0 error object the parsers must report as the plugin's failure: integer code, string msg, no result fields. */
function errorObject(stdout: string): { code: number; msg: string } | undefined {
  let v: unknown;
  try {
    v = JSON.parse(stdout.trim());
  } catch {
    return undefined;
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return undefined;
  const o = v as Record<string, unknown>;
  if (typeof o.code !== 'number' || !Number.isInteger(o.code) || typeof o.msg !== 'string') return undefined;
  if ((o.interfaces !== undefined && o.interfaces !== null) || (o.ips !== undefined && o.ips !== null)) return undefined;
  return { code: o.code, msg: o.msg };
}

/** A CniError from parsing exit-0 output: the plugin's error for an error object, else bad-output. */
function checkParseError(err: CniError, stdout: string, command: CniError['command']): void {
  expect(err.plugin).toBe('fuzz-plugin');
  expect(err.command).toBe(command);
  expect(err.message.length).toBeLessThan(MAX_MESSAGE);
  const spec = errorObject(stdout);
  if (spec) {
    expect(err.kind).toBe('plugin-error');
    expect(err.cniCode).toBe(spec.code);
    expect(err.cniMsg).toBe(spec.msg.slice(0, CNI_MSG_LIMIT));
    expect(err.retriable).toBe(spec.code === 11);
    if (err.details !== undefined) expect(err.details.length).toBeLessThan(MAX_DETAILS);
  } else {
    expect(err.kind).toBe('bad-output');
    expect(err.cniCode).toBeUndefined();
    expect(err.retriable).toBe(false);
  }
}

/**
 * parseCniResult either returns a checked result or throws a CniError: plugin-error for an error object,
 * bad-output for anything else. A result without cniVersion takes the config's (when that is a version).
 */
function resultOrCniError(stdout: string, configVersion?: string): void {
  let r: CniResult;
  try {
    r = parseCniResult(stdout, 'fuzz-plugin', 'ADD', configVersion);
  } catch (err) {
    if (!(err instanceof CniError)) throw err;
    checkParseError(err, stdout, 'ADD');
    return;
  }
  expect(errorObject(stdout)).toBeUndefined();
  checkResult(r);
  const own = (JSON.parse(stdout.trim()) as Record<string, unknown>).cniVersion;
  expect(r.cniVersion).toBe(own === undefined ? configVersion : own);
}

function versionOrCniError(stdout: string): void {
  try {
    const v = parseVersionResult(stdout, 'fuzz-plugin');
    expect(errorObject(stdout)).toBeUndefined();
    expect(v.cniVersion).toMatch(/^\d+\.\d+\.\d+$/);
    expect(v.supportedVersions.length).toBeGreaterThan(0);
  } catch (err) {
    if (!(err instanceof CniError)) throw err;
    checkParseError(err, stdout, 'VERSION');
  }
}

/** The config version the invoker passes: usually a version, sometimes whatever a config held. */
const configVersion: fc.Arbitrary<string | undefined> = fc.oneof(
  fc.constantFrom('0.1.0', '0.2.0', '0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0'),
  fc.constantFrom(undefined, '', 'latest', '1.0', ' 0.3.0', '0.3.0\n', '__proto__'),
  fc.string({ unit: 'binary', maxLength: 12 }),
);

describe('fuzz: parseCniResult', () => {
  test(`any output -> a checked result, the plugin-error of an error object, or a bad-output CniError (${numRuns} runs, seed ${seed})`, () => {
    fc.assert(fc.property(anyOutput, (stdout) => resultOrCniError(stdout)), { seed, numRuns });
  }, timeoutMs);

  test(`any output read with any config version -> the same, the config's version only where the result has none (${numRuns} runs)`, () => {
    fc.assert(fc.property(anyOutput, configVersion, (stdout, v) => resultOrCniError(stdout, v)), { seed, numRuns });
  }, timeoutMs);

  test('the cases that used to escape as RangeError or grow without bound', () => {
    const deep = `${'['.repeat(100_000)}${']'.repeat(100_000)}`;
    for (const stdout of [
      `{"cniVersion":${deep}}`,
      `{"cniVersion":"1.0.0","ips":[{"address":${deep}}]}`,
      `{"cniVersion":"1.0.0","routes":[{"dst":"0.0.0.0/0","gw":${deep}}]}`,
      `{"cniVersion":"1.0.0","interfaces":[{"name":"eth0","mac":${JSON.stringify('a'.repeat(2_000_000))}}]}`,
      `{"cniVersion":${JSON.stringify('9'.repeat(2_000_000))}}`,
    ]) {
      resultOrCniError(stdout);
      resultOrCniError(stdout, '0.3.0');
      versionOrCniError(stdout);
    }
  });

  // Valid results of every accepted version: accepted, and stable through toPrevResult (what CHECK sends).
  const hex2 = fc.integer({ min: 0, max: 255 }).map((n) => n.toString(16).padStart(2, '0'));
  const mac = fc.array(hex2, { minLength: 6, maxLength: 6 }).map((a) => a.join(':'));
  const v4 = fc.tuple(fc.ipV4(), fc.integer({ min: 0, max: 32 }));
  const v6 = fc.tuple(fc.ipV6(), fc.integer({ min: 0, max: 128 }));
  const validResult = fc
    .tuple(
      fc.constantFrom('0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0'),
      fc.array(
        fc.record(
          { name: fc.string({ minLength: 1, maxLength: 15 }), mac, sandbox: fc.string({ minLength: 1, maxLength: 30 }) },
          { requiredKeys: ['name'] },
        ),
        { maxLength: 3 },
      ),
      fc.array(fc.tuple(fc.boolean(), v4, fc.option(fc.ipV4()), v6, fc.option(fc.ipV6()), fc.nat()), { maxLength: 3 }),
      fc.array(fc.tuple(fc.oneof(v4.map(([a, p]) => `${a}/${p}`), v6.map(([a, p]) => `${a}/${p}`)), fc.option(fc.ipV4())), { maxLength: 3 }),
      fc.record(
        { nameservers: fc.array(fc.oneof(fc.ipV4(), fc.ipV6()), { maxLength: 2 }), domain: fc.string(), search: fc.array(fc.string()), options: fc.array(fc.string()) },
        { requiredKeys: [] },
      ),
    )
    .map(([cniVersion, interfaces, ipSpecs, routeSpecs, dns]) => {
      const legacyIps = /^0\.[34]\./.test(cniVersion);
      const ips = ipSpecs.map(([six, [a4, p4], gw4, [a6, p6], gw6, idx]) => {
        const ip: Record<string, unknown> = six ? { address: `${a6}/${p6}` } : { address: `${a4}/${p4}` };
        if (legacyIps) ip.version = six ? '6' : '4';
        const gw = six ? gw6 : gw4;
        if (gw !== null) ip.gateway = gw;
        if (interfaces.length) ip.interface = idx % interfaces.length;
        return ip;
      });
      const routes = routeSpecs.map(([dst, gw]) => (gw !== null && !dst.includes(':') ? { dst, gw } : { dst }));
      return { cniVersion, interfaces, ips, routes, dns };
    });

  test(`valid results are accepted and survive toPrevResult -> parse (${numRuns} runs)`, () => {
    fc.assert(
      fc.property(validResult, (doc) => {
        const r = parseCniResult(JSON.stringify(doc), 'fuzz-plugin');
        checkResult(r);
        expect(r.ips.map((i) => i.address)).toEqual(doc.ips.map((i) => i.address));
        const again = parseCniResult(JSON.stringify(toPrevResult(r, r.cniVersion)), 'fuzz-plugin');
        expect(again).toEqual(r);
      }),
      { seed, numRuns },
    );
  }, timeoutMs);

  test(`a valid result without cniVersion, read with the config's version, is that result (${numRuns} runs)`, () => {
    fc.assert(
      fc.property(validResult, fc.boolean(), (doc, pretty) => {
        const { cniVersion, ...rest } = doc;
        // The ECS plugins print Go's json.MarshalIndent: 4 spaces, no trailing newline.
        const text = pretty ? JSON.stringify(rest, null, 4) : JSON.stringify(rest);
        expect(parseCniResult(text, 'fuzz-plugin', 'ADD', cniVersion)).toEqual(parseCniResult(JSON.stringify(doc), 'fuzz-plugin'));
        // No version anywhere: unreadable, as before.
        expect(() => parseCniResult(text, 'fuzz-plugin', 'ADD')).toThrow(CniError);
      }),
      { seed, numRuns },
    );
  }, timeoutMs);
});

describe('fuzz: parseVersionResult', () => {
  test(`any output -> versions, the plugin-error of an error object, or a bad-output CniError (${numRuns} runs)`, () => {
    fc.assert(fc.property(anyOutput, versionOrCniError), { seed, numRuns });
  }, timeoutMs);
});

describe('fuzz: parseCniErrorOutput', () => {
  const errorObject = fc
    .record(
      {
        cniVersion: hostileValue,
        code: fc.oneof(fc.integer(), fc.double(), fc.constantFrom(3, 7, 11, 100, '11', -0, 2 ** 53 + 2), hostileValue),
        msg: fc.oneof(fc.string({ unit: 'binary' }), hostileValue, fc.constant(HUGE)),
        details: fc.oneof(fc.string({ unit: 'binary' }), hostileValue, fc.constant(HUGE)),
      },
      { requiredKeys: [] },
    )
    .map((o) => (JSON.stringify(o) ?? '').replaceAll(JSON.stringify(HUGE), JSON.stringify('m'.repeat(50_000))));
  const stream = fc.oneof(errorObject, anyOutput, fc.constant(''), fc.string({ unit: 'binary' }));
  const exitCode = fc.oneof(fc.integer({ min: -1, max: 255 }), fc.constant(null), fc.constant(undefined));
  const command = fc.constantFrom('ADD', 'DEL', 'CHECK', 'VERSION') as fc.Arbitrary<CniError['command']>;

  test(`any stdout/stderr/exit code -> a CniError with a bounded message, never a throw (${numRuns} runs)`, () => {
    fc.assert(
      fc.property(stream, stream, exitCode, command, (stdout, stderr, code, cmd) => {
        const err = parseCniErrorOutput(stdout, stderr, code, 'fuzz-plugin', cmd);
        expect(err).toBeInstanceOf(CniError);
        expect(err.kind).toBe('plugin-error');
        expect(err.plugin).toBe('fuzz-plugin');
        expect(err.command).toBe(cmd);
        if (err.cniCode !== undefined) expect(Number.isInteger(err.cniCode)).toBe(true);
        if (err.cniCode === undefined) expect(err.cniMsg).toBeUndefined();
        if (err.cniMsg !== undefined) {
          expect(err.cniMsg.length).toBeLessThanOrEqual(CNI_MSG_LIMIT);
          // Verbatim: the start of the msg on stdout, never stderr's.
          expect((JSON.parse(stdout.trim()) as { msg: string }).msg.startsWith(err.cniMsg)).toBe(true);
        }
        expect(err.retriable).toBe(err.cniCode === 11);
        expect(err.message.length).toBeLessThan(MAX_MESSAGE);
        if (err.details !== undefined) expect(err.details.length).toBeLessThan(MAX_DETAILS);
      }),
      { seed, numRuns },
    );
  }, timeoutMs);
});

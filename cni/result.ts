// Plugin stdout -> our types: a checked ADD result, or a typed error (CNI spec "Result" and "Error").
import { Address4, Address6 } from 'ip-address';
import { CniError } from '../agent/errors.js';
import type { CniInterface, CniIpConfig, CniResult, CniRoute } from './types.js';

type Command = CniError['command'];

/** How much plugin output an error message quotes. */
export const QUOTE_LIMIT = 500;

/**
 * How much of an error object's `msg` CniError.cniMsg keeps, verbatim. The longest msg the Amazon plugins
 * print echoes the whole network config (ecs-ipam `loadIPAMConfig config: failed to load netconf, {...}`).
 */
export const CNI_MSG_LIMIT = 16 * 1024;

/**
 * The spec's well-known error codes (SPEC.md "Well-known Error Codes"), and only those: 100 and up are
 * plugin-specific (the ECS plugins use 100 for everything, vpc-eni 999 for its errors and 100 for a panic).
 */
const WELL_KNOWN_CODES: Record<number, string> = {
  1: 'incompatible CNI version',
  2: 'unsupported field in network configuration',
  3: 'container unknown or does not exist',
  4: 'invalid environment variables',
  5: 'I/O failure',
  6: 'failed to decode content',
  7: 'invalid network configuration',
  11: 'try again later',
};

class Bad extends Error {}

/**
 * Parses an ADD result as libcni does. Accepts the 0.3.x/0.4.0/1.x shape (interfaces, ips, routes, dns)
 * and the 0.1.0/0.2.0 one (ip4/ip6), which is converted. A result without `cniVersion` is decoded against
 * `configVersion`, the cniVersion of the config that was sent (libcni's fixupResultVersion: ecs-eni,
 * ecs-bridge and ecs-ipam never print one); a result that has one is read as that version.
 *
 * An error object printed with exit status 0 (`code` + `msg`, no interfaces/ips: vpc-eni's recovered panic)
 * is the plugin's failure: CniError kind 'plugin-error' with its code and msg. Anything else unreadable is
 * kind 'bad-output'.
 */
export function parseCniResult(stdout: string, plugin: string, command: Command = 'ADD', configVersion?: string): CniResult {
  const failed = errorObjectOnSuccess(stdout, '', plugin, command);
  if (failed) throw failed;
  try {
    return toResult(stdout, configVersion);
  } catch (err) {
    if (!(err instanceof Bad)) throw err;
    return badOutput(plugin, command, `${err.message}; output: ${quote(stdout)}`, err);
  }
}

/** `<plugin> VERSION` output: {cniVersion, supportedVersions}. */
export function parseVersionResult(stdout: string, plugin: string): { cniVersion: string; supportedVersions: string[] } {
  const failed = errorObjectOnSuccess(stdout, '', plugin, 'VERSION');
  if (failed) throw failed;
  try {
    const o = object(parseJson(stdout), 'output');
    const cniVersion = version(o.cniVersion, 'cniVersion');
    const list = o.supportedVersions;
    if (!Array.isArray(list) || list.length === 0) throw new Bad('supportedVersions: not a non-empty array');
    return { cniVersion, supportedVersions: list.map((v, i) => version(v, `supportedVersions[${i}]`)) };
  } catch (err) {
    if (!(err instanceof Bad)) throw err;
    return badOutput(plugin, 'VERSION', `${err.message}; output: ${quote(stdout)}`, err);
  }
}

/**
 * The CniError for a run that exited 0 but printed an error object on stdout (`code` an integer, `msg` a
 * string, and neither `interfaces` nor `ips`), else undefined. vpc-eni does this when it recovers from a
 * panic (plugin-contract case vpc-add-nogw). Empty stdout is not an error here: DEL and CHECK print nothing.
 */
export function errorObjectOnSuccess(stdout: string, stderr: string, plugin: string, command: Command): CniError | undefined {
  const spec = specError(stdout);
  if (!spec || !spec.hasMsg || spec.hasResultFields) return undefined;
  return fromSpecError(spec, stderr, plugin, command, 0);
}

/**
 * A failed plugin run -> CniError. As libcni reads it, the error object `{cniVersion, code, msg, details}`
 * is on stdout (stderr is never JSON for these plugins: the ECS plugins write `<VAR> env variable missing`
 * lines there, vpc-eni an "about" banner); it gives kind 'plugin-error' with cniCode (11 = retriable) and
 * cniMsg (the msg verbatim). Otherwise the error quotes what the plugin wrote, stderr first. `details` is
 * the plugin's, or else its stderr; both quoted to QUOTE_LIMIT.
 */
export function parseCniErrorOutput(
  stdout: string,
  stderr: string,
  exitCode: number | null | undefined,
  plugin: string,
  command: Command,
): CniError {
  const spec = specError(stdout);
  if (spec) return fromSpecError(spec, stderr, plugin, command, exitCode);
  const stderrQuote = stderr.trim() ? quote(stderr) : undefined;
  const how = exitCode === null || exitCode === undefined ? 'failed' : `exited with code ${exitCode}`;
  const said = stderr.trim() ? `stderr: ${quote(stderr)}` : stdout.trim() ? `stdout: ${quote(stdout)}` : 'no output';
  return new CniError({
    plugin,
    command,
    kind: 'plugin-error',
    message: `${how} without a CNI error object; ${said}`,
    details: stderrQuote,
  });
}

function fromSpecError(spec: SpecError, stderr: string, plugin: string, command: Command, exitCode: number | null | undefined): CniError {
  const known = WELL_KNOWN_CODES[spec.code];
  const codeText = known ? `CNI error ${spec.code}, ${known}` : `CNI error ${spec.code}`;
  const exitText = exitCode === 0 ? '; printed with exit status 0' : '';
  return new CniError({
    plugin,
    command,
    kind: 'plugin-error',
    cniCode: spec.code,
    cniMsg: !spec.hasMsg ? undefined : spec.msg.length <= CNI_MSG_LIMIT ? spec.msg : spec.msg.slice(0, CNI_MSG_LIMIT),
    message: `${quote(spec.msg || '(no message)')} (${codeText}${exitText})`,
    details: spec.details !== undefined ? quote(spec.details) : stderr.trim() ? quote(stderr) : undefined,
  });
}

/** Trimmed and cut to QUOTE_LIMIT characters, saying how much was left out. */
export function quote(text: string, limit = QUOTE_LIMIT): string {
  const t = text.trim();
  return t.length <= limit ? t : `${t.slice(0, limit)}... (${t.length - limit} more characters)`;
}

/**
 * A value from plugin output, for an error message: a string JSON-escaped and cut short, anything else
 * only named. Never JSON.stringify of an arbitrary value: a deeply nested one overflows the stack
 * (RangeError, not a CniError) and a large one makes a message megabytes long.
 */
function show(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v.length > SHOW_LIMIT ? `${v.slice(0, SHOW_LIMIT)}...` : v);
  if (typeof v === 'number' || typeof v === 'boolean' || v === null || v === undefined) return String(v);
  return Array.isArray(v) ? 'an array' : 'an object';
}

const SHOW_LIMIT = 100;

function badOutput(plugin: string, command: Command, message: string, cause: unknown): never {
  throw new CniError({ plugin, command, kind: 'bad-output', message: `unreadable result: ${message}`, cause });
}

interface SpecError {
  code: number;
  msg: string;
  /** `msg` was there (a string); the spec requires it, and an exit-0 output only counts as an error with it. */
  hasMsg: boolean;
  details?: string;
  /** `interfaces` or `ips` is there too: a result that happens to carry a `code`, not an error. */
  hasResultFields: boolean;
}

function specError(text: string): SpecError | undefined {
  let v: unknown;
  try {
    v = JSON.parse(text.trim());
  } catch {
    return undefined;
  }
  if (!isObject(v) || typeof v.code !== 'number' || !Number.isInteger(v.code)) return undefined;
  if (v.msg !== undefined && typeof v.msg !== 'string') return undefined;
  return {
    code: v.code,
    msg: typeof v.msg === 'string' ? v.msg : '',
    hasMsg: typeof v.msg === 'string',
    details: typeof v.details === 'string' && v.details !== '' ? v.details : undefined,
    hasResultFields: (v.interfaces !== undefined && v.interfaces !== null) || (v.ips !== undefined && v.ips !== null),
  };
}

function toResult(stdout: string, configVersion: string | undefined): CniResult {
  const o = object(parseJson(stdout), 'result');
  const spec = specError(stdout);
  if (spec && !spec.hasResultFields) throw new Bad('a "code" without "msg", "interfaces" or "ips": neither a result nor an error object');
  let cniVersion: string;
  if (Object.hasOwn(o, 'cniVersion')) {
    cniVersion = version(o.cniVersion, 'cniVersion');
  } else if (configVersion === undefined) {
    throw new Bad('no cniVersion in the result, and no config version to read it as');
  } else {
    cniVersion = version(configVersion, 'cniVersion (of the config sent, the result has none)');
  }
  const [major, minor] = cniVersion.split('.').map(Number) as [number, number];
  const legacy = major === 0 && minor < 3;
  if (legacy) return fromLegacy(o, cniVersion);
  if ('ip4' in o || 'ip6' in o) throw new Bad(`ip4/ip6 are not part of a ${cniVersion} result`);

  const interfaces = optionalArray(o.interfaces, 'interfaces').map((v, i) => iface(v, `interfaces[${i}]`));
  const ips = optionalArray(o.ips, 'ips').map((v, i) => ipConfig(v, `ips[${i}]`, interfaces.length));
  const routes = optionalArray(o.routes, 'routes').map((v, i) => route(v, `routes[${i}]`));
  return { cniVersion, interfaces, ips, routes, dns: dns(o.dns) };
}

/** 0.1.0/0.2.0: {ip4: {ip, gateway, routes}, ip6: {...}, dns}. */
function fromLegacy(o: Record<string, unknown>, cniVersion: string): CniResult {
  const ips: CniIpConfig[] = [];
  const routes: CniRoute[] = [];
  for (const [key, family] of [['ip4', 4], ['ip6', 6]] as const) {
    const raw = o[key];
    if (raw === undefined || raw === null) continue;
    const ipo = object(raw, key);
    const address = cidr(ipo.ip, `${key}.ip`);
    if (familyOf(address) !== family) throw new Bad(`${key}.ip: not an IPv${family} address`);
    const cfg: CniIpConfig = { address };
    if (ipo.gateway !== undefined && ipo.gateway !== null) cfg.gateway = ip(ipo.gateway, `${key}.gateway`);
    ips.push(cfg);
    routes.push(...optionalArray(ipo.routes, `${key}.routes`).map((v, i) => route(v, `${key}.routes[${i}]`)));
  }
  if (ips.length === 0) throw new Bad('neither ip4 nor ip6 in a legacy result');
  return { cniVersion, interfaces: [], ips, routes, dns: dns(o.dns) };
}

function iface(v: unknown, at: string): CniInterface {
  const o = object(v, at);
  if (typeof o.name !== 'string' || o.name === '') throw new Bad(`${at}.name: not a non-empty string`);
  const out: CniInterface = { name: o.name };
  const mac = optionalString(o.mac, `${at}.mac`);
  if (mac) {
    if (!/^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2})+$/.test(mac)) throw new Bad(`${at}.mac: not a MAC address: ${show(mac)}`);
    out.mac = mac.toLowerCase();
  }
  const sandbox = optionalString(o.sandbox, `${at}.sandbox`);
  if (sandbox) out.sandbox = sandbox;
  return out;
}

function ipConfig(v: unknown, at: string, interfaceCount: number): CniIpConfig {
  const o = object(v, at);
  const address = cidr(o.address, `${at}.address`);
  const family = familyOf(address);
  const out: CniIpConfig = { address };
  if (o.version !== undefined && o.version !== null) {
    // 0.3.x/0.4.0 carry "version": "4"|"6" (1.0.0 dropped it); when present it must match.
    if (o.version !== '4' && o.version !== '6') throw new Bad(`${at}.version: must be "4" or "6"`);
    if (Number(o.version) !== family) throw new Bad(`${at}.version: "${o.version}" but the address is IPv${family}`);
  }
  if (o.gateway !== undefined && o.gateway !== null) {
    const gw = ip(o.gateway, `${at}.gateway`);
    if (familyOf(gw) !== family) throw new Bad(`${at}.gateway: ${gw} is not in the address family of ${address}`);
    out.gateway = gw;
  }
  if (o.interface !== undefined && o.interface !== null) {
    const n = o.interface;
    if (typeof n !== 'number' || !Number.isInteger(n) || n < 0 || n >= interfaceCount) {
      throw new Bad(`${at}.interface: not an index into interfaces (${interfaceCount} listed)`);
    }
    out.interface = n;
  }
  return out;
}

function route(v: unknown, at: string): CniRoute {
  const o = object(v, at);
  const out: CniRoute = { dst: cidr(o.dst, `${at}.dst`) };
  if (o.gw !== undefined && o.gw !== null) out.gw = ip(o.gw, `${at}.gw`);
  return out;
}

function dns(v: unknown): CniResult['dns'] {
  if (v === undefined || v === null) return {};
  const o = object(v, 'dns');
  const out: CniResult['dns'] = {};
  if (o.nameservers !== undefined && o.nameservers !== null) {
    out.nameservers = stringArray(o.nameservers, 'dns.nameservers').map((s, i) => ip(s, `dns.nameservers[${i}]`));
  }
  const domain = optionalString(o.domain, 'dns.domain');
  if (domain !== undefined) out.domain = domain;
  if (o.search !== undefined && o.search !== null) out.search = stringArray(o.search, 'dns.search');
  if (o.options !== undefined && o.options !== null) out.options = stringArray(o.options, 'dns.options');
  return out;
}

function parseJson(text: string): unknown {
  const t = text.trim();
  if (t === '') throw new Bad('empty output');
  try {
    return JSON.parse(t);
  } catch (err) {
    throw new Bad(`not JSON (${(err as Error).message})`);
  }
}

function version(v: unknown, at: string): string {
  if (typeof v !== 'string' || !/^\d+\.\d+\.\d+$/.test(v)) throw new Bad(`${at}: not a version like "1.0.0": ${show(v)}`);
  return v;
}

function cidr(v: unknown, at: string): string {
  if (typeof v !== 'string' || !v.includes('/') || !(Address4.isValid(v) || Address6.isValid(v))) {
    throw new Bad(`${at}: not an address with prefix length: ${show(v)}`);
  }
  return v;
}

function ip(v: unknown, at: string): string {
  if (typeof v !== 'string' || v.includes('/') || !(Address4.isValid(v) || Address6.isValid(v))) {
    throw new Bad(`${at}: not an IP address: ${show(v)}`);
  }
  return v;
}

function familyOf(address: string): 4 | 6 {
  return Address4.isValid(address) ? 4 : 6;
}

function object(v: unknown, at: string): Record<string, unknown> {
  if (!isObject(v)) throw new Bad(`${at}: not an object`);
  return v;
}

function optionalArray(v: unknown, at: string): unknown[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) throw new Bad(`${at}: not an array`);
  return v;
}

function stringArray(v: unknown, at: string): string[] {
  if (!Array.isArray(v) || !v.every((s) => typeof s === 'string')) throw new Bad(`${at}: not an array of strings`);
  return v as string[];
}

function optionalString(v: unknown, at: string): string | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') throw new Bad(`${at}: not a string`);
  return v;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

// Reads the two config files the daemon honours, with the line of every value so an error can point at it:
// the awsvpcd JSON file (--config-file, default /etc/awsvpcd/config.json) and the ECS agent's
// /etc/ecs/ecs.config. Precedence and checking live in config.ts.
import { readFile } from 'node:fs/promises';
import { ConfigError } from '../errors.js';
import {
  DEFAULT_CONFIG_FILE,
  DEFAULT_ECS_CONFIG_FILE,
  OPTIONS,
  resolveConfigSources,
  type ConfigFileValues,
  type ConfigFiles,
  type ResolvedConfig,
} from './config.js';

/** The line (1-based) holding character `index` of `text`. */
function lineAt(text: string, index: number): number {
  let line = 1;
  for (let i = 0; i < index && i < text.length; i++) if (text.charCodeAt(i) === 10) line++;
  return line;
}

/**
 * The JSON config file: one object whose keys are DaemonConfig's names (as `awsvpcd config` prints them),
 * e.g. {"cniPath": "/usr/lib/cni", "plugins": "reference", "blockImds": true}.
 */
export function parseJsonConfig(path: string, text: string): ConfigFileValues<unknown> {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    const pos = /position (\d+)/.exec((err as Error).message);
    const where = pos ? `${path}:${lineAt(text, Number(pos[1]))}` : path;
    throw new ConfigError('--config-file', `not valid JSON: ${(err as Error).message}`, where);
  }
  if (!doc || typeof doc !== 'object' || Array.isArray(doc)) {
    throw new ConfigError('--config-file', 'must hold one JSON object of configuration keys', path);
  }
  const values = new Map<string, { value: unknown; line: number }>();
  for (const [key, value] of Object.entries(doc)) {
    // The key's own line: its first occurrence as a quoted key. Keys are plain identifiers, so no escapes.
    const m = new RegExp(`"${key.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}"\\s*:`).exec(text);
    values.set(key, { value, line: m ? lineAt(text, m.index) : 0 });
  }
  return { path, values };
}

/**
 * /etc/ecs/ecs.config as ecs-init reads it: KEY=VALUE lines, blank lines and # comments skipped, the value
 * trimmed. Unlike ecs-init we also take off one pair of surrounding quotes (as systemd's EnvironmentFile
 * does), so a file written for either reads the same here. A line that is not KEY=VALUE is an error with
 * its line number rather than something silently skipped. The last of repeated keys wins.
 */
export function parseEcsConfig(path: string, text: string): ConfigFileValues<string> {
  const values = new Map<string, { value: string; line: number }>();
  text.split('\n').forEach((raw, i) => {
    const line = raw.replace(/\r$/, '').trim();
    if (line === '' || line.startsWith('#')) return;
    const eq = line.indexOf('=');
    const key = eq > 0 ? line.slice(0, eq).trim() : '';
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(key)) {
      throw new ConfigError('--ecs-config-file', `not a KEY=VALUE line: ${JSON.stringify(line.slice(0, 80))}`, `${path}:${i + 1}`);
    }
    let value = line.slice(eq + 1).trim();
    const q = value[0];
    if (value.length >= 2 && (q === '"' || q === "'") && value.endsWith(q)) value = value.slice(1, -1);
    values.set(key, { value, line: i + 1 });
  });
  return { path, values };
}

export type ReadText = (path: string) => Promise<string>;

const readText: ReadText = (p) => readFile(p, 'utf8');

/** The path of a file option from flag > environment > default, and whether someone asked for it. */
function filePath(key: 'configFile' | 'ecsConfigFile', flags: Map<string, string | true>, env: NodeJS.ProcessEnv, def: string) {
  const o = OPTIONS.find((x) => x.key === key)!;
  const flag = flags.get(o.flag);
  if (typeof flag === 'string' && flag !== '') return { path: flag, explicit: true, name: o.flag };
  const e = o.env?.find((n) => env[n] !== undefined && env[n] !== '');
  if (e) return { path: env[e]!, explicit: true, name: e };
  return { path: def, explicit: false, name: o.flag };
}

async function readIf(p: { path: string; explicit: boolean; name: string }, read: ReadText): Promise<string | undefined> {
  try {
    return await read(p.path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    // A missing default file is normal; a file someone named, or one we cannot read, is an error.
    if (code === 'ENOENT' && !p.explicit) return undefined;
    throw new ConfigError(p.name, `cannot read ${p.path}: ${code ?? (err as Error).message}`);
  }
}

/** The daemon's configuration from every source, with where each value came from. */
export async function loadConfig(flags: Map<string, string | true>, env: NodeJS.ProcessEnv, read: ReadText = readText): Promise<ResolvedConfig> {
  const files: ConfigFiles = {};
  const jsonPath = filePath('configFile', flags, env, DEFAULT_CONFIG_FILE);
  const jsonText = await readIf(jsonPath, read);
  if (jsonText !== undefined) files.json = parseJsonConfig(jsonPath.path, jsonText);
  const ecsPath = filePath('ecsConfigFile', flags, env, DEFAULT_ECS_CONFIG_FILE);
  const ecsText = await readIf(ecsPath, read);
  if (ecsText !== undefined) files.ecs = parseEcsConfig(ecsPath.path, ecsText);
  return resolveConfigSources(flags, env, files);
}

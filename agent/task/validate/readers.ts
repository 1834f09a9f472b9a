// Typed readers for untrusted JSON. Each throws ValidationError(path, ...) naming the field path and
// what it expected, so every rule reports the same way.

import { ValidationError } from '../../errors.js';
import type { ValidateOptions } from './options.js';

export type Obj = Record<string, unknown>;

export function fail(field: string, message: string): never {
  throw new ValidationError(field, message);
}

export function typeName(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  return typeof v;
}

/** A user value quoted for a message: JSON-escaped (no raw newlines or NULs in logs) and shortened. */
export function show(s: string): string {
  const max = 120;
  return JSON.stringify(s.length > max ? `${s.slice(0, max)}…` : s);
}

/** `path.key`, or `path["key"]` when the key is not an identifier, so odd keys cannot make a misleading path. */
export function child(path: string, key: string): string {
  if (/^[A-Za-z_$][A-Za-z0-9_$]*$/.test(key)) return path ? `${path}.${key}` : key;
  return `${path}[${JSON.stringify(key)}]`;
}

export function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Own property; null counts as absent (as in the ECS JSON, where null means "not set"). */
export function get(o: Obj, key: string): unknown {
  if (!Object.hasOwn(o, key)) return undefined;
  const v = o[key];
  return v === null ? undefined : v;
}

export function asObject(v: unknown, path: string): Obj {
  if (!isObj(v)) fail(path, `must be an object (got ${typeName(v)})`);
  return v;
}

export function reportUnknown(o: Obj, path: string, known: readonly string[], opts: ValidateOptions): void {
  if (!opts.onUnknownField) return;
  for (const key of Object.keys(o)) {
    if (!known.includes(key)) opts.onUnknownField(child(path, key));
  }
}

export function asString(v: unknown, path: string): string {
  if (typeof v !== 'string') fail(path, `must be a string (got ${typeName(v)})`);
  if (v.includes('\0')) fail(path, 'must not contain NUL characters');
  return v;
}

export function required(o: Obj, key: string, path: string): unknown {
  const v = get(o, key);
  if (v === undefined) fail(child(path, key), 'is required');
  return v;
}

export function asBoolean(v: unknown, path: string): boolean {
  if (typeof v !== 'boolean') fail(path, `must be a boolean (got ${typeName(v)})`);
  return v;
}

/** Unbounded ranges pass max = MAX_SAFE_INTEGER with min 0 (non-negative) or 1 (positive). */
export function asInteger(v: unknown, path: string, min: 0 | 1, max: number): number {
  if (typeof v !== 'number') fail(path, `must be an integer (got ${typeName(v)})`);
  if (!Number.isSafeInteger(v) || v < min || v > max) {
    if (max !== Number.MAX_SAFE_INTEGER) fail(path, `must be an integer from ${min} to ${max} (got ${v})`);
    fail(path, `must be a ${min === 0 ? 'non-negative' : 'positive'} integer (got ${v})`);
  }
  return v;
}

export function asArray(v: unknown, path: string): unknown[] {
  if (!Array.isArray(v)) fail(path, `must be an array (got ${typeName(v)})`);
  return v;
}

export function asStringArray(v: unknown, path: string): string[] {
  return asArray(v, path).map((e, i) => asString(e, `${path}[${i}]`));
}

export function asEnum<T extends string>(v: unknown, path: string, values: readonly T[]): T {
  const s = asString(v, path);
  if (!(values as readonly string[]).includes(s)) {
    fail(path, `must be one of ${values.join(', ')} (got ${show(s)})`);
  }
  return s as T;
}

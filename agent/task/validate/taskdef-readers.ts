// Readers for ECS task-definition JSON: unknown keys are refused (as the AWS CLI refuses unknown
// parameters), numbers must be JSON numbers (as the CLI requires), and templating leftovers in an
// enum, number or image field are named as such.

import type { ValidateOptions } from './options.js';
import { asEnum, asInteger, child, fail, show, typeName, type Obj } from './readers.js';

const PLACEHOLDER_RES = [/\{\{[\s\S]*?\}\}/, /<[^<>]*>/, /__[A-Z0-9_]+__/];

/** A value a templating step should have replaced: {{...}}, <...>, __X__. */
export function isPlaceholder(s: string): boolean {
  return PLACEHOLDER_RES.some((re) => re.test(s));
}

export function placeholderFail(path: string, s: string, where: string): never {
  fail(path, `unrendered placeholder ${show(s)} where ${where} belongs (render the template first)`);
}

/** Every key of `o` not in `known` is refused with its path. */
export function refuseUnknown(o: Obj, path: string, known: readonly string[], what: string): void {
  const unknown = Object.keys(o).filter((k) => !known.includes(k));
  if (unknown.length > 0) {
    fail(child(path, unknown[0]!), `unknown field: not part of ${what} (as the AWS CLI refuses unknown parameters)`);
  }
}

/** Task-definition mode refuses unknown keys; today's task document reports and ignores them. */
export function unknownFields(o: Obj, path: string, known: readonly string[], what: string, opts: ValidateOptions, strict: boolean): void {
  if (strict) {
    refuseUnknown(o, path, known, what);
  } else if (opts.onUnknownField) {
    for (const key of Object.keys(o)) if (!known.includes(key)) opts.onUnknownField(child(path, key));
  }
}

export function tdInteger(v: unknown, path: string, min: 0 | 1, max: number): number {
  if (typeof v === 'string') {
    if (isPlaceholder(v)) placeholderFail(path, v, 'a number');
    fail(path, `must be an integer (got string ${show(v)})`);
  }
  return asInteger(v, path, min, max);
}

export function tdEnum<T extends string>(v: unknown, path: string, values: readonly T[]): T {
  if (typeof v === 'string' && isPlaceholder(v)) placeholderFail(path, v, `one of ${values.join(', ')}`);
  return asEnum(v, path, values);
}

/** null, "", [] and {} say "not set" in exported task definitions. */
export function isEmptyValue(v: unknown): boolean {
  if (v === undefined || v === null || v === '') return true;
  if (Array.isArray(v)) return v.length === 0;
  if (typeof v === 'object') return Object.keys(v as object).length === 0;
  return false;
}

export function asStringMap(v: unknown, path: string): Record<string, string> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) fail(path, `must be an object of strings (got ${typeName(v)})`);
  const entries = Object.keys(v).map((key): [string, string] => {
    const p = child(path, key);
    const val = (v as Obj)[key];
    if (key.includes('\0')) fail(p, 'keys must not contain NUL characters');
    if (typeof val !== 'string') fail(p, `must be a string (got ${typeName(val)})`);
    if (val.includes('\0')) fail(p, 'must not contain NUL characters');
    return [key, val];
  });
  return Object.fromEntries(entries);
}

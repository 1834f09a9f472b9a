// How a rule reports: today's task document stops at the first broken rule; a task definition is checked
// field by field so every reason can be shown at once (and pinned in tests), and degraded fields add
// warnings instead of errors.

import { ValidationError } from '../../errors.js';
import { fail, show } from './readers.js';

/** Several broken rules of one document. `field` and the start of the message are the first one's, so a 400 still names one path. */
export class ValidationErrors extends ValidationError {
  readonly errors: ValidationError[];
  constructor(errors: ValidationError[]) {
    const first = errors[0]!;
    const own = first.field && first.message.startsWith(`${first.field}: `) ? first.message.slice(first.field.length + 2) : first.message;
    const more = errors.length > 1 ? ` (and ${errors.length - 1} more: ${errors.slice(1).map((e) => e.message).join('; ')})` : '';
    super(first.field, `${own}${more}`);
    this.errors = errors;
  }
}

export interface Collector {
  /** false: the first ValidationError is thrown as it is (today's task document). */
  readonly all: boolean;
  /** Runs one rule. With all = true a ValidationError is recorded and undefined returned. */
  check<T>(rule: () => T): T | undefined;
  warn(message: string): void;
  readonly errors: ValidationError[];
  readonly warnings: string[];
}

export function collector(all: boolean): Collector {
  const errors: ValidationError[] = [];
  const warnings: string[] = [];
  return {
    all,
    errors,
    warnings,
    check<T>(rule: () => T): T | undefined {
      if (!all) return rule();
      try {
        return rule();
      } catch (err) {
        if (!(err instanceof ValidationError)) throw err;
        if (err instanceof ValidationErrors) errors.push(...err.errors);
        else errors.push(err);
        return undefined;
      }
    },
    warn(message: string): void {
      if (!warnings.includes(message)) warnings.push(message);
    },
  };
}

/** Throws what the collector holds: nothing, the one error, or all of them. */
export function throwCollected(c: Collector): void {
  if (c.errors.length === 1) throw c.errors[0]!;
  if (c.errors.length > 1) throw new ValidationErrors(c.errors);
}

/**
 * Each entry of a list checked by its own rule (its errors collected), and a name seen before refused at
 * `<path>[i].name` naming where it was first. Returns the entries that passed and the index of each name.
 */
export function uniquelyNamed<T extends { name: string }>(
  list: unknown[],
  path: string,
  what: string,
  c: Collector,
  rule: (entry: unknown, at: string) => T,
): { items: T[]; indexByName: Map<string, number> } {
  const items: T[] = [];
  const indexByName = new Map<string, number>();
  list.forEach((e, i) => {
    const item = c.check(() => rule(e, `${path}[${i}]`));
    if (!item) return;
    const before = indexByName.get(item.name);
    if (before !== undefined) {
      c.check(() => fail(`${path}[${i}].name`, `duplicate ${what} name ${show(item.name)} (also ${path}[${before}])`));
      return;
    }
    indexByName.set(item.name, i);
    items.push(item);
  });
  return { items, indexByName };
}

// Walking and editing a parsed JSON value by path, for the property tests that mutate a valid document
// one place at a time (validate.test.ts, cni-result-fuzz.test.ts).

export type JsonPath = (string | number)[];

/** Every path in `v`, the root (`[]`) first, then depth first. */
export function paths(v: unknown, prefix: JsonPath = []): JsonPath[] {
  const out: JsonPath[] = [prefix];
  if (Array.isArray(v)) v.forEach((e, i) => out.push(...paths(e, [...prefix, i])));
  else if (typeof v === 'object' && v !== null) {
    for (const [k, e] of Object.entries(v)) out.push(...paths(e, [...prefix, k]));
  }
  return out;
}

/**
 * Sets the value at `p` in `root` (in place) and returns the root, or `value` itself for the empty path.
 * `remove` deletes an object key instead (an array element is overwritten). A path that no longer leads
 * anywhere, because an earlier edit changed what is above it, leaves the root as it is.
 */
export function setAt(root: unknown, p: JsonPath, value: unknown, remove: boolean): unknown {
  if (p.length === 0) return value;
  let node: unknown = root;
  for (const key of p.slice(0, -1)) {
    if (typeof node !== 'object' || node === null) return root;
    node = (node as Record<string | number, unknown>)[key];
  }
  if (typeof node !== 'object' || node === null) return root;
  const last = p[p.length - 1]!;
  if (remove && !Array.isArray(node)) delete (node as Record<string, unknown>)[last];
  else (node as Record<string | number, unknown>)[last] = value;
  return root;
}

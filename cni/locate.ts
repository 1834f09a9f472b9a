// Where a plugin binary is: the first CNI_PATH directory that holds it as an executable file.
import { constants } from 'node:fs';
import { access, stat } from 'node:fs/promises';
import path from 'node:path';

/** Plugin names are fixed strings from the plan; anything path-like is refused. */
export const PLUGIN_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

/** CNI_PATH as the invoker uses it: each directory made absolute, empty entries dropped. */
export function resolveCniPath(cniPath: string): string[] {
  return cniPath.split(':').filter((d) => d !== '').map((d) => path.resolve(d));
}

/**
 * `<dir>/<plugin>` for the first directory of `cniPath` (a ':'-list or the resolved directories) that holds
 * it as an executable regular file; undefined when none does, or the name is not a plain plugin name.
 * `skipped` hears each candidate passed over and why.
 */
export async function locatePlugin(
  plugin: string,
  cniPath: string | string[],
  skipped?: (file: string, why: string) => void,
): Promise<string | undefined> {
  if (!PLUGIN_NAME.test(plugin)) return undefined;
  const dirs = typeof cniPath === 'string' ? resolveCniPath(cniPath) : cniPath;
  for (const dir of dirs) {
    const file = path.resolve(dir, plugin);
    if (path.dirname(file) !== path.resolve(dir)) continue; // stays inside the CNI path, whatever the name
    try {
      if (!(await stat(file)).isFile()) {
        skipped?.(file, 'not a regular file');
        continue;
      }
      await access(file, constants.X_OK);
      return file;
    } catch (err) {
      skipped?.(file, (err as Error).message);
    }
  }
  return undefined;
}

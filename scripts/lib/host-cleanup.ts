// What the bench and the soak both leave on the host and remove the same way: bind mounts (pinned
// namespaces) under their root, links named with their prefix. Each problem is kept, never thrown, so one
// failure does not stop the rest of a cleanup.
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { run } from './run.js';

/** The mount points in this process's mount namespace that `keep` accepts, deepest first (the order to unmount them in). */
export async function mountPoints(keep: (mountPoint: string) => boolean): Promise<string[]> {
  return (await readFile('/proc/self/mountinfo', 'utf8').catch(() => ''))
    .split('\n')
    .map((l) => l.split(' ')[4] ?? '')
    .filter((m) => m !== '' && keep(m))
    .sort((a, b) => b.length - a.length);
}

/** Unmounts every mount below root, deepest first; returns how many there were. */
export async function unmountUnder(root: string, problems: string[]): Promise<number> {
  const mounts = await mountPoints((m) => m.startsWith(root + '/'));
  for (const m of mounts) await run('umount', [m]).catch((err: Error) => problems.push(err.message));
  return mounts.length;
}

/** Deletes every link whose name starts with prefix (a veth's pair goes with it; one already gone is fine). */
export async function deleteLinksNamed(prefix: string): Promise<void> {
  const links = (await run('ip', ['-o', 'link', 'show']).catch(() => ''))
    .split('\n')
    .map((l) => (l.split(': ')[1] ?? '').split('@')[0]!)
    .filter((n) => n.startsWith(prefix));
  for (const l of links) await run('ip', ['link', 'del', l]).catch(() => undefined);
}

/** Writes value as indented JSON, making the file's directory first. */
export async function writeJsonFile(file: string, value: unknown): Promise<void> {
  await mkdir(path.dirname(file), { recursive: true });
  await writeFile(file, JSON.stringify(value, null, 2) + '\n');
}

/** Runs a script's main: its result is the exit code; a throw is logged with its stack and exits errorCode. */
export function runMain(main: () => Promise<number>, log: (s: string) => void, errorCode: number): void {
  main().then(
    (code) => (process.exitCode = code),
    (err: unknown) => {
      log(`error: ${(err as Error)?.stack ?? String(err)}`);
      process.exitCode = errorCode;
    },
  );
}

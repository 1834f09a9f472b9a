// A directory whose contents the daemon trusts (the API socket's, the spool's) must be one only the daemon's
// user (or root) can change: not a symlink, not writable by group or others, owned by a trusted user, and
// under parents nobody else can swap out from under it. Anything else is refused with the fix named.
import { lstat, mkdir, realpath, stat } from 'node:fs/promises';
import path from 'node:path';
import { ConfigError } from '../errors.js';

export interface PrivateDirRule {
  /** The flag the directory comes from, named in the refusal. */
  flag: string;
  /** Users that may own it; default: the daemon's own user. */
  owners?: number[];
  /** How to name the owners in a refusal; default "the daemon's user". */
  ownersText?: string;
  /** Created (mode 0700) when missing. */
  create?: boolean;
}

const STICKY = 0o1000;

/** The daemon's user and root: who may own the spool directory and the task files in it. */
export function rootOrDaemonUser(): number[] {
  const me = process.getuid?.();
  return me === undefined || me === 0 ? [0] : [0, me];
}

/** Refuses `dir` unless only a trusted user can change what is in it (see the file comment). */
export async function checkPrivateDir(dir: string, rule: PrivateDirRule): Promise<void> {
  const owners = rule.owners ?? [process.getuid?.() ?? 0];
  const ownersText = rule.ownersText ?? "the daemon's user";
  // lstat first: mkdir on a dangling symlink fails with a bare EEXIST rather than this refusal.
  const st = await lstat(dir).catch(async (err: NodeJS.ErrnoException) => {
    if (err.code !== 'ENOENT' || !rule.create) throw err;
    await mkdir(dir, { recursive: true, mode: 0o700 });
    return lstat(dir);
  });
  if (st.isSymbolicLink()) throw new ConfigError(rule.flag, `${dir} is a symlink; refusing to use it`);
  if (!st.isDirectory()) throw new ConfigError(rule.flag, `${dir} is not a directory`);
  if ((st.mode & 0o022) !== 0) {
    throw new ConfigError(rule.flag, `${dir} is writable by group or others (mode ${(st.mode & 0o777).toString(8)}); fix it with chmod 0700`);
  }
  if (!owners.includes(st.uid)) throw new ConfigError(rule.flag, `${dir} is not owned by ${ownersText}`);
  // A parent another user can write to (without the sticky bit that stops them renaming what is not theirs)
  // could swap the whole directory for one of their own; the parents are followed to where they really are.
  let parent = await realpath(path.dirname(path.resolve(dir)));
  for (;;) {
    const p = await stat(parent);
    if (!owners.includes(p.uid) && p.uid !== 0) throw new ConfigError(rule.flag, `${dir}: its parent ${parent} is owned by another user (uid ${p.uid})`);
    if ((p.mode & 0o022) !== 0 && (p.mode & STICKY) === 0) {
      throw new ConfigError(rule.flag, `${dir}: its parent ${parent} is writable by group or others without the sticky bit (mode ${(p.mode & 0o777).toString(8)})`);
    }
    const up = path.dirname(parent);
    if (up === parent) return;
    parent = up;
  }
}

// The prefix that names everything one bench or test run makes on the host (namespaces, stand-in ENIs, the
// task bridge, state directories, task ids and so the containers' task-id labels), so all of it can be found
// and removed, and two runs on one host never meet.
import { randomBytes } from 'node:crypto';

/**
 * `tag` and six hex digits: short, because links are named after it (`<prefix>-br`, `<prefix>e12`) and a
 * Linux interface name holds at most 15 characters. The bench tags its runs `b`, the integration tests `t`.
 */
export function runPrefix(tag: string): string {
  return `${tag}${randomBytes(3).toString('hex')}`;
}

// `awsvpcd exec TASK -- CMD...`: runs a command in the task's network namespace (ip addr, ss, ping) on
// this host, through the namespace the daemon pinned for the task (so it works while the pause container
// is being replaced or gone). The path comes from the API; nsenter gets an argument array, never a shell.
import { execa } from 'execa';
import type { NetnsInfo } from '../api/ops-routes.js';
import type { ApiClient } from './client.js';

export type RunInNetns = (netnsPath: string, argv: string[]) => Promise<number>;

const runInNetns: RunInNetns = async (netnsPath, argv) => {
  const r = await execa('nsenter', [`--net=${netnsPath}`, '--', ...argv], { stdio: 'inherit', reject: false });
  if (r.exitCode !== undefined) return r.exitCode;
  if (r.signal) return 128 + ({ SIGINT: 2, SIGKILL: 9, SIGTERM: 15 }[r.signal as string] ?? 1);
  process.stderr.write(`awsvpcd: ${r.shortMessage}\n`);
  return 127;
};

/** The command's own exit code; 3 (unknown task) or 4 (no namespace now) from the API like the other commands. */
export async function execCommand(api: ApiClient, task: string | undefined, argv: string[], run: RunInNetns = runInNetns): Promise<number> {
  if (!task || argv.length === 0) {
    process.stderr.write('awsvpcd: usage: awsvpcd exec TASK -- CMD [ARGS...]\n');
    return 2;
  }
  const id = task.split('/').pop() ?? task;
  const r = await api.request<NetnsInfo | { error?: { message?: string } }>('GET', `/v1/tasks/${encodeURIComponent(id)}/netns`);
  if (r.status !== 200) {
    process.stderr.write(`awsvpcd: ${(r.body as { error?: { message?: string } })?.error?.message ?? `HTTP ${r.status}`}\n`);
    return r.status === 404 ? 3 : r.status === 409 ? 4 : 6;
  }
  return run((r.body as NetnsInfo).netnsPath, argv);
}

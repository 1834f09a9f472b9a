// One command run to completion, for host set-up whose failure should stop the caller with the tool's own words.
import { execa } from 'execa';

/** Runs file with args; resolves with its stdout, rejects with its exit code and stderr. */
export async function run(file: string, args: string[], timeoutMs = 60_000): Promise<string> {
  const r = await execa(file, args, { timeout: timeoutMs, stdin: 'ignore', reject: false });
  if (r.exitCode !== 0) throw new Error(`${file} ${args.join(' ')} failed (exit ${r.exitCode}): ${String(r.stderr).trim()}`);
  return String(r.stdout);
}

// Reads the recorded behaviour of the real amazon-ecs-cni-plugins / amazon-vpc-cni-plugins binaries
// (the "plugin contract", shared/spec/plugin-contract.md beside this repository) so tests compare with
// what the real binaries printed, never with what we expect them to print.
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export interface ContractCase {
  /** The case name, e.g. "eni-add", "br-del-nonetns". */
  name: string;
  /** The table's description of the case (after the name). */
  description: string;
  exit: number;
  /** Exact stdout; undefined where the table cut the cell and no verbatim block gives it whole. */
  stdout: string | undefined;
  /** The start of stdout, for cells the table cut (else the whole stdout). */
  stdoutPrefix: string;
  /** The table cut the stdout cell (over 600 characters); `stdout` comes from a verbatim block if there is one. */
  truncated: boolean;
  stderr: string;
  notes: string;
  /** Section heading the case sits under, e.g. "4. ecs-bridge (with ecs-ipam as its IPAM)". */
  section: string;
}

const HERE = path.dirname(fileURLToPath(import.meta.url));

/** Where the contract is: AWSVPCD_PLUGIN_CONTRACT, else ../shared/spec beside the repository. */
export function contractPath(): string {
  const fromEnv = process.env.AWSVPCD_PLUGIN_CONTRACT;
  if (fromEnv) return fromEnv;
  return path.resolve(HERE, '../../../shared/spec/plugin-contract.md');
}

let cached: Map<string, ContractCase> | undefined;

/** Every case of the contract's tables, by name. Throws (naming the path) when the contract is missing. */
export function loadContract(file = contractPath()): Map<string, ContractCase> {
  if (cached && file === contractPath()) return cached;
  if (!existsSync(file)) throw new Error(`plugin contract not found at ${file} (set AWSVPCD_PLUGIN_CONTRACT)`);
  const parsed = parseContract(readFileSync(file, 'utf8'));
  if (file === contractPath()) cached = parsed;
  return parsed;
}

/** One case; throws if the contract does not record it (a renamed case must fail the test, not skip it). */
export function contractCase(name: string): ContractCase {
  const c = loadContract().get(name);
  if (!c) throw new Error(`the plugin contract has no case named ${name}`);
  return c;
}

export function parseContract(md: string): Map<string, ContractCase> {
  const out = new Map<string, ContractCase>();
  const lines = md.split('\n');
  let section = '';
  for (const line of lines) {
    const h = /^#{2,3} (.*)$/.exec(line);
    if (h) {
      section = h[1]!.trim();
      continue;
    }
    if (!line.startsWith('| **')) continue;
    const cells = line.split(' | ');
    // "| **name**: desc", exit, stdout, stderr, "notes |"
    if (cells.length < 5) throw new Error(`contract row with ${cells.length} cells: ${line.slice(0, 80)}`);
    const head = /^\| \*\*([a-z0-9-]+)\*\*:?\s*(.*)$/.exec(cells[0]!);
    if (!head) throw new Error(`contract row without a case name: ${line.slice(0, 80)}`);
    const exit = Number(cells[1]);
    if (!Number.isInteger(exit)) throw new Error(`case ${head[1]}: exit is not a number: ${cells[1]}`);
    const so = cell(cells[2]!, head[1]!);
    const se = cell(cells[3]!, head[1]!);
    out.set(head[1]!, {
      name: head[1]!,
      description: head[2]!.trim(),
      exit,
      stdout: so.truncated ? undefined : so.text,
      stdoutPrefix: so.text,
      truncated: so.truncated,
      stderr: se.text,
      notes: cells.slice(4).join(' | ').replace(/\s*\|\s*$/, '').trim(),
      section,
    });
  }
  // Verbatim blocks: "```\n<stdout>\n```\n(stdout of `case`; NO trailing newline)" give cut cells whole.
  for (let i = 0; i < lines.length; i++) {
    const m = /^\(stdout of `([a-z0-9-]+)`; NO trailing newline\)/.exec(lines[i]!);
    if (!m || lines[i - 1] !== '```') continue;
    let start = i - 2;
    while (start >= 0 && lines[start] !== '```') start--;
    const text = lines.slice(start + 1, i - 1).join('\n');
    const c = out.get(m[1]!);
    if (!c) continue;
    // A verbatim block that is itself cut short (a line ending mid-string) is no better than the cell.
    if (!isJson(text)) continue;
    if (c.truncated) {
      if (!text.startsWith(c.stdoutPrefix)) throw new Error(`case ${c.name}: verbatim block does not continue the table cell`);
      c.stdout = text;
    } else if (c.stdout !== text) {
      throw new Error(`case ${c.name}: verbatim block differs from the table cell`);
    }
  }
  return out;
}

function cell(raw: string, name: string): { text: string; truncated: boolean } {
  const t = raw.trim();
  if (t === '(empty)') return { text: '', truncated: false };
  const cut = /^`(".*)…` \[truncated; (\d+) chars total\]$/.exec(t);
  if (cut) return { text: decodePrefix(cut[1]!), truncated: true };
  const whole = /^`(".*")`$/.exec(t);
  if (!whole) throw new Error(`case ${name}: cell is neither (empty) nor a JSON string literal: ${t.slice(0, 60)}`);
  return { text: JSON.parse(whole[1]!) as string, truncated: false };
}

/** Decodes a JSON string literal cut at an arbitrary character (possibly inside an escape). */
function decodePrefix(lit: string): string {
  for (let cut = lit.length; cut > 1; cut--) {
    try {
      return JSON.parse(`${lit.slice(0, cut)}"`) as string;
    } catch {
      // cut inside an escape sequence: drop one more character
    }
  }
  return '';
}

function isJson(text: string): boolean {
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
}

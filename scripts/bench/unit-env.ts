// The Environment= lines of the systemd unit, read the way systemd reads them (systemd.exec(5)): one line
// may hold several assignments separated by spaces, and an assignment whose value has spaces is quoted
// whole ("NODE_OPTIONS=--a --b"). The bench runs its daemons with them, so it measures what the unit runs.

/** Splits a line into words: whitespace separates them outside quotes; quotes are removed, and a backslash inside them escapes the next character. */
export function systemdWords(line: string): string[] {
  const words: string[] = [];
  let cur = '';
  let inWord = false;
  let quote: '"' | "'" | undefined;
  for (let i = 0; i < line.length; i++) {
    const ch = line[i]!;
    if (quote) {
      if (ch === '\\' && i + 1 < line.length) cur += line[++i];
      else if (ch === quote) quote = undefined;
      else cur += ch;
    } else if (ch === '"' || ch === "'") {
      quote = ch;
      inWord = true;
    } else if (/\s/.test(ch)) {
      if (inWord) words.push(cur);
      cur = '';
      inWord = false;
    } else {
      cur += ch;
      inWord = true;
    }
  }
  if (quote) throw new Error(`unterminated ${quote} in ${JSON.stringify(line)}`);
  if (inWord) words.push(cur);
  return words;
}

/** Every VAR=value the unit's Environment= lines set, later lines winning. */
export function unitEnvironment(unitText: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const m of unitText.matchAll(/^Environment=(.*)$/gm)) {
    for (const w of systemdWords(m[1]!)) {
      const eq = w.indexOf('=');
      const name = w.slice(0, eq);
      if (eq > 0 && /^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) env[name] = w.slice(eq + 1);
    }
  }
  return env;
}

// The bench runs its daemons with the unit's Environment= lines: they must be read as systemd reads them.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { systemdWords, unitEnvironment } from '../../scripts/bench/unit-env.js';

const here = path.dirname(fileURLToPath(import.meta.url));

describe('unit Environment= lines', () => {
  test('quoted assignments keep their spaces; several on one line; later lines win', () => {
    const unit = [
      '[Service]',
      'Environment="NODE_OPTIONS=--max-semi-space-size=1 --expose-gc"',
      'Environment=A=1 B=2 "C=x y" \'D=it\\\'s\'',
      'Environment=A=3',
      'EnvironmentFile=-/etc/awsvpcd/awsvpcd.env',
      '# Environment=E=commented',
    ].join('\n');
    expect(unitEnvironment(unit)).toEqual({ NODE_OPTIONS: '--max-semi-space-size=1 --expose-gc', A: '3', B: '2', C: 'x y', D: "it's" });
  });

  test('words: quotes removed, whitespace splits outside them, an open quote is an error', () => {
    expect(systemdWords('  a "b c"  d\'e f\'g ')).toEqual(['a', 'b c', 'de fg']);
    expect(systemdWords('""')).toEqual(['']);
    expect(() => systemdWords('"a b')).toThrow('unterminated');
  });

  test("the shipped unit gives the daemon node's flags and malloc's settings", () => {
    const env = unitEnvironment(readFileSync(path.join(here, '../../systemd/awsvpcd.service'), 'utf8'));
    expect(env.NODE_OPTIONS?.split(' ')).toEqual(['--max-semi-space-size=1', '--expose-gc']);
    expect(env.MALLOC_ARENA_MAX).toBe('2');
    expect(env.MALLOC_TRIM_THRESHOLD_).toBe('131072');
    expect(env.MALLOC_MMAP_THRESHOLD_).toBe('131072');
  });
});

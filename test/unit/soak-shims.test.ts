// Which containerd shims the soak ends after an engine restart: only ones the engine has lost. Ending a
// shim the engine still runs would kill a task's container and fail the soak for the harness's own doing.
import { shimLost, type EngineView } from '../../scripts/lib/soak-host.js';

const A = 'a'.repeat(64);
const B = 'b'.repeat(64);
const engine = (over: Partial<EngineView> = {}): EngineView => ({ start: 1000, listed: new Set([A]), running: new Set([A]), ...over });

test('with no engine running, every shim of it is lost', () => {
  expect(shimLost(A, 5000, undefined)).toBe(true);
});

test('a shim whose container the engine does not list is lost, whatever its age', () => {
  expect(shimLost(B, 500, engine())).toBe(true);
  expect(shimLost(B, 5000, engine())).toBe(true);
});

test('a shim of a container the engine runs is kept, from before the restart (live-restore) or after it', () => {
  expect(shimLost(A, 500, engine())).toBe(false);
  expect(shimLost(A, 5000, engine())).toBe(false);
});

test('a shim from before the restart whose container is listed but not running is lost (the stop interrupted its start)', () => {
  expect(shimLost(A, 999, engine({ running: new Set() }))).toBe(true);
});

test('a shim started after the engine, its container listed but not yet running (a start in progress), is kept', () => {
  expect(shimLost(A, 1000, engine({ running: new Set() }))).toBe(false);
  expect(shimLost(A, 1001, engine({ running: new Set() }))).toBe(false);
});

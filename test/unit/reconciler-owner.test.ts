// Two daemons on one engine (integration tests, the bench): each reconciles only the containers it made.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pino from 'pino';
import { LABEL } from '../../agent/docker/container-config.js';
import { Reconciler } from '../../agent/task/reconciler.js';
import { validateTask } from '../../agent/task/validate/index.js';
import { rig } from './fakes.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const example = JSON.parse(readFileSync(path.join(here, '../fixtures/tasks/valid/spec-example.json'), 'utf8'));
const VOPTS = { defaultWaitTimeoutMs: 180_000, allowPrivileged: false, allowedCapabilities: [] };
const MAC = '0a:58:a9:fe:ac:10';
const ID = '5f1e0c2a9b8d4e7f8a6b5c4d3e2f1a0b';

async function runningTaskOf(owner: string) {
  const r = rig({ ownerLabels: { [LABEL.owner]: owner } });
  r.links.present.add(MAC);
  await r.manager.submit(validateTask(structuredClone(example), VOPTS), 'api');
  await r.manager.settled(ID);
  return r;
}

function reconciler(r: Awaited<ReturnType<typeof runningTaskOf>>, owner: string): Reconciler {
  return new Reconciler({ manager: r.manager, runtime: r.runtime, hostNet: r.hostNet, store: r.store, logger: pino({ level: 'silent' }), now: Date.now, owner });
}

describe('reconciliation with an owner', () => {
  test('every container the daemon makes carries its owner label', async () => {
    const r = await runningTaskOf('/var/lib/a');
    expect(r.manager.get(ID)!.lastStatus).toBe('RUNNING');
    const owners = [...r.runtime.containers.values()].map((c) => c.labels[LABEL.owner]);
    expect(owners).toEqual(['/var/lib/a', '/var/lib/a', '/var/lib/a']);
  });

  test("another daemon's task is neither rebuilt nor removed", async () => {
    // Daemon B's task is on the engine; daemon A (no record of it) reconciles.
    const b = await runningTaskOf('/var/lib/b');
    const a = rig();
    const rA = new Reconciler({ manager: a.manager, runtime: b.runtime, hostNet: a.hostNet, store: a.store, logger: pino({ level: 'silent' }), now: Date.now, owner: '/var/lib/a' });
    expect(await rA.plan()).toEqual([]);
  });

  test('its own task whose record was lost is still rebuilt', async () => {
    const r = await runningTaskOf('/var/lib/a');
    const fresh = rig();
    const rA = new Reconciler({ manager: fresh.manager, runtime: r.runtime, hostNet: fresh.hostNet, store: fresh.store, logger: pino({ level: 'silent' }), now: Date.now, owner: '/var/lib/a' });
    expect((await rA.plan()).map((x) => x.kind)).toEqual(['rebuild-task']);
    expect(await reconciler(r, '/var/lib/a').plan()).toEqual([]);
  });
});

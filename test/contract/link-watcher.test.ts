// The link watcher against the kernel's own netlink (no root needed to list links): tasks set up side by
// side list links at the same time, and every one of those lists must succeed.
import pino from 'pino';
import { NetlinkLinkWatcher } from '../../agent/eni/link-watcher.js';

test('concurrent list() calls all succeed and agree', async () => {
  const w = new NetlinkLinkWatcher({ logger: pino({ level: 'silent' }) });
  try {
    const results = await Promise.allSettled(Array.from({ length: 16 }, () => w.list()));
    const failed = results.filter((r) => r.status === 'rejected').map((r) => String((r as PromiseRejectedResult).reason));
    expect(failed).toEqual([]);
    const names = results.map((r) => (r as PromiseFulfilledResult<Array<{ name: string }>>).value.map((l) => l.name).sort().join(','));
    expect(names.every((n) => n.includes('lo'))).toBe(true);
  } finally {
    w.close();
  }
});

// Waiting: a link that appears is found through the link event, not the re-list (set far beyond the test's
// own deadline here). Needs root to add a veth pair on the host; it is removed again, also on failure.
const asRoot = process.getuid?.() === 0 ? test : test.skip;

asRoot('waitForMac wakes on the link event, not the re-list; a MAC that never comes ends at its deadline', async () => {
  const { execa } = await import('execa');
  const name = `awvw${process.pid.toString(36)}`.slice(0, 15);
  const mac = `02:aa:${[process.pid >> 16, process.pid >> 8, process.pid, 0x5a].map((b) => (b & 0xff).toString(16).padStart(2, '0')).join(':')}`;
  const w = new NetlinkLinkWatcher({ logger: pino({ level: 'silent' }), relistMs: 60_000 });
  try {
    const started = Date.now();
    const waiting = w.waitForMac(mac, started + 20_000);
    await new Promise((r) => setTimeout(r, 300)); // the first dump has found nothing by now
    await execa('ip', ['link', 'add', name, 'address', mac, 'type', 'veth', 'peer', 'name', `${name}p`], { timeout: 10_000 });
    const link = await waiting;
    expect(link).toMatchObject({ name, mac });
    expect(Date.now() - started).toBeLessThan(10_000);
    await expect(w.waitForMac('02:aa:00:00:00:00', Date.now() + 200)).rejects.toThrow(/MAC 02:aa:00:00:00:00/);
  } finally {
    w.close();
    await execa('ip', ['link', 'del', name], { reject: false, timeout: 10_000 });
  }
}, 30_000);

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

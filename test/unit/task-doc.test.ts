// The task documents the soak, the bench and the integration harness submit: the same options give the same
// document, so a submit retried after a daemon kill is the task the daemon may already hold, not a second
// one under the same ARN (the daemon answers that with 409, and the soak once lost two tasks that way).
import { taskDocument } from '../../scripts/lib/task-doc.js';

const eni = { dev: 'x1', mac: '0a:58:0a:61:01:12', ip: '10.97.1.18', gateway: '10.97.0.1/16' };
const opts = (id: string) => ({ id, eni, cluster: 'soak', family: 'soak', revision: 1, dns: '10.97.0.2', waitTimeoutMs: 60_000, containers: [] });

test('the same options give the same document, ENI id included', () => {
  expect(taskDocument(opts('t1'))).toEqual(taskDocument(opts('t1')));
});

test('the ENI id follows the task id and reads as an ENI id', () => {
  const a = (taskDocument(opts('t1')).elasticNetworkInterfaces as Array<{ ec2Id: string }>)[0]!.ec2Id;
  const b = (taskDocument(opts('t2')).elasticNetworkInterfaces as Array<{ ec2Id: string }>)[0]!.ec2Id;
  expect(a).toMatch(/^eni-[0-9a-f]{8}$/);
  expect(b).not.toBe(a);
});

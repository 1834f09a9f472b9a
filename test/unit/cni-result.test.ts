// Result and error parsing: every result version we accept, the spec error object, and garbage.
import { CniError } from '../../agent/errors.js';
import { CNI_MSG_LIMIT, errorObjectOnSuccess, parseCniErrorOutput, parseCniResult, parseVersionResult } from '../../cni/result.js';
import { BRIDGE_RESULT_030, DUAL_STACK_RESULT_040, HOST_DEVICE_RESULT_100, LEGACY_RESULT_020 } from '../support/cni-results.js';

function bad(stdout: string): CniError {
  try {
    parseCniResult(stdout, 'ecs-bridge');
  } catch (err) {
    expect(err).toBeInstanceOf(CniError);
    return err as CniError;
  }
  throw new Error(`accepted: ${stdout}`);
}

describe('parseCniResult', () => {
  test('0.3.0 result as ecs-bridge prints it (ecs-ipam IPs with version, interfaces, routes)', () => {
    const stdout = JSON.stringify(BRIDGE_RESULT_030);
    expect(parseCniResult(stdout, 'ecs-bridge')).toEqual({
      cniVersion: '0.3.0',
      interfaces: [
        { name: 'ecs-bridge', mac: '0a:58:a9:fe:ac:01' },
        { name: 'veth1a2b3c', mac: '6e:1d:4c:00:11:22' },
        { name: 'ecs-eth0', mac: '0a:58:a9:fe:ac:02', sandbox: '/proc/4242/ns/net' },
      ],
      ips: [{ address: '169.254.172.2/22', gateway: '169.254.172.1', interface: 2 }],
      routes: [{ dst: '169.254.170.2/32' }],
      dns: {},
    });
  });

  test('0.3.1 ecs-eni-style result: no interface index, no gateway, trailing newline', () => {
    const stdout = '{"cniVersion":"0.3.1","interfaces":[{"name":"eth1","mac":"0a:58:a9:fe:ac:10"}],"ips":[{"version":"4","address":"10.99.1.15/24"}],"dns":{}}\n';
    expect(parseCniResult(stdout, 'ecs-eni')).toEqual({
      cniVersion: '0.3.1',
      interfaces: [{ name: 'eth1', mac: '0a:58:a9:fe:ac:10' }],
      ips: [{ address: '10.99.1.15/24' }],
      routes: [],
      dns: {},
    });
  });

  test('0.4.0 with IPv6 and full dns', () => {
    const stdout = JSON.stringify(DUAL_STACK_RESULT_040);
    const r = parseCniResult(stdout, 'bridge');
    expect(r.ips).toHaveLength(2);
    expect(r.routes).toEqual([{ dst: '0.0.0.0/0', gw: '10.1.0.1' }, { dst: '::/0' }]);
    expect(r.dns).toEqual({ nameservers: ['10.1.0.2', 'fd00::2'], domain: 'example.internal', search: ['a.internal'], options: ['ndots:2'] });
  });

  test('1.0.0 (no ips[].version), as host-device 1.1.1 prints it; 1.1 extras ignored', () => {
    const stdout = JSON.stringify(HOST_DEVICE_RESULT_100);
    expect(parseCniResult(stdout, 'host-device')).toEqual({
      cniVersion: '1.0.0',
      interfaces: [{ name: 'eth0', mac: '0a:58:a9:fe:ac:10', sandbox: '/proc/4242/ns/net' }],
      ips: [{ address: '10.99.1.15/24', gateway: '10.99.1.1', interface: 0 }],
      routes: [{ dst: '0.0.0.0/0', gw: '10.99.1.1' }],
      dns: { nameservers: ['10.99.0.2'], search: ['ec2.internal'] },
    });
  });

  test('a minimal 1.0.0 result (interfaces only, null lists) is fine', () => {
    expect(parseCniResult('{"cniVersion":"1.0.0","interfaces":[{"name":"eth0"}],"ips":null}', 'x')).toEqual({
      cniVersion: '1.0.0', interfaces: [{ name: 'eth0' }], ips: [], routes: [], dns: {},
    });
  });

  test('0.2.0 ip4/ip6 is converted', () => {
    const stdout = JSON.stringify(LEGACY_RESULT_020);
    expect(parseCniResult(stdout, 'old')).toEqual({
      cniVersion: '0.2.0',
      interfaces: [],
      ips: [{ address: '10.1.0.5/16', gateway: '10.1.0.1' }, { address: 'fd00::5/64' }],
      routes: [{ dst: '0.0.0.0/0' }],
      dns: { nameservers: ['10.1.0.2'] },
    });
  });

  test('no cniVersion (the Amazon ECS plugins): read as the version of the config sent, as libcni does', () => {
    const stdout = JSON.stringify({ interfaces: [{ name: 'eth1', mac: '0a:58:a9:fe:ac:10' }], ips: [{ version: '4', address: '10.99.1.15/24' }], dns: {} }, null, 4);
    expect(parseCniResult(stdout, 'ecs-eni', 'ADD', '0.3.0')).toEqual({
      cniVersion: '0.3.0',
      interfaces: [{ name: 'eth1', mac: '0a:58:a9:fe:ac:10' }],
      ips: [{ address: '10.99.1.15/24' }],
      routes: [],
      dns: {},
    });
    // Checked as that version: ips[].version must still match, ip4 is refused in a 0.3.0 result.
    expect(() => parseCniResult('{"ips":[{"version":"6","address":"10.0.0.5/24"}]}', 'x', 'ADD', '0.3.0')).toThrow(CniError);
    expect(() => parseCniResult('{"ip4":{"ip":"10.0.0.5/24"}}', 'x', 'ADD', '0.3.0')).toThrow(CniError);
    // A legacy config version reads a legacy result.
    expect(parseCniResult('{"ip4":{"ip":"10.0.0.5/24"}}', 'x', 'ADD', '0.2.0').ips).toEqual([{ address: '10.0.0.5/24' }]);
  });

  test("a result's own cniVersion wins over the config's", () => {
    expect(parseCniResult('{"cniVersion":"1.0.0","ips":[{"address":"10.0.0.5/24"}]}', 'x', 'ADD', '0.3.0').cniVersion).toBe('1.0.0');
    // Present but not a version: unreadable, the config's version does not paper over it.
    const err = (() => {
      try {
        parseCniResult('{"cniVersion":null,"ips":[]}', 'x', 'ADD', '0.3.0');
      } catch (e) {
        return e as CniError;
      }
      throw new Error('accepted');
    })();
    expect(err.kind).toBe('bad-output');
  });

  test('no cniVersion and no usable config version -> bad-output that says so', () => {
    for (const v of [undefined, '', 'latest']) {
      let err: unknown;
      try {
        parseCniResult('{"ips":[]}', 'ecs-ipam', 'ADD', v);
      } catch (e) {
        err = e;
      }
      expect(err).toMatchObject({ kind: 'bad-output', message: expect.stringContaining('cniVersion') });
    }
  });

  test('an error object on a success (exit 0) -> plugin-error with its code, msg and details', () => {
    const stdout = JSON.stringify({ code: 100, msg: 'runtime error: index out of range [0] with length 0', details: 'goroutine 1 [running]:\nmain.main()' }, null, 4);
    let err: CniError | undefined;
    try {
      parseCniResult(stdout, 'vpc-eni', 'ADD', '0.3.0');
    } catch (e) {
      err = e as CniError;
    }
    expect(err).toBeInstanceOf(CniError);
    expect(err).toMatchObject({ kind: 'plugin-error', cniCode: 100, cniMsg: 'runtime error: index out of range [0] with length 0', details: 'goroutine 1 [running]:\nmain.main()' });
    expect(err!.message).toBe('vpc-eni ADD: runtime error: index out of range [0] with length 0 (CNI error 100; printed with exit status 0)');
    // VERSION output that is an error object is the plugin's error too.
    expect(() => parseVersionResult('{"code":1,"msg":"incompatible CNI versions"}', 'x')).toThrow(expect.objectContaining({ kind: 'plugin-error', command: 'VERSION', cniCode: 1 }) as unknown as Error);
  });

  test('errorObjectOnSuccess: only code + msg without interfaces/ips; empty stdout is not an error', () => {
    expect(errorObjectOnSuccess('', '', 'x', 'DEL')).toBeUndefined();
    expect(errorObjectOnSuccess('{"cniVersion":"1.0.0","interfaces":[{"name":"eth0"}]}', '', 'x', 'ADD')).toBeUndefined();
    expect(errorObjectOnSuccess('{"code":1,"msg":"x","ips":[]}', '', 'x', 'ADD')).toBeUndefined();
    expect(errorObjectOnSuccess('{"code":"100","msg":"x"}', '', 'x', 'ADD')).toBeUndefined();
    expect(errorObjectOnSuccess('{"code":100}', '', 'x', 'ADD')).toBeUndefined();
    const err = errorObjectOnSuccess('{"code":999,"msg":"invalid MAC address"}', 'log line\n', 'vpc-eni', 'DEL');
    expect(err).toMatchObject({ kind: 'plugin-error', command: 'DEL', cniCode: 999, cniMsg: 'invalid MAC address', details: 'log line' });
  });

  test.each([
    ['empty output', ''],
    ['not JSON', 'Setting up network... done {"ips": ['],
    ['an array', '[]'],
    ['no cniVersion', '{"ips":[]}'],
    ['cniVersion not a version', '{"cniVersion":"latest"}'],
    ['interfaces not an array', '{"cniVersion":"1.0.0","interfaces":{}}'],
    ['interface without name', '{"cniVersion":"1.0.0","interfaces":[{"mac":"0a:58:a9:fe:ac:10"}]}'],
    ['bad MAC', '{"cniVersion":"1.0.0","interfaces":[{"name":"eth0","mac":"zz:58"}]}'],
    ['address without prefix', '{"cniVersion":"1.0.0","ips":[{"address":"10.0.0.5"}]}'],
    ['address not an IP', '{"cniVersion":"1.0.0","ips":[{"address":"10.0.0.500/24"}]}'],
    ['address a number', '{"cniVersion":"1.0.0","ips":[{"address":5}]}'],
    ['gateway with prefix', '{"cniVersion":"1.0.0","ips":[{"address":"10.0.0.5/24","gateway":"10.0.0.1/24"}]}'],
    ['gateway of the other family', '{"cniVersion":"1.0.0","ips":[{"address":"10.0.0.5/24","gateway":"fd00::1"}]}'],
    ['version mismatch', '{"cniVersion":"0.4.0","ips":[{"version":"6","address":"10.0.0.5/24"}]}'],
    ['interface index out of range', '{"cniVersion":"1.0.0","interfaces":[{"name":"eth0"}],"ips":[{"address":"10.0.0.5/24","interface":1}]}'],
    ['interface index negative', '{"cniVersion":"1.0.0","interfaces":[{"name":"eth0"}],"ips":[{"address":"10.0.0.5/24","interface":-1}]}'],
    ['route without dst', '{"cniVersion":"1.0.0","routes":[{"gw":"10.0.0.1"}]}'],
    ['route gw not an IP', '{"cniVersion":"1.0.0","routes":[{"dst":"0.0.0.0/0","gw":"gateway"}]}'],
    ['dns nameserver not an IP', '{"cniVersion":"1.0.0","dns":{"nameservers":["ns1.example"]}}'],
    ['dns search not strings', '{"cniVersion":"1.0.0","dns":{"search":[1]}}'],
    ['ip4 in a 1.0.0 result', '{"cniVersion":"1.0.0","ip4":{"ip":"10.0.0.5/24"}}'],
    ['0.2.0 without ip4/ip6', '{"cniVersion":"0.2.0"}'],
    ['a code without msg, interfaces or ips', '{"cniVersion":"1.0.0","code":5}'],
  ])('garbage: %s -> bad-output', (_name, stdout) => {
    const err = bad(stdout);
    expect(err.kind).toBe('bad-output');
    expect(err.plugin).toBe('ecs-bridge');
    expect(err.command).toBe('ADD');
    expect(err.code).toBe('CNI_ERROR');
    expect(err.retriable).toBe(false);
  });

  test('the bad-output message quotes the output, cut to about 500 characters', () => {
    const err = bad(`not json ${'x'.repeat(2000)}`);
    expect(err.message).toContain('not JSON');
    expect(err.message).toContain('more characters');
    expect(err.message.length).toBeLessThan(800);
  });
});

describe('parseCniErrorOutput', () => {
  test('spec error with code 11 -> plugin-error, retriable, details kept', () => {
    const stdout = JSON.stringify({ cniVersion: '1.0.0', code: 11, msg: 'ipam store is locked', details: 'held by pid 42' });
    const err = parseCniErrorOutput(stdout, 'some log line\n', 1, 'ecs-bridge', 'ADD');
    expect(err).toBeInstanceOf(CniError);
    expect(err.kind).toBe('plugin-error');
    expect(err.cniCode).toBe(11);
    expect(err.retriable).toBe(true);
    expect(err.details).toBe('held by pid 42');
    expect(err.message).toBe('ecs-bridge ADD: ipam store is locked (CNI error 11, try again later)');
  });

  test('pre-1.0 error object (no cniVersion, Go-indented) with a plugin code; stderr becomes details', () => {
    const stdout = '{\n    "code": 100,\n    "msg": "failed to find host device: failed to find physical interface"\n}\n';
    const err = parseCniErrorOutput(stdout, 'debug: scanning links\n', 1, 'host-device', 'ADD');
    expect(err.kind).toBe('plugin-error');
    expect(err.cniCode).toBe(100);
    expect(err.retriable).toBe(false);
    expect(err.message).toBe('host-device ADD: failed to find host device: failed to find physical interface (CNI error 100)');
    expect(err.details).toBe('debug: scanning links');
  });

  test('the Amazon plugins: cniMsg is the msg verbatim; 100 and 999 are not given a well-known text', () => {
    const ecs = parseCniErrorOutput('{\n    "code": 100,\n    "msg": "release ipstore: no ip address associated with the given id: 0a:99:00:00:aa:01"\n}', '', 1, 'ecs-ipam', 'DEL');
    expect(ecs.cniCode).toBe(100);
    expect(ecs.cniMsg).toBe('release ipstore: no ip address associated with the given id: 0a:99:00:00:aa:01');
    expect(ecs.message).toBe('ecs-ipam DEL: release ipstore: no ip address associated with the given id: 0a:99:00:00:aa:01 (CNI error 100)');
    const vpc = parseCniErrorOutput('{"code":999,"msg":"invalid MAC address"}', '', 1, 'vpc-eni', 'ADD');
    expect(vpc.message).toBe('vpc-eni ADD: invalid MAC address (CNI error 999)');
    expect(parseCniErrorOutput('{"code":4,"msg":"required env variables [CNI_IFNAME] missing"}', '', 1, 'vpc-eni', 'ADD').message).toContain('(CNI error 4, invalid environment variables)');
  });

  test('a long msg: message quoted to ~500 characters, cniMsg whole up to CNI_MSG_LIMIT', () => {
    const msg = `loadIPAMConfig config: failed to load netconf, ${JSON.stringify({ ipam: { pad: 'p'.repeat(3000) } })}: invalid CIDR address: not-a-cidr`;
    const err = parseCniErrorOutput(JSON.stringify({ code: 100, msg }), '', 1, 'ecs-ipam', 'ADD');
    expect(err.cniMsg).toBe(msg);
    expect(err.message.length).toBeLessThan(800);
    const huge = parseCniErrorOutput(JSON.stringify({ code: 100, msg: 'm'.repeat(CNI_MSG_LIMIT + 10) }), '', 1, 'x', 'ADD');
    expect(huge.cniMsg).toBe('m'.repeat(CNI_MSG_LIMIT));
    expect(parseCniErrorOutput('{"code":7}', '', 1, 'x', 'ADD').cniMsg).toBeUndefined();
  });

  test('stderr is never read as the error object (libcni reads stdout); it is details when the plugin gave none', () => {
    const err = parseCniErrorOutput('', '{"code":11,"msg":"a log line that looks like an error"}\n', 1, 'x', 'ADD');
    expect(err.cniCode).toBeUndefined();
    expect(err.cniMsg).toBeUndefined();
    expect(err.retriable).toBe(false);
    expect(err.details).toBe('{"code":11,"msg":"a log line that looks like an error"}');
    const ecs = parseCniErrorOutput('{\n    "code": 100,\n    "msg": "required env variables missing"\n}', 'CNI_IFNAME env variable missing\n', 1, 'ecs-eni', 'ADD');
    expect(ecs).toMatchObject({ cniCode: 100, cniMsg: 'required env variables missing', details: 'CNI_IFNAME env variable missing' });
  });

  test('code 7 is not retriable', () => {
    const err = parseCniErrorOutput('{"code":7,"msg":"bridge: missing required parameter"}', '', 1, 'ecs-bridge', 'ADD');
    expect(err.cniCode).toBe(7);
    expect(err.retriable).toBe(false);
    expect(err.message).toContain('invalid network configuration');
  });

  test('no error object: quotes stderr, truncated', () => {
    const stderr = `panic: runtime error\n${'goroutine stack '.repeat(100)}`;
    const err = parseCniErrorOutput('', stderr, 2, 'vpc-eni', 'DEL');
    expect(err.kind).toBe('plugin-error');
    expect(err.cniCode).toBeUndefined();
    expect(err.command).toBe('DEL');
    expect(err.message).toContain('exited with code 2');
    expect(err.message).toContain('panic: runtime error');
    expect(err.message).toContain('more characters');
    expect(err.message.length).toBeLessThan(800);
  });

  test('no error object and no stderr: quotes stdout', () => {
    const err = parseCniErrorOutput('something went wrong', '', 1, 'x', 'CHECK');
    expect(err.message).toBe('x CHECK: exited with code 1 without a CNI error object; stdout: something went wrong');
  });

  test('nothing at all', () => {
    expect(parseCniErrorOutput('', '', 1, 'x', 'ADD').message).toBe('x ADD: exited with code 1 without a CNI error object; no output');
  });

  test('JSON that is not an error object is quoted, not trusted', () => {
    const err = parseCniErrorOutput('{"code":"11","msg":"x"}', '', 1, 'x', 'ADD');
    expect(err.cniCode).toBeUndefined();
    expect(err.message).toContain('stdout: {"code":"11"');
  });
});

describe('parseVersionResult', () => {
  test('reference plugin output', () => {
    const out = '{"cniVersion":"1.0.0","supportedVersions":["0.1.0","0.2.0","0.3.0","0.3.1","0.4.0","1.0.0"]}';
    expect(parseVersionResult(out, 'static')).toEqual({
      cniVersion: '1.0.0',
      supportedVersions: ['0.1.0', '0.2.0', '0.3.0', '0.3.1', '0.4.0', '1.0.0'],
    });
  });

  test('garbage -> bad-output on VERSION', () => {
    expect(() => parseVersionResult('{"version":"2017.06.0"}', 'ecs-eni')).toThrow(
      expect.objectContaining({ kind: 'bad-output', command: 'VERSION' }) as unknown as Error,
    );
  });
});

import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { ValidationError } from '../../agent/errors.js';
import type { TaskSpec } from '../../agent/model.js';
import { specHash } from '../../agent/task/spec-hash.js';
import {
  normalizeMac,
  parseTaskDocument,
  validateRunRequest,
  validateRunRequestAll,
  validateTask,
  type ValidateOptions,
} from '../../agent/task/validate/index.js';
import { fuzzParams } from './fuzz-config.js';
import { paths, setAt } from './json-paths.js';

/** Each run gives a spec that hashes, or throws a ValidationError: never another error. */
function specOrValidationError(runs: Array<() => TaskSpec>): void {
  for (const run of runs) {
    try {
      expect(specHash(run())).toMatch(/^[0-9a-f]{64}$/);
    } catch (err) {
      if (!(err instanceof ValidationError)) throw err;
    }
  }
}

const here = path.dirname(fileURLToPath(import.meta.url));
const fixtures = path.join(here, '..', 'fixtures', 'tasks');
const validDir = path.join(fixtures, 'valid');
const invalidDir = path.join(fixtures, 'invalid');

const opts: ValidateOptions = {
  defaultWaitTimeoutMs: 180000,
  allowPrivileged: false,
  allowedCapabilities: ['CAP_SYS_PTRACE'],
};

function fixture(dir: string, name: string): Buffer {
  return readFileSync(path.join(dir, name));
}

function exampleObject(): Record<string, unknown> {
  return JSON.parse(fixture(validDir, 'spec-example.json').toString('utf8')) as Record<string, unknown>;
}

/** The ValidationError `fn` throws (fails the test if it throws nothing or something else). */
function validationError(fn: () => unknown): ValidationError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ValidationError);
    return err as ValidationError;
  }
  throw new Error('expected a ValidationError, but validation passed');
}

describe('the example task (spec-example.json)', () => {
  test('passes and comes out normalized', () => {
    const spec = parseTaskDocument(fixture(validDir, 'spec-example.json'), opts);
    const expected: TaskSpec = {
      taskArn: 'arn:aws:ecs:us-east-1:111122223333:task/default/5f1e0c2a9b8d4e7f8a6b5c4d3e2f1a0b',
      taskId: '5f1e0c2a9b8d4e7f8a6b5c4d3e2f1a0b',
      family: 'web',
      revision: 3,
      networkMode: 'awsvpc',
      desiredStatus: 'RUNNING',
      awsvpcConfiguration: {
        subnets: ['subnet-0a1b2c3d4e5f60718'],
        securityGroups: ['sg-0123456789abcdef0'],
        assignPublicIp: 'DISABLED',
      },
      eni: {
        attachmentArn: 'arn:aws:ecs:us-east-1:111122223333:attachment/8d0b8b6e-2c1f-4f5e-9a7d-3b2c1d0e9f8a',
        attachmentId: '8d0b8b6e-2c1f-4f5e-9a7d-3b2c1d0e9f8a',
        ec2Id: 'eni-0a1b2c3d4e5f60718',
        macAddress: '0a:58:a9:fe:ac:10',
        ipv4Addresses: [{ primary: true, privateAddress: '10.99.1.15' }],
        ipv6Addresses: [],
        subnetGatewayIpv4Address: '10.99.1.1/24',
        domainNameServers: ['10.99.0.2'],
        domainName: ['ec2.internal'],
        privateDnsName: 'ip-10-99-1-15.ec2.internal',
      },
      waitTimeoutMs: 180000,
      containers: [
        {
          name: 'app',
          image: 'busybox:latest',
          essential: true,
          command: ['httpd', '-f', '-p', '8080'],
          environment: [{ name: 'MODE', value: 'prod' }],
          portMappings: [{ containerPort: 8080, protocol: 'tcp' }],
          dependsOn: [],
          dockerLabels: {},
          privileged: false,
          capabilities: { add: [], drop: [] },
        },
        {
          name: 'probe',
          image: 'busybox:latest',
          essential: false,
          command: ['sh', '-c', 'wget -qO- http://127.0.0.1:8080/ && sleep 3600'],
          environment: [],
          portMappings: [],
          dependsOn: [{ containerName: 'app', condition: 'START' }],
          dockerLabels: {},
          privileged: false,
          capabilities: { add: [], drop: [] },
        },
      ],
    };
    expect(spec).toEqual(expected);
  });

  test('validateTask takes the parsed object as well as parseTaskDocument takes the text', () => {
    const text = fixture(validDir, 'spec-example.json').toString('utf8');
    expect(validateTask(JSON.parse(text), opts)).toEqual(parseTaskDocument(text, opts));
  });
});

describe('valid corpus', () => {
  const files = readdirSync(validDir).filter((f) => f.endsWith('.json')).sort();

  test('has the variants the corpus is meant to cover', () => {
    expect(files).toEqual(
      expect.arrayContaining([
        'spec-example.json',
        'minimal.json',
        'mac-mixed-case-dashes.json',
        'ipv6-several-ipv4.json',
        'old-form-arn.json',
        'full-features.json',
      ]),
    );
  });

  test.each(files)('%s passes', (file) => {
    expect(() => parseTaskDocument(fixture(validDir, file), opts)).not.toThrow();
  });

  test('minimal: defaults are filled in', () => {
    const spec = parseTaskDocument(fixture(validDir, 'minimal.json'), { ...opts, defaultWaitTimeoutMs: 42000 });
    expect(spec.desiredStatus).toBe('RUNNING');
    expect(spec.waitTimeoutMs).toBe(42000);
    expect(spec.awsvpcConfiguration).toBeUndefined();
    expect(spec.family).toBeUndefined();
    expect(spec.eni.ipv6Addresses).toEqual([]);
    expect(spec.eni.domainNameServers).toEqual([]);
    expect(spec.eni.domainName).toEqual([]);
    expect(spec.eni.privateDnsName).toBeUndefined();
    expect(spec.containers[0]).toEqual({
      name: 'app',
      image: 'nginx',
      essential: true,
      environment: [],
      portMappings: [],
      dependsOn: [],
      dockerLabels: {},
      privileged: false,
      capabilities: { add: [], drop: [] },
    });
  });

  test('mac-mixed-case-dashes: the MAC comes out lowercase and colon separated', () => {
    const spec = parseTaskDocument(fixture(validDir, 'mac-mixed-case-dashes.json'), opts);
    expect(spec.eni.macAddress).toBe('0a:58:a9:fe:ac:10');
  });

  test('ipv6-several-ipv4: all addresses kept, IPv6 in its short form', () => {
    const spec = parseTaskDocument(fixture(validDir, 'ipv6-several-ipv4.json'), opts);
    expect(spec.eni.ipv4Addresses).toEqual([
      { primary: false, privateAddress: '10.99.3.7' },
      { primary: true, privateAddress: '10.99.1.15' },
      { primary: false, privateAddress: '10.99.15.254' },
    ]);
    expect(spec.eni.ipv6Addresses).toEqual([
      { address: '2600:1f18:abc:1::15' },
      { address: '2600:1f18:abc:1::16', primary: false },
    ]);
    expect(spec.eni.domainNameServers).toEqual(['10.99.0.2', '2600:1f18:abc:1::2']);
  });

  test('old-form-arn: the task id is the segment after task/', () => {
    const spec = parseTaskDocument(fixture(validDir, 'old-form-arn.json'), opts);
    expect(spec.taskId).toBe('5f1e0c2a-9b8d-4e7f-8a6b-5c4d3e2f1a0b');
  });

  test('full-features: partitions, registries, digests, capabilities and defaults', () => {
    const spec = parseTaskDocument(fixture(validDir, 'full-features.json'), opts);
    expect(spec.taskId).toBe('Job_42-a');
    expect(spec.eni.attachmentId).toBe('8d0b8b6e-2c1f-4f5e-9a7d-3b2c1d0e9f8a');
    expect(spec.awsvpcConfiguration?.assignPublicIp).toBe('DISABLED');
    const [init, app, sidecar] = spec.containers;
    expect(init).toMatchObject({ essential: false, entryPoint: ['/bin/migrate'], workingDirectory: '/srv', stopTimeout: 0 });
    expect(app?.capabilities).toEqual({ add: ['SYS_PTRACE'], drop: ['ALL', 'NET_RAW'] });
    expect(app?.portMappings).toEqual([
      { containerPort: 80, hostPort: 80, protocol: 'tcp' },
      { containerPort: 80, protocol: 'udp' },
    ]);
    expect(app?.dockerLabels).toEqual({ team: 'web', 'com.example.tier': 'front' });
    expect(sidecar?.essential).toBe(true);
    expect(sidecar?.dependsOn.map((d) => d.condition)).toEqual(['HEALTHY', 'COMPLETE']);
  });
});

describe('invalid corpus', () => {
  const expected = JSON.parse(fixture(invalidDir, 'expected.json').toString('utf8')) as Record<
    string,
    { field: string; message: string; errors?: Array<{ field: string; message: string }> }
  >;
  const files = readdirSync(invalidDir)
    .filter((f) => f.endsWith('.json') && f !== 'expected.json')
    .sort();

  test('every file has an expectation and every expectation a file', () => {
    expect(Object.keys(expected).sort()).toEqual(files);
    expect(files.length).toBeGreaterThanOrEqual(45);
  });

  test('every expected message is distinct', () => {
    const messages = Object.values(expected).map((e) => e.message);
    expect(new Set(messages).size).toBe(messages.length);
  });

  test.each(files)('%s is refused with its own error', (file) => {
    const err = validationError(() => parseTaskDocument(fixture(invalidDir, file), opts));
    const { errors, ...first } = expected[file]!;
    expect({ field: err.field, message: err.message }).toEqual(first);
    // Several reasons (a run request): every one is listed, in order, each naming its field.
    const listed = (err as ValidationError & { errors?: ValidationError[] }).errors;
    expect(listed?.map((x) => ({ field: x.field, message: x.message }))).toEqual(errors);
    expect(err.code).toBe('INVALID_TASK');
  });
});

describe('the document, before JSON.parse', () => {
  const example = () => fixture(validDir, 'spec-example.json').toString('utf8');

  test('a body over 1 MiB is refused without being parsed', () => {
    const body = `{${' '.repeat(1048576)}`; // not even JSON: size comes first
    const err = validationError(() => parseTaskDocument(body, opts));
    expect(err.field).toBe('');
    expect(err.message).toBe('task document is larger than 1 MiB (1048577 bytes)');
  });

  test('exactly 1 MiB is accepted', () => {
    const text = example();
    const body = Buffer.from(text + ' '.repeat(1048576 - Buffer.byteLength(text)));
    expect(body.length).toBe(1048576);
    expect(parseTaskDocument(body, opts).taskId).toBe('5f1e0c2a9b8d4e7f8a6b5c4d3e2f1a0b');
  });

  test('size counts bytes, not characters', () => {
    const body = `"${'é'.repeat(524288)}"`; // 524288 two-byte characters
    const err = validationError(() => parseTaskDocument(body, opts));
    expect(err.message).toBe('task document is larger than 1 MiB (1048578 bytes)');
  });

  test('10000 levels of nesting are refused before parsing', () => {
    const body = '['.repeat(10000) + ']'.repeat(10000);
    const err = validationError(() => parseTaskDocument(body, opts));
    expect(err.field).toBe('');
    expect(err.message).toBe('task document is nested deeper than 32 levels');
  });

  test('32 levels are allowed, 33 are not, and brackets inside strings do not count', () => {
    const nested = (levels: number) => {
      const task = exampleObject();
      // The task object is level 1, so the unknown field adds levels - 1 arrays.
      task['extra'] = '__NESTED__';
      return JSON.stringify(task).replace('"__NESTED__"', '['.repeat(levels - 1) + ']'.repeat(levels - 1));
    };
    expect(() => parseTaskDocument(nested(32), opts)).not.toThrow();
    expect(validationError(() => parseTaskDocument(nested(33), opts)).message).toBe(
      'task document is nested deeper than 32 levels',
    );
    const task = exampleObject();
    task['note'] = '[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[ \\" {{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{';
    expect(() => parseTaskDocument(JSON.stringify(task), opts)).not.toThrow();
  });

  test('a raw NUL byte is refused', () => {
    const text = example();
    const at = text.indexOf('prod');
    const body = Buffer.concat([Buffer.from(text.slice(0, at)), Buffer.from([0]), Buffer.from(text.slice(at))]);
    const err = validationError(() => parseTaskDocument(body, opts));
    expect(err.field).toBe('');
    expect(err.message).toBe(`task document contains a NUL byte (at offset ${at})`);
    expect(validationError(() => parseTaskDocument(`{"a":"\0"}`, opts)).message).toBe(
      'task document contains a NUL byte (at offset 6)',
    );
  });

  test('JSON syntax errors, empty bodies and bad UTF-8 are clear errors', () => {
    const syntax = validationError(() => parseTaskDocument('{"taskArn": ', opts));
    expect(syntax.field).toBe('');
    expect(syntax.message).toMatch(/^task document is not valid JSON: \S/);
    expect(validationError(() => parseTaskDocument(' \n', opts)).message).toBe('task document is empty');
    expect(validationError(() => parseTaskDocument(Buffer.from([0x7b, 0xff, 0x7d]), opts)).message).toBe(
      'task document is not valid UTF-8',
    );
  });

  test('a UTF-8 byte order mark is tolerated', () => {
    const body = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), fixture(validDir, 'spec-example.json')]);
    expect(parseTaskDocument(body, opts).family).toBe('web');
  });
});

describe('rules that depend on options or order', () => {
  test('privileged and added capabilities pass when the daemon config allows them', () => {
    const task = exampleObject();
    const containers = task['containers'] as Record<string, unknown>[];
    containers[0]!['privileged'] = true;
    containers[0]!['linuxParameters'] = { capabilities: { add: ['net_admin', 'CAP_NET_RAW'] } };
    const spec = validateTask(task, { ...opts, allowPrivileged: true, allowedCapabilities: ['NET_ADMIN', 'NET_RAW'] });
    expect(spec.containers[0]?.privileged).toBe(true);
    expect(spec.containers[0]?.capabilities.add).toEqual(['NET_ADMIN', 'NET_RAW']);
    expect(validationError(() => validateTask(task, { ...opts, allowPrivileged: true, allowedCapabilities: [] })).message).toBe(
      "containers[0].linuxParameters.capabilities.add[0]: adding capability NET_ADMIN is not allowed by the daemon's configuration (allowed: none)",
    );
  });

  test('the first error is reported: top-level fields before the ENI before the containers', () => {
    const task = exampleObject();
    (task['containers'] as Record<string, unknown>[])[0]!['hostname'] = 'web';
    (task['elasticNetworkInterfaces'] as Record<string, unknown>[])[0]!['ec2Id'] = 'eni-x';
    expect(validationError(() => validateTask(task, opts)).field).toBe('elasticNetworkInterfaces[0].ec2Id');
    task['waitTimeoutMs'] = 0;
    expect(validationError(() => validateTask(task, opts)).field).toBe('waitTimeoutMs');
  });

  test('null means "not set" for optional fields', () => {
    const task = exampleObject();
    task['family'] = null;
    (task['containers'] as Record<string, unknown>[])[0]!['links'] = null;
    const spec = validateTask(task, opts);
    expect(spec.family).toBeUndefined();
  });

  test('a "__proto__" label stays a label', () => {
    const task = JSON.parse(
      fixture(validDir, 'spec-example.json')
        .toString('utf8')
        .replace('"essential": true,', '"essential": true, "dockerLabels": {"__proto__": "x"},'),
    ) as unknown;
    const labels = validateTask(task, opts).containers[0]?.dockerLabels ?? {};
    expect(Object.getPrototypeOf(labels)).toBe(Object.prototype);
    expect(Object.entries(labels)).toEqual([['__proto__', 'x']]);
  });
});

describe('unknown fields', () => {
  test('are ignored and reported with their paths', () => {
    const task = exampleObject();
    task['tags'] = [{ key: 'a', value: 'b' }];
    task['weird key'] = 1;
    const eni = (task['elasticNetworkInterfaces'] as Record<string, unknown>[])[0]!;
    eni['ipv6SubnetCidr'] = '2001:db8::/64';
    const app = (task['containers'] as Record<string, unknown>[])[0]!;
    app['healthCheck'] = { command: ['CMD', 'true'] };
    app['linuxParameters'] = { initProcessEnabled: true };
    (app['portMappings'] as Record<string, unknown>[])[0]!['appProtocol'] = 'http';

    const seen: string[] = [];
    const spec = validateTask(task, { ...opts, onUnknownField: (p) => seen.push(p) });
    expect(spec.taskId).toBe('5f1e0c2a9b8d4e7f8a6b5c4d3e2f1a0b');
    expect(seen).toEqual([
      'tags',
      '["weird key"]',
      'elasticNetworkInterfaces[0].ipv6SubnetCidr',
      'containers[0].healthCheck',
      'containers[0].portMappings[0].appProtocol',
      'containers[0].linuxParameters.initProcessEnabled',
    ]);
  });

  test('the spec example has none', () => {
    const seen: string[] = [];
    parseTaskDocument(fixture(validDir, 'spec-example.json'), { ...opts, onUnknownField: (p) => seen.push(p) });
    expect(seen).toEqual([]);
  });
});

describe('normalizeMac', () => {
  test.each([
    ['0a:58:a9:fe:ac:10', '0a:58:a9:fe:ac:10'],
    ['0A:58:A9:FE:AC:10', '0a:58:a9:fe:ac:10'],
    ['0a-58-a9-fe-ac-10', '0a:58:a9:fe:ac:10'],
    ['0A-58-A9-FE-AC-10', '0a:58:a9:fe:ac:10'],
    ['0a58.a9fe.ac10', '0a:58:a9:fe:ac:10'],
    ['0A58A9FEAC10', '0a:58:a9:fe:ac:10'],
  ])('%s -> %s', (input, output) => {
    expect(normalizeMac(input)).toBe(output);
  });

  test.each(['', '0a:58:a9:fe:ac', '0a:58:a9:fe:ac:10:11', '0a:58-a9:fe:ac:10', 'a:58:a9:fe:ac:10', '0g:58:a9:fe:ac:10', ' 0a:58:a9:fe:ac:10'])(
    'refuses %j',
    (input) => {
      expect(normalizeMac(input)).toBeUndefined();
    },
  );
});

describe('specHash', () => {
  test('same content in another form gives the same hash; desiredStatus does not count', () => {
    const a = parseTaskDocument(fixture(validDir, 'spec-example.json'), opts);
    const b = parseTaskDocument(fixture(validDir, 'mac-mixed-case-dashes.json'), opts);
    const reordered = Object.fromEntries(Object.entries(exampleObject()).reverse());
    reordered['desiredStatus'] = 'STOPPED';
    const c = validateTask(reordered, opts);
    expect(specHash(a)).toMatch(/^[0-9a-f]{64}$/);
    expect(specHash(b)).toBe(specHash(a));
    expect(specHash(c)).toBe(specHash(a));
  });

  test('different content gives a different hash', () => {
    const a = parseTaskDocument(fixture(validDir, 'spec-example.json'), opts);
    const task = exampleObject();
    (task['containers'] as Record<string, unknown>[])[0]!['image'] = 'busybox:1.36';
    expect(specHash(validateTask(task, opts))).not.toBe(specHash(a));
  });
});

describe('property: random mutations of the example', () => {

  const allPaths = paths(exampleObject());
  const mutation = fc.record({
    at: fc.nat({ max: allPaths.length - 1 }),
    value: fc.oneof(
      fc.jsonValue(),
      fc.string({ unit: 'binary' }),
      fc.constantFrom('', '0', '-1', '../', 'a\nb', '\u0000', 'eni-', 'arn:aws:ecs::', '10.99.1.1/33', '::'),
      fc.integer(),
      fc.double(),
    ),
    remove: fc.boolean(),
  });

  // Fixed seed and 2000 runs in CI; FUZZ_RUNS / FUZZ_SEED for more (fuzz-config.ts).
  const { seed, numRuns, timeoutMs } = fuzzParams(2000, 20261124);

  test(`validateTask returns or throws ValidationError, never anything else (${numRuns} runs, seed ${seed})`, () => {
    fc.assert(
      fc.property(fc.array(mutation, { minLength: 1, maxLength: 4 }), (mutations) => {
        let task: unknown = exampleObject();
        for (const m of mutations) task = setAt(task, allPaths[m.at]!, m.value, m.remove);
        specOrValidationError([() => validateTask(task, opts), () => parseTaskDocument(JSON.stringify(task) ?? '', opts)]);
      }),
      { seed, numRuns },
    );
  }, timeoutMs);
});

describe('property: random mutations of a run request (run-request-full.json)', () => {
  const runRequest = () => JSON.parse(fixture(validDir, 'run-request-full.json').toString('utf8')) as Record<string, unknown>;
  const allPaths = paths(runRequest());
  const mutation = fc.record({
    at: fc.nat({ max: allPaths.length - 1 }),
    value: fc.oneof(
      fc.jsonValue(),
      fc.string({ unit: 'binary' }),
      fc.constantFrom(
        '', '0', '-1', '../', '/', '/etc', '/srv/../etc', 'a\nb', '\u0000', '{{x}}', '<x>', '__X__', '1 vCPU', '.5 gb',
        'awslogs', 'awsfirelens', 'host', 'bridge', 'task', 'none', 'HEALTHY', 'CMD-SHELL', 'NONE', 'net.ipv4.ip_forward',
        'arn:aws:secretsmanager:us-east-1:111122223333:secret:x', 'app', 'init', 'sidecar', 'scratch',
      ),
      fc.constantFrom(null, [], {}, true, false, 0, 65536, -1, 1.5, Number.MAX_SAFE_INTEGER + 2),
      fc.integer(),
    ),
    remove: fc.boolean(),
  });
  const o: ValidateOptions = { ...opts, bindMountDenyList: ['/', '/etc', '/proc'], allowedDevices: ['/dev/fuse'], allowedSecurityOptions: ['no-new-privileges'] };
  const { seed, numRuns, timeoutMs } = fuzzParams(2000, 20261130);

  test(`validateRunRequest returns or throws ValidationError, validateRunRequestAll never throws (${numRuns} runs, seed ${seed})`, () => {
    fc.assert(
      fc.property(fc.array(mutation, { minLength: 1, maxLength: 4 }), (mutations) => {
        let request: unknown = runRequest();
        for (const m of mutations) request = setAt(request, allPaths[m.at]!, m.value, m.remove);
        const all = validateRunRequestAll(request, o, { fileName: 'fuzz.json' });
        expect(all.errors.every((e) => e instanceof ValidationError)).toBe(true);
        expect(Boolean(all.spec) !== all.errors.length > 0).toBe(true);
        specOrValidationError([
          () => validateRunRequest(request, o, { fileName: 'fuzz.json' }),
          () => parseTaskDocument(JSON.stringify(request) ?? '', o, { fileName: 'fuzz.json' }),
        ]);
      }),
      { seed, numRuns },
    );
  }, timeoutMs);
});

describe('IPv6: dual-stack and IPv6-only ENIs', () => {
  const runRequest = () => JSON.parse(fixture(validDir, 'run-request-minimal.json').toString('utf8')) as { elasticNetworkInterfaces: Array<Record<string, unknown>> };

  test('dual-stack: the IPv6 address and gateway come out in canonical form (lowercase, compressed)', () => {
    const spec = parseTaskDocument(fixture(validDir, 'dual-stack.json'), opts);
    expect(spec.eni.ipv4Addresses).toEqual([{ primary: true, privateAddress: '10.99.1.15' }]);
    expect(spec.eni.ipv6Addresses).toEqual([{ address: '2001:db8:99::15', primary: true }]);
    expect(spec.eni.subnetGatewayIpv4Address).toBe('10.99.1.1/24');
    expect(spec.eni.subnetGatewayIpv6Address).toBe('2001:db8:99::1/64');
  });

  test('IPv6-only: no IPv4 address and no IPv4 gateway, the IPv6 gateway required and normalized', () => {
    const spec = parseTaskDocument(fixture(validDir, 'ipv6-only.json'), opts);
    expect(spec.eni.ipv4Addresses).toEqual([]);
    expect(spec.eni.subnetGatewayIpv4Address).toBeUndefined();
    expect(spec.eni.subnetGatewayIpv6Address).toBe('2001:db8:99::1/64');
    expect(spec.eni.ipv6Addresses).toEqual([{ address: '2001:db8:99::15', primary: true }, { address: '2001:db8:99::16' }]);
    expect(spec.eni.domainNameServers).toEqual(['2001:db8:99::2']);
  });

  test('IPv6-only with an empty IPv4 gateway (how an IPv6-only subnet can read) is accepted without one', () => {
    const t = exampleObject() as { elasticNetworkInterfaces: Array<Record<string, unknown>> };
    Object.assign(t.elasticNetworkInterfaces[0]!, {
      ipv4Addresses: [],
      subnetGatewayIpv4Address: '',
      ipv6Addresses: [{ address: '2001:db8:99::15' }],
      subnetGatewayIpv6Address: '2001:db8:99::1/56',
    });
    const spec = validateTask(t, opts);
    expect(spec.eni.subnetGatewayIpv4Address).toBeUndefined();
    expect(spec.eni.subnetGatewayIpv6Address).toBe('2001:db8:99::1/56');
  });

  test('a dual-stack ENI may come without an IPv6 gateway (then nothing is checked against a prefix)', () => {
    const spec = parseTaskDocument(fixture(validDir, 'ipv6-several-ipv4.json'), opts);
    expect(spec.eni.subnetGatewayIpv6Address).toBeUndefined();
  });

  test('neither family: the IPv4 rule speaks, as before', () => {
    const t = exampleObject() as { elasticNetworkInterfaces: Array<Record<string, unknown>> };
    Object.assign(t.elasticNetworkInterfaces[0]!, { ipv4Addresses: [], ipv6Addresses: [], subnetGatewayIpv6Address: '2001:db8:99::1/64' });
    const err = validationError(() => validateTask(t, opts));
    expect(err.field).toBe('elasticNetworkInterfaces[0].ipv4Addresses');
    expect(err.message).toBe('elasticNetworkInterfaces[0].ipv4Addresses: at least one IPv4 address is required');
  });

  test('the run request (task definition path) carries the same fields with the same rules', () => {
    const r = runRequest();
    const eni = r.elasticNetworkInterfaces[0]!;
    delete eni.subnetGatewayIpv4Address;
    Object.assign(eni, { ipv4Addresses: [], ipv6Addresses: [{ address: '2001:DB8:99:0::15' }], subnetGatewayIpv6Address: '2001:DB8:99::1/64' });
    const spec = validateRunRequest(r, opts);
    expect(spec.eni.ipv6Addresses).toEqual([{ address: '2001:db8:99::15' }]);
    expect(spec.eni.subnetGatewayIpv6Address).toBe('2001:db8:99::1/64');
    expect(spec.eni.ipv4Addresses).toEqual([]);
    delete eni.subnetGatewayIpv6Address;
    const err = validationError(() => validateRunRequest(r, opts));
    expect(err.field).toBe('elasticNetworkInterfaces[0].subnetGatewayIpv6Address');
    expect(err.message).toContain('is required for an IPv6-only ENI');
  });

  test('every spelling of one address is one address (property)', () => {
    // Each group of 16 bits written with or without leading zeros and in either case.
    const group = fc.integer({ min: 0, max: 0xffff });
    fc.assert(
      fc.property(fc.array(group, { minLength: 4, maxLength: 4 }), fc.boolean(), fc.boolean(), (tail, upper, pad) => {
        const hex = (n: number) => {
          const s = pad ? n.toString(16).padStart(4, '0') : n.toString(16);
          return upper ? s.toUpperCase() : s;
        };
        if (tail.every((n) => n === 0) || (tail[0] === 0 && tail[1] === 0 && tail[2] === 0 && tail[3] === 1)) return; // the subnet's ::/::1
        const spelled = [0x2001, 0xdb8, 0x99, 0, ...tail].map(hex).join(':');
        const t = exampleObject() as { elasticNetworkInterfaces: Array<Record<string, unknown>> };
        Object.assign(t.elasticNetworkInterfaces[0]!, { ipv6Addresses: [{ address: spelled }], subnetGatewayIpv6Address: '2001:db8:99::1/64' });
        const got = validateTask(t, opts).eni.ipv6Addresses[0]!.address;
        expect(got).toBe(got.toLowerCase());
        expect(got).not.toMatch(/(^|:)0[0-9a-f]/);
        const t2 = exampleObject() as { elasticNetworkInterfaces: Array<Record<string, unknown>> };
        Object.assign(t2.elasticNetworkInterfaces[0]!, { ipv6Addresses: [{ address: spelled.toLowerCase() }, { address: got }], subnetGatewayIpv6Address: '2001:db8:99::1/64' });
        expect(validationError(() => validateTask(t2, opts)).message).toContain('is listed twice');
      }),
      { numRuns: 200 },
    );
  });
});

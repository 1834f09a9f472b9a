// Run requests: an ECS task definition plus what RunTask adds, read into the same TaskSpec as today's document.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ValidationError } from '../../agent/errors.js';
import { appCreateOptions } from '../../agent/docker/container-config.js';
import { specHash } from '../../agent/task/spec-hash.js';
import {
  ValidationErrors,
  bindMountProblem,
  defaultBindMountDenyList,
  hostCpuArchitecture,
  parseTaskDocument,
  taskIdFromFileName,
  taskSize,
  validateRunRequest,
  validateRunRequestAll,
  type ValidateOptions,
} from '../../agent/task/validate/index.js';
import { ENI } from './taskdef-base.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const validDir = path.join(here, '..', 'fixtures', 'tasks', 'valid');
const opts: ValidateOptions = { defaultWaitTimeoutMs: 180000, allowPrivileged: false, allowedCapabilities: [] };
type Obj = Record<string, unknown>;

function fixture(name: string): Obj {
  return JSON.parse(readFileSync(path.join(validDir, name), 'utf8')) as Obj;
}
function minimal(): Obj {
  return fixture('run-request-minimal.json');
}
function errorsOf(input: unknown, o: ValidateOptions = opts): Array<{ field: string; message: string }> {
  return validateRunRequestAll(input, o).errors.map((e) => ({ field: e.field, message: e.message }));
}

describe('run-request-full.json: every honoured field, overrides applied', () => {
  const spec = parseTaskDocument(readFileSync(path.join(validDir, 'run-request-full.json')), opts);

  test('task level', () => {
    expect(spec.taskId).toMatch(/^td-[0-9a-f]{32}$/);
    expect(spec.taskArn).toBe(`arn:aws:ecs:us-east-1:111122223333:task/default/${spec.taskId}`);
    expect(spec.family).toBe('web-full');
    expect(spec.revision).toBeUndefined();
    expect(spec.cpu).toBe(1024);
    expect(spec.memory).toBe(3072); // overrides.memory over "2 GB"
    expect(spec.pidMode).toBe('task');
    expect(spec.ipcMode).toBe('task');
    expect(spec.waitTimeoutMs).toBe(60000);
    expect(spec.awsvpcConfiguration).toEqual({
      subnets: ['subnet-0a1b2c3d4e5f60718'],
      securityGroups: ['sg-0123456789abcdef0'],
      assignPublicIp: 'DISABLED',
    });
    expect(spec.definition).toEqual({
      startedBy: 'ci-pipeline',
      group: 'family:web-full',
      tags: [{ key: 'run', value: '42' }],
      requiresCompatibilities: ['EC2', 'FARGATE'],
    });
    expect(spec.warnings).toEqual([
      'taskRoleArn "arn:aws:iam::111122223333:role/web": no credentials endpoint serves the task, so its containers get no AWS credentials from the role',
      'logConfiguration: awslogs (container app) replaced by the local "json-file" log driver: nothing is sent to CloudWatch Logs or a FireLens router (read the output with docker logs)',
    ]);
  });

  test('volumes: the three scratch spellings, a bind mount, task and shared Docker volumes', () => {
    expect(spec.volumes).toEqual([
      { name: 'scratch', kind: 'scratch' },
      { name: 'empty-host', kind: 'scratch' },
      { name: 'null-path', kind: 'scratch' },
      { name: 'data', kind: 'host', sourcePath: '/srv/web-data' },
      { name: 'cache', kind: 'docker', scope: 'task', autoprovision: false, driver: 'local', driverOpts: { type: 'tmpfs', device: 'tmpfs' }, labels: { tier: 'cache' } },
      { name: 'shared', kind: 'docker', scope: 'shared', autoprovision: true, driver: 'local', driverOpts: {}, labels: {} },
    ]);
  });

  test('the app container, with environment merged by name and memoryReservation overridden', () => {
    expect(spec.containers[1]).toEqual({
      name: 'app',
      image: 'public.ecr.aws/nginx/nginx:stable',
      essential: true,
      environment: [
        { name: 'MODE', value: 'staging' },
        { name: 'EXTRA', value: '1' },
      ],
      portMappings: [{ containerPort: 8080, hostPort: 8080, protocol: 'tcp', name: 'web-8080-tcp', appProtocol: 'http' }],
      dependsOn: [{ containerName: 'init', condition: 'SUCCESS' }],
      dockerLabels: { 'com.example.tier': 'front' },
      privileged: false,
      capabilities: { add: [], drop: ['NET_RAW'] },
      command: ['nginx', '-g', 'daemon off;'],
      entryPoint: ['/docker-entrypoint.sh'],
      workingDirectory: '/usr/share/nginx',
      user: '101',
      cpu: 512,
      memory: 1024,
      memoryReservation: 256,
      stopTimeout: 30,
      initProcessEnabled: true,
      sharedMemorySize: 64,
      tmpfs: [{ containerPath: '/run', size: 16, mountOptions: ['noexec', 'mode=1777'] }],
      maxSwap: 0,
      swappiness: 10,
      mountPoints: [
        { sourceVolume: 'scratch', containerPath: '/work', readOnly: true },
        { sourceVolume: 'data', containerPath: '/data', readOnly: false },
        { sourceVolume: 'cache', containerPath: '/cache', readOnly: false },
      ],
      healthCheck: {
        command: ['CMD-SHELL', 'wget -qO- http://127.0.0.1:8080/ || exit 1'],
        intervalSec: 10,
        timeoutSec: 5,
        retries: 5,
        startPeriodSec: 0,
      },
      ulimits: [{ name: 'nofile', softLimit: 15000, hardLimit: 15000 }],
      readonlyRootFilesystem: true,
      pseudoTerminal: false,
      interactive: false,
      logConfiguration: { logDriver: 'json-file', options: {}, requested: 'awslogs' },
      systemControls: [{ namespace: 'net.core.somaxconn', value: '1024' }],
    });
  });

  test('init and sidecar: startTimeout, volumesFrom, HEALTHY, a Docker log driver passed through', () => {
    expect(spec.containers[0]).toMatchObject({ name: 'init', essential: false, startTimeout: 30 });
    expect(spec.containers[2]).toMatchObject({
      name: 'sidecar',
      essential: true,
      volumesFrom: [{ sourceContainer: 'app', readOnly: true }],
      dependsOn: [{ containerName: 'app', condition: 'HEALTHY' }],
      logConfiguration: { logDriver: 'json-file', options: { 'max-size': '10m' } },
    });
  });

  test('the local log driver comes from the config', () => {
    const s = parseTaskDocument(readFileSync(path.join(validDir, 'run-request-full.json')), { ...opts, localLogDriver: 'journald' });
    expect(s.containers[1]!.logConfiguration).toEqual({ logDriver: 'journald', options: {}, requested: 'awslogs' });
  });
});

describe('describe-task-definition output', () => {
  test('is unwrapped; read-only fields are ignored, revision gives the task definition ARN, the wrapper tags are kept', () => {
    const spec = parseTaskDocument(JSON.stringify(fixture('run-request-describe-wrapped.json')), opts);
    expect(spec.taskId).toBe('hello-7');
    expect(spec.revision).toBe(7);
    expect(spec.cpu).toBe(256);
    expect(spec.memory).toBe(512);
    expect(spec.definition).toEqual({
      taskDefinitionArn: 'arn:aws:ecs:us-east-1:111122223333:task-definition/hello:7',
      tags: [{ key: 'app', value: 'hello' }],
    });
    expect(spec.warnings).toEqual([]);
  });

  test("its own taskDefinitionArn is kept when it names this family and revision, else one is made from the ENI's account", () => {
    const withArn = (arn: string): Obj => {
      const req = fixture('run-request-describe-wrapped.json');
      ((req['taskDefinition'] as Obj)['taskDefinition'] as Obj)['taskDefinitionArn'] = arn;
      return req;
    };
    const own = 'arn:aws:ecs:eu-west-1:444455556666:task-definition/hello:7';
    expect(parseTaskDocument(JSON.stringify(withArn(own)), opts).definition?.taskDefinitionArn).toBe(own);
    for (const other of ['arn:aws:ecs:eu-west-1:444455556666:task-definition/other:7', 'arn:aws:ecs:eu-west-1:444455556666:task-definition/hello:8', 'not an arn']) {
      expect(parseTaskDocument(JSON.stringify(withArn(other)), opts).definition?.taskDefinitionArn).toBe(
        'arn:aws:ecs:us-east-1:111122223333:task-definition/hello:7',
      );
    }
  });

  test('an unknown key beside the wrapped definition is refused', () => {
    const req = fixture('run-request-describe-wrapped.json');
    (req['taskDefinition'] as Obj)['ResponseMetadata'] = {};
    expect(errorsOf(req)).toEqual([
      {
        field: 'taskDefinition.ResponseMetadata',
        message: 'taskDefinition.ResponseMetadata: unknown field: not part of describe-task-definition output (as the AWS CLI refuses unknown parameters)',
      },
    ]);
  });
});

describe('the task id', () => {
  test('without taskArn or file name: td- and 32 hex of the canonical request; layout, key order and desiredStatus do not count', () => {
    const a = validateRunRequest(minimal(), opts);
    const reordered = Object.fromEntries(Object.entries(minimal()).reverse());
    reordered['desiredStatus'] = 'STOPPED';
    const b = validateRunRequest(reordered, opts);
    const c = parseTaskDocument(JSON.stringify(minimal(), null, 8), opts);
    expect(a.taskId).toMatch(/^td-[0-9a-f]{32}$/);
    expect(b.taskId).toBe(a.taskId);
    expect(c.taskId).toBe(a.taskId);
    expect(b.desiredStatus).toBe('STOPPED');
    expect(specHash(c)).toBe(specHash(a));
    const other = minimal();
    ((other['taskDefinition'] as Obj)['containerDefinitions'] as Obj[])[0]!['command'] = ['sleep', '61'];
    expect(validateRunRequest(other, opts).taskId).not.toBe(a.taskId);
    // The whole request counts, waitTimeoutMs too (the README says so).
    expect(validateRunRequest({ ...minimal(), waitTimeoutMs: 5000 }, opts).taskId).not.toBe(a.taskId);
  });

  test('from a spool file name: the name sanitized, then 8 hex of the name and the canonical request without desiredStatus', () => {
    const req = minimal();
    const idFor = (file: string): string => taskIdFromFileName(file, req);
    expect(idFor('web-1.json')).toMatch(/^web-1-[0-9a-f]{8}$/);
    expect(idFor('/var/spool/awsvpcd/web_2.json')).toMatch(/^web_2-[0-9a-f]{8}$/);
    expect(idFor('my task (copy).json')).toMatch(/^my-task-copy-[0-9a-f]{8}$/);
    expect(idFor('...json')).toMatch(/^task-[0-9a-f]{8}$/);
    // Names that sanitize alike, with the same content, are still two tasks (removing one must not stop the other).
    expect(idFor('my task [copy].json')).toMatch(/^my-task-copy-[0-9a-f]{8}$/);
    expect(idFor('my task [copy].json')).not.toBe(idFor('my task (copy).json'));
    // Only the base name counts: the same file seen through another directory path is the same task.
    expect(idFor('/var/spool/awsvpcd/web-1.json')).toBe(idFor('web-1.json'));
    const long = idFor(`${'x'.repeat(200)}.json`);
    expect(long).toHaveLength(128);
    expect(long).toMatch(new RegExp(`^${'x'.repeat(119)}-[0-9a-f]{8}$`));
    expect(idFor(`${'y'.repeat(119)}.json`)).toMatch(new RegExp(`^${'y'.repeat(119)}-[0-9a-f]{8}$`));
    for (const id of [long, idFor(`${'z'.repeat(118)} .json`)]) expect(id).toMatch(/^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$/);
    // Another layout, key order or desiredStatus: the same task. Other content: another task.
    const web1 = idFor('web-1.json');
    const reordered = Object.fromEntries(Object.entries(minimal()).reverse());
    reordered['desiredStatus'] = 'STOPPED';
    expect(taskIdFromFileName('web-1.json', reordered)).toBe(web1);
    expect(parseTaskDocument(JSON.stringify(minimal(), null, 3), opts, { fileName: 'web-1.json' }).taskId).toBe(web1);
    const other = minimal();
    ((other['taskDefinition'] as Obj)['containerDefinitions'] as Obj[])[0]!['image'] = 'busybox:1.36';
    expect(taskIdFromFileName('web-1.json', other)).toMatch(/^web-1-[0-9a-f]{8}$/);
    expect(taskIdFromFileName('web-1.json', other)).not.toBe(web1);
    const hello = idFor('hello.json');
    expect(validateRunRequest(minimal(), opts, { fileName: 'hello.json' }).taskArn).toBe(
      `arn:aws:ecs:us-east-1:111122223333:task/default/${hello}`,
    );
  });

  test('a taskArn is used as given (same rules as today)', () => {
    const req = minimal();
    req['taskArn'] = 'arn:aws:ecs:us-east-1:111122223333:task/prod/abc123';
    expect(validateRunRequest(req, opts, { fileName: 'ignored.json' }).taskId).toBe('abc123');
    req['taskArn'] = 'arn:aws:ecs:us-east-1:111122223333:task/prod/../x';
    expect(errorsOf(req)[0]!.field).toBe('taskArn');
  });
});

describe('container cpu', () => {
  test('absent in a task definition: 0 units, so 2 CPU shares as with the ECS agent (not the engine\'s 1024)', () => {
    const spec = validateRunRequest(minimal(), opts);
    const app = spec.containers[0]!;
    expect(app.cpu).toBe(0);
    expect(appCreateOptions(spec, specHash(spec), app, 'pause').cpuShares).toBe(2);
  });

  test('set in a task definition: kept (the agent\'s minimum of 2 applies below it)', () => {
    const req = minimal();
    ((req['taskDefinition'] as Obj)['containerDefinitions'] as Obj[])[0]!['cpu'] = 256;
    expect(validateRunRequest(req, opts).containers[0]!.cpu).toBe(256);
  });

  test("today's own task format keeps an absent cpu unset (the engine's default)", () => {
    const spec = parseTaskDocument(readFileSync(path.join(validDir, 'minimal.json')), opts);
    expect(spec.containers.every((x) => x.cpu === undefined)).toBe(true);
  });
});

describe('overrides', () => {
  test('command, cpu, memory replace; a container override naming no container is refused', () => {
    const req = minimal();
    req['overrides'] = { containerOverrides: [{ name: 'app', command: ['echo', 'hi'], cpu: 10, memory: 128 }], cpu: '.5 vcpu' };
    const spec = validateRunRequest(req, opts);
    expect(spec.containers[0]).toMatchObject({ command: ['echo', 'hi'], cpu: 10, memory: 128 });
    expect(spec.cpu).toBe(512);
    req['overrides'] = { containerOverrides: [{ name: 'ghost', command: [] }, { name: 'app', memory: 64, memoryReservation: 128, secrets: [] }] };
    expect(errorsOf(req)).toEqual([
      {
        field: 'overrides.containerOverrides[0].name',
        message: 'overrides.containerOverrides[0].name: no container named "ghost" in the task definition',
      },
      {
        field: 'overrides.containerOverrides[1].secrets',
        message: 'overrides.containerOverrides[1].secrets: unknown field: not part of a container override (as the AWS CLI refuses unknown parameters)',
      },
      {
        field: 'overrides.containerOverrides[1]',
        message: 'overrides.containerOverrides[1]: container "app": memoryReservation (128 MiB) must not exceed memory (64 MiB) after the override',
      },
    ]);
  });

  test('the task memory must hold each container', () => {
    const req = minimal();
    (req['taskDefinition'] as Obj)['memory'] = '512';
    req['overrides'] = { containerOverrides: [{ name: 'app', memory: 1024 }] };
    expect(errorsOf(req)).toEqual([
      {
        field: 'taskDefinition.containerDefinitions[0].memory',
        message: "taskDefinition.containerDefinitions[0].memory: 1024 MiB is more than the task's memory (512 MiB)",
      },
    ]);
  });
});

describe('unknown keys anywhere in a run request are refused', () => {
  test('top level, ENI, networkConfiguration, tags', () => {
    const req = minimal();
    req['launchType'] = 'FARGATE';
    (req['elasticNetworkInterfaces'] as Obj[])[0]!['ipv6SubnetCidr'] = '2001:db8::/64';
    req['networkConfiguration'] = { awsvpcConfiguration: { subnets: [], extra: 1 } };
    req['tags'] = [{ key: 'a', value: 'b', propagate: true }];
    expect(errorsOf(req)).toEqual([
      { field: 'launchType', message: 'launchType: unknown field: not part of a run request (as the AWS CLI refuses unknown parameters)' },
      {
        field: 'networkConfiguration.awsvpcConfiguration.extra',
        message: 'networkConfiguration.awsvpcConfiguration.extra: unknown field: not part of a run request (as the AWS CLI refuses unknown parameters)',
      },
      {
        field: 'elasticNetworkInterfaces[0].ipv6SubnetCidr',
        message: 'elasticNetworkInterfaces[0].ipv6SubnetCidr: unknown field: not part of a run request (as the AWS CLI refuses unknown parameters)',
      },
      { field: 'tags[0].propagate', message: 'tags[0].propagate: unknown field: not part of a tag (as the AWS CLI refuses unknown parameters)' },
    ]);
  });

  test('several reasons: one ValidationErrors whose field is the first one and whose list has them all', () => {
    const req = minimal();
    const td = req['taskDefinition'] as Obj;
    td['networkMode'] = 'bridge';
    (td['containerDefinitions'] as Obj[])[0]!['image'] = '';
    let err: unknown;
    try {
      parseTaskDocument(JSON.stringify(req), opts);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ValidationErrors);
    const all = err as ValidationErrors;
    expect(all).toBeInstanceOf(ValidationError);
    expect(all.code).toBe('INVALID_TASK');
    expect(all.field).toBe('taskDefinition.networkMode');
    expect(all.errors.map((e) => e.field)).toEqual(['taskDefinition.networkMode', 'taskDefinition.containerDefinitions[0].image']);
    expect(all.message).toBe(
      'taskDefinition.networkMode: "bridge": ECS refuses a network configuration for this mode; awsvpcd runs awsvpc tasks only ' +
        '(and 1 more: taskDefinition.containerDefinitions[0].image: is empty: an unrendered placeholder (a render step fills in the image before register-task-definition))',
    );
  });
});

describe('task cpu and memory', () => {
  test.each([
    [256, 'cpu', 256],
    ['1024', 'cpu', 1024],
    ['1 vCPU', 'cpu', 1024],
    ['.25 vcpu', 'cpu', 256],
    ['0.5 VCPU', 'cpu', 512],
    ['2 GB', 'memory', 2048],
    ['.5 gb', 'memory', 512],
    ['512', 'memory', 512],
  ] as const)('%j (%s) -> %d', (v, which, n) => {
    expect(taskSize(v, 'cpu', which)).toBe(n);
  });

  test.each([
    ['1 GB', 'cpu', 'x: must be CPU units or a vCPU count like "1 vCPU" (got "1 GB")'],
    ['0.1 vcpu', 'cpu', 'x: must come to a whole number of CPU units (got "0.1 vcpu")'],
    [64, 'cpu', 'x: must be from 128 to 196608 CPU units (0.125 to 192 vCPU), as ECS allows (got 64)'],
    ['{{cpu}}', 'cpu', 'x: unrendered placeholder "{{cpu}}" where a task cpu value belongs (render the template first)'],
    [true, 'memory', 'x: must be a number or a string (got boolean)'],
    ['-1', 'memory', 'x: must be MiB or a size like "2 GB" (got "-1")'],
  ] as const)('%j (%s) is refused', (v, which, message) => {
    expect(() => taskSize(v, 'x', which)).toThrow(message);
  });
});

describe('bind mounts and the deny list', () => {
  const deny = defaultBindMountDenyList({ engineSocket: 'unix:///run/docker.sock', stateDir: '/var/lib/awsvpcd', runDir: '/run/awsvpcd' });

  test('the default list', () => {
    expect(deny).toEqual([
      '/', '/run/docker.sock', '/var/run/docker.sock', '/run/containerd', '/proc', '/sys', '/dev', '/etc', '/boot',
      '/usr', '/bin', '/sbin', '/lib', '/lib64', '/root', '/var/lib/docker', '/var/lib/containerd',
      '/var/lib/awsvpcd', '/run/awsvpcd',
    ]);
  });

  test.each([
    ['/srv/data', undefined],
    ['/', 'host path "/" is on the daemon\'s bind mount deny list'],
    ['/etc/ssl', 'host path "/etc/ssl" lies inside "/etc", which is on the daemon\'s bind mount deny list'],
    ['/var/lib', 'host path "/var/lib" contains "/var/lib/docker", which is on the daemon\'s bind mount deny list'],
    ['/run', 'host path "/run" contains "/run/docker.sock", which is on the daemon\'s bind mount deny list'],
    ['/etcetera', undefined],
  ])('%s', (p, problem) => {
    expect(bindMountProblem(p, { ...opts, bindMountDenyList: deny })).toBe(problem);
  });

  test('allowedBindMounts covers a path and what lies inside it, not what contains it', () => {
    const o = { ...opts, bindMountDenyList: deny, allowedBindMounts: ['/var/lib/awsvpcd/shared/'] };
    expect(bindMountProblem('/var/lib/awsvpcd/shared', o)).toBeUndefined();
    expect(bindMountProblem('/var/lib/awsvpcd/shared/x', o)).toBeUndefined();
    expect(bindMountProblem('/var/lib/awsvpcd', o)).toBe('host path "/var/lib/awsvpcd" is on the daemon\'s bind mount deny list');
  });

  test('paths are normalized before the check; NUL is refused', () => {
    const req = minimal();
    (req['taskDefinition'] as Obj)['volumes'] = [
      { name: 'a', host: { sourcePath: '/srv//./data/' } },
      { name: 'b', host: { sourcePath: '/srv/\u0000' } },
      { name: 'c', host: { sourcePath: '/./etc' } },
    ];
    expect(errorsOf(req, { ...opts, bindMountDenyList: deny }).map((e) => e.message)).toEqual([
      'taskDefinition.volumes[1].host.sourcePath: must not contain NUL characters',
      'taskDefinition.volumes[2].host.sourcePath: host path "/etc" is on the daemon\'s bind mount deny list (allowedBindMounts in the daemon\'s configuration can allow it)',
    ]);
  });
});

test('hostCpuArchitecture speaks ECS', () => {
  expect(hostCpuArchitecture('x64')).toBe('X86_64');
  expect(hostCpuArchitecture('arm64')).toBe('ARM64');
});

test('today\'s task document is unchanged: no taskDefinition key, today\'s rules', () => {
  const doc = JSON.parse(readFileSync(path.join(validDir, 'minimal.json'), 'utf8')) as Obj;
  expect(parseTaskDocument(JSON.stringify(doc), opts).warnings).toBeUndefined();
  const req = { taskDefinition: null, elasticNetworkInterfaces: [ENI] };
  expect(errorsOf(req)).toEqual([{ field: 'taskDefinition', message: 'taskDefinition: is required' }]);
});

// Every field of ../shared/taskdefs/FIELDS.md (and the ECS fields it lists as never seen) has a decision in
// taskdef-fields.ts, the validator knows it, and every refused or degraded field is exercised by a small
// inline task definition with its exact error or warning (taskdef-cases.ts).
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  READ_ONLY_FIELDS,
  TASKDEF_FIELD_DECISIONS,
  TASK_DEFINITION_CONTAINER_FIELDS,
  TASK_DEFINITION_FIELDS,
  validateRunRequestAll,
} from '../../agent/task/validate/index.js';
import { CASE_OPTIONS, ENI, baseTaskDefinition } from './taskdef-base.js';
import { FIELD_CASES, type Obj } from './taskdef-cases.js';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const FIELDS_MD = readFileSync(path.resolve(REPO, '../shared/taskdefs/FIELDS.md'), 'utf8');

/** The field names in the first column of the table under `heading`. */
function tableFields(heading: string): string[] {
  const start = FIELDS_MD.indexOf(heading);
  expect(start).toBeGreaterThanOrEqual(0);
  const rest = FIELDS_MD.slice(start + heading.length);
  const section = rest.slice(0, rest.search(/\n## /) === -1 ? undefined : rest.search(/\n## /));
  return [...section.matchAll(/^\| `([A-Za-z]+)` \|/gm)].map((m) => m[1]!);
}

const TOP = tableFields('## Top-level fields');
const CONTAINER = tableFields('## containerDefinitions fields');
// FIELDS.md's "Not seen at top level" and "Container fields never seen" lists, as decision keys.
const NEVER_SEEN = [
  'ephemeralStorage',
  'volumes[].configuredAtLaunch',
  'containerDefinitions[].credentialSpecs',
  'containerDefinitions[].restartPolicy',
  'containerDefinitions[].versionConsistency',
  'containerDefinitions[].portMappings[].containerPortRange',
  'containerDefinitions[].linuxParameters.capabilities',
  'containerDefinitions[].linuxParameters.devices',
  'containerDefinitions[].linuxParameters.sharedMemorySize',
  'containerDefinitions[].linuxParameters.maxSwap',
  'containerDefinitions[].linuxParameters.swappiness',
];

function run(c: { edit: (td: Obj, app: Obj) => void; opts?: object }) {
  const td = baseTaskDefinition();
  c.edit(td, (td['containerDefinitions'] as Obj[])[0]!);
  return validateRunRequestAll({ taskDefinition: td, elasticNetworkInterfaces: [ENI] }, { ...CASE_OPTIONS, ...c.opts });
}

describe('FIELDS.md', () => {
  test('its tables were read (24 top-level fields, 39 container fields)', () => {
    expect(TOP).toHaveLength(24);
    expect(CONTAINER).toHaveLength(39);
    expect(TOP).toEqual(expect.arrayContaining(['family', 'networkMode', 'enableFaultInjection', 'registeredBy']));
    expect(CONTAINER).toEqual(expect.arrayContaining(['name', 'secrets', 'repositoryCredentials', 'readonlyRootFilesystem']));
  });

  test('the never-seen fields are the ones FIELDS.md names', () => {
    for (const key of NEVER_SEEN) expect(FIELDS_MD).toContain(key.split(/[.\]]/).pop()!);
  });

  test.each([...TOP, ...CONTAINER.map((f) => `containerDefinitions[].${f}`), ...NEVER_SEEN])('%s has a decision', (key) => {
    const d = TASKDEF_FIELD_DECISIONS[key];
    expect(d).toBeDefined();
    expect(['honoured', 'degraded', 'refused', 'ignored']).toContain(d!.decision);
  });

  test('every field the validator knows has a decision, and every decision names a field it knows', () => {
    const known = [
      ...TASK_DEFINITION_FIELDS,
      ...READ_ONLY_FIELDS,
      ...TASK_DEFINITION_CONTAINER_FIELDS.map((f) => `containerDefinitions[].${f}`),
    ];
    for (const key of known) expect({ key, has: key in TASKDEF_FIELD_DECISIONS }).toEqual({ key, has: true });
    for (const key of Object.keys(TASKDEF_FIELD_DECISIONS)) {
      const top = key.split(/[[.]/)[0]!;
      const inContainer = key.startsWith('containerDefinitions[].') ? key.slice(23).split(/[[.]/)[0]! : undefined;
      if (inContainer) expect(TASK_DEFINITION_CONTAINER_FIELDS).toContain(inContainer);
      else expect([...TASK_DEFINITION_FIELDS, ...READ_ONLY_FIELDS]).toContain(top);
    }
    for (const f of TOP) expect([...TASK_DEFINITION_FIELDS, ...READ_ONLY_FIELDS]).toContain(f);
    for (const f of CONTAINER) expect(TASK_DEFINITION_CONTAINER_FIELDS).toContain(f);
  });

  test('read-only describe output is "ignored", nothing else is', () => {
    const ignored = Object.entries(TASKDEF_FIELD_DECISIONS).filter(([, d]) => d.decision === 'ignored').map(([k]) => k);
    expect(ignored.sort()).toEqual([...READ_ONLY_FIELDS].sort());
  });

  test('every refused or degraded field has a case below', () => {
    const wanted = Object.entries(TASKDEF_FIELD_DECISIONS)
      .filter(([, d]) => d.decision === 'refused' || d.decision === 'degraded')
      .map(([k]) => k);
    const covered = new Set(FIELD_CASES.map((c) => c.key));
    expect(wanted.filter((k) => !covered.has(k))).toEqual([]);
    for (const c of FIELD_CASES) expect(TASKDEF_FIELD_DECISIONS).toHaveProperty([c.key]);
  });
});

describe('one inline task definition per decision', () => {
  test.each(FIELD_CASES.map((c) => [`${c.key}: ${c.title}`, c] as const))('%s', (_name, c) => {
    const { spec, errors } = run(c);
    if (c.error) {
      expect(spec).toBeUndefined();
      expect(errors.map((e) => ({ field: e.field, message: e.message }))).toEqual([c.error]);
      // Degraded fields have refused shapes too (awslogs without a group, FireLens config from S3).
      expect(TASKDEF_FIELD_DECISIONS[c.key]!.decision).not.toBe('ignored');
    } else {
      expect(errors).toEqual([]);
      expect(spec!.warnings).toEqual([c.warning]);
    }
  });
});

describe('null, "", [] and {} mean "not set" (as console and describe exports write them)', () => {
  const empties = {
    taskRoleArn: '', executionRoleArn: null, placementConstraints: [], proxyConfiguration: null, inferenceAccelerators: [],
    pidMode: '', ipcMode: null, volumes: [], tags: [], runtimePlatform: null, enableFaultInjection: false,
  };
  const containerEmpties = {
    secrets: [], environmentFiles: null, resourceRequirements: null, credentialSpecs: [], links: [], hostname: null,
    dnsServers: null, dnsSearchDomains: [], extraHosts: null, disableNetworking: false, repositoryCredentials: {},
    firelensConfiguration: null, logConfiguration: null, linuxParameters: null, healthCheck: null, ulimits: [],
    systemControls: [], dockerSecurityOptions: null, privileged: false, mountPoints: [], volumesFrom: [],
    restartPolicy: { enabled: false }, versionConsistency: 'disabled', memory: null, user: null,
  };

  test('a definition full of them is accepted with no warning', () => {
    const { spec, errors } = run({
      edit: (td, app) => {
        Object.assign(td, empties);
        Object.assign(app, containerEmpties);
      },
    });
    expect(errors).toEqual([]);
    expect(spec!.warnings).toEqual([]);
    expect(spec!.containers[0]).toMatchObject({ name: 'app', image: 'busybox', privileged: false });
  });
});

describe('what the host allows', () => {
  test('privileged, capabilities, devices, security options, bind mounts and pidMode host pass when the config allows them', () => {
    const { spec, errors } = run({
      edit: (td, app) => {
        td['pidMode'] = 'host';
        td['volumes'] = [{ name: 'sock', host: { sourcePath: '/var/run/docker.sock' } }, { name: 'data', host: { sourcePath: '/srv/data/' } }];
        app['privileged'] = true;
        app['dockerSecurityOptions'] = ['no-new-privileges:true', 'label=disable'];
        app['linuxParameters'] = { capabilities: { add: ['NET_ADMIN'] }, devices: [{ hostPath: '/dev/fuse', permissions: ['read', 'write'] }] };
        app['mountPoints'] = [{ sourceVolume: 'sock', containerPath: '/var/run/docker.sock', readOnly: true }, { sourceVolume: 'data', containerPath: '/data' }];
      },
      opts: {
        allowPrivileged: true,
        allowedCapabilities: ['NET_ADMIN'],
        allowedDevices: ['/dev/fuse'],
        allowedSecurityOptions: ['no-new-privileges', 'label=disable'],
        allowedBindMounts: ['/var/run/docker.sock'],
      },
    });
    expect(errors).toEqual([]);
    expect(spec!.pidMode).toBe('host');
    expect(spec!.volumes).toEqual([
      { name: 'sock', kind: 'host', sourcePath: '/var/run/docker.sock' },
      { name: 'data', kind: 'host', sourcePath: '/srv/data' },
    ]);
    expect(spec!.containers[0]).toMatchObject({
      privileged: true,
      capabilities: { add: ['NET_ADMIN'], drop: [] },
      devices: [{ hostPath: '/dev/fuse', containerPath: '/dev/fuse', permissions: ['read', 'write'] }],
      dockerSecurityOptions: ['no-new-privileges:true', 'label=disable'],
    });
  });

  test('a local tmpfs volume with tmpfs options passes; other driverOpts and drivers pass only when the config says so', () => {
    const tmpfs = { type: 'tmpfs', device: 'tmpfs', o: 'size=64m,mode=1777,uid=1000,gid=1000,nr_inodes=10k,noexec,nosuid,nodev,rw' };
    const ok = run({ edit: (td) => (td['volumes'] = [{ name: 'v', dockerVolumeConfiguration: { scope: 'task', driver: 'local', driverOpts: tmpfs } }]) });
    expect(ok.errors).toEqual([]);
    expect(ok.spec!.volumes).toEqual([{ name: 'v', kind: 'docker', scope: 'task', autoprovision: false, driver: 'local', driverOpts: tmpfs, labels: {} }]);
    // The corpus's own shape (38): no mount options at all.
    expect(run({ edit: (td) => (td['volumes'] = [{ name: 'v', dockerVolumeConfiguration: { driverOpts: { type: 'tmpfs', device: 'tmpfs' } } }]) }).errors).toEqual([]);
    const bind = { type: 'none', o: 'bind', device: '/srv/data' };
    const opened = run({
      edit: (td) => (td['volumes'] = [
        { name: 'b', dockerVolumeConfiguration: { scope: 'task', driverOpts: bind } },
        { name: 'e', dockerVolumeConfiguration: { scope: 'shared', driver: 'rexray/ebs', autoprovision: true } },
      ]),
      opts: { allowLocalVolumeDriverOpts: true, allowedVolumeDrivers: ['local', 'rexray/ebs'] },
    });
    expect(opened.errors).toEqual([]);
    expect(opened.spec!.volumes!.map((v) => v.kind === 'docker' && [v.driver, v.driverOpts])).toEqual([['local', bind], ['rexray/ebs', {}]]);
  });

  test('the host architecture defaults from process.arch', () => {
    const arch = process.arch === 'arm64' ? 'ARM64' : 'X86_64';
    const { errors } = run({
      edit: (td) => (td['runtimePlatform'] = { cpuArchitecture: arch, operatingSystemFamily: 'LINUX' }),
      opts: { hostCpuArchitecture: undefined },
    });
    expect(errors).toEqual([]);
  });
});

// Configuration precedence (flag > environment > awsvpcd JSON file > /etc/ecs/ecs.config > default) for every
// option, and a clear error naming the variable and where it was written for a bad value in each source.
import { bindMountDenyListOf, ecsVariables, OPTIONS, resolveConfigSources, validateOptions, type ConfigFiles, type DaemonConfig } from '../../agent/daemon/config.js';
import { loadConfig, parseEcsConfig, parseJsonConfig } from '../../agent/daemon/config-file.js';
import { ConfigError } from '../../agent/errors.js';

type Opt = (typeof OPTIONS)[number];

/** Two different valid values per option: [raw string as a flag/env/ecs.config would give it, the same as JSON]. */
function samples(o: Opt): Array<[string, unknown]> {
  const byKey: Partial<Record<keyof DaemonConfig, Array<[string, unknown]>>> = {
    plugins: [['vpc', 'vpc'], ['reference', 'reference']],
    logLevel: [['debug', 'debug'], ['warn', 'warn']],
    ipamSubnet: [['169.254.176.0/22', '169.254.176.0/22'], ['169.254.180.0/22', '169.254.180.0/22']],
    bridgeName: [['br-a', 'br-a'], ['br-b', 'br-b']],
    pullBehavior: [['always', 'always'], ['once', 'once']],
    apiTcp: [['127.0.0.1:9001', '127.0.0.1:9001'], ['127.0.0.1:9002', '127.0.0.1:9002']],
    metricsListen: [['127.0.0.1:9117', '127.0.0.1:9117'], ['[::1]:9118', '[::1]:9118']],
    instanceType: [['c5.large', 'c5.large'], ['c5.4xlarge', 'c5.4xlarge']],
    additionalLocalRoutes: [['["10.1.0.0/16"]', ['10.1.0.0/16']], ['["10.2.0.0/16","10.3.0.0/16"]', ['10.2.0.0/16', '10.3.0.0/16']]],
    bindMountDenyList: [['/a,/b', ['/a', '/b']], ['/c', ['/c']]],
    allowedBindMounts: [['/srv/a,/srv/b', ['/srv/a', '/srv/b']], ['/srv/c', ['/srv/c']]],
    allowedDevices: [['/dev/fuse,/dev/kvm', ['/dev/fuse', '/dev/kvm']], ['/dev/net/tun', ['/dev/net/tun']]],
    localLogDriver: [['journald', 'journald'], ['local', 'local']],
    allowedVolumeDrivers: [['local,rexray/ebs', ['local', 'rexray/ebs']], ['local', ['local']]],
  };
  const own = byKey[o.key];
  if (own) return own;
  switch (o.kind) {
    case 'bool':
      return [['true', true], ['false', false]];
    case 'int':
      return [['5', 5], ['7', 7]];
    case 'list':
      return [['a,b', ['a', 'b']], ['c', ['c']]];
    case 'json-list':
      return [['["a"]', ['a']], ['["b"]', ['b']]];
    case 'json-map':
      return [['{"a":"1"}', { a: '1' }], ['{"b":"2"}', { b: '2' }]];
    case 'string':
      return [['/opt/a', '/opt/a'], ['/opt/b', '/opt/b']];
  }
}

type SourceKind = 'flag' | 'environment' | 'config-file' | 'ecs-config';

interface Inputs {
  flags: Map<string, string | true>;
  env: NodeJS.ProcessEnv;
  files: ConfigFiles;
}

function empty(): Inputs {
  return { flags: new Map(), env: {}, files: {} };
}

/** Puts `sample` for option `o` into one source. */
function put(i: Inputs, o: Opt, kind: SourceKind, sample: [string, unknown]): void {
  if (kind === 'flag') i.flags.set(o.flag, sample[0]);
  if (kind === 'environment') i.env[o.env![0]!] = sample[0];
  if (kind === 'config-file') {
    i.files.json ??= { path: '/etc/awsvpcd/config.json', values: new Map() };
    i.files.json.values.set(o.key, { value: sample[1], line: 7 });
  }
  if (kind === 'ecs-config') {
    i.files.ecs ??= { path: '/etc/ecs/ecs.config', values: new Map() };
    i.files.ecs.values.set(ecsVariables(o)[0]!, { value: sample[0], line: 3 });
  }
}

function sourcesOf(o: Opt): SourceKind[] {
  const out: SourceKind[] = ['flag'];
  if (o.env?.length) out.push('environment');
  if (!o.notInFiles) out.push('config-file');
  if (ecsVariables(o).length) out.push('ecs-config');
  return out;
}

const resolve = (i: Inputs) => resolveConfigSources(i.flags, i.env, i.files);

describe('precedence of every source, for every option', () => {
  const cases = OPTIONS.flatMap((o) => {
    const s = sourcesOf(o);
    const pairs: Array<[Opt, SourceKind, SourceKind | 'default']> = [];
    for (let a = 0; a < s.length; a++) pairs.push([o, s[a]!, s[a + 1] ?? 'default']);
    return pairs;
  });

  test.each(cases.map(([o, hi, lo]) => [o.key, hi, lo, o] as const))('%s: %s beats %s', (_key, hi, lo, o) => {
    let [s1, s2] = samples(o);
    if (lo === 'default') {
      // against the default, use the sample that differs from it
      const probe = empty();
      put(probe, o, hi, s1!);
      if (JSON.stringify(resolve(probe).config[o.key]) === JSON.stringify(resolve(empty()).config[o.key])) [s1, s2] = [s2, s1];
    }
    const both = empty();
    put(both, o, hi, s1!);
    if (lo !== 'default') put(both, o, lo, s2!);
    const onlyHi = empty();
    put(onlyHi, o, hi, s1!);
    const rBoth = resolve(both);
    const rHi = resolve(onlyHi);
    expect(rBoth.config[o.key]).toEqual(rHi.config[o.key]);
    expect(rBoth.sources[o.key].kind).toBe(hi);
    // and the lower source really holds a different value, which wins once the higher one is gone
    const rLo = lo === 'default' ? resolve(empty()) : (() => {
      const onlyLo = empty();
      put(onlyLo, o, lo, s2!);
      return resolve(onlyLo);
    })();
    expect(rLo.config[o.key]).not.toEqual(rHi.config[o.key]);
    expect(rLo.sources[o.key].kind).toBe(lo);
  });

  test('the ECS variables /etc/ecs/ecs.config may set are exactly the ECS agent names we share', () => {
    const names = OPTIONS.flatMap((o) => ecsVariables(o)).sort();
    expect(names).toEqual(
      ['ECS_AWSVPC_ADDITIONAL_LOCAL_ROUTES', 'ECS_AWSVPC_BLOCK_IMDS', 'ECS_CNI_PLUGINS_PATH', 'ECS_CONTAINER_STOP_TIMEOUT', 'ECS_IMAGE_PULL_BEHAVIOR', 'ECS_LOGLEVEL', 'ECS_PAUSE_LABELS'].sort(),
    );
  });

  test('sources say where a value came from, file and line included', () => {
    const i = empty();
    const cni = OPTIONS.find((o) => o.key === 'cniPath')!;
    put(i, cni, 'ecs-config', ['/usr/lib/cni', '/usr/lib/cni']);
    const r = resolve(i);
    expect(r.config.cniPath).toBe('/usr/lib/cni');
    expect(r.sources.cniPath).toEqual({ kind: 'ecs-config', name: 'ECS_CNI_PLUGINS_PATH', file: '/etc/ecs/ecs.config', line: 3 });
    expect(r.sources.stateDir).toEqual({ kind: 'default' });
  });

  test('an empty environment variable or ecs.config value counts as unset', () => {
    const r = resolveConfigSources(new Map(), { ECS_LOGLEVEL: '' }, { ecs: parseEcsConfig('/e', 'ECS_LOGLEVEL=\n') });
    expect(r.config.logLevel).toBe('info');
    expect(r.sources.logLevel.kind).toBe('default');
  });
});

describe('a bad value is a startup error naming the variable and the source', () => {
  const bad: Array<[keyof DaemonConfig, string, unknown]> = [
    ['logLevel', 'loud', 'loud'],
    ['blockImds', 'maybe', 'maybe'],
    ['containerStopTimeoutSec', 'soon', -1],
    ['additionalLocalRoutes', '["10.0.0.1"]', ['10.0.0.1']],
    ['pauseLabels', '[1]', [1]],
    ['pullBehavior', 'sometimes', 'sometimes'],
    ['cniPath', '', 3],
    ['bindMountDenyList', 'etc', ['etc']],
    ['allowedBindMounts', './data', ['./data']],
    ['allowedDevices', 'fuse', ['fuse']],
    ['localLogDriver', 'awslogs', 'awslogs'],
  ];
  const cases = bad.flatMap(([key, raw, json]) => {
    const o = OPTIONS.find((x) => x.key === key)!;
    return sourcesOf(o).map((kind) => [key, kind, raw, json, o] as const);
  });

  test.each(cases)('%s in %s', (_key, kind, raw, json, o) => {
    const i = empty();
    if (raw === '' && kind !== 'config-file') {
      // an empty env/ecs.config value means unset; an empty flag is an error
      if (kind !== 'flag') return;
    }
    if (kind === 'flag') i.flags.set(o.flag, raw);
    if (kind === 'environment') i.env[o.env![0]!] = raw;
    if (kind === 'config-file') i.files.json = { path: '/etc/awsvpcd/config.json', values: new Map([[o.key, { value: json, line: 4 }]]) };
    if (kind === 'ecs-config') i.files.ecs = { path: '/etc/ecs/ecs.config', values: new Map([[ecsVariables(o)[0]!, { value: raw, line: 9 }]]) };
    let err: unknown;
    try {
      resolve(i);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    const c = err as ConfigError;
    const expected = {
      flag: [o.flag, undefined],
      environment: [o.env![0], 'environment'],
      'config-file': [o.key, '/etc/awsvpcd/config.json:4'],
      'ecs-config': [ecsVariables(o)[0], '/etc/ecs/ecs.config:9'],
    }[kind];
    expect(c.variable).toBe(expected[0]);
    expect(c.source).toBe(expected[1]);
    expect(c.message).toContain(expected[1] ? `${expected[0]} (${expected[1]}): ` : `${expected[0]}: `);
  });

  test('a bad value is an error even where a higher source overrides it', () => {
    expect(() => resolveConfigSources(new Map([['--log-level', 'debug']]), {}, { ecs: parseEcsConfig('/etc/ecs/ecs.config', 'ECS_CLUSTER=x\nECS_LOGLEVEL=loud\n') })).toThrow(
      'ECS_LOGLEVEL (/etc/ecs/ecs.config:2): must be one of',
    );
  });

  test('metrics and the TCP API refuse anything but loopback', () => {
    for (const v of ['0.0.0.0:9117', '10.0.0.1:9117', 'localhost:9117', ':9117', '127.0.0.1']) {
      expect(() => resolveConfigSources(new Map([['--metrics-listen', v]]), {})).toThrow(ConfigError);
    }
  });

  test('an unknown key in the JSON file is named with its line', () => {
    const files = { json: parseJsonConfig('/etc/awsvpcd/config.json', '{\n  "logLevel": "info",\n  "cni_path": "/x"\n}\n') };
    expect(() => resolveConfigSources(new Map(), {}, files)).toThrow('cni_path (/etc/awsvpcd/config.json:3): not a configuration key');
  });

  test('the file paths themselves cannot come from a file', () => {
    const files = { json: parseJsonConfig('/c.json', '{"configFile": "/other.json"}') };
    expect(() => resolveConfigSources(new Map(), {}, files)).toThrow('configFile (/c.json:1): not a configuration key');
  });
});

describe('config files', () => {
  test('ecs.config: comments, blank lines, CRLF, quotes, last one wins', () => {
    const f = parseEcsConfig('/e', '# agent settings\r\nECS_CLUSTER=prod\r\n\r\nECS_LOGLEVEL="debug"\nECS_PAUSE_LABELS=\'{"team":"net"}\'\n  ECS_LOGLEVEL = warn  \nECS_AWSVPC_ADDITIONAL_LOCAL_ROUTES=["10.9.0.0/16"]\n');
    expect(f.values.get('ECS_LOGLEVEL')).toEqual({ value: 'warn', line: 6 });
    expect(f.values.get('ECS_PAUSE_LABELS')).toEqual({ value: '{"team":"net"}', line: 5 });
    const r = resolveConfigSources(new Map(), {}, { ecs: f });
    expect(r.config.logLevel).toBe('warn');
    expect(r.config.pauseLabels).toEqual({ team: 'net' });
    expect(r.config.additionalLocalRoutes).toEqual(['10.9.0.0/16']);
  });

  test('ecs.config: a line that is not KEY=VALUE is an error with its line', () => {
    expect(() => parseEcsConfig('/etc/ecs/ecs.config', 'ECS_CLUSTER=a\nexport ECS_LOGLEVEL debug\n')).toThrow('--ecs-config-file (/etc/ecs/ecs.config:2): not a KEY=VALUE line');
    expect(() => parseEcsConfig('/e', '=x\n')).toThrow('(/e:1)');
  });

  test('JSON file: values keep their line; JSON types and strings both work', () => {
    const f = parseJsonConfig('/c.json', '{\n  "blockImds": false,\n  "containerStopTimeoutSec": "45s",\n  "allowedCapabilities": ["NET_RAW"],\n  "pauseLabels": {"a": "b"}\n}');
    expect(f.values.get('containerStopTimeoutSec')).toEqual({ value: '45s', line: 3 });
    const r = resolveConfigSources(new Map(), {}, { json: f });
    expect(r.config.blockImds).toBe(false);
    expect(r.config.containerStopTimeoutSec).toBe(45);
    expect(r.config.allowedCapabilities).toEqual(['NET_RAW']);
    expect(r.sources.pauseLabels).toEqual({ kind: 'config-file', name: 'pauseLabels', file: '/c.json', line: 5 });
  });

  test('JSON file: broken JSON and a non-object are errors naming the file (and line)', () => {
    expect(() => parseJsonConfig('/c.json', '{\n  "a": 1,\n  oops\n}')).toThrow(/--config-file \(\/c\.json:3\): not valid JSON/);
    expect(() => parseJsonConfig('/c.json', '[1]')).toThrow('--config-file (/c.json): must hold one JSON object');
  });

  test('loadConfig: missing default files are skipped; a named missing file is an error', async () => {
    const files: Record<string, string> = {};
    const read = async (p: string): Promise<string> => {
      if (p in files) return files[p]!;
      throw Object.assign(new Error('nope'), { code: 'ENOENT' });
    };
    const r = await loadConfig(new Map(), {}, read);
    expect(r.sources.logLevel.kind).toBe('default');
    await expect(loadConfig(new Map([['--config-file', '/nope.json']]), {}, read)).rejects.toThrow('--config-file: cannot read /nope.json: ENOENT');
    await expect(loadConfig(new Map(), { AWSVPCD_ECS_CONFIG_FILE: '/nope' }, read)).rejects.toThrow('AWSVPCD_ECS_CONFIG_FILE: cannot read /nope: ENOENT');
  });

  test('loadConfig: the default paths are read, and all five levels resolve in order', async () => {
    const files: Record<string, string> = {
      '/etc/awsvpcd/config.json': '{\n  "logLevel": "warn",\n  "cniPath": "/from-json"\n}\n',
      '/etc/ecs/ecs.config': 'ECS_LOGLEVEL=debug\nECS_CNI_PLUGINS_PATH=/from-ecs\nECS_IMAGE_PULL_BEHAVIOR=once\nECS_AWSVPC_BLOCK_IMDS=false\n',
    };
    const read = async (p: string): Promise<string> => {
      if (p in files) return files[p]!;
      throw Object.assign(new Error('nope'), { code: 'ENOENT' });
    };
    const r = await loadConfig(new Map([['--block-imds', 'true']]), { ECS_CNI_PLUGINS_PATH: '/from-env' }, read);
    expect(r.config.blockImds).toBe(true); // flag over ecs.config
    expect(r.config.cniPath).toBe('/from-env'); // env over both files
    expect(r.config.logLevel).toBe('warn'); // JSON file over ecs.config
    expect(r.sources.logLevel).toEqual({ kind: 'config-file', name: 'logLevel', file: '/etc/awsvpcd/config.json', line: 2 });
    expect(r.config.pullBehavior).toBe('once'); // ecs.config over default
    expect(r.sources.pullBehavior).toEqual({ kind: 'ecs-config', name: 'ECS_IMAGE_PULL_BEHAVIOR', file: '/etc/ecs/ecs.config', line: 3 });
    expect(r.config.stateDir).toBe('/var/lib/awsvpcd'); // default
  });
});

describe('task policy options (issue 13)', () => {
  const defaults = (flags: Record<string, string> = {}) => resolveConfigSources(new Map(Object.entries(flags)), {}).config;

  test('defaults: no-new-privileges only, nothing allowed beyond it, json-file for awslogs/awsfirelens', () => {
    expect(defaults()).toMatchObject({ allowedSecurityOptions: ['no-new-privileges'], allowedBindMounts: [], allowedDevices: [], localLogDriver: 'json-file' });
  });

  const BUILT_IN = [
    '/', '/var/run/docker.sock', '/run/docker.sock', '/run/containerd', '/proc', '/sys', '/dev', '/etc', '/boot',
    '/usr', '/bin', '/sbin', '/lib', '/lib64', '/root', '/var/lib/docker', '/var/lib/containerd',
  ];
  test('the bind-mount deny list is the built-in list: the host\'s executables, the engines\' state, the configured engine socket, the daemon\'s own directories and its CNI plugins included', () => {
    expect(bindMountDenyListOf(defaults())).toEqual([...BUILT_IN, '/var/lib/awsvpcd', '/run/awsvpcd', '/amazon-ecs-cni-plugins']);
    const c = defaults({ '--docker-host': 'unix:///run/awsvpcd-engine/docker.sock', '--state-dir': '/srv/awsvpcd', '--run-dir': '/run/x', '--cni-path': '/opt/cni/bin' });
    expect(bindMountDenyListOf(c)).toEqual(['/', '/run/awsvpcd-engine/docker.sock', ...BUILT_IN.slice(1), '/srv/awsvpcd', '/run/x', '/opt/cni/bin']);
    expect(bindMountDenyListOf(defaults({ '--docker-host': 'tcp://127.0.0.1:2375' }))).not.toContain('tcp://127.0.0.1:2375');
  });

  test('a deny list given adds to the built-in one: an operator adding a path keeps / and the engine socket', () => {
    const c = defaults({ '--bind-mount-deny': '/srv/secrets,/etc' });
    expect(c.bindMountDenyList).toEqual(['/srv/secrets', '/etc']);
    expect(bindMountDenyListOf(c)).toEqual([...BUILT_IN, '/var/lib/awsvpcd', '/run/awsvpcd', '/amazon-ecs-cni-plugins', '/srv/secrets']);
    expect(validateOptions(c).bindMountDenyList).toEqual(bindMountDenyListOf(c));
  });

  test('volume drivers: local only by default, and local driverOpts limited to a tmpfs unless allowed', () => {
    expect(defaults()).toMatchObject({ allowedVolumeDrivers: ['local'], allowLocalVolumeDriverOpts: false });
    const c = defaults({ '--allowed-volume-drivers': 'local,rexray/ebs', '--allow-local-volume-driver-opts': 'true' });
    expect(validateOptions(c)).toMatchObject({ allowedVolumeDrivers: ['local', 'rexray/ebs'], allowLocalVolumeDriverOpts: true });
    expect(() => defaults({ '--allowed-volume-drivers': 'local,$(x)' })).toThrow(/--allowed-volume-drivers: "\$\(x\)" is not a volume driver name/);
  });

  test('validateOptions hands every knob to the validator', () => {
    const c = defaults({ '--allowed-security-options': 'no-new-privileges,apparmor', '--allow-bind-mounts': '/etc/ssl/certs', '--allowed-devices': '/dev/fuse', '--local-log-driver': 'journald', '--allow-privileged': 'true' });
    expect(validateOptions(c)).toEqual({
      defaultWaitTimeoutMs: 180_000,
      allowPrivileged: true,
      allowedCapabilities: [],
      allowedSecurityOptions: ['no-new-privileges', 'apparmor'],
      bindMountDenyList: bindMountDenyListOf(c),
      allowedBindMounts: ['/etc/ssl/certs'],
      allowedDevices: ['/dev/fuse'],
      allowedVolumeDrivers: ['local'],
      allowLocalVolumeDriverOpts: false,
      localLogDriver: 'journald',
    });
  });
});

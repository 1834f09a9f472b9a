// The CNI boundary's own types. Plugin JSON never reaches the task core: the invoker maps it to these.

export type PluginSet = 'ecs' | 'vpc' | 'reference';
export const PLUGIN_SETS: readonly PluginSet[] = ['ecs', 'vpc', 'reference'];

/** One plugin invocation: which binary, on which interface, with which network config on stdin. */
export interface CniCall {
  /** Binary name inside the CNI path (from a fixed list, never from task input). */
  plugin: string;
  ifName: string;
  /** The network configuration JSON given on stdin (cniVersion and name included). */
  config: Record<string, unknown>;
  /** What this call does for the task: move/configure the ENI, or the ecs-eth0 bridge link. */
  role: 'eni' | 'bridge' | 'ipam';
  /** Extra environment for the plugin (e.g. IPAM_DB_PATH for ecs-ipam). */
  env?: Record<string, string>;
}

/** What a task's namespace holds once the ENI step is done: how an ADD's claim is checked, and a crashed setup verified. */
export interface EniExpectation {
  ifName: string;
  mac: string;
  /** Every address the ENI plugin is asked to put on the interface, "ip/prefix". */
  cidrs: string[];
  /**
   * Default routes the ENI step adds: one via each gateway the plugin is given (plain IPs, IPv4 first). An
   * IPv6 default route the daemon adds itself (a `default-route` host step) is not among them.
   */
  gateways: string[];
  /**
   * The plugin itself adds the IMDS blackholes, 169.254.169.254 and fd00:ec2::254 (false where the daemon
   * adds them, or blocking is off).
   */
  imdsBlackholeByPlugin: boolean;
}

/** What the bridge step leaves in the namespace: ifName with an address of the task-local subnet. */
export interface BridgeExpectation {
  ifName: string;
  subnet: string;
  /** A host route the bridge IPAM always adds (169.254.170.2/32). */
  route: string;
}

export interface CniPlanOptions {
  blockImds: boolean;
  /** The task-local subnet behind ecs-bridge; ECS uses 169.254.172.0/22. */
  ipamSubnet: string;
  /** Extra CIDRs routed through ecs-eth0 (ECS_AWSVPC_ADDITIONAL_LOCAL_ROUTES). */
  additionalLocalRoutes: string[];
  /** Where IPAM keeps its database (ecs-ipam's IPAM_DB_PATH directory, host-local's dataDir). */
  ipamDataDir: string;
  bridgeName: string;
  /** Log level forwarded to the Amazon plugins (ECS_CNI_LOGLEVEL). */
  pluginLogLevel: string;
  /**
   * Where the Amazon plugins write their logs (ECS_CNI_LOG_FILE, VPC_CNI_LOG_FILE). Default: `log` beside
   * ipamDataDir. vpc-eni without VPC_CNI_LOG_FILE writes into a relative `C:\ProgramData` folder.
   */
  pluginLogDir?: string;
}

/** Everything the daemon runs for one task, in order. */
export interface CniPlan {
  set: PluginSet;
  /** ADD in this order. */
  add: CniCall[];
  /** DEL in this order (the reverse of add, with the configs the plugins expect at DEL time). */
  del: CniCall[];
  /** Releases the task's ecs-eth0 address after DEL (ecs-ipam DEL); absent where DEL of the bridge already releases it. */
  ipamRelease?: CniCall;
  /**
   * What the daemon does on the host beside the plugin calls, where a set's plugins do not: the IMDS
   * blackhole in the task namespace, the gateway address on the bridge. Run by the task manager and shown
   * by `awsvpcd cni-config`.
   */
  hostSteps: HostStep[];
  /** What the ENI step must leave in the namespace. */
  eni: EniExpectation;
  /** What the bridge step must leave in the namespace. */
  bridge: BridgeExpectation;
  /**
   * The ENI plugin can exit 0 with a success result for a namespace it did not configure (vpc-eni swallows
   * errors inside the namespace), so its ADD is checked against the namespace before it counts.
   */
  verifyEniAdd: boolean;
}

/**
 * - imds-blackhole: `ip route replace blackhole <dst>` in the task namespace once the pause container has
 *   started, beside the ADDs, done before any task container starts (the reference
 *   set's plugins cannot add it; the Amazon ENI plugins add it themselves). One per family.
 * - default-route: `ip -6 route replace default via <gateway> dev <dev>` in the task namespace after the ENI
 *   ADD, where the ENI plugin is not given the subnet's IPv6 gateway (vpc-eni dual-stack: the agent sends
 *   it the IPv4 gateway only).
 * - bridge-address: `<cidr>` on the bridge in the host namespace after the bridge ADD (the reference bridge
 *   plugin runs with isGateway=false so it never turns on the host's ip_forward; ecs-bridge does it itself).
 */
export type HostStep =
  | { kind: 'imds-blackhole'; dst: string }
  | { kind: 'bridge-address'; bridge: string; cidr: string }
  | { kind: 'default-route'; gateway: string; dev: string };

/** Where and for whom a plugin runs. */
export interface CniRuntime {
  containerId: string;
  netns: string;
  timeoutMs: number;
}

export interface CniInterface {
  name: string;
  mac?: string;
  sandbox?: string;
}

export interface CniIpConfig {
  /** CIDR form, e.g. "169.254.172.2/22". */
  address: string;
  gateway?: string;
  interface?: number;
}

export interface CniRoute {
  dst: string;
  gw?: string;
}

/** A parsed, checked ADD result (CNI spec 0.3.x-1.0 result shape). */
export interface CniResult {
  cniVersion: string;
  interfaces: CniInterface[];
  ips: CniIpConfig[];
  routes: CniRoute[];
  dns: { nameservers?: string[]; domain?: string; search?: string[]; options?: string[] };
}

export interface CniInvoker {
  add(call: CniCall, rt: CniRuntime): Promise<CniResult>;
  /** DEL; a plugin that reports the resource already gone counts as success. */
  del(call: CniCall, rt: CniRuntime): Promise<void>;
  check(call: CniCall, rt: CniRuntime, prevResult: CniResult): Promise<void>;
  /** `<plugin> VERSION` through CNI_COMMAND=VERSION. */
  version(plugin: string, timeoutMs: number): Promise<{ cniVersion: string; supportedVersions: string[] }>;
}

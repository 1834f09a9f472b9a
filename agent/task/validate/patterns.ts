// The shapes of the names and ids a task carries (ARNs, AWS ids, DNS names, image references, MAC
// addresses, Linux capabilities), kept apart from the rules so each rule file reads as its fields.

import { fail, show } from './readers.js';

const REGION_RE = /^[a-z]{2}(?:-[a-z]+)+-\d{1,2}$/;
const ACCOUNT_RE = /^\d{12}$/;
export const CLUSTER_RE = /^[A-Za-z0-9_-]{1,255}$/;
export const TASK_ID_RE = /^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$/;
export const ATTACHMENT_ID_RE = /^[A-Za-z0-9-]{1,64}$/;
export const FAMILY_RE = /^[A-Za-z0-9_-]{1,255}$/;
export const CONTAINER_NAME_RE = /^[A-Za-z0-9_-]{1,255}$/;
export const ENV_NAME_RE = /^[A-Za-z_][A-Za-z0-9_]*$/;
export const ENI_ID_RE = /^eni-(?:[0-9a-f]{8}|[0-9a-f]{17})$/;
export const SUBNET_ID_RE = /^subnet-(?:[0-9a-f]{8}|[0-9a-f]{17})$/;
export const SG_ID_RE = /^sg-(?:[0-9a-f]{8}|[0-9a-f]{17})$/;
const DNS_LABEL_RE = /^[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?$/;

// The docker reference grammar (distribution/reference), strict: lowercase repository path,
// optional registry host[:port], tag of at most 128 characters, sha256/sha512 digests only.
const PATH_COMPONENT = '[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*';
const DOMAIN_COMPONENT = '(?:[A-Za-z0-9]|[A-Za-z0-9][A-Za-z0-9-]*[A-Za-z0-9])';
const DOMAIN = `(?:${DOMAIN_COMPONENT}(?:\\.${DOMAIN_COMPONENT})*|\\[[0-9A-Fa-f:]+\\])(?::[0-9]{1,5})?`;
export const IMAGE_RE = new RegExp(
  `^((?:${DOMAIN}/)?${PATH_COMPONENT}(?:/${PATH_COMPONENT})*)` +
    `(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?` +
    `(?:@(?:sha256:[a-f0-9]{64}|sha512:[a-f0-9]{128}))?$`,
);
// Longest a reference can be: name (255) + ":" tag (129) + "@sha512:" digest (136).
export const MAX_IMAGE_LENGTH = 520;
export const IMAGE_FORBIDDEN_RE = /[\s\p{Cc};|&$`<>()\\'"]/u;

/** Linux capabilities (capability.h, through CAP_CHECKPOINT_RESTORE), without the CAP_ prefix. */
export const LINUX_CAPABILITIES: ReadonlySet<string> = new Set([
  'CHOWN', 'DAC_OVERRIDE', 'DAC_READ_SEARCH', 'FOWNER', 'FSETID', 'KILL', 'SETGID', 'SETUID',
  'SETPCAP', 'LINUX_IMMUTABLE', 'NET_BIND_SERVICE', 'NET_BROADCAST', 'NET_ADMIN', 'NET_RAW',
  'IPC_LOCK', 'IPC_OWNER', 'SYS_MODULE', 'SYS_RAWIO', 'SYS_CHROOT', 'SYS_PTRACE', 'SYS_PACCT',
  'SYS_ADMIN', 'SYS_BOOT', 'SYS_NICE', 'SYS_RESOURCE', 'SYS_TIME', 'SYS_TTY_CONFIG', 'MKNOD',
  'LEASE', 'AUDIT_WRITE', 'AUDIT_CONTROL', 'SETFCAP', 'MAC_OVERRIDE', 'MAC_ADMIN', 'SYSLOG',
  'WAKE_ALARM', 'BLOCK_SUSPEND', 'AUDIT_READ', 'PERFMON', 'BPF', 'CHECKPOINT_RESTORE',
]);

/** Docker takes capabilities in any case, with or without CAP_; one form makes them comparable. */
export function normalizeCapability(s: string): string {
  const up = s.toUpperCase();
  return up.startsWith('CAP_') ? up.slice(4) : up;
}

/** Why `s` is not a DNS host name (RFC 1123 labels), or undefined when it is one. */
export function dnsNameProblem(s: string): string | undefined {
  if (s.length === 0) return 'must not be empty';
  if (s.length > 253) return `must be a DNS name of at most 253 characters (got ${s.length})`;
  for (const label of s.split('.')) {
    if (label.length > 63) return `must be a DNS name whose labels are at most 63 characters (got ${show(s)})`;
    if (!DNS_LABEL_RE.test(label)) {
      return `must be a DNS name: dot-separated labels of letters, digits and '-', not starting or ending with '-' (got ${show(s)})`;
    }
  }
  return undefined;
}

/**
 * A MAC address in any common form (aa:bb:cc:dd:ee:ff, AA-BB-CC-DD-EE-FF, aabb.ccdd.eeff,
 * aabbccddeeff) in the one normal form (lowercase, colon separated); undefined if it is not one.
 * Syntax only: validateTask also refuses multicast and all-zero addresses.
 */
export function normalizeMac(s: string): string | undefined {
  let hex: string;
  if (/^[0-9A-Fa-f]{2}(?::[0-9A-Fa-f]{2}){5}$/.test(s) || /^[0-9A-Fa-f]{2}(?:-[0-9A-Fa-f]{2}){5}$/.test(s)) {
    hex = s.replace(/[:-]/g, '');
  } else if (/^[0-9A-Fa-f]{4}(?:\.[0-9A-Fa-f]{4}){2}$/.test(s)) {
    hex = s.replace(/\./g, '');
  } else if (/^[0-9A-Fa-f]{12}$/.test(s)) {
    hex = s;
  } else {
    return undefined;
  }
  return hex.toLowerCase().match(/../g)!.join(':');
}

/** The region and account of an ECS ARN (task or attachment), reported against the ARN's field. */
export function checkRegionAccount(region: string, account: string, path: string): void {
  if (!REGION_RE.test(region)) fail(path, `region ${show(region)} is not an AWS region name`);
  if (!ACCOUNT_RE.test(account)) fail(path, `account ${show(account)} must be 12 digits`);
}

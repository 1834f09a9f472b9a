// Where the bench and the integration tests find the repository, the daemon build, the engine and the
// reference plugins. This file runs from scripts/lib under ts-jest and from dist/scripts/lib once built.
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const up2 = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const REPO = path.basename(up2) === 'dist' ? path.dirname(up2) : up2;
/** The daemon build `npm run build` makes. */
export const BUILT_CLI = path.join(REPO, 'dist/agent/cli/main.js');
/** The private engine scripts/engine runs, or the one AWSVPCD_TEST_ENGINE names. */
export const TEST_ENGINE = process.env.AWSVPCD_TEST_ENGINE ?? 'unix:///run/awsvpcd-test/docker.sock';
/** Debian's reference CNI plugins (containernetworking-plugins). */
export const REFERENCE_CNI = '/usr/lib/cni';

// dockerode, loaded without the two features awsvpcd never uses: BuildKit sessions (dockerode/lib/session.js
// pulls in @grpc/grpc-js and protobufjs) and the ssh:// transport (docker-modem/lib/ssh.js pulls in ssh2).
// Both are required eagerly at the top of dockerode and docker-modem, and together they are about 30 MiB of
// the daemon's resident memory (measured: a bare `require('dockerode')` takes a process from 40 to 70 MiB).
//
// Each is replaced in the CommonJS module cache (which Node documents as writable: "adding or replacing
// entries is also possible") by a function that loads the real module on its first call, so nothing changes
// for a caller that does use them. Every module of awsvpcd that constructs a client takes it from here.
import { Module, createRequire } from 'node:module';
import path from 'node:path';
import type DockerodeType from 'dockerode';

const require = createRequire(import.meta.url);

/** Files replaced by a loader on first call (absolute paths); exported for the test that checks them. */
export const DEFERRED: string[] = [];

function defer(file: string): void {
  if (require.cache[file]) return; // already loaded by someone: nothing to save
  type Fn = (...args: unknown[]) => unknown;
  let real: Fn | undefined;
  const stub = function deferred(this: unknown, ...args: unknown[]): unknown {
    if (!real) {
      delete require.cache[file];
      real = require(file) as Fn;
    }
    return real.apply(this, args);
  };
  // A finished module record whose exports are the loader: require() returns it without running the file.
  const m = new Module(file);
  m.filename = file;
  m.loaded = true;
  m.exports = stub;
  require.cache[file] = m;
  DEFERRED.push(file);
}

/** The file `request` names, or undefined if a newer dockerode moved it (then it is simply loaded as usual). */
function resolveOptional(request: string, from: string): string | undefined {
  try {
    return require.resolve(request, { paths: [from] });
  } catch {
    return undefined;
  }
}

const dockerodeMain = require.resolve('dockerode');
const dockerodeDir = path.dirname(dockerodeMain);
for (const request of ['./session.js', 'docker-modem/lib/ssh.js']) {
  const file = resolveOptional(request, dockerodeDir);
  if (file) defer(file);
}

/** dockerode's constructor; its types come from `import type Docker from 'dockerode'` as usual. */
export const Dockerode = require(dockerodeMain) as typeof DockerodeType;

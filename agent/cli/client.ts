// The daemon's API client: HTTP/1.1 over its unix socket, with a deadline on every request.
import http from 'node:http';

export interface ApiResponse<T = unknown> {
  status: number;
  body: T;
}

export class ApiUnreachableError extends Error {}

export class ApiClient {
  constructor(
    readonly socketPath: string,
    private readonly timeoutMs = 30_000,
  ) {}

  request<T = unknown>(method: string, path: string, body?: Buffer | string): Promise<ApiResponse<T>> {
    return new Promise((resolve, reject) => {
      const req = http.request(
        {
          socketPath: this.socketPath,
          // One request, one connection: no idle keep-alive socket holds a short-lived CLI (or a test) open.
          agent: false,
          path,
          method,
          headers: body === undefined ? {} : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
          timeout: this.timeoutMs,
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            let parsed: unknown = text;
            try {
              parsed = text ? JSON.parse(text) : undefined;
            } catch {
              /* keep text */
            }
            resolve({ status: res.statusCode ?? 0, body: parsed as T });
          });
          res.on('error', reject);
        },
      );
      req.on('timeout', () => req.destroy(new ApiUnreachableError(`awsvpcd at ${this.socketPath} did not answer within ${this.timeoutMs} ms`)));
      req.on('error', (err: NodeJS.ErrnoException) => {
        if (err instanceof ApiUnreachableError) return reject(err);
        reject(new ApiUnreachableError(`cannot reach awsvpcd at ${this.socketPath}: ${err.code ?? err.message} (is the daemon running? --socket to point elsewhere)`));
      });
      if (body !== undefined) req.write(body);
      req.end();
    });
  }
}

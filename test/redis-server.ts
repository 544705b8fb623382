// A throwaway redis-server for tests: a free loopback port, a temp directory, the persistence the
// setup documents (append-only file fsynced before each answer, no RDB snapshots); killed by stop().
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface TestRedis {
  port: number;
  url: string;
  dir: string;
  /** SIGKILL the server (no shutdown save), then start it again on the same port and directory. */
  crashAndRestart(downMs?: number): Promise<void>;
  stop(): Promise<void>;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

function launch(args: string[]): Promise<ChildProcess> {
  return new Promise((resolve, reject) => {
    const p = spawn('redis-server', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    const onData = (b: Buffer) => {
      out += b.toString();
      if (out.includes('Ready to accept connections')) {
        p.stdout!.off('data', onData);
        p.stdout!.resume();
        resolve(p);
      }
    };
    p.stdout!.on('data', onData);
    p.once('error', (e) => reject(new Error(`redis-server did not start (${e.message}); scripts/setup.sh installs it`)));
    p.once('exit', (code) => reject(new Error(`redis-server exited with ${code}:\n${out}`)));
  });
}

/** Start redis-server; `extra` are more command-line options (e.g. ['--requirepass', 'pw']). */
export async function startRedis(extra: string[] = [], opts: { tls?: boolean } = {}): Promise<TestRedis> {
  const dir = await mkdtemp(join(tmpdir(), 'lowrank-smc-redis-'));
  const port = await freePort();
  const portArgs = opts.tls ? ['--port', '0', '--tls-port', String(port)] : ['--port', String(port)];
  const args = [...portArgs, '--bind', '127.0.0.1', '--dir', dir, '--appendonly', 'yes', '--appendfsync', 'always', '--save', '', ...extra];
  let proc = await launch(args);
  const kill = async (p: ChildProcess) => {
    if (p.exitCode !== null || p.signalCode !== null) return;
    const exited = new Promise((r) => p.once('exit', r));
    p.kill('SIGKILL');
    await exited;
  };
  return {
    port,
    url: `${opts.tls ? 'rediss' : 'redis'}://127.0.0.1:${port}`,
    dir,
    async crashAndRestart(downMs = 500) {
      await kill(proc);
      await new Promise((r) => setTimeout(r, downMs));
      proc = await launch(args);
    },
    async stop() {
      await kill(proc);
      await rm(dir, { recursive: true, force: true });
    },
  };
}

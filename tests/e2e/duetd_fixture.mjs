// duetd_fixture.mjs — starts and stops a private duetd for one Node end-to-end test
// (the Node twin of duetd_fixture.py): free loopback port, temporary --dbpath,
// SIGTERM at the end with a check for exit code 0 and the "shutdown complete" line.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));

export function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

function canConnect(port) {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.on('connect', () => { socket.destroy(); resolve(true); });
    socket.on('error', () => resolve(false));
  });
}

// Every duetd started here and not yet stopped: killed when the test process exits, however it
// exits (runTests ends with process.exit), so a failed or forgotten stop leaves nothing running.
const running = new Set();
process.on('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

export async function startDuetd(...extraArgs) {
  const binary = process.env.DUETD || path.join(here, '..', '..', 'build', 'bin', 'duetd');
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'duet-e2e-node-'));
  const port = await freePort();
  const logPath = path.join(tmp, 'duetd.log');
  const child = spawn(binary, ['--dbpath', path.join(tmp, 'data'), '--port', String(port), '--log', logPath,
    ...extraArgs], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (chunk) => { stderr += chunk; });
  let exitCode = null;
  running.add(child);
  const exited = new Promise((resolve) => child.on('exit', (code, signal) => {
    exitCode = code ?? signal;
    running.delete(child);
    resolve();
  }));
  const deadline = Date.now() + 20000;
  const started = () => fs.existsSync(logPath) && fs.readFileSync(logPath, 'utf8').includes('Waiting for connections');
  while (!started() || !(await canConnect(port))) {
    if (exitCode !== null) throw new Error(`duetd exited early (${exitCode}): ${stderr}`);
    if (Date.now() > deadline) throw new Error('duetd did not start');
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    port,
    uri: (options = '') => `mongodb://127.0.0.1:${port}/${options}`,
    async stop() {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 30000);
      await exited;
      clearTimeout(timer);
      const log = fs.readFileSync(logPath, 'utf8');
      fs.rmSync(tmp, { recursive: true, force: true });
      if (exitCode !== 0) throw new Error(`duetd exited ${exitCode}: ${stderr}`);
      if (!log.includes('Now exiting: shutdown complete')) throw new Error(`no stop line in the log:\n${log}`);
      if (/AddressSanitizer|LeakSanitizer/.test(stderr)) throw new Error(stderr);
    },
  };
}

// A minimal test runner: runs the named async tests in order, prints TAP-like lines, exits 1 on failure.
export async function runTests(tests) {
  let failed = 0;
  for (const [name, fn] of Object.entries(tests)) {
    try {
      await fn();
      console.log(`ok - ${name}`);
    } catch (error) {
      failed++;
      console.log(`not ok - ${name}\n${error.stack || error}`);
    }
  }
  console.log(`${Object.keys(tests).length - failed}/${Object.keys(tests).length} passed`);
  process.exit(failed ? 1 : 0);
}

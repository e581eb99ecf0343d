/**
 * Builds (once) and starts the mongo-java-server launcher kept in ../mongo-server: a MongoDB
 * wire-protocol server with an in-memory backend, on a free 127.0.0.1 port. The server exits
 * when its stdin closes, so it never outlives the test process.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const serverDir = fileURLToPath(new URL('../mongo-server/', import.meta.url));
const classesDir = `${serverDir}target/classes`;
const dependencyDir = `${serverDir}target/dependency`;
const launcherClass = `${classesDir}/dev/portcullis/mongoserver/Launcher.class`;
const BUILD_TIMEOUT_MS = 10 * 60_000;
const START_TIMEOUT_MS = 60_000;
const MISSING_JAVA =
  'The MongoDB test server (mongo-java-server) needs Java 17 and Maven: install the Debian packages ' +
  '`openjdk-17-jdk-headless maven` (apt-get install openjdk-17-jdk-headless maven).';

function hasCommand(command: string, args: string[]): boolean {
  const result = spawnSync(command, args, { stdio: 'ignore', timeout: 60_000 });
  return !result.error && result.status === 0;
}

function isBuilt(): boolean {
  return existsSync(launcherClass) && existsSync(dependencyDir) && readdirSync(dependencyDir).length > 0;
}

/** Builds the launcher with Maven unless target/ already holds it. Returns the build time in ms (0 when built). */
export function ensureLauncherBuilt(): number {
  if (!hasCommand('java', ['-version'])) throw new Error(MISSING_JAVA);
  if (isBuilt()) return 0;
  if (!hasCommand('mvn', ['-v'])) throw new Error(MISSING_JAVA);
  const started = Date.now();
  const result = spawnSync('mvn', ['-q', '-B', 'package'], {
    cwd: serverDir,
    encoding: 'utf8',
    timeout: BUILD_TIMEOUT_MS,
    killSignal: 'SIGKILL',
  });
  if (result.error || result.status !== 0 || !isBuilt()) {
    const output = `${result.stdout ?? ''}${result.stderr ?? ''}`.slice(-4000);
    const reason = result.error ? result.error.message : `exit status ${result.status}`;
    throw new Error(`Building the MongoDB test server with Maven failed (${reason}) in ${serverDir}:\n${output}`);
  }
  return Date.now() - started;
}

/** A running test server. */
export interface MongoTestServer {
  /** `mongodb://127.0.0.1:<port>` (no database: tests pick their own `dbName`). */
  readonly url: string;
  readonly port: number;
  /** Closes stdin (the server exits), then kills it if it has not exited within 5 s. */
  stop(): Promise<void>;
}

function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

/** Starts a fresh, empty server on a free port (the launcher must be built). */
export async function startMongoServer(): Promise<MongoTestServer> {
  const classpath = `${classesDir}:${dependencyDir}/*`;
  const child = spawn('java', ['-cp', classpath, 'dev.portcullis.mongoserver.Launcher', '0'], {
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-4000);
  });
  const port = await new Promise<number>((resolve, reject) => {
    let stdout = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`The MongoDB test server did not start within ${START_TIMEOUT_MS} ms:\n${stderr}`));
    }, START_TIMEOUT_MS);
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(new Error(`Could not run java (${err.message}). ${MISSING_JAVA}`));
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`The MongoDB test server exited with status ${code}:\n${stderr}`));
    });
    child.stdout?.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
      const line = /^(\d+)\r?\n/.exec(stdout);
      if (line) {
        clearTimeout(timer);
        resolve(Number(line[1]));
      }
    });
  });
  child.removeAllListeners('exit');
  return {
    url: `mongodb://127.0.0.1:${port}`,
    port,
    async stop() {
      child.stdin?.end();
      const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await exited(child);
      clearTimeout(timer);
    },
  };
}

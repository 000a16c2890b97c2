/**
 * Prometheus text exposition for node_exporter's textfile collector. `renderMetrics` is pure;
 * `writeTextfile` replaces the file atomically (temp file in the same directory, then rename),
 * one write per path at a time.
 *
 * @module
 */

/** One limited role as the metrics show it. */
export interface RoleMetrics {
  /** Role name. */
  role: string;
  /** Bytes owned. */
  usage: number;
  /** Soft limit, bytes. */
  soft: number;
  /** Hard limit, bytes. */
  hard: number;
  /** 1 when the daemon holds a lock on the role. */
  locked: boolean;
  /** Usage by kind (tables, indexes, toast, large_objects, ...); sums to `usage`. */
  kinds?: Record<string, number>;
}

/** One alert endpoint as the metrics show it. */
export interface EndpointMetrics {
  /** Endpoint name ("slack", or the webhook's name): never its URL. */
  endpoint: string;
  /** Deliveries waiting. */
  queued: number;
  /** Delivered since start. */
  sent: number;
  /** Attempts that failed and will be retried, since start. */
  retried: number;
  /** Deliveries dropped (4xx other than 408/429), since start. */
  dropped: number;
  /** Deliveries dropped unsent because the endpoint's queue was full, since start. */
  overflowed?: number;
  /** The circuit breaker is open. */
  circuitOpen: boolean;
}

/** Everything the textfile shows. */
export interface MetricsSnapshot {
  /** Limited roles. */
  roles: RoleMetrics[];
  /** Counters by action: soft_exceeded, hard_exceeded, lock, unlock, sessions_terminated. */
  actions: Record<string, number>;
  /** Notifications received since start. */
  notifications: number;
  /** Duration of the last full sweep, seconds. */
  lastSweepSeconds: number;
  /** End of the last full sweep, seconds since epoch. */
  lastSweepTimestamp: number;
  /** Daemon version. */
  version: string;
  /** Monitored databases and whether their LISTEN connection is up. */
  databases?: { name: string; up: boolean }[];
  /** How many considered databases are in each state, and which cannot be entered. */
  databaseStates?: {
    watched: number;
    sweep_only: number;
    unreachable: number;
    idle: number;
    unreachableDatabases: { name: string; owner: string }[];
  };
  /** Alert endpoints. */
  alerts?: EndpointMetrics[];
  /** Notification-to-lock latency. */
  detectionLag?: Histogram;
  /** Whether this daemon holds the leader lock (it enforces) or stands by. @default {true} */
  leader?: boolean;
  /** The cluster's NOTIFY queue at the last read; omitted before the first read. */
  notifyQueue?: {
    /** pg_notification_queue_usage(): 0 (empty) to 1 (full). */
    usage: number;
    /** Usage at or above which the installed triggers stop notifying. */
    limit: number;
  };
}

/** Upper bounds (seconds) of the detection-lag histogram buckets. */
export const LAG_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10] as const;

/** A cumulative Prometheus histogram. */
export class Histogram {
  /** Bucket upper bounds, ascending. */
  readonly bounds: readonly number[];
  /** Observations per bucket (not cumulative), one extra for +Inf. */
  readonly counts: number[];
  /** Sum of observations. */
  sum = 0;
  /** Number of observations. */
  count = 0;

  /** Creates an empty histogram with the given bucket bounds. */
  constructor(bounds: readonly number[] = LAG_BUCKETS) {
    this.bounds = bounds;
    this.counts = new Array(bounds.length + 1).fill(0);
  }

  /** Records one value. */
  observe(value: number) {
    let i = this.bounds.findIndex((b) => value <= b);
    if (i < 0) i = this.bounds.length;
    this.counts[i] = (this.counts[i] ?? 0) + 1;
    this.sum += value;
    this.count++;
  }
}

/** Escapes a label value as the exposition format requires. */
export function escapeLabel(value: string): string {
  return value.replace(/\\/g, "\\\\").replace(/\n/g, "\\n").replace(/"/g, '\\"');
}

/** Renders the snapshot in the Prometheus text format (no timestamps). */
export function renderMetrics(s: MetricsSnapshot): string {
  const out: string[] = [];
  const family = (name: string, type: string, help: string) => {
    out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
  };
  const roles = [...s.roles].sort((a, b) => (a.role < b.role ? -1 : a.role > b.role ? 1 : 0));
  const perRole = (name: string, type: string, help: string, value: (r: RoleMetrics) => number) => {
    family(name, type, help);
    for (const r of roles) out.push(`${name}{user="${escapeLabel(r.role)}"} ${value(r)}`);
  };
  // Legacy name kept so existing dashboards keep working.
  perRole(
    "postgres_user_storage_usage_bytes",
    "gauge",
    "Current storage usage of a user in bytes.",
    (r) => r.usage,
  );
  family(
    "postgres_monitor_usage_bytes",
    "gauge",
    "Storage charged to a user in bytes, by kind (tables, indexes, toast, large_objects, catalog_text, temp_files, uncommitted); the kinds sum to postgres_user_storage_usage_bytes.",
  );
  for (const r of roles) {
    for (const [kind, bytes] of Object.entries(r.kinds ?? {})) {
      out.push(
        `postgres_monitor_usage_bytes{user="${escapeLabel(r.role)}",kind="${kind}"} ${bytes}`,
      );
    }
  }
  perRole(
    "postgres_monitor_soft_limit_bytes",
    "gauge",
    "Soft limit of a user in bytes.",
    (r) => r.soft,
  );
  perRole(
    "postgres_monitor_hard_limit_bytes",
    "gauge",
    "Hard limit of a user in bytes.",
    (r) => r.hard,
  );
  perRole(
    "postgres_monitor_role_locked",
    "gauge",
    "1 when the daemon has locked the user (NOLOGIN).",
    (r) => (r.locked ? 1 : 0),
  );
  family(
    "postgres_monitor_actions_total",
    "counter",
    "Enforcement events since the daemon started, by action.",
  );
  for (const action of Object.keys(s.actions).sort()) {
    out.push(
      `postgres_monitor_actions_total{action="${escapeLabel(action)}"} ${s.actions[action]}`,
    );
  }
  family(
    "postgres_monitor_notifications_total",
    "counter",
    "Write notifications received since the daemon started.",
  );
  out.push(`postgres_monitor_notifications_total ${s.notifications}`);
  family(
    "postgres_monitor_last_sweep_duration_seconds",
    "gauge",
    "Duration of the last full sweep.",
  );
  out.push(`postgres_monitor_last_sweep_duration_seconds ${s.lastSweepSeconds}`);
  family(
    "postgres_monitor_last_sweep_timestamp_seconds",
    "gauge",
    "When the last full sweep ended, seconds since the epoch.",
  );
  out.push(`postgres_monitor_last_sweep_timestamp_seconds ${s.lastSweepTimestamp}`);
  if (s.databases) {
    family(
      "postgres_monitor_database_up",
      "gauge",
      "1 when the LISTEN connection to a monitored database is up.",
    );
    for (const db of [...s.databases].sort((a, b) => (a.name < b.name ? -1 : 1))) {
      out.push(`postgres_monitor_database_up{database="${escapeLabel(db.name)}"} ${db.up ? 1 : 0}`);
    }
  }
  if (s.databaseStates) {
    const { unreachableDatabases, ...counts } = s.databaseStates;
    family(
      "postgres_monitor_databases",
      "gauge",
      "Considered databases by state: watched (LISTEN), sweep_only, unreachable, idle (no limited owner).",
    );
    for (const [state, n] of Object.entries(counts)) {
      out.push(`postgres_monitor_databases{state="${state}"} ${n}`);
    }
    family(
      "postgres_monitor_database_unreachable",
      "gauge",
      "1 for a database nobody can connect to (judged by its size, charged to its owner).",
    );
    for (const db of [...unreachableDatabases].sort((a, b) => (a.name < b.name ? -1 : 1))) {
      out.push(
        `postgres_monitor_database_unreachable{database="${escapeLabel(db.name)}",owner="${
          escapeLabel(db.owner)
        }"} 1`,
      );
    }
  }
  if (s.alerts) {
    const eps = [...s.alerts].sort((a, b) => (a.endpoint < b.endpoint ? -1 : 1));
    family(
      "postgres_monitor_alerts_total",
      "counter",
      "Alert deliveries since the daemon started, by endpoint and outcome (overflow: dropped unsent, the queue was full).",
    );
    for (const e of eps) {
      const ep = escapeLabel(e.endpoint);
      out.push(`postgres_monitor_alerts_total{endpoint="${ep}",outcome="sent"} ${e.sent}`);
      out.push(`postgres_monitor_alerts_total{endpoint="${ep}",outcome="retried"} ${e.retried}`);
      out.push(`postgres_monitor_alerts_total{endpoint="${ep}",outcome="dropped"} ${e.dropped}`);
      out.push(
        `postgres_monitor_alerts_total{endpoint="${ep}",outcome="overflow"} ${e.overflowed ?? 0}`,
      );
    }
    family("postgres_monitor_alert_queue_depth", "gauge", "Alert deliveries waiting, by endpoint.");
    for (const e of eps) {
      out.push(
        `postgres_monitor_alert_queue_depth{endpoint="${escapeLabel(e.endpoint)}"} ${e.queued}`,
      );
    }
    family(
      "postgres_monitor_alert_circuit_open",
      "gauge",
      "1 while an endpoint's circuit breaker is open.",
    );
    for (const e of eps) {
      out.push(
        `postgres_monitor_alert_circuit_open{endpoint="${escapeLabel(e.endpoint)}"} ${
          e.circuitOpen ? 1 : 0
        }`,
      );
    }
  }
  if (s.notifyQueue) {
    family(
      "postgres_monitor_notify_queue_usage_ratio",
      "gauge",
      "Fraction of the cluster's NOTIFY queue in use (pg_notification_queue_usage()).",
    );
    out.push(`postgres_monitor_notify_queue_usage_ratio ${s.notifyQueue.usage}`);
    family(
      "postgres_monitor_notify_queue_limit_ratio",
      "gauge",
      "NOTIFY queue usage from which the triggers stop notifying (writes then seen by sweeps only).",
    );
    out.push(`postgres_monitor_notify_queue_limit_ratio ${s.notifyQueue.limit}`);
  }
  if (s.detectionLag) {
    const h = s.detectionLag;
    const name = "postgres_monitor_detection_lag_seconds";
    family(name, "histogram", "Time from a write notification to NOLOGIN committed, seconds.");
    let cumulative = 0;
    h.bounds.forEach((b, i) => {
      cumulative += h.counts[i] ?? 0;
      out.push(`${name}_bucket{le="${b}"} ${cumulative}`);
    });
    out.push(`${name}_bucket{le="+Inf"} ${h.count}`);
    out.push(`${name}_sum ${h.sum}`);
    out.push(`${name}_count ${h.count}`);
  }
  out.push(...leaderAndBuild(s.leader !== false, s.version));
  return out.join("\n") + "\n";
}

/** The leader gauge and build_info, which a standby exports too. */
function leaderAndBuild(leader: boolean, version: string): string[] {
  return [
    "# HELP postgres_monitor_leader 1 while this daemon holds the leader lock and enforces, 0 while it stands by.",
    "# TYPE postgres_monitor_leader gauge",
    `postgres_monitor_leader ${leader ? 1 : 0}`,
    "# HELP postgres_monitor_build_info Version of the daemon; always 1.",
    "# TYPE postgres_monitor_build_info gauge",
    `postgres_monitor_build_info{version="${escapeLabel(version)}"} 1`,
  ];
}

/**
 * The textfile of a standby daemon: it measures nothing and enforces nothing, so it says only
 * that it stands by (no sweep timestamp that would look stale, no usage that would look like 0).
 */
export function renderStandbyMetrics(version: string): string {
  return leaderAndBuild(false, version).join("\n") + "\n";
}

// One writer per path in this process: the daemon and the standby loop may both write the file.
interface PathWriter {
  // Text of the newest call not yet being written; older pending texts are superseded.
  next: string | null;
  waiters: { resolve: () => void; reject: (err: unknown) => void }[];
}
const writers = new Map<string, PathWriter>();
let tmpSeq = 0;

/**
 * Writes `text` to `path` atomically: a temp file of its own in the same directory, then rename.
 * Calls for one path are serialised and the latest text wins: a call made while a write is under
 * way resolves once a write of its text, or of a newer one, is done. The file is made
 * world-readable whatever the umask (the unit's UMask=0027), since node_exporter reads it as
 * another user.
 */
export function writeTextfile(path: string, text: string): Promise<void> {
  let w = writers.get(path);
  const start = w === undefined;
  if (!w) {
    w = { next: null, waiters: [] };
    writers.set(path, w);
  }
  w.next = text;
  const done = new Promise<void>((resolve, reject) => w.waiters.push({ resolve, reject }));
  if (start) void drain(path, w);
  return done;
}

async function drain(path: string, w: PathWriter) {
  while (w.next !== null) {
    const text = w.next;
    const waiters = w.waiters;
    w.next = null;
    w.waiters = [];
    try {
      await replaceFile(path, text);
      for (const x of waiters) x.resolve();
    } catch (err) {
      for (const x of waiters) x.reject(err);
    }
  }
  writers.delete(path);
}

async function replaceFile(path: string, text: string) {
  const slash = path.lastIndexOf("/");
  const dir = slash >= 0 ? path.slice(0, slash) || "/" : ".";
  const base = slash >= 0 ? path.slice(slash + 1) : path;
  // Unique per write, so no two writes (here or in another process) share a temp file.
  const tmp = `${dir}/.${base}.${Deno.pid}.${++tmpSeq}.tmp`;
  try {
    await Deno.writeTextFile(tmp, text, { mode: 0o644 });
    await Deno.chmod(tmp, 0o644);
    await Deno.rename(tmp, path);
  } catch (err) {
    await Deno.remove(tmp).catch(() => {});
    throw err;
  }
}

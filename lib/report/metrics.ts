/**
 * Prometheus text exposition for node_exporter's textfile collector. `renderMetrics` is pure;
 * `writeTextfile` replaces the file atomically (temp file in the same directory, then rename).
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
  family("postgres_monitor_build_info", "gauge", "Version of the daemon; always 1.");
  out.push(`postgres_monitor_build_info{version="${escapeLabel(s.version)}"} 1`);
  return out.join("\n") + "\n";
}

/** Writes `text` to `path` atomically: a temp file in the same directory, then rename. */
export async function writeTextfile(path: string, text: string): Promise<void> {
  const slash = path.lastIndexOf("/");
  const dir = slash >= 0 ? path.slice(0, slash) || "/" : ".";
  const base = slash >= 0 ? path.slice(slash + 1) : path;
  const tmp = `${dir}/.${base}.${Deno.pid}.tmp`;
  try {
    await Deno.writeTextFile(tmp, text, { mode: 0o644 });
    await Deno.rename(tmp, path);
  } catch (err) {
    await Deno.remove(tmp).catch(() => {});
    throw err;
  }
}

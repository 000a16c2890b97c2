/**
 * contrib/: the Grafana dashboard (structure, and every PromQL expression names only metrics the
 * daemon or node_exporter's textfile collector export) and the Prometheus alerting rules
 * (`promtool check rules` and `promtool test rules`, ignored when promtool is not on PATH).
 */
import assert from "node:assert/strict";

const CONTRIB = new URL("../../contrib/", import.meta.url);
const PROM_DIR = new URL("prometheus/", CONTRIB);
const RULES = "postgres_realtime_monitor.rules.yml";
const RULES_TEST = "postgres_realtime_monitor.rules_test.yml";
const DASHBOARD = new URL("grafana/postgres_realtime_monitor.json", CONTRIB);

/** Every series name the daemon writes to its textfile (histogram: its three series). */
const DAEMON_METRICS = new Set([
  "postgres_user_storage_usage_bytes",
  "postgres_monitor_soft_limit_bytes",
  "postgres_monitor_hard_limit_bytes",
  "postgres_monitor_role_locked",
  "postgres_monitor_actions_total",
  "postgres_monitor_alerts_total",
  "postgres_monitor_alert_queue_depth",
  "postgres_monitor_alert_circuit_open",
  "postgres_monitor_notifications_total",
  "postgres_monitor_database_up",
  "postgres_monitor_last_sweep_duration_seconds",
  "postgres_monitor_last_sweep_timestamp_seconds",
  "postgres_monitor_leader",
  "postgres_monitor_detection_lag_seconds_bucket",
  "postgres_monitor_detection_lag_seconds_sum",
  "postgres_monitor_detection_lag_seconds_count",
  "postgres_monitor_build_info",
  "postgres_monitor_notify_queue_usage_ratio",
  "postgres_monitor_notify_queue_limit_ratio",
  "postgres_monitor_databases",
  "postgres_monitor_database_unreachable",
  "postgres_monitor_usage_bytes",
]);

/** A daemon metric, or one node_exporter's textfile collector adds. */
function isKnownMetric(name: string): boolean {
  return DAEMON_METRICS.has(name) || name.startsWith("node_textfile_");
}

/** Whether `cmd` is an executable file in a PATH directory (false without env/read permission). */
function onPath(cmd: string): boolean {
  let path: string | undefined;
  try {
    path = Deno.env.get("PATH");
  } catch {
    return false;
  }
  for (const dir of (path ?? "").split(":")) {
    if (dir === "") continue;
    try {
      const info = Deno.statSync(`${dir}/${cmd}`);
      if (info.isFile && (info.mode === null || (info.mode & 0o111) !== 0)) return true;
    } catch {
      // Not there, or not readable: try the next directory.
    }
  }
  return false;
}

const hasPromtool = onPath("promtool");

const PROMQL_KEYWORDS = new Set([
  "and",
  "or",
  "unless",
  "bool",
  "offset",
  "by",
  "without",
  "on",
  "ignoring",
  "group_left",
  "group_right",
  "inf",
  "nan",
  "start",
  "end",
]);

/**
 * Metric names a PromQL expression selects, sorted and unique. Grafana variables, string
 * literals, label matchers, range brackets and grouping label lists are removed first; what is
 * left that looks like an identifier and is neither a function call nor a keyword is a metric.
 */
function metricNames(expr: string): string[] {
  const s = expr
    .replace(/\$\{[^}]*\}|\$\w+/g, " ")
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, '""')
    .replace(/\{[^}]*\}/g, " ")
    .replace(/\[[^\]]*\]/g, " ")
    .replace(/\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, " ");
  const names = new Set<string>();
  for (const m of s.matchAll(/(?<![\w.:])[a-zA-Z_:][\w:]*(?![\w:])/g)) {
    const word = m[0];
    const after = s.slice((m.index ?? 0) + word.length);
    if (/^\s*\(/.test(after)) continue; // function or aggregation
    if (PROMQL_KEYWORDS.has(word.toLowerCase())) continue;
    names.add(word);
  }
  return [...names].sort();
}

/** The PromQL inside a Grafana Prometheus variable query (`label_values(expr, label)` and so on). */
function variableExpr(query: string): string | null {
  const q = query.trim();
  const labelValues = /^label_values\(\s*(.+?)\s*,\s*[a-zA-Z_]\w*\s*\)$/.exec(q);
  if (labelValues) return labelValues[1] ?? null;
  if (/^label_values\(\s*[a-zA-Z_]\w*\s*\)$/.test(q) || /^label_names\(\)$/.test(q)) return null;
  const queryResult = /^query_result\((.+)\)$/.exec(q);
  if (queryResult) return queryResult[1] ?? null;
  return q;
}

interface GridPos {
  x: number;
  y: number;
  w: number;
  h: number;
}

interface Panel {
  id: number;
  type: string;
  title: string;
  gridPos: GridPos;
  repeat?: string;
  datasource?: { type?: string; uid?: string };
  fieldConfig?: { defaults?: { unit?: string } };
  targets?: { expr?: string; datasource?: { type?: string; uid?: string } }[];
  panels?: Panel[];
}

interface Variable {
  name: string;
  type: string;
  query?: string | { query?: string };
  definition?: string;
  current?: { value?: unknown };
}

interface Dashboard {
  __inputs?: { name: string; type: string; pluginId: string }[];
  schemaVersion: number;
  uid: string;
  title: string;
  panels: Panel[];
  templating: { list: Variable[] };
  annotations?: { list: { expr?: string; datasource?: { type?: string; uid?: string } }[] };
}

function loadDashboard(): Dashboard {
  return JSON.parse(Deno.readTextFileSync(DASHBOARD)) as Dashboard;
}

/** Every panel, rows' nested panels included. */
function allPanels(d: Dashboard): Panel[] {
  const out: Panel[] = [];
  const walk = (list: Panel[]) => {
    for (const p of list) {
      out.push(p);
      if (p.panels) walk(p.panels);
    }
  };
  walk(d.panels);
  return out;
}

function variableQuery(v: Variable): string {
  return typeof v.query === "string" ? v.query : v.query?.query ?? v.definition ?? "";
}

/** Every PromQL expression: panel targets, annotations, and query variables. */
function dashboardExprs(d: Dashboard): { where: string; expr: string }[] {
  const out: { where: string; expr: string }[] = [];
  for (const p of allPanels(d)) {
    for (const t of p.targets ?? []) {
      if (t.expr !== undefined) out.push({ where: `panel ${p.id} "${p.title}"`, expr: t.expr });
    }
  }
  for (const a of d.annotations?.list ?? []) {
    if (a.expr !== undefined) out.push({ where: "annotation", expr: a.expr });
  }
  for (const v of d.templating.list) {
    if (v.type !== "query") continue;
    const expr = variableExpr(variableQuery(v));
    if (expr !== null) out.push({ where: `variable $${v.name}`, expr });
  }
  return out;
}

/**
 * The `expr:` values of a rules file in the layout contrib uses: either on the same line, or a
 * block scalar (`|`) whose lines are indented deeper than the `expr:` key.
 */
function ruleExprs(yaml: string): string[] {
  const lines = yaml.split("\n");
  const out: string[] = [];
  for (let i = 0; i < lines.length; i++) {
    const m = /^(\s*)(?:- )?expr:\s*(.*)$/.exec(lines[i] ?? "");
    if (!m) continue;
    const indent = (m[1] ?? "").length;
    const value = (m[2] ?? "").trim();
    if (!/^[|>][+-]?$/.test(value)) {
      out.push(value.replace(/^(['"])(.*)\1$/, "$2"));
      continue;
    }
    const block: string[] = [];
    while (i + 1 < lines.length) {
      const next = lines[i + 1] ?? "";
      if (next.trim() !== "" && next.length - next.trimStart().length <= indent) break;
      block.push(next);
      i++;
    }
    out.push(block.join("\n").trim());
  }
  return out;
}

/** Runs promtool in contrib/prometheus; stdout and stderr together. */
async function promtool(args: string[], stdin?: string): Promise<{ code: number; out: string }> {
  const child = new Deno.Command("promtool", {
    args,
    cwd: PROM_DIR,
    stdin: stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  if (stdin !== undefined) {
    const writer = child.stdin.getWriter();
    await writer.write(new TextEncoder().encode(stdin));
    await writer.close();
  }
  const { code, stdout, stderr } = await child.output();
  const dec = new TextDecoder();
  return { code, out: dec.decode(stdout) + dec.decode(stderr) };
}

Deno.test("metricNames() finds the selected metrics and nothing else", () => {
  assert.deepEqual(
    metricNames(
      'histogram_quantile(0.99, sum by (le, instance) (rate(lag_bucket{instance=~"$instance",' +
        ' le!="x(y)"}[$__rate_interval])))',
    ),
    ["lag_bucket"],
  );
  assert.deepEqual(metricNames("count(a == 1) or vector(0)"), ["a"]);
  assert.deepEqual(
    metricNames('time() - b{file=~".*x.prom"} > 300 unless on (job) c offset 5m'),
    ["b", "c"],
  );
  assert.deepEqual(metricNames("x * on(user) group_left(foo, bar) y"), ["x", "y"]);
  assert.deepEqual(metricNames("sum(z) without (pod) / 1e3 > bool Inf"), ["z"]);
  assert.deepEqual(metricNames('{__name__="hidden"}'), []);
  assert.equal(
    variableExpr('label_values(m{instance=~"$instance"}, user)'),
    'm{instance=~"$instance"}',
  );
  assert.equal(variableExpr("label_values(instance)"), null);
});

Deno.test("dashboard: schemaVersion 39, Prometheus datasource input and variable everywhere", () => {
  const d = loadDashboard();
  assert.equal(d.schemaVersion, 39);
  assert.ok(d.uid !== "" && d.title !== "");
  assert.ok(
    d.__inputs?.some((i) =>
      i.name === "DS_PROMETHEUS" && i.type === "datasource" && i.pluginId === "prometheus"
    ),
    "an import input DS_PROMETHEUS for a Prometheus datasource",
  );
  const dsVar = d.templating.list.find((v) => v.name === "datasource");
  assert.ok(dsVar, "a `datasource` variable");
  assert.equal(dsVar.type, "datasource");
  assert.equal(dsVar.query, "prometheus");
  assert.equal(dsVar.current?.value, "${DS_PROMETHEUS}");

  const refs: { where: string; ds: { type?: string; uid?: string } | undefined }[] = [];
  for (const p of allPanels(d)) {
    if (p.type === "row") continue;
    refs.push({ where: `panel ${p.id}`, ds: p.datasource });
    for (const t of p.targets ?? []) refs.push({ where: `panel ${p.id} target`, ds: t.datasource });
  }
  for (const a of d.annotations?.list ?? []) {
    if (a.expr !== undefined) refs.push({ where: "annotation", ds: a.datasource });
  }
  for (const v of d.templating.list) {
    if (v.type === "query") {
      refs.push({
        where: `variable ${v.name}`,
        ds: (v as { datasource?: Panel["datasource"] }).datasource,
      });
    }
  }
  for (const { where, ds } of refs) {
    assert.deepEqual(ds, { type: "prometheus", uid: "${datasource}" }, where);
  }

  const user = d.templating.list.find((v) => v.name === "user");
  assert.ok(user, "a `user` variable");
  assert.equal(user.type, "query");
  assert.match(
    variableQuery(user),
    /^label_values\(postgres_user_storage_usage_bytes(\{[^}]*\})?, *user\)$/,
  );
});

Deno.test("dashboard: panel ids are unique, every panel has a gridPos inside 24 columns, no overlap", () => {
  const panels = allPanels(loadDashboard());
  assert.ok(panels.length >= 15, `only ${panels.length} panels`);
  const ids = panels.map((p) => p.id);
  assert.ok(ids.every((id) => Number.isInteger(id) && id > 0), `ids: ${ids}`);
  assert.equal(new Set(ids).size, ids.length, `duplicate panel ids: ${ids}`);
  for (const p of panels) {
    const g = p.gridPos;
    assert.ok(g, `panel ${p.id} has no gridPos`);
    for (const k of ["x", "y", "w", "h"] as const) {
      assert.ok(Number.isInteger(g[k]) && g[k] >= 0, `panel ${p.id} gridPos.${k}`);
    }
    assert.ok(g.w > 0 && g.h > 0 && g.x + g.w <= 24, `panel ${p.id} gridPos ${JSON.stringify(g)}`);
  }
  for (const [i, a] of panels.entries()) {
    for (const b of panels.slice(i + 1)) {
      const overlap = a.gridPos.x < b.gridPos.x + b.gridPos.w &&
        b.gridPos.x < a.gridPos.x + a.gridPos.w &&
        a.gridPos.y < b.gridPos.y + b.gridPos.h &&
        b.gridPos.y < a.gridPos.y + a.gridPos.h;
      assert.ok(!overlap, `panels ${a.id} and ${b.id} overlap`);
    }
  }
});

Deno.test("dashboard: every PromQL expression uses only the daemon's and node_textfile metrics", () => {
  const exprs = dashboardExprs(loadDashboard());
  assert.ok(exprs.length >= 20, `only ${exprs.length} expressions found`);
  const used = new Set<string>();
  for (const { where, expr } of exprs) {
    const names = metricNames(expr);
    assert.ok(names.length > 0, `${where}: no metric in ${expr}`);
    for (const name of names) {
      assert.ok(isKnownMetric(name), `${where}: unknown metric ${name} in ${expr}`);
      used.add(name);
    }
  }
  const unused = [...DAEMON_METRICS].filter((m) =>
    !used.has(m) && !/_seconds_(sum|count)$/.test(m)
  );
  assert.deepEqual(unused, [], "daemon metrics shown nowhere on the dashboard");
});

Deno.test("dashboard: the required panels are there", () => {
  const panels = allPanels(loadDashboard()).filter((p) => p.type !== "row");
  const exprsOf = (p: Panel) => (p.targets ?? []).map((t) => t.expr ?? "").join("\n");
  const find = (what: string, ok: (p: Panel, exprs: string) => boolean) => {
    assert.ok(panels.some((p) => ok(p, exprsOf(p))), `no panel: ${what}`);
  };
  find(
    "usage vs soft/hard limits in bytes",
    (p, e) =>
      p.type === "timeseries" && p.fieldConfig?.defaults?.unit === "bytes" &&
      ["postgres_user_storage_usage_bytes", "soft_limit_bytes", "hard_limit_bytes"].every((m) =>
        e.includes(m)
      ),
  );
  find(
    "usage % of hard limit as a bar gauge",
    (p, e) =>
      p.type === "bargauge" && /usage_bytes.*\/\s*postgres_monitor_hard_limit_bytes/.test(e),
  );
  find(
    "locked roles",
    (p, e) =>
      (p.type === "stat" || p.type === "table") && e.includes("postgres_monitor_role_locked"),
  );
  find("enforcement action rate", (_p, e) => /rate\(postgres_monitor_actions_total/.test(e));
  find("alert outcomes", (_p, e) => e.includes("postgres_monitor_alerts_total"));
  find("alert queue depth", (_p, e) => e.includes("postgres_monitor_alert_queue_depth"));
  find(
    "detection lag p50/p95/p99",
    (_p, e) =>
      ["0.5", "0.95", "0.99"].every((q) =>
        e.includes(
          `histogram_quantile(${q}, sum by (le) (rate(postgres_monitor_detection_lag_seconds_bucket`,
        )
      ),
  );
  find("sweep duration", (_p, e) => e.includes("postgres_monitor_last_sweep_duration_seconds"));
  find("sweep age", (_p, e) => /time\(\) - postgres_monitor_last_sweep_timestamp_seconds/.test(e));
  find("LISTEN connections", (_p, e) => e.includes("postgres_monitor_database_up"));
});

Deno.test("rules: every expression uses only the daemon's, node_textfile and `up` metrics", () => {
  const yaml = Deno.readTextFileSync(new URL(RULES, PROM_DIR));
  const exprs = ruleExprs(yaml);
  const alerts = yaml.split("\n").filter((l) => /^\s*- alert: /.test(l)).length;
  assert.ok(alerts >= 7, `only ${alerts} alerts`);
  assert.equal(exprs.length, alerts, "one expression per alert");
  for (const expr of exprs) {
    const names = metricNames(expr);
    assert.ok(names.length > 0, `no metric in ${expr}`);
    for (const name of names) {
      assert.ok(isKnownMetric(name) || name === "up", `unknown metric ${name} in ${expr}`);
    }
  }
});

Deno.test({
  name: "promtool check rules: the rules file is valid and lint-clean",
  ignore: !hasPromtool,
  async fn() {
    const { code, out } = await promtool(["check", "rules", "--lint-fatal", RULES]);
    assert.equal(code, 0, out);
    assert.match(out, /SUCCESS: \d+ rules found/);
  },
});

Deno.test({
  name: "promtool test rules: the alerting rules' unit tests pass",
  ignore: !hasPromtool,
  async fn() {
    const { code, out } = await promtool(["test", "rules", RULES_TEST]);
    assert.equal(code, 0, out);
    assert.match(out, /SUCCESS/);
    assert.doesNotMatch(out, /FAILED/);
  },
});

Deno.test({
  name: "promtool: every dashboard expression parses as PromQL",
  ignore: !hasPromtool || Deno.build.os === "windows",
  async fn() {
    const exprs = dashboardExprs(loadDashboard());
    // Grafana's interval variables become durations, every other variable a match-all regex.
    const rules = exprs.map(({ expr }, i) => ({
      record: `dashboard_expr_${i}`,
      expr: expr.replace(/\$__(?:rate_interval|interval|range)\b/g, "5m").replace(
        /\$\{\w+\}|\$\w+/g,
        ".*",
      ),
    }));
    // JSON is YAML: promtool reads the generated rules from its stdin, no temp file.
    const doc = JSON.stringify({ groups: [{ name: "dashboard", rules }] });
    const { code, out } = await promtool(["check", "rules", "/dev/stdin"], doc);
    assert.equal(code, 0, out);
    assert.match(out, new RegExp(`SUCCESS: ${rules.length} rules found`));
  },
});

Deno.test("README names every contrib file and the commands that check them", () => {
  const readme = Deno.readTextFileSync(new URL("README.md", CONTRIB));
  for (const name of [RULES, RULES_TEST, "postgres_realtime_monitor.json"]) {
    assert.ok(readme.includes(name), `README does not mention ${name}`);
  }
  assert.match(readme, /promtool check rules/);
  assert.match(readme, /promtool test rules/);
});

/**
 * Alerts: one state change of a role, and the bodies sent for it to Slack incoming webhooks and
 * to generic Standard Webhooks receivers.
 *
 * @module
 */

import { formatBytes } from "../../config/size.ts";

/** One state change worth telling someone about. */
export interface Alert {
  /** Dedup key, unique per state change, e.g. "event:1234" or "dry:locked:16384:1700000000000". */
  key: string;
  /**
   * What happened: soft_exceeded, soft_cleared, hard_exceeded, locked, sessions_terminated,
   * unlocked, lock_released, tamper or writers_stopped.
   */
  event: string;
  /** Role name, verbatim. */
  role: string;
  /** Usage when it happened, bytes. */
  usage_bytes: number | null;
  /** Soft limit, bytes. */
  soft_limit_bytes: number | null;
  /** Hard limit, bytes. */
  hard_limit_bytes: number | null;
  /** ISO time of the event. */
  at: string;
  /** Host name of the daemon. */
  host: string;
  /** Who did it, e.g. "unlock command (ops)". */
  actor: string | null;
  /** Event-specific extra fields. */
  detail: Record<string, unknown>;
  /** The daemon only reported what it would have done. */
  dry_run: boolean;
}

/** How loud an event is. */
export type Severity = "info" | "warning" | "critical";

const SEVERITIES: Readonly<Record<string, Severity>> = {
  soft_exceeded: "warning",
  soft_cleared: "info",
  hard_exceeded: "critical",
  locked: "critical",
  sessions_terminated: "critical",
  unlocked: "info",
  lock_released: "info",
  tamper: "critical",
  writers_stopped: "critical",
};

const TITLES: Readonly<Record<string, string>> = {
  soft_exceeded: "Soft limit exceeded",
  soft_cleared: "Back under the soft limit",
  hard_exceeded: "Hard limit exceeded",
  locked: "Role locked",
  sessions_terminated: "Sessions terminated",
  unlocked: "Role unlocked",
  lock_released: "Lock released",
  tamper: "Tampering detected",
  writers_stopped: "Writers into a locked role's tables stopped",
};

const EMOJI: Readonly<Record<Severity, string>> = {
  info: ":white_check_mark:",
  warning: ":warning:",
  critical: ":rotating_light:",
};

/** Severity of an event name; unknown events are warnings so they are not overlooked. */
export function severityOf(event: string): Severity {
  return Object.hasOwn(SEVERITIES, event) ? SEVERITIES[event]! : "warning";
}

/** Escapes Slack's control characters (&, <, >) so text cannot form links or mentions. */
export function escapeSlack(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

// Control characters would break the single-line message; show them as visible escapes instead.
function visible(text: string): string {
  // deno-lint-ignore no-control-regex
  return text.replace(/[\u0000-\u001f\u007f]/g, (c) => {
    if (c === "\n") return "\\n";
    if (c === "\r") return "\\r";
    if (c === "\t") return "\\t";
    return `\\x${c.charCodeAt(0).toString(16).padStart(2, "0")}`;
  });
}

/**
 * The Slack incoming-webhook body: one readable line with an emoji per severity, the role in
 * backticks and sizes in 1024-based units, prefixed by "DRY RUN" for dry-run alerts. Every
 * piece of text is escaped for Slack; a backtick in the role name is shown as "ˋ" (U+02CB)
 * because Slack has no way to escape one inside inline code.
 */
export function slackBody(a: Alert): { text: string } {
  const sev = severityOf(a.event);
  const title = Object.hasOwn(TITLES, a.event) ? TITLES[a.event]! : a.event;
  const role = escapeSlack(visible(a.role)).replace(/`/g, "\u02cb");
  const sizes: string[] = [];
  if (a.usage_bytes !== null) sizes.push(`usage ${formatBytes(a.usage_bytes)}`);
  if (a.soft_limit_bytes !== null) sizes.push(`soft ${formatBytes(a.soft_limit_bytes)}`);
  if (a.hard_limit_bytes !== null) sizes.push(`hard ${formatBytes(a.hard_limit_bytes)}`);
  const parts = [`${EMOJI[sev]} *${escapeSlack(visible(title))}*: role \`${role}\``];
  if (sizes.length > 0) parts.push(sizes.join(", "));
  parts.push(`host ${escapeSlack(visible(a.host))}`);
  if (a.actor !== null) parts.push(`by ${escapeSlack(visible(a.actor))}`);
  parts.push(`at ${escapeSlack(visible(a.at))}`);
  return { text: (a.dry_run ? "DRY RUN " : "") + parts.join(" — ") };
}

/**
 * The Standard Webhooks payload: `type` "postgres_monitor.<event>", `timestamp` the event time,
 * `data` every alert field.
 */
export function webhookBody(
  a: Alert,
): { type: string; timestamp: string; data: Record<string, unknown> } {
  return {
    type: `postgres_monitor.${a.event}`,
    timestamp: a.at,
    data: {
      key: a.key,
      event: a.event,
      role: a.role,
      usage_bytes: a.usage_bytes,
      soft_limit_bytes: a.soft_limit_bytes,
      hard_limit_bytes: a.hard_limit_bytes,
      at: a.at,
      host: a.host,
      actor: a.actor,
      detail: a.detail,
      dry_run: a.dry_run,
    },
  };
}

const isNumOrNull = (v: unknown) => v === null || (typeof v === "number" && Number.isFinite(v));

/** Whether `v` has the shape of an {@linkcode Alert} (used when replaying the journal). */
export function isAlert(v: unknown): v is Alert {
  if (typeof v !== "object" || v === null || Array.isArray(v)) return false;
  const a = v as Record<string, unknown>;
  return typeof a.key === "string" && a.key !== "" && typeof a.event === "string" &&
    typeof a.role === "string" && isNumOrNull(a.usage_bytes) &&
    isNumOrNull(a.soft_limit_bytes) && isNumOrNull(a.hard_limit_bytes) &&
    typeof a.at === "string" && typeof a.host === "string" &&
    (a.actor === null || typeof a.actor === "string") && typeof a.detail === "object" &&
    a.detail !== null && !Array.isArray(a.detail) && typeof a.dry_run === "boolean";
}

/**
 * The one-shot commands' session: one connection to the control database as the monitoring role,
 * after checking that its postgres_monitor schema can be trusted.
 *
 * @module
 */
import type { Config } from "../config/mod.ts";
import { connect, type ConnectionTarget, type Sql, targetFromConfig } from "../db/connect.ts";
import { requireTrustedControl } from "../measure/schema_trust.ts";

/**
 * Connects to the control database, refuses an untrusted schema, runs `task` with the connection
 * (and the target, for connections to other databases), and closes it; returns what `task` does.
 */
export async function withTrustedControl<T>(
  config: Config,
  task: (control: Sql, target: ConnectionTarget) => Promise<T>,
): Promise<T> {
  const target = await targetFromConfig(config.monitor);
  const control = connect(target, config.monitor.control_database, { max: 1 });
  try {
    await requireTrustedControl(control, config.monitor.control_database);
    return await task(control, target);
  } finally {
    await control.end({ timeout: 2 });
  }
}

/**
 * Prints the README's table of monitor_config.json settings, made from lib/config/settings.ts,
 * to paste under "### `monitor_config.json`"; with `--example`, the example config instead:
 *
 *     deno run scripts/settings_table.ts
 *     deno run scripts/settings_table.ts --example > systemd/monitor_config.example.json
 *
 * `tests/unit/settings_test.ts` fails while the README or the example differs from these.
 *
 * @module
 */
import { exampleConfig, settingsTable } from "../lib/config/settings_doc.ts";

if (import.meta.main) {
  const args = Deno.args;
  if (args.length > 1 || (args.length === 1 && args[0] !== "--example")) {
    console.error("Usage: deno run scripts/settings_table.ts [--example]");
    Deno.exit(2);
  }
  await Deno.stdout.write(
    new TextEncoder().encode(args[0] === "--example" ? exampleConfig() : settingsTable()),
  );
}

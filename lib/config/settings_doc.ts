/**
 * Documentation made from the settings table: the README's table of monitor_config.json keys
 * and the example config `systemd/monitor_config.example.json`. `scripts/settings_table.ts`
 * prints them; unit tests fail when the committed copies differ.
 *
 * @module
 */
import { type Applies, SETTING_KEYS, SETTINGS } from "./settings.ts";

/** One row of the README table, as text cells. */
export interface SettingRow {
  /** The key, as a code span: "`host`". */
  key: string;
  /** The default, as a code span of its JSON: "`\"localhost\"`". */
  default: string;
  /** When a change takes effect. */
  applies: Applies;
  /** The documentation line. */
  doc: string;
}

/** Header cells of the README table. */
export const TABLE_HEADER = ["key", "default", "takes effect", "meaning"] as const;

/** The README rows of every setting, in table order. */
export function settingRows(): SettingRow[] {
  return SETTING_KEYS.map((key) => {
    const row = SETTINGS[key];
    return {
      key: `\`${key}\``,
      default: `\`${JSON.stringify(row.default)}\``,
      applies: row.applies,
      doc: row.doc,
    };
  });
}

/** The README table in Markdown, padded as `deno fmt` pads it. */
export function settingsTable(): string {
  const rows = settingRows().map((r) => [r.key, r.default, r.applies, r.doc]);
  const all = [[...TABLE_HEADER], ...rows];
  const widths = TABLE_HEADER.map((_, i) => Math.max(...all.map((cells) => cells[i]!.length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(" | ")} |`;
  return [
    line([...TABLE_HEADER]),
    line(widths.map((w) => "-".repeat(w))),
    ...rows.map(line),
  ].join("\n") + "\n";
}

/** Splits the README's table of settings (the first table after `heading`) into rows. */
export function readmeSettingRows(readme: string, heading: string): SettingRow[] {
  const start = readme.indexOf(`\n${heading}\n`);
  if (start < 0) throw new Error(`README has no heading ${JSON.stringify(heading)}`);
  const lines = readme.slice(start).split("\n");
  const first = lines.findIndex((l) => l.startsWith("|"));
  if (first < 0) throw new Error(`README has no table after ${JSON.stringify(heading)}`);
  const table: string[][] = [];
  for (const l of lines.slice(first)) {
    if (!l.startsWith("|")) break;
    table.push(l.slice(1, -1).split("|").map((cell) => cell.trim()));
  }
  const [header, _separator, ...body] = table;
  if (JSON.stringify(header) !== JSON.stringify(TABLE_HEADER)) {
    throw new Error(`README settings table header is ${JSON.stringify(header)}`);
  }
  return body.map(([key = "", def = "", applies = "", doc = ""]) => ({
    key,
    default: def,
    applies: applies as Applies,
    doc,
  }));
}

/** Words of `text` in lines of at most `width` characters (a longer word stands alone). */
function wrap(text: string, width: number): string[] {
  const lines: string[] = [];
  let current = "";
  for (const word of text.split(" ")) {
    if (current !== "" && current.length + 1 + word.length > width) {
      lines.push(current);
      current = word;
    } else {
      current = current === "" ? word : `${current} ${word}`;
    }
  }
  if (current !== "") lines.push(current);
  return lines;
}

const EXAMPLE_WIDTH = 100;

const EXAMPLE_INTRO = 'Daemon settings (README, "Configuration"); every key is optional, and a ' +
  "commented-out key shows its default. A SIGHUP applies a changed key marked (reload); one " +
  "marked (restart) is read at start only. Changing host, port, metrics_listen or alert " +
  "endpoints changes the permissions the executable needs: rebuild it with `deno task compile " +
  "--config-dir /etc/postgres_monitor` (check-config says so). Made from " +
  "lib/config/settings.ts by `deno run scripts/settings_table.ts --example`.";

/**
 * The example monitor_config.json (JSONC): every setting with its documentation line; the keys
 * most installs look at are set to their defaults, the others are commented out.
 */
export function exampleConfig(): string {
  const out = wrap(EXAMPLE_INTRO, EXAMPLE_WIDTH - 3).map((l) => `// ${l}`);
  out.push("{");
  SETTING_KEYS.forEach((key, index) => {
    const row = SETTINGS[key];
    if (index > 0) out.push("");
    const doc = `(${row.applies}) ${row.doc.replaceAll("`", "")}`;
    out.push(...wrap(doc, EXAMPLE_WIDTH - 5).map((l) => `  // ${l}`));
    // Trailing commas (JSONC) everywhere: any line can be uncommented as it is.
    const entry = `${JSON.stringify(key)}: ${JSON.stringify(row.default)},`;
    out.push(row.example ? `  ${entry}` : `  // ${entry}`);
  });
  out.push("}");
  return out.join("\n") + "\n";
}

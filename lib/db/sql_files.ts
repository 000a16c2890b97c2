/**
 * SQL text lives in `sql/*.sql`, read relative to this module so that `deno compile --include sql`
 * embeds it in the binary.
 *
 * @module
 */

const cache = new Map<string, string>();

/** Returns the text of `sql/<name>.sql` (cached after the first read). */
export async function sqlFile(name: string): Promise<string> {
  const hit = cache.get(name);
  if (hit !== undefined) return hit;
  const text = await Deno.readTextFile(new URL(`../../sql/${name}.sql`, import.meta.url));
  cache.set(name, text);
  return text;
}

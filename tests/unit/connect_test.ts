import assert from "node:assert/strict";
import { defaultMonitorConfig } from "../../lib/config/monitor.ts";
import { readPassword } from "../../lib/db/connect.ts";

async function withDir(fn: (dir: string) => Promise<void>) {
  const dir = await Deno.makeTempDir();
  const saved = Deno.env.get("CREDENTIALS_DIRECTORY");
  try {
    Deno.env.delete("CREDENTIALS_DIRECTORY");
    await fn(dir);
  } finally {
    if (saved === undefined) Deno.env.delete("CREDENTIALS_DIRECTORY");
    else Deno.env.set("CREDENTIALS_DIRECTORY", saved);
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("readPassword() returns the first line of password_file", async () => {
  await withDir(async (dir) => {
    await Deno.writeTextFile(`${dir}/monitor_user.passwd`, "s3cret pass\nignored\n");
    assert.equal(await readPassword(defaultMonitorConfig(dir)), "s3cret pass");
  });
});

Deno.test("readPassword() means no password when the file is missing or empty", async () => {
  await withDir(async (dir) => {
    assert.equal(await readPassword(defaultMonitorConfig(dir)), undefined);
    await Deno.writeTextFile(`${dir}/monitor_user.passwd`, "\n");
    assert.equal(await readPassword(defaultMonitorConfig(dir)), undefined);
  });
});

Deno.test("readPassword() prefers $CREDENTIALS_DIRECTORY/monitor_user.passwd (systemd)", async () => {
  await withDir(async (dir) => {
    await Deno.mkdir(`${dir}/creds`);
    await Deno.writeTextFile(`${dir}/monitor_user.passwd`, "from-file");
    await Deno.writeTextFile(`${dir}/creds/monitor_user.passwd`, "from-credentials\r\n");
    Deno.env.set("CREDENTIALS_DIRECTORY", `${dir}/creds`);
    assert.equal(await readPassword(defaultMonitorConfig(dir)), "from-credentials");
  });
});

Deno.test("readPassword() fails clearly on an unreadable file, without its content", async () => {
  await withDir(async (dir) => {
    await Deno.mkdir(`${dir}/monitor_user.passwd`);
    await assert.rejects(
      readPassword(defaultMonitorConfig(dir)),
      /Cannot read password file '.*monitor_user\.passwd'/,
    );
  });
});

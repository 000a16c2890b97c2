import assert from "node:assert/strict";
import { onlyOwners, TEMP_FILES_POLL_MS, tempPollDelay } from "../../lib/measure/temp_files.ts";
import {
  MAX_TEMP_FILE_LIMIT_KB,
  tempFileLimitKb,
  wantedLimits,
} from "../../lib/enforce/temp_file_limit.ts";
import type { EffectiveLimit } from "../../lib/evaluate/resolve.ts";

Deno.test("temp_file_limit is the hard limit in kB, rounded down, within what PostgreSQL accepts", () => {
  assert.equal(tempFileLimitKb(16 * 1024 * 1024), 16384);
  assert.equal(tempFileLimitKb(2047), 1);
  assert.equal(tempFileLimitKb(1000), 0);
  assert.equal(tempFileLimitKb(10 * 1024 ** 4), MAX_TEMP_FILE_LIMIT_KB);
});

Deno.test("temp_file_limit is wanted for limited roles only, not protected or exempt ones", () => {
  const l = (oid: number, protectedReason: string | null) =>
    [oid, {
      role: { oid, name: `r${oid}` },
      limit: { soft_limit: 1024, hard_limit: 4096 },
      protectedReason,
    } as unknown as EffectiveLimit] as const;
  const wanted = wantedLimits(new Map([l(1, null), l(2, "superuser"), l(3, "exempt")]));
  assert.deepEqual([...wanted], [[1, 4]]);
});

Deno.test("temp file polls are spaced so that reading takes at most 5 % of the time", () => {
  assert.equal(tempPollDelay(2), TEMP_FILES_POLL_MS);
  assert.equal(tempPollDelay(114), 2280);
});

Deno.test("only limited roles' temp files are kept", () => {
  assert.deepEqual([...onlyOwners(new Map([[1, 10], [2, 20], [3, 0]]), [1, 3, 4])], [[1, 10]]);
});

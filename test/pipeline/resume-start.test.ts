/** Where a resume starts when a run folder has no usable checkpoint list. */
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { startingPoint } from "../../src/pipeline/resume.ts";
import { listCheckpoints, runFolder } from "../../src/pipeline/run-folder.ts";

describe("a resume's starting point", () => {
  it("only a missing checkpoints folder means 'none'; an unreadable one fails naming it, and the logs are kept", async () => {
    const folder = runFolder(join(mkdtempSync(join(tmpdir(), "advgrpo-resume-start-")), "run"));
    mkdirSync(folder.root);
    writeFileSync(folder.rollouts, "rows of an unfinished first epoch");
    expect(listCheckpoints(folder)).toEqual([]);
    writeFileSync(folder.checkpoints, "a file where the checkpoints folder should be");
    expect(() => listCheckpoints(folder)).toThrow(/ENOTDIR.*checkpoints/);
    await expect(startingPoint(folder, true, "{}", () => {})).rejects.toThrow(/ENOTDIR.*checkpoints/);
    expect(existsSync(folder.rollouts)).toBe(true);
    // a run killed before its first checkpoint starts over
    rmSync(folder.checkpoints);
    expect(await startingPoint(folder, true, "{}", () => {})).toBeUndefined();
    expect(existsSync(folder.rollouts)).toBe(false);
  });
});

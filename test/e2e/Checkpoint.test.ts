/**
 * The checkpoint with the real CLI: it lives inside its output folder by
 * default and is never applied to another output; `--clean` removes only
 * loglens's own files; a malformed, old or foreign checkpoint is refused in
 * plain words (exit 1) before anything acts on it, so no file is deleted;
 * and a read-only output folder is reported as read-only.
 */
import { execFileSync } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { readParts, run, tempDir } from "./cli.ts"

const fixture = path.resolve("test/fixtures/mixed.jsonl")
const dirs: Array<string> = []
const mounts: Array<string> = []
const newDir = (name: string) => {
  const dir = tempDir(name)
  dirs.push(dir)
  return dir
}

afterAll(() => {
  for (const mount of mounts) {
    try {
      execFileSync("umount", ["-l", mount], { stdio: "pipe" })
    } catch {
      // already unmounted
    }
  }
  for (const dir of dirs) fs.rmSync(dir, { recursive: true, force: true })
})

/** Every file under `folder` with its size and content hash: what "nothing deleted or changed" compares. */
const filesIn = (folder: string): Array<string> =>
  fs.readdirSync(folder, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => {
      const file = path.join(entry.parentPath, entry.name)
      return `${path.relative(folder, file)} ${fs.readFileSync(file).toString("base64").length}`
    })
    .sort()

const hasStackTrace = (text: string) => /\n\s+at .+:\d+:\d+/.test(text)

describe("the default checkpoint belongs to its output", () => {
  it("lives in <output>/checkpoint, so two outputs in one folder never share one", async () => {
    const cwd = newDir("cp-default")
    const other = path.join(cwd, "other.jsonl")
    fs.writeFileSync(other, fs.readFileSync(fixture, "utf8").split("\n").slice(0, 50).join("\n") + "\n")
    const first = await run(["analyze", "--input", fixture, "--output", "out1"], { cwd })
    expect(first.code, first.stderr).toBe(0)
    expect(fs.existsSync(path.join(cwd, "out1/checkpoint/checkpoint.json"))).toBe(true)
    expect(fs.existsSync(path.join(cwd, "checkpoint"))).toBe(false)
    // Another input into another output, same folder: not refused.
    const second = await run(["analyze", "--input", other, "--output", "out2"], { cwd })
    expect(second.code, second.stderr).toBe(0)
    // The same input into a new output is analysed there, not "already analysed".
    const third = await run(["analyze", "--input", fixture, "--output", "out3"], { cwd })
    expect(third.code, third.stderr).toBe(0)
    expect(third.stderr).not.toMatch(/already analysed/)
    expect(readParts(path.join(cwd, "out3/errors"))).toHaveLength(213)
    expect(readParts(path.join(cwd, "out3/errors"))).toEqual(readParts(path.join(cwd, "out1/errors")))
    // Again into out1: that one is done.
    const again = await run(["analyze", "--input", fixture, "--output", "out1"], { cwd })
    expect(again.code, again.stderr).toBe(0)
    expect(again.stderr).toMatch(/already analysed to its end/)
  })

  it("an explicit --checkpoint is never applied to another output, and says which output it belongs to", async () => {
    const cwd = newDir("cp-explicit")
    const first = await run(["analyze", "--input", fixture, "--output", "out1", "--checkpoint", "cp"], { cwd })
    expect(first.code, first.stderr).toBe(0)
    const before = filesIn(cwd)
    const refused = await run(["analyze", "--input", fixture, "--output", "out2", "--checkpoint", "cp"], { cwd })
    expect(refused.code).toBe(1)
    expect(refused.stderr).toContain(`belongs to the output folder ${path.join(cwd, "out1")}, not to ${path.join(cwd, "out2")}`)
    expect(hasStackTrace(refused.stderr), refused.stderr).toBe(false)
    expect(filesIn(cwd)).toEqual(before)
  })

  it("an output folder moved with its checkpoint inside still resumes", async () => {
    const cwd = newDir("cp-moved")
    const first = await run(["analyze", "--input", fixture, "--output", "a"], { cwd })
    expect(first.code, first.stderr).toBe(0)
    fs.renameSync(path.join(cwd, "a"), path.join(cwd, "b"))
    const again = await run(["analyze", "--input", fixture, "--output", "b"], { cwd })
    expect(again.code, again.stderr).toBe(0)
    expect(again.stderr).toMatch(/already analysed to its end/)
  })

  it("--clean removes loglens's outputs and checkpoint files, and nothing else", async () => {
    const cwd = newDir("cp-clean")
    const first = await run(["analyze", "--input", fixture, "--output", "out"], { cwd })
    expect(first.code, first.stderr).toBe(0)
    fs.writeFileSync(path.join(cwd, "out/notes.txt"), "mine")
    fs.writeFileSync(path.join(cwd, "out/checkpoint/README"), "mine too")
    const cleaned = await run(["analyze", "--input", fixture, "--output", "out", "--clean"], { cwd })
    expect(cleaned.code, cleaned.stderr).toBe(0)
    expect(cleaned.stderr).not.toMatch(/already analysed/)
    expect(fs.readFileSync(path.join(cwd, "out/notes.txt"), "utf8")).toBe("mine")
    expect(fs.readFileSync(path.join(cwd, "out/checkpoint/README"), "utf8")).toBe("mine too")
    expect(readParts(path.join(cwd, "out/errors"))).toHaveLength(213)
  })
})

describe("a malformed checkpoint is refused before anything acts on it", () => {
  /** A finished run's output, then its checkpoint.json edited by `edit`. */
  const corpus: Array<[string, (checkpoint: any) => unknown, RegExp]> = [
    ["not JSON", () => "{\"version\": 2, \"epoch\"", /is not valid JSON/],
    ["JSON null", () => null, /is not a loglens checkpoint/],
    ["an array", () => [], /is not a loglens checkpoint/],
    ["an empty object", () => ({}), /is not a loglens checkpoint \(it has no format version\)/],
    ["{\"version\":1} (an older loglens)", () => ({ version: 1 }), /format version 1, but this loglens reads version 2 \(it was made by an older loglens\)/],
    ["version 99", (c) => ({ ...c, version: 99 }), /format version 99, but this loglens reads version 2/],
    ["the version as a string", (c) => ({ ...c, version: "2" }), /is not a loglens checkpoint/],
    ["no position", (c) => ({ ...c, position: undefined }), /damaged or was edited: .*position/],
    ["position {bytes: \"abc\"}", (c) => ({ ...c, position: { bytes: "abc" } }), /damaged or was edited: .*bytes/],
    ["a negative position", (c) => ({ ...c, position: { bytes: -1 } }), /damaged or was edited: .*bytes/],
    ["epoch -5", (c) => ({ ...c, epoch: -5 }), /damaged or was edited: .*epoch/],
    ["epoch 1.5", (c) => ({ ...c, epoch: 1.5 }), /damaged or was edited: .*epoch/],
    ["epoch as a string", (c) => ({ ...c, epoch: "3" }), /damaged or was edited: .*epoch/],
    ["no settings", (c) => ({ ...c, settings: undefined }), /damaged or was edited: .*settings/],
    ["negative counters", (c) => ({ ...c, analysis: { ...c.analysis, counters: { ...c.analysis.counters, lines: -3 } } }), /damaged or was edited: .*lines/],
    ["alerts not a list", (c) => ({ ...c, alerts: "none" }), /damaged or was edited: .*alerts/],
    ["finished as a string", (c) => ({ ...c, finished: "yes" }), /damaged or was edited: .*finished/],
    ["no output folder recorded", (c) => ({ ...c, output: undefined }), /damaged or was edited: .*output/],
    ["a cells file that is not there", (c) => ({ ...c, cellsFrom: c.cellsFrom + 7 }), /names .*cells-\d+\.jsonl, which is missing/]
  ]

  /** One finished run with parts in every folder, copied for each case. */
  let finished = ""
  beforeAll(async () => {
    finished = newDir("cp-finished")
    const first = await run(["analyze", "--input", fixture, "--output", "out", "--commit-interval", "1ms"], { cwd: finished })
    expect(first.code, first.stderr).toBe(0)
  })

  it.concurrent.each(corpus)("%s: a plain message, exit 1, no file deleted or changed", async (_name, edit, message) => {
    const cwd = newDir("cp-bad")
    fs.cpSync(finished, cwd, { recursive: true })
    const file = path.join(cwd, "out/checkpoint/checkpoint.json")
    const edited = edit(JSON.parse(fs.readFileSync(file, "utf8")))
    fs.writeFileSync(file, typeof edited === "string" ? edited : JSON.stringify(edited))
    const before = filesIn(cwd)
    const result = await run(["analyze", "--input", fixture, "--output", "out"], { cwd })
    expect(result.code, result.stderr).toBe(1)
    expect(result.stderr).toMatch(message)
    expect(result.stderr).toMatch(/--clean/)
    expect(result.stderr).not.toMatch(/unexpected failure/)
    expect(hasStackTrace(result.stderr), result.stderr).toBe(false)
    expect(filesIn(cwd)).toEqual(before)
  })

  it("a damaged line in the cells file: a plain message, exit 1, nothing deleted", async () => {
    const cwd = newDir("cp-cells")
    fs.cpSync(finished, cwd, { recursive: true })
    const folder = path.join(cwd, "out/checkpoint")
    const cells = fs.readdirSync(folder).find((name) => /^cells-\d+\.jsonl$/.test(name))!
    fs.writeFileSync(path.join(folder, cells), "{\"epoch\": \"one\", \"cells\": []}\n")
    const before = filesIn(cwd)
    const result = await run(["analyze", "--input", fixture, "--output", "out"], { cwd })
    expect(result.code).toBe(1)
    expect(result.stderr).toMatch(/line 1 of the checkpoint's .*cells-\d+\.jsonl is damaged or was edited/)
    expect(filesIn(cwd)).toEqual(before)
  })
})

describe("a read-only output folder", () => {
  it("is reported as read-only (EROFS), not as a missing file", async () => {
    const dir = newDir("readonly")
    const mount = path.join(dir, "ro")
    fs.mkdirSync(mount)
    try {
      execFileSync("mount", ["-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", mount], { stdio: "pipe" })
    } catch (e) {
      throw new Error(
        `mounting a read-only tmpfs failed (${String((e as { stderr?: Buffer }).stderr ?? e).trim()}): this test needs ` +
          `root or CAP_SYS_ADMIN, as the full-disk test does.`
      )
    }
    mounts.push(mount)
    const result = await run(["analyze", "--input", fixture, "--output", path.join(mount, "out")])
    expect(result.code).toBe(1)
    expect(result.stderr).toMatch(/read-only \(EROFS\)/)
    expect(result.stderr).not.toMatch(/ENOENT/)
    expect(hasStackTrace(result.stderr), result.stderr).toBe(false)
  })
})

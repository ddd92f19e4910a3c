/**
 * The replay progress bar: its text, and through the built CLI that it is
 * drawn on a terminal (a pseudo-terminal from `script`) and never when
 * stderr is a pipe.
 */
import { describe, expect, it } from "vitest"
import { spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { formatProgress } from "../../src/analyzer/Progress.ts"
import { MAIN, run, tempDir } from "../e2e/cli.ts"

const replayInput = () => {
  const dir = tempDir("progress")
  const input = path.join(dir, "in.jsonl")
  const line = (i: number) => JSON.stringify({ timestamp: "2025-05-30T18:52:40Z", ip: `10.0.0.${i % 200}`, method: "GET", url: "/r", status: 200 })
  fs.writeFileSync(input, Array.from({ length: 300_000 }, (_, i) => line(i)).join("\n") + "\n")
  return { dir, input }
}

describe("formatProgress", () => {
  it("shows the share read, bytes of the total, lines per second and the time left", () => {
    const text = formatProgress({
      bytes: 50 * 1024 * 1024,
      totalBytes: 200 * 1024 * 1024,
      bytesThisRun: 50 * 1024 * 1024,
      linesThisRun: 2_000_000,
      elapsedMs: 2000
    })
    // 25 MiB/s: 150 MiB more take 6 s.
    expect(text).toBe(`[${"█".repeat(6)}${"░".repeat(18)}]  25%  50.0 MiB of 200.0 MiB  1,000,000 lines/s  0:06 left`)
  })
})

describe("the replay progress bar", () => {
  it("is drawn on a terminal", () => {
    const { dir, input } = replayInput()
    const command = [process.execPath, MAIN, "analyze", "--input", input, "--output", path.join(dir, "tty")].map((a) => `'${a}'`).join(" ")
    const result = spawnSync("script", ["-qec", command, "/dev/null"], { encoding: "utf8", timeout: 60_000 })
    expect(result.status, result.stderr).toBe(0)
    expect(result.stdout).toMatch(/\r\[[█░]{24}\] +\d+%  [\d.]+ [KM]iB of [\d.]+ MiB  [\d,]+ lines\/s  [\d:–]+ left/)
  })

  it("stays off when stderr is not a terminal", async () => {
    const { dir, input } = replayInput()
    const result = await run(["analyze", "--input", input, "--output", path.join(dir, "pipe")])
    expect(result.code, result.stderr).toBe(0)
    expect(result.stderr).not.toMatch(/lines\/s  .* left/)
    expect(result.stderr).not.toContain("\r")
  })
})

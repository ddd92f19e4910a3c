/**
 * A full disk on the output folder (issue 4), production mode, REAL CLI and
 * REAL broker. The output folder is a 1 MiB tmpfs (we run as root; if the
 * mount is refused the test fails and says so, it never skips). The
 * analyzer must stop with a plain message about the full disk and a non-zero
 * exit, and must not commit Kafka offsets for lines whose outputs it could
 * not write: what is visible on disk is exactly the errors of the lines before
 * the committed offset (a part becomes visible only after its transaction). After the space is freed (the tmpfs is grown in place),
 * the same command resumes and the outputs are exactly the reference's.
 */
import { execFileSync } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { madeGroup, madeTopic, randomSuffix, removeLeftovers, testBrokers } from "../kafka/broker.ts"
import { cli, hasStackTrace, interrupt, killAll } from "../kafka/support/processes.ts"
import { committedOffsets, readCommitted, readWholeTopic } from "../kafka/support/topics.ts"
import { expectProductionAlerts } from "../kafka/support/productionAlerts.ts"
import { errorKey, expectWindowRows, partitionTruthOf, truthOf } from "../kafka/support/truth.ts"
import { readParts, tempDir, whenTestEnds } from "./cli.ts"

let brokers: Array<string> = []
const mounts: Array<string> = []

beforeAll(async () => {
  brokers = await testBrokers()
}, 600_000)

const unmount = (dir: string) => {
  try {
    execFileSync("umount", ["-l", dir], { stdio: "pipe" })
  } catch {
    // already unmounted
  }
}

afterAll(async () => {
  await killAll()
  for (const dir of mounts) unmount(dir)
  await removeLeftovers(brokers)
}, 60_000)

const sh = (cmd: string, args: Array<string>) => {
  try {
    execFileSync(cmd, args, { stdio: "pipe" })
  } catch (e) {
    const stderr = String((e as { stderr?: Buffer }).stderr ?? "").trim()
    throw new Error(
      `\`${cmd} ${args.join(" ")}\` failed (${stderr || (e as Error).message}). This test needs to mount a small tmpfs ` +
        `as the output folder to fill the disk: run it as root, or in a container with CAP_SYS_ADMIN.`
    )
  }
}

describe("a full disk on the output folder (production mode)", () => {
  it("stops with a plain message, commits no offset past what it wrote, and resumes exactly once space is freed", async () => {
    const id = `diskfull-${randomSuffix()}`
    const topic = madeTopic(`loglens-${id}`)
    const alertsTopic = madeTopic(`loglens-${id}-alerts`)
    const group = madeGroup(`loglens-${id}-group`)
    const dir = tempDir("diskfull")
    const output = path.join(dir, "out")
    fs.mkdirSync(output)
    sh("mount", ["-t", "tmpfs", "-o", "size=1m", "tmpfs", output])
    mounts.push(output)
    // Before the temp folder is removed at the end of the test (cleanups run newest first).
    whenTestEnds(() => unmount(output))

    // 40 000 lines, all errors: about 4.5 MB of errors/, four times what fits.
    const N = 40_000
    const gen = await cli([
      "generate", "--mode", "production", "--kafka-broker", brokers.join(","), "--topic", topic, "--partitions", "1",
      "--count", String(N), "--rate", "0", "--seed", "diskfull", "--status-dist", "0", "50", "50"
    ]).done
    expect(gen.code, gen.stderr).toBe(0)
    const lines = (await readWholeTopic(brokers, topic)).map((m) => m.value)
    expect(lines.length).toBe(N)
    const truth = truthOf(lines)
    const keysOf = (records: ReadonlyArray<string>) => records.map((e) => errorKey(JSON.parse(e)))

    const args = [
      "analyze", "--mode", "production", "--kafka-broker", brokers.join(","), "--topic", topic, "--partitions", "1",
      "--alerts-topic", alertsTopic, "--group-id", group, "--output", output,
      // Short epochs, so some succeed before the disk fills; no idle close, so windows stay comparable.
      "--commit-interval", "50ms", "--trigger", "1s", "--idle-timeout", "10m"
    ]
    const full = cli(args)
    const timer = setTimeout(() => full.child.kill("SIGKILL"), 120_000)
    const failed = await full.done
    clearTimeout(timer)
    expect(failed.signal, `the analyzer did not stop by itself on a full disk:\n${failed.stderr}`).toBe(null)
    expect(failed.code, failed.stderr).not.toBe(0)
    expect(failed.stderr).toMatch(/disk is full/i)
    expect(failed.stderr).toMatch(/ENOSPC/)
    expect(hasStackTrace(failed.stderr), failed.stderr).toBe(false)

    // Offsets: committed only for lines whose errors are on disk.
    const committed = (await committedOffsets(brokers, group, topic)).get(0) ?? 0
    expect(committed).toBeLessThan(N)
    // What is on the full disk is exactly the errors of the lines before the committed offset.
    const onDisk = readParts(path.join(output, "errors")).map(errorKey)
    expect(onDisk).toEqual(keysOf(truthOf(lines.slice(0, committed)).errors))
    console.log(`[disk full] stopped with ${onDisk.length} errors written, offset ${committed} of ${N} committed; ` +
      `message: ${failed.stderr.split("\n").filter((l) => /disk is full/.test(l)).join(" | ")}`)

    // Free space, run the same command again: it reads on from the committed offset and completes exactly.
    // A production stop keeps the open windows, so this run closes them as idle first.
    sh("mount", ["-o", "remount,size=64m", output])
    const resumed = cli([...args.slice(0, -2), "--idle-timeout", "2s"])
    const deadline = Date.now() + 120_000
    while (Date.now() < deadline) {
      const at = (await committedOffsets(brokers, group, topic)).get(0) ?? 0
      if (at === N && readParts(path.join(output, "windows")).length === truth.rows.length) break
      await new Promise((resolve) => setTimeout(resolve, 250))
    }
    const done = await interrupt(resumed)
    expect(done.code, done.stderr).toBe(0)
    expect(readParts(path.join(output, "errors")).map(errorKey)).toEqual(keysOf(truth.errors))
    expectWindowRows(readParts(path.join(output, "windows")), truth.rows)
    expect(readParts(path.join(output, "rejected"))).toEqual([])
    expectProductionAlerts(await readCommitted(brokers, alertsTopic, truth.alerts.length), partitionTruthOf([lines]), 100)
    expect((await committedOffsets(brokers, group, topic)).get(0)).toBe(N)
  }, 300_000)
})

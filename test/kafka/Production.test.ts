/**
 * Production mode end to end (issue 3): the REAL CLI (`node dist/main.js`) as
 * child processes against a REAL broker. The generator produces to a topic,
 * the analyzer consumes it as a consumer group and publishes alerts; the
 * test reads the topics back with plain kafkajs clients and computes the
 * ground truth with the independent reference model from the lines actually
 * in the input topic.
 *
 * The four scenarios run concurrently (independent topics, groups, folders,
 * and for the broker restart a broker of its own) because most of their time
 * is spent waiting on Kafka (group joins, a dead member's session timeout,
 * broker start-up).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import * as path from "node:path"
import { readPartLines, readParts, tempDir } from "../e2e/cli.ts"
import { madeGroup, madeTopic, randomSuffix, removeLeftovers, sleep, testBrokers } from "./broker.ts"
import { ownBroker, type OwnBroker } from "./support/ownBroker.ts"
import { cli, hasStackTrace, interrupt, killAll } from "./support/processes.ts"
import { readCommitted, readWholeTopic } from "./support/topics.ts"
import {
  allClosedPattern,
  errorKey,
  expectAlerts,
  expectSameMultiset,
  expectWindowRows,
  lastLinesRead,
  linesReadPattern,
  truthOf
} from "./support/truth.ts"

let brokers: Array<string> = []
const owned: Array<OwnBroker> = []

beforeAll(async () => {
  brokers = await testBrokers()
}, 600_000)

afterAll(async () => {
  await killAll()
  for (const b of owned) await b.dispose()
  await removeLeftovers(brokers)
}, 120_000)

const names = (label: string) => {
  const id = `${label}-${randomSuffix()}`
  const dir = tempDir(label)
  return {
    topic: madeTopic(`loglens-prod-${id}`),
    alerts: madeTopic(`loglens-prod-${id}-alerts`),
    group: madeGroup(`loglens-prod-${id}-group`),
    dir,
    output: path.join(dir, "out"),
    checkpoint: path.join(dir, "cp")
  }
}

const generate = (bs: ReadonlyArray<string>, topic: string, count: number, seed: string, extra: Array<string> = []) =>
  cli([
    "generate", "--mode", "production", "--kafka-broker", bs.join(","), "--topic", topic,
    "--count", String(count), "--rate", "0", "--seed", seed, "--status-dist", "60", "30", "10", ...extra
  ])

const analyze = (bs: ReadonlyArray<string>, n: ReturnType<typeof names>, extra: Array<string> = []) =>
  cli([
    "analyze", "--mode", "production", "--kafka-broker", bs.join(","), "--topic", n.topic,
    "--alerts-topic", n.alerts, "--group-id", n.group, "--output", n.output, "--checkpoint", n.checkpoint,
    "--idle-timeout", "3s", "--trigger", "1s", ...extra
  ])

const errorsOnDisk = (output: string) => readParts(path.join(output, "errors")).map(errorKey)
const errorsOf = (lines: ReadonlyArray<string>) => truthOf(lines).errors.map((e) => errorKey(JSON.parse(e)))

describe.concurrent("production mode, real CLI, real broker", () => {
  it("generator → Kafka → analyzer → alerts topic, errors/ and windows/: exactly the reference model's results", async () => {
    const n = names("e2e")
    const N = 20_000
    const gen = await generate(brokers, n.topic, N, "prod-e2e", ["--partitions", "1"]).done
    expect(gen.code, gen.stderr).toBe(0)
    // Ground truth: what the topic actually holds, in log order (one partition: the analyzer's order too).
    const input = await readWholeTopic(brokers, n.topic)
    expect(input.length).toBe(N)
    const lines = input.map((m) => m.value)
    const truth = truthOf(lines)
    expect(truth.alerts.length).toBeGreaterThan(0)

    const analyzer = analyze(brokers, n)
    await analyzer.waitFor(allClosedPattern(N), 90_000)
    const done = await interrupt(analyzer)
    expect(done.code, done.stderr).toBe(0)
    expect(hasStackTrace(done.stderr), done.stderr).toBe(false)
    expect(done.stdout).toMatch(new RegExp(`Final report .*${linesReadPattern(N).source} rejected 0, ` +
      `errors ${truth.counters.errors.toLocaleString("en-US")}, late errors 0`))

    // Production mode prints each alert on the console too, as it fires.
    const printed = done.stdout.split("\n").filter((l) => l.startsWith("ALERTE : Nombre d'erreurs élevé — window "))
    expect(printed.map((l) => /window (\S+) → \S+, status (\d+):/.exec(l)!.slice(1, 3).join("|")).sort())
      .toEqual(truth.alerts.map((a) => `${a.window_start}|${a.status}`).sort())
    // errors/: the reference's error records, in the topic's order.
    expect(readParts(path.join(n.output, "errors")).map(errorKey)).toEqual(truth.errors.map((e) => errorKey(JSON.parse(e))))
    expectWindowRows(readParts(path.join(n.output, "windows")), truth.rows)
    expect(readPartLines(path.join(n.output, "rejected"))).toEqual([])
    expectAlerts(await readCommitted(brokers, n.alerts, truth.alerts.length), truth.alerts)
  }, 240_000)

  it("kill -9, more data, restart: resumes from committed offsets with no duplicate or missing errors", async () => {
    const n = names("restart")
    const half = 10_000
    expect((await generate(brokers, n.topic, half, "prod-restart-1", ["--partitions", "1"]).done).code).toBe(0)
    const first = analyze(brokers, n)
    await first.waitFor(linesReadPattern(half), 90_000)
    await sleep(2500) // a couple of commit intervals (1 s) after the last line: its epoch is durable
    first.child.kill("SIGKILL")
    expect((await first.done).signal).toBe("SIGKILL")
    const errorsAfterKill = errorsOnDisk(n.output)

    expect((await generate(brokers, n.topic, half, "prod-restart-2").done).code).toBe(0)
    const lines = (await readWholeTopic(brokers, n.topic)).map((m) => m.value)
    expect(lines.length).toBe(2 * half)
    const expectedErrors = errorsOf(lines)
    // The first run's errors were exactly those of the first half.
    expectSameMultiset("errors/ after kill -9", errorsAfterKill, errorsOf(lines.slice(0, half)))

    const second = analyze(brokers, n)
    // The dead member stays in the group until its session times out (6 s): the restart waits for that.
    await second.waitFor(linesReadPattern(2 * half), 120_000)
    expect(second.stderr()).toMatch(/resuming from checkpoint epoch \d+ .*10,000 lines already read/)
    const done = await interrupt(second)
    expect(done.code, done.stderr).toBe(0)

    expectSameMultiset("errors/ after the restart", errorsOnDisk(n.output), expectedErrors)
    const rows = readParts(path.join(n.output, "windows"))
    const cells = rows.map((r) => `${r.window_start}|${r.status}`)
    expect(cells.length, "one final row per (window, status)").toBe(new Set(cells).size)
    const alerts = await readCommitted(brokers, n.alerts, 1)
    const keys = alerts.map((a) => a.key)
    expect(keys.length, `duplicate alerts: ${keys}`).toBe(new Set(keys).size)
    for (const a of alerts) expect(JSON.parse(a.value).error_count).toBe(101)
  }, 300_000)

  it("a topic with 3 partitions: every line read, every error exactly once, windows and alerts exact", async () => {
    const n = names("parts")
    const N = 30_000
    const gen = await generate(brokers, n.topic, N, "prod-parts", ["--partitions", "3"]).done
    expect(gen.code, gen.stderr).toBe(0)
    const input = await readWholeTopic(brokers, n.topic)
    expect(new Set(input.map((m) => m.partition))).toEqual(new Set([0, 1, 2]))
    expect(input.length).toBe(N)
    const lines = input.map((m) => m.value)
    // The partitions interleave in any order; with all event times within a few seconds and a 10 s
    // watermark nothing is late, so the counts do not depend on that order.
    const truth = truthOf(lines)

    const analyzer = analyze(brokers, n, ["--partitions", "3", "--http", "127.0.0.1:0"])
    const [, url] = await analyzer.waitFor(/dashboard at (http:\/\/\S+\/) /, 60_000)
    await analyzer.waitFor(allClosedPattern(N), 90_000)
    // Every line is read, so /metrics shows each of the 3 partitions with nothing unread (the lag
    // comes from the source's end-offset poll, once a second).
    const lagOf = async () => {
      const text = await (await fetch(`${url}metrics`)).text()
      return [...text.matchAll(/^loglens_kafka_lag\{partition="(\d+)"\} (\S+)$/gm)].map((m) => `${m[1]}=${m[2]}`).sort()
    }
    let lag = await lagOf()
    for (let tries = 0; tries < 50 && lag.join(",") !== "0=0,1=0,2=0"; tries++) {
      await new Promise((resolve) => setTimeout(resolve, 200))
      lag = await lagOf()
    }
    expect(lag).toEqual(["0=0", "1=0", "2=0"])
    const done = await interrupt(analyzer)
    expect(done.code, done.stderr).toBe(0)
    expect(done.stdout).toMatch(/Final report .* late errors 0,/)

    expectSameMultiset("errors/", errorsOnDisk(n.output), truth.errors.map((e) => errorKey(JSON.parse(e))))
    expectWindowRows(readParts(path.join(n.output, "windows")), truth.rows)
    const alerts = await readCommitted(brokers, n.alerts, truth.alerts.length)
    // Which line is the 101st of a cell depends on the interleaving, so unique_ips at firing is not
    // checked here; keys and error_count are.
    expect(alerts.map((a) => a.key).sort()).toEqual(truth.alerts.map((a) => `${a.window_start}|${a.status}`).sort())
    for (const a of alerts) expect(JSON.parse(a.value).error_count).toBe(101)
  }, 240_000)

  it("broker stopped and restarted mid-run: generator and analyzer say so plainly, recover, results exact", async () => {
    // Needs a broker this test may stop: its own, never the shared one.
    const broker = await ownBroker()
    owned.push(broker)
    await broker.up()
    const bs = broker.brokers
    const n = names("outage")
    const N = 30_000
    const analyzer = analyze(bs, n, ["--partitions", "1"])
    await analyzer.waitFor(/analysing kafka:/, 60_000)
    const generator = cli([
      "generate", "--mode", "production", "--kafka-broker", bs.join(","), "--topic", n.topic, "--partitions", "1",
      "--count", String(N), "--rate", "2000", "--seed", "prod-outage", "--status-dist", "60", "30", "10"
    ])
    // Stop the broker while both are busy.
    const deadline = Date.now() + 60_000
    while (lastLinesRead(analyzer.stdout()) < 3000 && Date.now() < deadline) await sleep(200)
    expect(lastLinesRead(analyzer.stdout())).toBeGreaterThanOrEqual(3000)
    await broker.down()
    await sleep(8000)
    expect(generator.child.exitCode, `generator exited while the broker was down:\n${generator.stderr()}`).toBe(null)
    expect(analyzer.child.exitCode, `analyzer exited while the broker was down:\n${analyzer.stderr()}`).toBe(null)
    await broker.up()

    const gen = await generator.done
    expect(gen.code, gen.stderr).toBe(0)
    // Idempotent producer: the topic holds exactly the generated lines, none twice.
    const lines = (await readWholeTopic(bs, n.topic)).map((m) => m.value)
    expect(lines.length).toBe(N)
    expect(new Set(lines).size).toBe(N)
    await analyzer.waitFor(linesReadPattern(N), 120_000)
    const done = await interrupt(analyzer)
    expect(done.code, done.stderr).toBe(0)

    for (const [who, stderr] of [["generator", gen.stderr], ["analyzer", done.stderr]] as const) {
      // A plain message about the broker, no stack trace, no crash.
      expect(stderr, `${who} said nothing about the outage`).toMatch(/Kafka broker \S+ is unreachable .*retrying/)
      expect(hasStackTrace(stderr), `${who} printed a stack trace:\n${stderr}`).toBe(false)
    }
    expectSameMultiset("errors/", errorsOnDisk(n.output), errorsOf(lines))
    const cells = readParts(path.join(n.output, "windows")).map((r) => `${r.window_start}|${r.status}`)
    expect(cells.length, "one final row per (window, status)").toBe(new Set(cells).size)
    const alerts = await readCommitted(bs, n.alerts, 1)
    const keys = alerts.map((a) => a.key)
    expect(keys.length, `duplicate alerts: ${keys}`).toBe(new Set(keys).size)
    await broker.dispose()
  }, 360_000)
})

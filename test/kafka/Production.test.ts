/**
 * Production mode end to end (issue 3): the REAL CLI (`node dist/main.js`) as
 * child processes against a REAL broker. The generator produces to a topic,
 * the analyzer consumes it as a consumer group and publishes alerts; the
 * test reads the topics back with plain kafkajs clients and computes the
 * ground truth with the independent reference model from the lines actually
 * in the input topic.
 *
 * Also what the analyzer makes of the topic's messages (values that are not
 * lines, several lines in one value) and of a committed offset outside the
 * log. One analyzer process at a time here; ScaleOut.test.ts runs several.
 *
 * The scenarios run concurrently (independent topics, groups, folders, and
 * for the broker restart a broker of its own) because most of their time is
 * spent waiting on Kafka (group joins, a dead member's session timeout,
 * broker start-up).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import * as path from "node:path"
import { readPartLines, readParts, tempDir } from "../e2e/cli.ts"
import { madeGroup, madeTopic, plainKafka, randomSuffix, removeLeftovers, sleep, testBrokers } from "./broker.ts"
import { ownBroker, type OwnBroker } from "./support/ownBroker.ts"
import { cli, hasStackTrace, interrupt, killAll } from "./support/processes.ts"
import { committedOffsets, createTopic, readCommitted, readWholeTopic, topicOffsets } from "./support/topics.ts"
import {
  allClosedPattern,
  errorKey,
  expectSameMultiset,
  expectWindowRows,
  lastLinesRead,
  linesReadPattern,
  partitionTruthOf,
  truthOf
} from "./support/truth.ts"
import { expectProductionAlerts } from "./support/productionAlerts.ts"

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
  const group = madeGroup(`loglens-prod-${id}-group`)
  // What the analyzers of the group make on the broker: the internal topic and stage 2's group.
  madeTopic(`${group}-partials`)
  madeGroup(`${group}-windows`)
  return {
    topic: madeTopic(`loglens-prod-${id}`),
    alerts: madeTopic(`loglens-prod-${id}-alerts`),
    group,
    dir,
    output: path.join(dir, "out")
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
    "--alerts-topic", n.alerts, "--group-id", n.group, "--output", n.output,
    "--idle-timeout", "3s", "--trigger", "1s", ...extra
  ])

const waitUntil = async (what: string, ok: () => boolean | Promise<boolean>, timeoutMs: number) => {
  const deadline = Date.now() + timeoutMs
  while (!(await ok()) && Date.now() < deadline) await sleep(200)
  expect(await ok(), what).toBe(true)
}

/** The group's committed offsets are at the end of every partition of `topic`: everything read is committed. */
const committedToEnd = async (bs: ReadonlyArray<string>, group: string, topic: string): Promise<boolean> => {
  const ends = await topicOffsets(bs, topic)
  const committed = await committedOffsets(bs, group, topic)
  return ends.every((e) => e.high === e.low || (committed.get(e.partition) ?? -1) >= e.high)
}

/**
 * A report that has read `lines` with no window open does not mean that stage 2 has merged them yet
 * (it gets the partials after stage 1's commit): wait for the rows the reference expects too. The
 * rows are then compared with the reference exactly.
 */
const waitForRows = (output: string, rows: number, timeoutMs = 90_000) =>
  waitUntil(`${rows} window rows in windows/`, () => readParts(path.join(output, "windows")).length >= rows, timeoutMs)

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
    await waitForRows(n.output, truth.rows.length)
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
    expectProductionAlerts(await readCommitted(brokers, n.alerts, truth.alerts.length), partitionTruthOf([lines]), 100)
  }, 240_000)

  it("kill -9, more data, restart: resumes from committed offsets with no duplicate or missing errors", async () => {
    const n = names("restart")
    const half = 10_000
    expect((await generate(brokers, n.topic, half, "prod-restart-1", ["--partitions", "1"]).done).code).toBe(0)
    const first = analyze(brokers, n)
    await first.waitFor(linesReadPattern(half), 90_000)
    // Killed once every line it read is committed (and its parts published, right after the commit).
    await waitUntil("the first half committed", () => committedToEnd(brokers, n.group, n.topic), 60_000)
    await sleep(500)
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
    // The dead member stays in the group until its session times out (6 s): the restart waits for that,
    // then reads on from the committed offset: the second half only.
    await second.waitFor(linesReadPattern(half), 120_000)
    await waitUntil("the second half committed", () => committedToEnd(brokers, n.group, n.topic), 60_000)
    const done = await interrupt(second)
    expect(done.code, done.stderr).toBe(0)
    expect(done.stdout).toMatch(new RegExp(`Final report .*${linesReadPattern(half).source}`))

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
    await waitForRows(n.output, truth.rows.length)
    // Every line is read, so /metrics shows each of the 3 partitions with nothing unread (the lag
    // comes from the end-offset poll, once a second, and what each partition committed).
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
    // Not "lines read N": a partition whose commit failed during the outage is read again from its
    // committed offset, and the console may count those lines twice.
    await waitUntil("every line committed", () => committedToEnd(bs, n.group, n.topic), 120_000)
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

  it("message values: bad UTF-8 and over-long values are rejected with their reason, a tombstone is no line, one value may hold several lines", async () => {
    const n = names("values")
    const T = Date.now() - 3_600_000
    const record = (i: number, status: number) =>
      `{"timestamp":"${new Date(T + i * 1000).toISOString()}","ip":"10.0.0.${i}","method":"GET","url":"/r/${i}","status":${status}}`
    const tooLong = "x".repeat(500)
    const values: Array<Buffer | string | null> = [
      record(1, 404),
      record(2, 200),
      Buffer.from([0x66, 0xff, 0xfe, 0x41]), // not UTF-8
      record(3, 500),
      tooLong, // longer than --max-line-bytes 200
      null, // a tombstone: no line
      `${record(4, 404)}\n${record(5, 200)}\n${record(6, 503)}\n`, // three lines, the last one ended by its newline
      Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(record(7, 404))]), // a byte-order mark, not part of the line
      record(8, 200)
    ]
    await createTopic(brokers, n.topic, 1)
    const producer = plainKafka(brokers).producer({ idempotent: true, maxInFlightRequests: 1 })
    await producer.connect()
    await producer.send({ topic: n.topic, acks: -1, messages: values.map((value) => ({ value, partition: 0 })) })
    await producer.disconnect()
    // What the values mean, written out: 10 lines, 2 of them rejected, errors 1, 3, 4, 6, 7 in that order.
    const expectedErrors = [record(1, 404), record(3, 500), record(4, 404), record(6, 503), record(7, 404)]

    const analyzer = analyze(brokers, n, ["--max-line-bytes", "200"])
    await analyzer.waitFor(linesReadPattern(10), 90_000)
    await waitUntil("every message committed", () => committedToEnd(brokers, n.group, n.topic), 60_000)
    const done = await interrupt(analyzer)
    expect(done.code, done.stderr).toBe(0)
    expect(hasStackTrace(done.stderr), done.stderr).toBe(false)
    expect(done.stdout).toMatch(/Final report .*lines read 10, rejected 2, errors 5, late errors 0,/)
    expect(readParts(path.join(n.output, "errors")).map(errorKey)).toEqual(expectedErrors.map((l) => errorKey(JSON.parse(l))))
    const rejected = readParts(path.join(n.output, "rejected"))
    expect(rejected.map((r) => r.reason)).toEqual([
      "line is not valid UTF-8",
      "line is longer than --max-line-bytes (200 bytes); it was 500 bytes"
    ])
    expect(rejected[1].line).toBe(tooLong)
  }, 180_000)

  it("a committed offset outside the log (topic recreated, retention) is reported in plain words, and --starting-offsets applies", async () => {
    const n = names("oor")
    const T = Date.now() - 3_600_000
    const record = (p: number, i: number) =>
      `{"timestamp":"${new Date(T + i * 1000).toISOString()}","ip":"10.0.${p}.${i}","method":"GET","url":"/p${p}/${i}","status":404}`
    const p0 = Array.from({ length: 17 }, (_, i) => record(0, i))
    const p1 = Array.from({ length: 10 }, (_, i) => record(1, i))
    await createTopic(brokers, n.topic, 2)
    const producer = plainKafka(brokers).producer({ idempotent: true, maxInFlightRequests: 1 })
    await producer.connect()
    await producer.send({ topic: n.topic, acks: -1, messages: p0.map((value) => ({ value, partition: 0 })) })
    await producer.send({ topic: n.topic, acks: -1, messages: p1.map((value) => ({ value, partition: 1 })) })
    await producer.disconnect()
    const admin = plainKafka(brokers).admin()
    await admin.connect()
    try {
      // Partition 1 loses its first 6 records, as retention would delete them.
      await admin.fetchTopicMetadata({ topics: [n.topic] }) // kafkajs finds the leaders from it
      await admin.deleteTopicRecords({ topic: n.topic, partitions: [{ partition: 1, offset: "6" }] })
      // The group's offsets: past the end of partition 0 (as after the topic was recreated), before the start of partition 1.
      await admin.setOffsets({ groupId: n.group, topic: n.topic, partitions: [{ partition: 0, offset: "5000" }, { partition: 1, offset: "2" }] })
    } finally {
      await admin.disconnect()
    }
    expect(await topicOffsets(brokers, n.topic)).toEqual([{ partition: 0, low: 0, high: 17 }, { partition: 1, low: 6, high: 10 }])

    const analyzer = analyze(brokers, n, ["--starting-offsets", "earliest"])
    await analyzer.waitFor(linesReadPattern(17 + 4), 90_000)
    await waitUntil("every line committed", () => committedToEnd(brokers, n.group, n.topic), 60_000)
    const done = await interrupt(analyzer)
    expect(done.code, done.stderr).toBe(0)
    expect(hasStackTrace(done.stderr), done.stderr).toBe(false)
    // What it read: partition 0 from its start, partition 1 from its first record left.
    expect(done.stdout).toMatch(/Final report .*lines read 21, rejected 0, errors 21,/)
    expectSameMultiset("errors/", errorsOnDisk(n.output), [...p0, ...p1.slice(6)].map((l) => errorKey(JSON.parse(l))))
    // And what it said (README, Production mode, Offsets).
    const quoted = n.topic.replaceAll(".", "\\.")
    expect(done.stderr).toMatch(new RegExp(
      `committed offset 5000 for ${quoted}\\[0\\] is past the end of the log \\(0.17\\); continuing from the earliest offset \\(0\\) per --starting-offsets`
    ))
    expect(done.stderr).toMatch(new RegExp(
      `committed offset 2 for ${quoted}\\[1\\] is before the start of the log \\(6.10\\); continuing from the earliest offset \\(6\\) per --starting-offsets`
    ))
  }, 180_000)
})

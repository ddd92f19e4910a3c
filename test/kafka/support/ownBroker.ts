/**
 * A broker owned by one test, for tests that stop and restart it: the
 * project's `scripts/kafka.sh` on a dedicated port with its own data folder
 * (`LOGLENS_CACHE` in a temp folder). The jars are reused from the shared
 * cache (~/.cache/loglens/kafka/<version>/libs) through a symlink, so no
 * download happens; kafka.sh looks for `$LOGLENS_CACHE/kafka/<v>/libs/.complete`.
 * A shared broker (KAFKA_BROKERS, or the one on 9092) is never stopped.
 */
import { execFile } from "node:child_process"
import * as fs from "node:fs"
import * as net from "node:net"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../..")
const sharedCache = process.env["LOGLENS_CACHE"] ?? path.join(os.homedir(), ".cache/loglens")

const portFree = (port: number) =>
  new Promise<boolean>((resolve) => {
    const server = net.createServer()
    server.once("error", () => resolve(false))
    server.listen(port, "127.0.0.1", () => server.close(() => resolve(true)))
  })

/** Two consecutive free ports (broker, controller) in 41000-48999, away from 9092/29092/39092. */
const freePortPair = async (): Promise<number> => {
  for (let attempt = 0; attempt < 50; attempt++) {
    const port = 41000 + 2 * Math.floor(Math.random() * 4000)
    if ((await portFree(port)) && (await portFree(port + 1))) return port
  }
  throw new Error("no free port pair for a test broker")
}

const sh = (args: Array<string>, env: NodeJS.ProcessEnv, timeoutMs: number) =>
  new Promise<{ code: number; output: string }>((resolve) => {
    execFile("bash", ["scripts/kafka.sh", ...args], { cwd: root, env: { ...process.env, ...env }, timeout: timeoutMs },
      (error, stdout, stderr) => {
        const code = error ? (typeof (error as any).code === "number" ? (error as any).code : 1) : 0
        resolve({ code, output: `${stdout}${stderr}` })
      })
  })

export interface OwnBroker {
  readonly brokers: Array<string>
  readonly up: () => Promise<void>
  readonly down: () => Promise<void>
  /** down + delete its folder; safe to call twice. */
  readonly dispose: () => Promise<void>
}

export const ownBroker = async (): Promise<OwnBroker> => {
  const kafkaCache = path.join(sharedCache, "kafka")
  const versions = fs.existsSync(kafkaCache)
    ? fs.readdirSync(kafkaCache).filter((v) => fs.existsSync(path.join(kafkaCache, v, "libs/.complete")))
    : []
  if (versions.length === 0) {
    throw new Error(
      `no cached Kafka jars under ${kafkaCache}: run \`bash scripts/kafka.sh up\` once (it needs Java 17+ and Maven) ` +
        `so that this test can start its own broker`
    )
  }
  const version = versions.sort().at(-1)!
  const cache = fs.mkdtempSync(path.join(os.tmpdir(), "loglens-own-broker-"))
  fs.mkdirSync(path.join(cache, "kafka", version), { recursive: true })
  fs.symlinkSync(path.join(kafkaCache, version, "libs"), path.join(cache, "kafka", version, "libs"))
  const port = await freePortPair()
  const env = {
    LOGLENS_CACHE: cache,
    KAFKA_PORT: String(port),
    KAFKA_CONTROLLER_PORT: String(port + 1),
    KAFKA_VERSION: version,
    KAFKA_HEAP: "-Xmx384m -Xms64m"
  }
  let disposed = false
  const up = async () => {
    const result = await sh(["up"], env, 180_000)
    if (result.code !== 0) throw new Error(`could not start the test's own broker on ${port}:\n${result.output}`)
  }
  const down = async () => {
    const result = await sh(["down"], env, 60_000)
    if (result.code !== 0) throw new Error(`could not stop the test's own broker on ${port}:\n${result.output}`)
  }
  return {
    brokers: [`127.0.0.1:${port}`],
    up,
    down,
    dispose: async () => {
      if (disposed) return
      disposed = true
      await sh(["down"], env, 60_000)
      fs.rmSync(cache, { recursive: true, force: true })
    }
  }
}

/**
 * Replacing one of kafkajs's internal modules before kafkajs loads: kafkajs
 * takes its modules with `require`, so an entry in the require cache is what
 * its other modules get. `Kafkajs.ts` puts loglens's replacements in place;
 * every module here that imports kafkajs imports it first.
 */
import * as fs from "node:fs"
import { createRequire, Module } from "node:module"

const require = createRequire(import.meta.url)

// Marks loglens's entries, so that this code evaluated again (from dist/ and src/ in one process)
// leaves the first one in place rather than taking it for a kafkajs module loaded too early.
const REPLACEMENT = Symbol.for("loglens.kafkajs-replacement")

/** The version of kafkajs installed. */
export const kafkajsVersion: string = (require("kafkajs/package.json") as { version: string }).version

/** A private copy of kafkajs's module `specifier` as kafkajs wrote it, whatever the cache holds. */
export const kafkajsOriginal = <A>(specifier: string): A => {
  const file = require.resolve(specifier)
  const copy = new Module(file) as NodeJS.Module & { _compile: (code: string, file: string) => void }
  copy.filename = file
  copy.paths = (Module as unknown as { _nodeModulePaths: (dir: string) => Array<string> })._nodeModulePaths(file)
  copy._compile(fs.readFileSync(file, "utf8"), file)
  return copy.exports as A
}

/**
 * Puts `exports` in the place of kafkajs's module `specifier`. `dependents` are the kafkajs
 * modules that take it when they load: it is an error if one of them loaded first, because it
 * would keep the original.
 */
export const replaceKafkajsModule = (specifier: string, exports: unknown, dependents: ReadonlyArray<string>): void => {
  const file = require.resolve(specifier)
  if ((require.cache[file] as { [REPLACEMENT]?: true } | undefined)?.[REPLACEMENT] === true) return
  for (const dependent of dependents) {
    if (require.cache[require.resolve(dependent)] !== undefined) {
      throw new Error(`loglens: kafkajs was loaded before loglens replaced ${specifier} (import transport/kafka/Kafkajs.ts first)`)
    }
  }
  const entry = new Module(file) as NodeJS.Module & { [REPLACEMENT]?: true }
  entry.filename = file
  entry.loaded = true
  entry.exports = exports
  entry[REPLACEMENT] = true
  require.cache[file] = entry
}

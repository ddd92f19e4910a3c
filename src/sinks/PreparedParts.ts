/**
 * Part files for several writers sharing one folder (production mode's
 * analyzers on a shared volume). A part is written hidden under a token
 * (`.<name>.<token>`), fsynced (prepared), and renamed to `<name>` only once
 * the Kafka transaction whose offset commit names the token has committed:
 * a writer that was fenced never makes its part visible. Whoever owns the
 * partition next finishes the job (`recover`): it publishes the part the last
 * commit names, if a crash left it hidden, and deletes every other hidden
 * part of that partition (a fenced or killed writer's).
 */
import * as Effect from "effect/Effect"
import * as fs from "node:fs/promises"
import * as path from "node:path"
import { makeFolder } from "../io/Folder.ts"
import { describeIoError } from "../io/IoError.ts"
import { linesPayload } from "../io/LinesPayload.ts"
import { StoreError } from "./StoreError.ts"

const hiddenName = (name: string, token: string): string => `.${name}.${token}`

const syncFolder = async (folder: string): Promise<void> => {
  const handle = await fs.open(folder, "r")
  try {
    await handle.sync()
  } finally {
    await handle.close()
  }
}

const isMissing = (e: unknown): boolean => (e as NodeJS.ErrnoException)?.code === "ENOENT"

export interface PreparedParts {
  readonly folder: string
  /** Adds lines to the hidden part `name` of `token`. */
  readonly append: (name: string, token: string, lines: ReadonlyArray<string>) => Effect.Effect<void, StoreError>
  /** Makes the hidden part durable; returns whether there is one (a part with no lines has none). */
  readonly prepare: (name: string, token: string) => Effect.Effect<boolean, StoreError>
  /** Makes the prepared part visible as `name`; already done (by another owner) counts as done. */
  readonly publish: (name: string, token: string) => Effect.Effect<void, StoreError>
  /** Deletes the hidden part (its transaction did not commit). */
  readonly discard: (name: string, token: string) => Effect.Effect<void, StoreError>
  /**
   * A new owner of the parts named `<prefix>…`: publishes `committed` (the part the last commit names)
   * if it is still hidden, and deletes every other hidden part of the prefix.
   */
  readonly recover: (
    prefix: string,
    committed: { readonly name: string; readonly token: string } | undefined
  ) => Effect.Effect<void, StoreError>
}

export const openPreparedParts = (folder: string): Effect.Effect<PreparedParts, StoreError> =>
  Effect.tryPromise({
    try: () => makeFolder(folder),
    catch: (cause) => new StoreError({ message: `could not prepare the folder ${folder}: ${describeIoError(cause)}`, cause })
  }).pipe(Effect.map(() => {
    const open = new Map<string, fs.FileHandle>()
    const fail = (action: string, file: string) => (cause: unknown) =>
      new StoreError({ message: `could not ${action} ${path.join(folder, file)}: ${describeIoError(cause)}`, cause })

    const append = (name: string, token: string, lines: ReadonlyArray<string>) =>
      lines.length === 0 ? Effect.void : Effect.tryPromise({
        try: async () => {
          const hidden = hiddenName(name, token)
          let handle = open.get(hidden)
          if (handle === undefined) {
            handle = await fs.open(path.join(folder, hidden), "w")
            open.set(hidden, handle)
          }
          await handle.writeFile(linesPayload(lines))
        },
        catch: fail("write", name)
      })

    const prepare = (name: string, token: string) =>
      Effect.tryPromise({
        try: async () => {
          const hidden = hiddenName(name, token)
          const handle = open.get(hidden)
          if (handle === undefined) return false
          open.delete(hidden)
          try {
            await handle.sync()
          } finally {
            await handle.close()
          }
          return true
        },
        catch: fail("write", name)
      })

    const publishNow = async (name: string, token: string): Promise<void> => {
      try {
        await fs.rename(path.join(folder, hiddenName(name, token)), path.join(folder, name))
      } catch (e) {
        // The other owner of this commit (a writer that stalled after it) published it first.
        if (isMissing(e) && (await fs.stat(path.join(folder, name)).then(() => true, () => false))) return
        throw e
      }
      await syncFolder(folder)
    }

    const discard = (name: string, token: string) =>
      Effect.tryPromise({
        try: async () => {
          const hidden = hiddenName(name, token)
          const handle = open.get(hidden)
          open.delete(hidden)
          await handle?.close().catch(() => undefined)
          await fs.rm(path.join(folder, hidden), { force: true })
        },
        catch: fail("delete", hiddenName(name, token))
      })

    return {
      folder,
      append,
      prepare,
      publish: (name, token) => Effect.tryPromise({ try: () => publishNow(name, token), catch: fail("publish", name) }),
      discard,
      recover: (prefix, committed) =>
        Effect.tryPromise({
          try: async () => {
            const keep = committed === undefined ? undefined : hiddenName(committed.name, committed.token)
            for (const entry of await fs.readdir(folder)) {
              if (!entry.startsWith(`.${prefix}`)) continue
              if (entry === keep) await publishNow(committed!.name, committed!.token)
              else if (!open.has(entry)) await fs.rm(path.join(folder, entry), { force: true })
            }
          },
          catch: fail("recover the parts", `${prefix}*`)
        })
    }
  }))

/**
 * A folder of numbered part files written atomically: lines are appended to
 * a hidden temp file while an epoch runs, and sealing the epoch fsyncs it,
 * renames it into place and fsyncs the folder. Readers only ever see whole
 * files, memory holds no more than one append, and a crash leaves at worst a
 * hidden temp file, which recovery (`discardAfter`) removes.
 */
import * as Effect from "effect/Effect"
import * as fs from "node:fs/promises"
import * as path from "node:path"
import { makeFolder } from "../io/Folder.ts"
import { describeIoError } from "../io/IoError.ts"
import { linesPayload } from "../io/LinesPayload.ts"
import { StoreError } from "./StoreError.ts"

const PART_PATTERN = /^part-(\d{12})\.jsonl$/
const TEMP_PATTERN = /^\.part-\d{12}\.jsonl\.tmp$/

export const partName = (epoch: number): string => `part-${String(epoch).padStart(12, "0")}.jsonl`

export interface PartFolder {
  /** Adds lines to the epoch's part, still hidden. One epoch is open at a time. */
  readonly append: (epoch: number, lines: ReadonlyArray<string>) => Effect.Effect<void, StoreError>
  /** Makes the epoch's part durable and visible; an epoch with no lines has no part. */
  readonly seal: (epoch: number) => Effect.Effect<void, StoreError>
  /** `append` then `seal`. */
  readonly write: (epoch: number, lines: ReadonlyArray<string>) => Effect.Effect<void, StoreError>
  /** Recovery: removes the parts of epochs after `epoch` and the hidden temp file a crash left. */
  readonly discardAfter: (epoch: number) => Effect.Effect<void, StoreError>
}

const storeError = (action: string, target: string) => (cause: unknown) =>
  new StoreError({ message: `could not ${action} ${target}: ${describeIoError(cause)}`, cause })

/** The hidden temp file that becomes `file`. */
const tempFor = (file: string): string => path.join(path.dirname(file), `.${path.basename(file)}.tmp`)

/** fsyncs and closes `temp`'s handle, renames it to `file` and fsyncs the folder: `file` appears whole or not at all. */
const publishTemp = async (handle: fs.FileHandle, temp: string, file: string): Promise<void> => {
  try {
    await handle.sync()
  } finally {
    await handle.close()
  }
  await fs.rename(temp, file)
  const folder = await fs.open(path.dirname(file), "r")
  try {
    await folder.sync()
  } finally {
    await folder.close()
  }
}

/** Writes `content` to `file` atomically. */
export const writeFileAtomic = (file: string, content: string): Effect.Effect<void, StoreError> =>
  Effect.tryPromise({
    try: async () => {
      const temp = tempFor(file)
      const handle = await fs.open(temp, "w")
      try {
        await handle.writeFile(content)
      } catch (error) {
        await handle.close()
        throw error
      }
      await publishTemp(handle, temp, file)
    },
    catch: storeError("write", file)
  })

export const PartFolder = {
  open: (folder: string): Effect.Effect<PartFolder, StoreError> =>
    Effect.tryPromise({
      try: async () => {
        await makeFolder(folder)
      },
      catch: storeError("prepare the folder", folder)
    }).pipe(Effect.map(() => {
      let open: { readonly epoch: number; readonly temp: string; readonly handle: fs.FileHandle } | undefined
      const append = (epoch: number, lines: ReadonlyArray<string>) =>
        lines.length === 0 ? Effect.void : Effect.tryPromise({
          try: async () => {
            if (open !== undefined && open.epoch !== epoch) throw new Error(`epoch ${open.epoch} was not sealed`)
            if (open === undefined) {
              const temp = tempFor(path.join(folder, partName(epoch)))
              open = { epoch, temp, handle: await fs.open(temp, "w") }
            }
            await open.handle.writeFile(linesPayload(lines))
          },
          catch: storeError("write", path.join(folder, partName(epoch)))
        })
      const seal = (epoch: number) =>
        Effect.tryPromise({
          try: async () => {
            if (open === undefined || open.epoch !== epoch) return
            const { handle, temp } = open
            open = undefined
            await publishTemp(handle, temp, path.join(folder, partName(epoch)))
          },
          catch: storeError("write", path.join(folder, partName(epoch)))
        })
      return {
        append,
        seal,
        write: (epoch, lines) => Effect.andThen(append(epoch, lines), seal(epoch)),
        discardAfter: (epoch) =>
          Effect.tryPromise({
            try: async () => {
              for (const name of await fs.readdir(folder)) {
                const match = PART_PATTERN.exec(name)
                const stale = match !== null ? Number(match[1]) > epoch : TEMP_PATTERN.test(name)
                if (stale) await fs.rm(path.join(folder, name), { force: true })
              }
            },
            catch: storeError("clean up", folder)
          })
      } satisfies PartFolder
    }))
}

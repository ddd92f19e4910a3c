/**
 * Creating a folder and its parents. Node's recursive `mkdir` reports a
 * read-only or forbidden parent as ENOENT; this asks the nearest existing
 * parent again without `recursive`, so the caller sees the real reason
 * (EROFS, EACCES) and can say it in plain words.
 */
import * as fs from "node:fs/promises"
import * as path from "node:path"

export const makeFolder = async (folder: string): Promise<void> => {
  try {
    await fs.mkdir(folder, { recursive: true })
  } catch (error) {
    if ((error as { code?: string }).code !== "ENOENT") throw error
    // The first missing folder on the way: creating it alone fails with the real reason.
    let missing = path.resolve(folder)
    for (;;) {
      const parent = path.dirname(missing)
      if (parent === missing) throw error
      const exists = await fs.stat(parent).then(() => true, () => false)
      if (exists) break
      missing = parent
    }
    await fs.mkdir(missing)
    throw error
  }
}

/**
 * Plain words for the file-system failures users actually meet, shared by
 * every module that reads or writes files.
 */

/** The failure's own words, with its code where people know the name. */
export const describeIoError = (cause: unknown): string => {
  const code = (cause as { code?: string } | undefined)?.code
  switch (code) {
    case "ENOSPC":
      return "the disk is full (ENOSPC)"
    case "EDQUOT":
      return "the disk quota is exhausted (EDQUOT)"
    case "EFBIG":
      return "the file is larger than this system allows (EFBIG)"
    case "EACCES":
    case "EPERM":
      return `permission denied (${code})`
    case "EROFS":
      return "the file system is read-only (EROFS)"
    default:
      return cause instanceof Error ? cause.message : String(cause)
  }
}

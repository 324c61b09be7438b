import { lstat, readdir, readFile } from 'node:fs/promises'
import { join, relative } from 'node:path'

/** Regular files under a directory (symbolic links are not followed), relative and sorted. */
export async function filesUnder(root: string): Promise<string[]> {
  const found: string[] = []
  const walk = async (dir: string): Promise<void> => {
    for (const entry of await readdir(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name)
      if (entry.isDirectory()) await walk(path)
      else if (entry.isFile()) found.push(relative(root, path))
    }
  }
  if ((await lstat(root)).isDirectory()) await walk(root)
  return found.sort()
}

/** Every file under `root` that contains one of `needles`, as `file: needle`. */
export async function grepTree(root: string, needles: readonly string[]): Promise<string[]> {
  const hits: string[] = []
  for (const file of await filesUnder(root)) {
    const content = await readFile(join(root, file))
    for (const needle of needles) if (content.includes(needle)) hits.push(`${file}: ${needle}`)
  }
  return hits
}

import { readdirSync } from 'node:fs'
import { join } from 'node:path'

/** Runs every `*.bench.js` next to this file (after `npm run build`); each exports `run()`. */
async function main(): Promise<void> {
  const only = process.argv[2]
  const benches = readdirSync(__dirname).filter(
    (file) => file.endsWith('.bench.js') && (only === undefined || file.includes(only)),
  )
  for (const file of benches.sort()) {
    const bench = (await import(join(__dirname, file))) as { run(): Promise<void> }
    process.stdout.write(`\n## ${file.replace(/\.bench\.js$/, '')}\n\n`)
    await bench.run()
  }
}

main().catch((error: unknown) => {
  console.error(error)
  process.exitCode = 1
})

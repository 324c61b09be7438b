// Runs a TypeScript file of this project in a child process: `node remote-ts-child.cjs entry.ts args…`.
// Tests use it for processes they kill (a lock holder) or whose whole output they inspect (secrets).
// TypeScript's own transpiler compiles each file as it is required; no build step, no extra package.
const { readFileSync } = require('node:fs')
const { resolve } = require('node:path')
const ts = require('typescript')

require.extensions['.ts'] = (module, filename) => {
  const { outputText } = ts.transpileModule(readFileSync(filename, 'utf8'), {
    compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2023, esModuleInterop: true },
    fileName: filename,
  })
  module._compile(outputText, filename)
}

const [entry, ...args] = process.argv.slice(2)
process.argv = [process.argv[0], entry, ...args]
require(resolve(entry))

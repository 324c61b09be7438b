// Prints the one plain line CI looks for: "N passed, N failed", from vitest's JSON report.
// A test file that fails to load has no failed test of its own; it is counted once so it is not hidden.
import { readFileSync } from 'node:fs'

const file = process.argv[2]
let report
try {
  report = JSON.parse(readFileSync(file, 'utf8'))
} catch (error) {
  console.log(`0 passed, 1 failed (no test report at ${file}: ${error.message})`)
  process.exit(1)
}
const loadFailures = (report.testResults ?? []).filter(
  (file) => file.status === 'failed' && !(file.assertionResults ?? []).some((t) => t.status === 'failed'),
).length
console.log(`${report.numPassedTests} passed, ${report.numFailedTests + loadFailures} failed`)

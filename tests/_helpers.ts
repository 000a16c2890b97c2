/**
 * The tests' entry to their support modules (`tests/support/`), kept so that test files import
 * one path: fixtures, processes and waiting. The demo and the benchmark import the modules
 * themselves.
 *
 * @module
 */
export * from "./support/fixture.ts";
export {
  type CliResult,
  DaemonProcess,
  installAs,
  type LogLine,
  runCli,
  waitFor,
  type WaitOptions,
} from "./support/process.ts";

import { ConfigError, loadConfig } from '../config.js';

/** Prints one line and exits non-zero: the contract for every failure of the CLI. */
export function fail(message: string, code = 1): never {
  process.stderr.write(`ferry: ${message}\n`);
  process.exit(code);
}

/** The configuration of the environment, for the commands that work on the store; one line on error. */
export function configFromEnv(): ReturnType<typeof loadConfig> {
  try {
    return loadConfig(process.env);
  } catch (error) {
    if (error instanceof ConfigError) fail(error.message, 2);
    throw error;
  }
}

import { HmiError } from '../errors.js';

/** The command line itself is wrong (unknown command or flag, missing or malformed value): exit code 2. */
export class UsageError extends HmiError {
  constructor(message: string) {
    super('USAGE', message);
  }
}

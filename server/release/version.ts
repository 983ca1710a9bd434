/** Release version names: semver, so that a name can never be a path that escapes a directory. */
import { hotlineError } from '../errors/catalogue.ts';

const SEMVER = /^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?$/;

export function checkVersion(version: unknown): string {
  if (typeof version !== 'string' || version.length > 64 || !SEMVER.test(version))
    throw hotlineError('HOT_ERR_BAD_VERSION', String(version));
  return version;
}

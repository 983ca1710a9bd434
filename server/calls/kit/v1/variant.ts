/**
 * A session that is 1.1.0's code and state under another version, for releases that change
 * little else (the faulty 1.2.0 variants, test releases): `fromPhone` replaces some handlers,
 * and `vetoMigration` may throw before a migration.
 */
import type { CodeChangeFrom } from '../../../runtime/index.ts';
import { type StateV11, specV11 } from './call-info.ts';
import { type PhoneHandlers, sessionBehaviour } from './call-model.ts';
import { migrationsV11 } from './migrate.ts';

export function variantOfV11(
  version: string,
  change: {
    fromPhone?: PhoneHandlers<StateV11>;
    vetoMigration?: (from: CodeChangeFrom, state: unknown) => void;
  },
) {
  const migrate = migrationsV11(version);
  return sessionBehaviour<StateV11>({
    ...specV11,
    version,
    fromPhone: { ...specV11.fromPhone, ...change.fromPhone },
    codeChange(from, state) {
      change.vetoMigration?.(from, state);
      return migrate(from, state);
    },
  });
}

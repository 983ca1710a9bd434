/** Registration with phone tokens: refusals by code, connections replaced, and whether the node runs open. */
import { Counter, Gauge, type Registry } from 'prom-client';
import { REGISTRATION_REFUSALS } from '../../http/phone-auth.ts';
import { plainCounter } from './plain.ts';

export interface RegistrationMetrics {
  registrationRefused(code: string): void;
  registrationReplaced(): void;
}

export function registrationMetrics(registry: Registry, open: boolean): RegistrationMetrics {
  const refused = plainCounter(
    registry,
    'hotline_registrations_refused_total',
    'Registrations refused by the phone-token check, by error code',
    'code',
    REGISTRATION_REFUSALS,
  );
  const replaced = new Counter({
    name: 'hotline_registrations_replaced_total',
    help: 'Connections closed because a newer connection registered their user with a valid token',
    registers: [registry],
  });
  new Gauge({
    name: 'hotline_open_registration',
    help: '1 when the node takes registrations without a phone token (--open-registration), else 0',
    registers: [registry],
  }).set(open ? 1 : 0);
  return { registrationRefused: refused.count, registrationReplaced: () => replaced.inc() };
}

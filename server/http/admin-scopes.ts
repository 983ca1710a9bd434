/**
 * The one table of what each admin route needs: `read` to look, `operate` to change. The auth
 * hook (auth.ts) checks it before any route runs, and the audit trail records every answer of
 * an `operate` route. A route missing here needs `operate`: a new route is closed to read-only
 * tokens until someone decides otherwise (test/observer/roles.test.ts lists every route).
 */
import type { Scope } from './admin-tokens.ts';

export const ADMIN_SCOPES: Readonly<Record<string, Scope>> = {
  'GET /cdrs': 'read',
  'GET /admin/cdrs': 'read',
  'GET /admin/cdrs/export': 'read',
  'GET /admin/processes': 'read',
  'GET /admin/tree': 'read',
  'GET /admin/modules': 'read',
  'GET /admin/cluster': 'read',
  'GET /admin/memory': 'read',
  'GET /admin/releases': 'read',
  'GET /admin/install': 'read',
  'GET /admin/install/events': 'read',
  'GET /admin/observer/events': 'read',
  'GET /admin/whoami': 'read',
  'GET /admin/audit': 'read',
  'GET /admin/tokens': 'read',
  'GET /observer/assets/*': 'read',
  'GET /observer/vendor/:file': 'read',
  // Asks every check of an install and changes nothing.
  'POST /admin/releases/:version/preflight': 'read',
  'POST /admin/releases': 'operate',
  'DELETE /admin/releases/:version': 'operate',
  'POST /admin/releases/:version/install': 'operate',
  'POST /admin/releases/:version/permanent': 'operate',
  'POST /admin/install/promote': 'operate',
  'POST /admin/install/rollback': 'operate',
  'POST /admin/node/handoff': 'operate',
  // A phone token is a credential: issuing one is an operator's act.
  'POST /admin/phone-tokens': 'operate',
  'POST /admin/tokens': 'operate',
  'DELETE /admin/tokens/:name': 'operate',
};

/** What a request to `url` (the route's pattern) by `method` needs; HEAD is its GET. */
export function requiredScope(method: string, url: string | undefined): Scope {
  return ADMIN_SCOPES[`${method === 'HEAD' ? 'GET' : method} ${url}`] ?? 'operate';
}
